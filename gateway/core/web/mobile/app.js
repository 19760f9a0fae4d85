// The inspector's phone app (issue 19): report a problem with photos, a voice note
// (voice.js) and the phone's position in one request, answer 核实/核查 tasks on site
// (tasks.js, a voice note there too), and keep
// working without a signal: everything goes through the IndexedDB outbox (queue.js) and is
// sent when the core answers, each item with the request id it got when it was written.
import { ERRORS, FIELDS, T, VALIDATION, fill } from './texts.js';
import { $, h } from './dom.js';
import { photoPicker } from './photos.js';
import { cache, formOf, newRequestId, outbox, pathOf } from './queue.js';
import { recording, stopVoice, voiceField } from './voice.js';
import { createPatrol } from './patrol.js';
import { createTasks, queuedAnswerText } from './tasks.js';

const SESSION_KEY = 'citygw.mobile.session';
const USAGE_KEY = 'citygw.mobile.usage';
const TIMEOUT_MS = 20000;
const SEND_TIMEOUT_MS = 60000;
const POOR_ACCURACY_M = 50;
//: street order first: what an inspector reports most before they have a history
const DEFAULT_FREQUENT = ['0505', '0506', '0507', '0504', '0501', '0102', '0510', '0103'];

// ------------------------------------------------------------------ session and API

class RequestFailed extends Error {
  constructor(status, code, detail) {
    super(code);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

function session() {
  try {
    return JSON.parse(localStorage.getItem(SESSION_KEY) || 'null');
  } catch (_) {
    return null;
  }
}

async function call(method, path, { json, form, timeoutMs = TIMEOUT_MS } = {}) {
  const headers = {};
  const s = session();
  if (s) headers.Authorization = `Bearer ${s.token}`;
  if (json !== undefined) headers['Content-Type'] = 'application/json';
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: json !== undefined ? JSON.stringify(json) : form,
      signal: abort.signal,
    });
  } catch (_) {
    throw new RequestFailed(0, 'network', null);
  } finally {
    clearTimeout(timer);
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    throw new RequestFailed(response.status, (body && body.error) || `http_${response.status}`, body && body.detail);
  }
  return body;
}

function describe(err) {
  if (err.code === 'invalid_request' && Array.isArray(err.detail) && err.detail.length) {
    const first = err.detail[0];
    const field = FIELDS[first.loc[first.loc.length - 1]] || T.field_unknown;
    const pattern = VALIDATION[first.type];
    if (pattern) return fill(pattern, { field, ...first.ctx });
  }
  return ERRORS[err.code] || ERRORS.invalid_request;
}

// ------------------------------------------------------------------ shell

const state = {
  view: 'report',
  eventNames: {},
  eventClasses: [], // [{code, name, events: [{code, name}]}]
  pickerClass: null,
  draft: null, // the report being written
  position: null, // {lat, lon, accuracy}
  positionError: null,
  tasks: [],
  sending: false,
};

function toast(text, kind = '') {
  const box = $('#toast');
  box.textContent = text;
  box.className = `toast show ${kind}`;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (box.className = 'toast'), 5000);
}

function complain(text) {
  toast(text, 'error');
}

function showView(view) {
  if (view !== state.view && recording()) stopVoice(); // a note in progress stays in its form
  state.view = view;
  for (const tab of document.querySelectorAll('#tabs button')) {
    tab.classList.toggle('active', tab.dataset.view === view);
  }
  render();
}

function render() {
  const main = $('#main');
  main.replaceChildren();
  if (!session()) {
    main.append(loginView());
    $('#tabs').hidden = true;
    return;
  }
  $('#tabs').hidden = false;
  if (state.view === 'report') main.append(reportView());
  else if (state.view === 'tasks') main.append(tasks.listView());
  else if (state.view === 'answer') main.append(tasks.answerView());
  else if (state.view === 'patrol') main.append(patrol.view());
  else main.append(queueView());
}

async function refreshStatus() {
  const items = await outbox.all();
  const count = $('#queue-count');
  count.textContent = items.length ? String(items.length) : '';
  count.hidden = items.length === 0;
  const net = $('#net');
  net.textContent = navigator.onLine ? T.online : T.offline;
  net.className = navigator.onLine ? 'net online' : 'net offline';
  if (state.view === 'queue') render();
}

// ------------------------------------------------------------------ login

