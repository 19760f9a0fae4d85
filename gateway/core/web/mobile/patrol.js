// 巡查 on the phone (issue 19): while on patrol, the phone's position is recorded on start,
// every EVERY_MS and after each move of MOVE_M or more, kept in IndexedDB, and sent to
// POST /api/v1/mobile/patrol; without a signal the points wait and go in batches when the
// core answers again. Each point has an id made when it was recorded: a batch resent after
// a lost answer stores nothing twice.
import { T, fill } from './texts.js';
import { h } from './dom.js';
import { cache, newRequestId } from './queue.js';

const EVERY_MS = 30000;
const MOVE_M = 10;
const BATCH = 500;
const PATROL_KEY = 'citygw.mobile.patrol'; // {id, started}
const POINTS = 'patrol-points'; // the points not sent yet (IndexedDB cache store)

function current() {
  try {
    return JSON.parse(localStorage.getItem(PATROL_KEY) || 'null');
  } catch (_) {
    return null;
  }
}

function metres(a, b) {
  const rad = Math.PI / 180;
  const x = (b.lon - a.lon) * rad * Math.cos(((a.lat + b.lat) / 2) * rad);
  const y = (b.lat - a.lat) * rad;
  return Math.sqrt(x * x + y * y) * 6371000;
}

// position(): the phone's last position {lat, lon, accuracy} or null; send(body): the POST;
// changed(): the app redraws what shows the patrol
export function createPatrol({ position, send, changed }) {
  let timer = null;
  let last = null; // the last point recorded
  let sending = false;
  let recorded = 0;

  const pending = async () => (await cache.get(POINTS)) || [];

  async function record() {
    const patrol = current();
    const p = position();
    if (!patrol || !p) return;
    last = { lat: p.lat, lon: p.lon, at: Date.now() };
    const point = { id: newRequestId(), patrol_id: patrol.id, at: new Date().toISOString(), lat: p.lat, lon: p.lon, accuracy_m: Math.round(p.accuracy * 10) / 10 };
    await cache.set(POINTS, [...(await pending()), point]);
    recorded += 1;
    changed();
    flush();
  }

  async function flush() {
    if (sending || !navigator.onLine) return;
    sending = true;
    try {
      for (;;) {
        const waiting = await pending();
        if (!waiting.length) break;
        const batch = waiting.slice(0, BATCH);
        const byPatrol = batch.filter((q) => q.patrol_id === batch[0].patrol_id);
        await send({ patrol_id: byPatrol[0].patrol_id, points: byPatrol.map(({ patrol_id, ...q }) => q) });
        const sent = new Set(byPatrol.map((q) => q.id));
        await cache.set(POINTS, (await pending()).filter((q) => !sent.has(q.id)));
      }
    } catch (_) {
      /* no signal, or the core refused: the points wait for the next try */
    } finally {
      sending = false;
      changed();
    }
  }

  function run() {
    clearInterval(timer);
    timer = setInterval(record, EVERY_MS);
  }

  async function start() {
    localStorage.setItem(PATROL_KEY, JSON.stringify({ id: newRequestId(), started: Date.now() }));
    recorded = 0;
    run();
    await record();
  }

  function stop() {
    localStorage.removeItem(PATROL_KEY);
    clearInterval(timer);
    timer = null;
    changed();
    flush();
  }

  // a new position from the phone: recorded once it is MOVE_M from the last point
  function moved(p) {
    if (current() && (!last || metres(last, p) >= MOVE_M)) record();
  }

  function view() {
    const patrol = current();
    const count = h('p', { id: 'patrol-count', class: 'muted' });
    pending().then((waiting) => {
      count.textContent = fill(T.patrol_counts, { n: recorded, m: waiting.length });
      count.dataset.waiting = String(waiting.length);
    });
    return h(
      'section',
      { class: 'card', id: 'patrol' },
      h('h2', {}, T.patrol_title),
      h('p', { id: 'patrol-state', class: patrol ? 'position good' : 'muted' }, patrol ? fill(T.patrol_on, { at: new Date(patrol.started).toLocaleTimeString('zh-CN') }) : T.patrol_off),
      count,
      patrol
        ? h('button', { type: 'button', id: 'patrol-stop', class: 'big bad', onclick: stop }, T.patrol_stop)
        : h('button', { type: 'button', id: 'patrol-start', class: 'primary big', onclick: start }, T.patrol_start),
      h('p', { class: 'hint' }, T.patrol_hint),
    );
  }

  if (current()) run(); // a patrol goes on after the app was reopened
  return { view, moved, flush, active: () => Boolean(current()) };
}
