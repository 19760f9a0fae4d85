// 巡查 on the phone (issue 19): while on patrol, the phone's position is recorded on start,
// every EVERY_MS and after each move of MOVE_M or more, kept in IndexedDB, and sent to
// POST /api/v1/mobile/patrol; without a signal the points wait and go in batches when the
// core answers again. Each point has an id made when it was recorded: a batch resent after
// a lost answer stores nothing twice.
// A point carries the time of the fix it comes from, never the time it was written down:
// a fix older than STALE_MS (the GPS lost in a tunnel or a building) is not recorded, so
// lost GPS never counts as time on patrol. The core keeps a batch's good points and names
// the ones it refuses (a point stamped ahead of its clock: the phone's clock runs fast; one
// too old): those are dropped and said in the patrol view, and the queue goes on. A batch
// refused as a whole (a 4xx) is dropped likewise; no network or a failing core: it waits.
import { ERRORS, T, fill } from './texts.js';
import { h } from './dom.js';
import { cache, newRequestId } from './queue.js';

const EVERY_MS = 30000;
const STALE_MS = 60000;
const MOVE_M = 10;
const BATCH = 500;
const WAIT_STATUS = new Set([401, 408, 429]); // not the batch's fault: it waits
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

// locate(): a promise of the phone's current fix {lat, lon, accuracy, at (ms)} or null;
// send(body): the POST; changed(): the app redraws what shows the patrol
export function createPatrol({ locate, send, changed }) {
  let timer = null;
  let last = null; // the last point recorded
  let sending = false;
  let recorded = 0;
  let refused = null; // {n, why}: the points the core refused since the patrol began

  const pending = async () => (await cache.get(POINTS)) || [];

  async function record(fix) {
    const patrol = current();
    if (!patrol || !fix || !Number.isFinite(fix.at)) return;
    if (Date.now() - fix.at > STALE_MS) return; // lost GPS: no point, no patrol time
    if (last && fix.at <= last.at) return; // this fix is recorded already
    last = { lat: fix.lat, lon: fix.lon, at: fix.at };
    const accuracy = Number.isFinite(fix.accuracy) ? Math.round(fix.accuracy * 10) / 10 : null;
    const point = { id: newRequestId(), patrol_id: patrol.id, at: new Date(fix.at).toISOString(), lat: fix.lat, lon: fix.lon, accuracy_m: accuracy };
    await cache.set(POINTS, [...(await pending()), point]);
    recorded += 1;
    changed();
    flush();
  }

  function dropped(n, code) {
    refused = { n: ((refused && refused.n) || 0) + n, why: ERRORS[code] || ERRORS.invalid_request };
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
        try {
          const out = await send({ patrol_id: byPatrol[0].patrol_id, points: byPatrol.map(({ patrol_id, ...q }) => q) });
          for (const r of (out && out.refused) || []) dropped(1, r.error);
        } catch (err) {
          if (!err.status || err.status >= 500 || WAIT_STATUS.has(err.status)) throw err;
          dropped(byPatrol.length, err.code); // refused as a whole: it never goes through
        }
        const sent = new Set(byPatrol.map((q) => q.id)); // kept, or refused for good
        await cache.set(POINTS, (await pending()).filter((q) => !sent.has(q.id)));
      }
    } catch (_) {
      /* no signal, or the core failed: the points wait for the next try */
    } finally {
      sending = false;
      changed();
    }
  }

  async function tick() {
    if (current()) await record(await locate());
  }

  function run() {
    clearInterval(timer);
    timer = setInterval(tick, EVERY_MS);
  }

  async function start() {
    localStorage.setItem(PATROL_KEY, JSON.stringify({ id: newRequestId(), started: Date.now() }));
    recorded = 0;
    refused = null;
    last = null;
    run();
    changed(); // 巡查中, also while the phone has no fix yet
    await tick();
  }

  function stop() {
    localStorage.removeItem(PATROL_KEY);
    clearInterval(timer);
    timer = null;
    changed();
    flush();
  }

  // a new fix from the phone: recorded once it is MOVE_M from the last point
  function moved(fix) {
    if (current() && (!last || metres(last, fix) >= MOVE_M)) record(fix);
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
      refused ? h('p', { id: 'patrol-refused', class: 'error', dataset: { refused: String(refused.n) } }, fill(T.patrol_refused, refused)) : null,
      patrol
        ? h('button', { type: 'button', id: 'patrol-stop', class: 'big bad', onclick: stop }, T.patrol_stop)
        : h('button', { type: 'button', id: 'patrol-start', class: 'primary big', onclick: start }, T.patrol_start),
      h('p', { class: 'hint' }, T.patrol_hint),
    );
  }

  if (current()) run(); // a patrol goes on after the app was reopened
  return { view, moved, flush, active: () => Boolean(current()) };
}