function loginView() {
  const message = h('p', { class: 'error', id: 'login-error', role: 'alert' });
  const form = h(
    'form',
    { id: 'login-form', class: 'card' },
    h('h2', {}, T.login_title),
    h('label', {}, T.name, h('input', { name: 'name', autocomplete: 'username', required: true })),
    h('label', {}, T.password, h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
    h('button', { type: 'submit', class: 'primary big' }, T.login),
    message,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    message.textContent = T.logging_in;
    try {
      const out = await call('POST', '/api/v1/auth/login', {
        json: { name: data.get('name'), password: data.get('password') },
      });
      if (out.user.role !== 'inspector') {
        message.textContent = T.not_inspector;
        return;
      }
      localStorage.setItem(SESSION_KEY, JSON.stringify({ token: out.token, user: out.user }));
      await start();
    } catch (err) {
      message.textContent = describe(err);
    }
  });
  return form;
}

async function logout() {
  try {
    await call('POST', '/api/v1/auth/logout');
  } catch (_) {
    /* gone already, or offline: the token expires anyway */
  }
  localStorage.removeItem(SESSION_KEY);
  render();
}

// ------------------------------------------------------------------ position

// a fix as the app keeps it: where, how accurate, and when the phone had it (ms)
function fixOf(pos) {
  return { lat: pos.coords.latitude, lon: pos.coords.longitude, accuracy: pos.coords.accuracy, at: pos.timestamp };
}

// the phone's current fix for a patrol point: one at most FRESH_FIX_MS old, or null when
// the phone has none (no GPS signal: no point is recorded)
const FRESH_FIX_MS = 10000;

function currentFix() {
  return new Promise((resolve) => {
    if (!navigator.geolocation) return resolve(null);
    navigator.geolocation.getCurrentPosition(
      (pos) => resolve(fixOf(pos)),
      () => resolve(null),
      { enableHighAccuracy: true, maximumAge: FRESH_FIX_MS, timeout: 20000 },
    );
  });
}

// a GeolocationPositionError said in Chinese (its message is the browser's English)
function positionProblem(err) {
  if (err.code === 1) return T.position_denied; // PERMISSION_DENIED
  if (err.code === 3) return T.position_timeout; // TIMEOUT (the watch goes on)
  return T.position_unavailable; // POSITION_UNAVAILABLE, or anything else
}

function watchPosition() {
  if (!navigator.geolocation) {
    state.positionError = T.position_denied;
    return;
  }
  navigator.geolocation.watchPosition(
    (pos) => {
      state.position = fixOf(pos);
      state.positionError = null;
      patrol.moved(state.position);
      showPosition();
      lookUpPlace();
    },
    (err) => {
      state.positionError = positionProblem(err);
      showPosition();
    },
    { enableHighAccuracy: true, maximumAge: 10000, timeout: 30000 },
  );
}

// the grid (and the nearest door plate) of the position, from the core's GIS when it has
// one; without it, or offline, the hint says the core finds the grid on receipt
const PLACE_AGAIN_M = 25;
let placeAsked = null;

function metresBetween(a, b) {
  const rad = Math.PI / 180;
  const x = (b.lon - a.lon) * rad * Math.cos(((a.lat + b.lat) / 2) * rad);
  const y = (b.lat - a.lat) * rad;
  return Math.sqrt(x * x + y * y) * 6371000;
}

async function lookUpPlace() {
  const p = reportPoint();
  if (!p || !session() || !navigator.onLine || (placeAsked && metresBetween(placeAsked, p) < PLACE_AGAIN_M)) return;
  placeAsked = { lat: p.lat, lon: p.lon };
  try {
    state.place = await call('GET', `/api/v1/gis/reverse?lon=${p.lon}&lat=${p.lat}`, { timeoutMs: 8000 });
  } catch (_) {
    state.place = null;
    placeAsked = null;
  }
  showPosition();
}

function placeText(place) {
  if (!place) return T.grid_by_server;
  const parts = [
    place.grid
      ? fill(T.place_grid, { street: place.grid.street || '', community: place.grid.community || '', code: place.grid.code })
      : T.place_outside,
  ];
  if (place.nearest) parts.push(fill(T.place_near, { text: place.nearest.text, m: Math.round(place.nearest.distance_m) }));
  return parts.join('；');
}

// the report's point: the one placed by hand on the map (position_map.js), else the GPS fix
function reportPoint() {
  return (state.draft && state.draft.corrected) || state.position;
}

async function adjustPosition() {
  if (!state.position) return toast(T.need_position, 'error');
  toast(T.map_loading);
  try {
    const { openPositionMap } = await import('./position_map.js');
    const picked = await openPositionMap({ fix: state.position, start: state.draft.corrected, call });
    if (!picked) return;
    state.draft.corrected = { lat: picked.lat, lon: picked.lon };
    state.place = picked.grid ? { grid: picked.grid } : null; // until the core answers
    placeAsked = null;
    showPosition();
    lookUpPlace();
  } catch (_) {
    complain(T.map_offline);
  }
}

function showPosition() {
  const box = $('#position');
  if (!box) return;
  $('#place').textContent = placeText(state.place);
  const p = state.position;
  const at = reportPoint();
  if (p) {
    const m = Math.round(p.accuracy);
    const poor = m > POOR_ACCURACY_M && at === p;
    box.textContent = at !== p ? fill(T.position_corrected, { m: Math.round(metresBetween(p, at)) }) : fill(poor ? T.accuracy_poor : T.accuracy, { m });
    box.className = poor ? 'position poor' : `position good${at !== p ? ' corrected' : ''}`;
    box.dataset.lat = at.lat.toFixed(6);
    box.dataset.lon = at.lon.toFixed(6);
  } else {
    box.textContent = state.positionError || T.locating;
    box.className = state.positionError ? 'position poor' : 'position';
  }
}

// ------------------------------------------------------------------ report

function usage() {
  try {
    return JSON.parse(localStorage.getItem(USAGE_KEY) || '{}');
  } catch (_) {
    return {};
  }
}

function frequentCodes() {
  const counts = usage();
  const used = Object.keys(counts).sort((a, b) => counts[b] - counts[a]);
  return [...new Set([...used, ...DEFAULT_FREQUENT])].filter((c) => state.eventNames[c]).slice(0, 8);
}

function newDraft() {
  return { event: null, photos: [], description: '', voice: null };
}

function className(cls) {
  return cls.name || fill(T.other_class, { code: cls.code });
}

function eventPicker(draft, onPick) {
  const list = h('div', { class: 'events', id: 'event-list' });
  const search = h('input', { id: 'event-search', type: 'search', placeholder: T.event_search, autocomplete: 'off' });
  const option = (code) =>
    h(
      'button',
      { type: 'button', class: 'event-option', dataset: { code }, onclick: () => onPick(code) },
      h('span', { class: 'code' }, code),
      ' ',
      state.eventNames[code],
    );
  const fillList = () => {
    const q = search.value.trim();
    if (!Object.keys(state.eventNames).length) {
      list.replaceChildren(h('p', { class: 'error' }, T.event_codes_missing));
      return;
    }
    if (!q) {
      const open = state.eventClasses.find((c) => c.code === state.pickerClass);
      if (open) {
        list.replaceChildren(
          h('button', { type: 'button', class: 'class-back', onclick: () => { state.pickerClass = null; fillList(); } }, T.back_to_classes),
          h('div', { class: 'label' }, className(open)),
          ...open.events.map((e) => option(e.code)),
        );
        return;
      }
      const classes = state.eventClasses.map((c) =>
        h('button', { type: 'button', class: 'class-option', dataset: { class: c.code }, onclick: () => { state.pickerClass = c.code; fillList(); } }, className(c)),
      );
      list.replaceChildren(
        h('div', { class: 'label' }, T.frequent),
        ...frequentCodes().map(option),
        classes.length ? h('div', { class: 'label' }, T.by_class) : null,
        ...classes,
      );
      return;
    }
    const found = Object.keys(state.eventNames)
      .filter((c) => c.startsWith(q) || state.eventNames[c].includes(q))
      .sort()
      .slice(0, 40);
    list.replaceChildren(...found.map(option));
  };
  search.addEventListener('input', fillList);
  fillList();
  return h('div', { class: 'field' }, h('div', { class: 'label' }, T.event), search, list);
}

function reportView() {
  if (!state.draft) state.draft = newDraft();
  const draft = state.draft;
  const wrap = h('section', { class: 'card', id: 'report' }, h('h2', {}, T.report_title));
  if (draft.event) {
    wrap.append(
      h(
        'div',
        { class: 'field chosen' },
        h('span', { id: 'event-chosen' }, fill(T.event_chosen, { code: draft.event, name: state.eventNames[draft.event] || '' })),
        h('button', { type: 'button', onclick: () => { draft.event = null; render(); } }, T.event_change),
      ),
    );
  } else {
    wrap.append(eventPicker(draft, (code) => { draft.event = code; state.pickerClass = null; render(); }));
  }
  wrap.append(photoPicker(draft.photos, 'photo-input', complain));
  wrap.append(
    h(
      'div',
      { class: 'field' },
      h('div', { class: 'label' }, T.position),
      h('p', { id: 'position', class: 'position' }),
      h('p', { class: 'hint', id: 'place' }, T.grid_by_server),
      h('button', { type: 'button', id: 'position-adjust', class: 'big', onclick: adjustPosition }, T.position_adjust),
    ),
  );
  const text = h('textarea', { id: 'description', rows: 3, maxlength: 4000, placeholder: T.description_hint });
  text.value = draft.description;
  text.addEventListener('input', () => (draft.description = text.value));
  wrap.append(voiceField(draft, complain));
  wrap.append(h('label', { class: 'field' }, h('div', { class: 'label' }, T.description), text));
  wrap.append(h('button', { type: 'button', id: 'submit-report', class: 'primary big', onclick: submitReport }, T.submit));
  queueMicrotask(() => {
    showPosition();
    lookUpPlace();
  });
  return wrap;
}

async function submitReport() {
  if (recording()) await stopVoice(); // the note so far goes with the report
  const draft = state.draft;
  if (!draft.event) return toast(T.need_event, 'error');
  if (!draft.photos.length) return toast(T.need_photo, 'error');
  if (!state.position) return toast(T.need_position, 'error');
  const at = reportPoint();
  if (draft.corrected) placeAsked = null; // the next report starts from the GPS fix again
  const counts = usage();
  counts[draft.event] = (counts[draft.event] || 0) + 1;
  localStorage.setItem(USAGE_KEY, JSON.stringify(counts));
  state.draft = newDraft();
  render();
  await enqueue({
    id: newRequestId(),
    kind: 'report',
    created: Date.now(),
    event_code: draft.event,
    description: draft.description,
    lat: at.lat,
    lon: at.lon,
    accuracy_m: draft.corrected ? null : state.position.accuracy, // a hand-placed point has none
    gps: draft.corrected ? { ...state.position } : null, // the fix a hand-placed point was moved from
    photos: draft.photos.slice(),
    voice: draft.voice ? { blob: draft.voice.blob, seconds: draft.voice.seconds, type: draft.voice.type } : null,
  });
}

// ------------------------------------------------------------------ the outbox

function sentMessage(item, out) {
  if (item.kind === 'answer') return fill(T.answer_sent, { kind: T[`kind_${item.task_kind || 'verify'}`] });
  const parts = [fill(T.sent, { number: out.number })];
  if (out.grid_code) parts.push(fill(T.sent_grid, { grid: out.grid_code }));
  else if (out.facts && out.facts.outside_managed_area) parts.push(T.sent_outside);
  return parts.join('，');
}

// What an answer that is not a success means for the item sent:
// - 'stop': nothing can be sent now (no network, login lapsed, a proxy in front of a core
//   that is down, too many requests): the pass ends, every item waits with its id;
// - 'later': the core failed on this item (a 5xx of its own): the pass goes on with the
//   next item, this one is tried again until SERVER_TRIES failures mark it failed;
// - 'refused': the core refused this item (a 4xx): it never goes through as it is, so it
//   is marked failed at once with the reason; the list offers 立即重试 and 放弃.
const SERVER_TRIES = 3;
const CORE_UNREACHABLE = new Set([502, 503, 504]); // without a code of the core's own

function outcome(err) {
  if (err.code === 'network' || err.status === 401 || err.status === 408 || err.status === 429) return 'stop';
  if (err.status >= 500) return CORE_UNREACHABLE.has(err.status) && !ERRORS[err.code] ? 'stop' : 'later';
  return 'refused';
}

function failedText(err, tries) {
  return ERRORS[err.code] ? describe(err) : fill(T.queue_server_error, { n: tries });
}

// Sends what waits, oldest first, until the outbox is empty or the core cannot be reached;
// an item the core fails on or refuses is passed over, so one bad item never holds back
// the others; a call while a pass runs asks that pass to look again (a report added
// meanwhile).
async function drain({ retryFailed = false } = {}) {
  if (!session()) return;
  if (state.sending) {
    state.again = true;
    return;
  }
  state.sending = true;
  try {
    let reachable = true;
    do {
      state.again = false;
      for (const item of await outbox.all()) {
        if (item.failed && !retryFailed) continue;
        try {
          const out = await call('POST', pathOf(item), { form: formOf(item), timeoutMs: SEND_TIMEOUT_MS });
          await outbox.remove(item.id);
          toast(sentMessage(item, out), 'ok');
        } catch (err) {
          if (err.status === 401) expired();
          const next = outcome(err);
          if (next === 'stop') {
            reachable = false; // later, with the same id
            break;
          }
          if (next === 'later') {
            const tries = (item.tries || 0) + 1;
            const failed = tries >= SERVER_TRIES ? failedText(err, tries) : null;
            await outbox.put({ ...item, tries, failed });
          } else {
            await outbox.put({ ...item, failed: describe(err) });
          }
        }
      }
    } while (state.again && reachable);
  } finally {
    state.sending = false;
    await refreshStatus();
  }
}

// Puts an item in the outbox and starts sending; says so when it has to wait.
async function enqueue(item) {
  await outbox.put(item);
  await refreshStatus();
  await drain();
  if (state.sending) return; // a running pass sends it and says so
  const waiting = (await outbox.all()).find((i) => i.id === item.id && !i.failed);
  if (waiting && session()) toast(waiting.tries ? T.queued_retry : T.queued); // (no session: the login prompt says why)
}

function expired() {
  localStorage.removeItem(SESSION_KEY);
  toast(T.login_again, 'error');
  render();
}

function queueView() {
  const wrap = h('section', { class: 'card', id: 'queue' }, h('h2', {}, T.queue_title));
  outbox.all().then((items) => {
    if (!items.length) {
      wrap.append(h('p', { class: 'muted', id: 'queue-empty' }, T.queue_empty));
      return;
    }
    for (const item of items) {
      const title =
        item.kind === 'report'
          ? fill(T.queue_report, { name: state.eventNames[item.event_code] || item.event_code }) + (item.voice ? fill(T.queue_voice, { s: Math.round(item.voice.seconds) }) : '')
          : queuedAnswerText(item);
      wrap.append(
        h(
          'article',
          { class: 'queued', dataset: { id: item.id } },
          h('div', {}, title),
          h('div', { class: item.failed ? 'error' : 'muted' }, item.failed ? fill(T.queue_failed, { why: item.failed }) : item.tries ? fill(T.queue_retrying, { n: item.tries }) : T.queue_waiting),
          h('div', { class: 'row' },
            h('button', { type: 'button', class: 'big', onclick: () => drain({ retryFailed: true }) }, T.queue_retry),
            item.failed ? h('button', { type: 'button', class: 'big bad', onclick: async () => { await outbox.remove(item.id); refreshStatus(); } }, T.queue_discard) : null,
          ),
        ),
      );
    }
  });
  return wrap;
}

// ------------------------------------------------------------------ start

const tasks = createTasks({ state, call, render, showView, toast, complain, expired, enqueue });

const patrol = createPatrol({
  locate: currentFix,
  send: (body) => call('POST', '/api/v1/mobile/patrol', { json: body }),
  changed: () => { if (state.view === 'patrol') render(); },
});

async function loadEventCodes() {
  try {
    state.eventClasses = await call('GET', '/api/v1/mobile/event-classes');
    await cache.set('event-classes', state.eventClasses);
  } catch (err) {
    if (err.status === 401) return expired();
    state.eventClasses = (await cache.get('event-classes')) || [];
  }
  state.eventNames = {};
  for (const cls of state.eventClasses) for (const e of cls.events) state.eventNames[e.code] = e.name;
}

async function start() {
  render();
  if (!session()) return;
  await loadEventCodes();
  render();
  tasks.load();
  drain();
  patrol.flush();
}

function boot() {
  document.title = T.app_title;
  $('#app-title').textContent = T.app_title;
  const tabs = $('#tabs');
  for (const [view, label] of [['report', T.tab_report], ['tasks', T.tab_tasks], ['patrol', T.tab_patrol], ['queue', T.tab_queue]]) {
    const button = h('button', { type: 'button', dataset: { view }, onclick: () => { if (view === 'tasks') tasks.load(); showView(view); } }, label);
    if (view === 'queue') button.append(h('span', { id: 'queue-count', class: 'badge', hidden: true }));
    tabs.append(button);
  }
  tabs.querySelector('[data-view=report]').classList.add('active');
  $('#logout').textContent = T.logout;
  $('#logout').addEventListener('click', logout);
  window.addEventListener('online', () => { refreshStatus(); drain(); patrol.flush(); });
  window.addEventListener('offline', refreshStatus);
  setInterval(() => { if (navigator.onLine) drain(); }, 30000);
  if ('serviceWorker' in navigator) navigator.serviceWorker.register('sw.js').catch(() => {});
  watchPosition();
  refreshStatus();
  start();
}

boot();
