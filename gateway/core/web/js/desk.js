// 坐席弹屏: the hotline call this agent just answered pops over whatever page is open.
//
// The core sends `agent_call` on the event stream to the agent who answered (the queue member's
// interface is mapped to a console user in core.agent_desk.agents). The pop shows the caller's
// number, what the caller chose and recorded in the IVR before the transfer, the caller's
// earlier cases (open ones marked), the call's recording once it exists, and a button that opens
// 上报问题 pre-filled from the call. After a reload the last pop of the past few minutes shows again.
//
// startDesk(ctx) → { stop() }; takePrefill() → the pre-fill the report form should use, once.
import { api, describeError, evidenceUrl } from './api.js';
import { DESK, STATES } from './labels.js';
import { openLive } from './live.js';
import { fill, fmtTime, h } from './ui.js';

const AGENT_ROLES = new Set(['operator', 'shift_lead', 'admin']);
const SHOW_AGAIN_MS = 10 * 60 * 1000; // a pop older than this is not shown again after a reload

let prefill = null;

export function takePrefill() {
  const value = prefill;
  prefill = null;
  return value;
}

function said(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ''));
}

function reasonText(reason) {
  const r = String(reason || '');
  if (!r) return '';
  if (r === 'consultation') return DESK.reason.consultation;
  if (r.startsWith('emergency')) return DESK.reason.emergency;
  if (r.includes('pressed 0')) return DESK.reason.pressed_zero;
  if (r.includes('tries without')) return DESK.reason.misses;
  if (r.includes('could not be recorded')) return DESK.reason.record_failed;
  if (r.includes('was recorded')) return DESK.reason.rerecorded;
  return DESK.reason.other;
}

// "main_menu:1" → "主菜单 1"
function keysText(keys) {
  return (keys || [])
    .map((item) => {
      const [stage, key] = String(item).split(':');
      return `${DESK.stage[stage] || stage} ${key || '—'}`;
    })
    .join(' → ');
}

function ivrPart(ivr) {
  if (!ivr) return h('p', { class: 'muted', id: 'pop-ivr-none' }, DESK.ivr_none);
  const f = ivr.facts || {};
  const rows = [];
  const add = (label, value, key) => {
    if (value !== undefined && value !== null && value !== '') rows.push(h('tr', { dataset: { key } }, h('th', {}, label), h('td', {}, String(value))));
  };
  add(DESK.ivr_service, `${DESK.purpose[f.call_purpose] || ''}${ivr.partial ? DESK.ivr_partial : ''}`, 'purpose');
  add(DESK.ivr_category, f.category && f.category.name, 'category');
  add(DESK.ivr_district, ivr.district, 'district');
  add(DESK.ivr_keys, keysText(f.keys), 'keys');
  add(DESK.ivr_stage, DESK.stage[f.stage] || f.stage, 'stage');
  add(DESK.ivr_reason, reasonText(f.transfer_reason), 'reason');
  const recorded = Object.keys(f.recordings || {}).map((k) => DESK.recordings[k] || k);
  add(DESK.ivr_recorded, recorded.join('、'), 'recorded');
  add(DESK.ivr_case, ivr.case_number, 'case_number');
  return h('table', { class: 'facts', id: 'pop-ivr' }, rows);
}

function casesPart(pop, ctx) {
  if (!pop.cases_total) return h('p', { class: 'muted', id: 'pop-cases-none' }, DESK.cases_none);
  const items = pop.cases.map((c) =>
    h(
      'li',
      { class: c.open ? 'open' : 'done', dataset: { caseId: c.id } },
      h('span', { class: `pill ${c.open ? 'pill-open' : 'pill-done'}` }, c.open ? DESK.open : DESK.done),
      ' ',
      h('a', { href: `#/case/${encodeURIComponent(c.id)}` }, c.number),
      ` ${ctx.eventName(c.event_code)} · ${(ctx.ref && ctx.ref.states[c.state]) || STATES[c.state] || c.state} · ${fmtTime(c.created_at)}`,
    ),
  );
  const more = pop.cases_total > pop.cases.length ? h('p', { class: 'muted' }, said(DESK.cases_more, { n: pop.cases.length })) : null;
  return h(
    'div',
    { id: 'pop-cases' },
    h('p', { id: 'pop-cases-summary' }, said(DESK.cases_summary, { total: pop.cases_total, open: pop.cases_open })),
    h('ul', { class: 'pop-cases' }, items),
    more,
  );
}

function recordingPart(pop) {
  const box = h('div', { id: 'pop-recording' });
  if (!pop.recording) return fill(box, h('span', { class: 'muted' }, DESK.recording_none));
  const audio = h('audio', { controls: true, preload: 'none', class: 'recording' });
  fill(box, h('span', {}, `${DESK.recording}：`), audio);
  evidenceUrl(pop.recording.url)
    .then((url) => (audio.src = url))
    .catch((err) => box.append(h('p', { class: 'error' }, describeError(err))));
  return box;
}

function render(panel, pop, ctx) {
  const number = pop.caller_number || '';
  const ivr = pop.ivr || {};
  const start = h('button', { class: 'primary', id: 'pop-start-case', type: 'button' }, DESK.start_case);
  start.addEventListener('click', () => {
    prefill = {
      call_uniqueid: pop.uniqueid,
      callback_number: number,
      reporter_name: pop.caller_name || '',
      event_code: ivr.event_code || '',
      title: ivr.title || '',
      description: ivr.description || '',
      district: ivr.district || '',
      grid_code: ivr.grid_code || '',
      note: said(DESK.prefilled, { number: number || DESK.unknown_caller }),
    };
    if (location.hash === '#/report') window.dispatchEvent(new HashChangeEvent('hashchange'));
    else ctx.go('#/report');
  });
  const close = h('button', { type: 'button', class: 'pop-close', id: 'pop-close', 'aria-label': DESK.close }, '×');
  close.addEventListener('click', () => {
    panel.hidden = true;
  });
  fill(
    panel,
    h('header', {}, h('h2', {}, DESK.title), close),
    h(
      'table',
      { class: 'facts', id: 'pop-call' },
      h('tr', {}, h('th', {}, DESK.caller), h('td', { id: 'pop-caller' }, number || DESK.unknown_caller)),
      pop.caller_name ? h('tr', {}, h('th', {}, DESK.caller_name), h('td', {}, pop.caller_name)) : null,
      h('tr', {}, h('th', {}, DESK.queue), h('td', {}, pop.queue || '—')),
      h('tr', {}, h('th', {}, DESK.hold), h('td', {}, said(DESK.seconds, { n: pop.hold_s }))),
      h('tr', {}, h('th', {}, DESK.answered_at), h('td', {}, fmtTime(pop.connected_at, { seconds: true }))),
    ),
    h('h3', {}, DESK.ivr_title),
    ivrPart(pop.ivr),
    h('h3', {}, DESK.cases_title),
    casesPart(pop, ctx),
    recordingPart(pop),
    h('div', { class: 'buttons' }, start),
  );
  panel.hidden = false;
}

// 人工队列: each hotline gateway's queues, in the header (hidden while no gateway reported)
function renderQueues(bar, gateways) {
  const parts = [];
  for (const g of gateways || []) {
    const down = g.ami !== 'ready' || g.callbacks_paused;
    // callbacks switched off at the centre (telephony.callbacks.originate false): none to pause
    const off = g.callbacks_state === 'off';
    for (const q of g.queues || []) {
      const figures = said(DESK.queue_figures, {
        waiting: q.waiting,
        longest: q.longest_wait_s,
        answered: q.answered,
        abandoned: q.abandoned,
        available: q.agents_available,
        agents: q.agents_logged_in,
      });
      const stale = down && g.figures_age_s ? said(DESK.queue_stale, { n: Math.round(g.figures_age_s) }) : '';
      parts.push(h('span', { class: `queue-figures${q.waiting ? ' waiting' : ''}`, dataset: { queue: q.queue } }, `${DESK.queue_bar} ${figures}${stale}`));
    }
    if (down) parts.push(h('span', { class: 'queue-down', role: 'status' }, off ? DESK.queue_down_no_callbacks : DESK.queue_down));
  }
  fill(bar, parts);
  bar.hidden = parts.length === 0;
}

export function startDesk(ctx) {
  if (!AGENT_ROLES.has(ctx.user.role)) return { stop() {} };
  const panel = h('aside', { id: 'agent-pop', class: 'agent-pop', role: 'dialog', 'aria-live': 'assertive', hidden: true });
  const bar = h('div', { id: 'queue-bar', class: 'queue-bar', hidden: true });
  document.body.append(panel);
  const who = document.getElementById('who');
  if (who) who.before(bar);
  let live = null;
  let stopped = false;
  Promise.all([api.get('/api/v1/desk/calls'), api.get('/api/v1/desk/queues')])
    .then(([mine, queues]) => {
      if (stopped) return;
      renderQueues(bar, queues.gateways);
      const last = mine.agent ? mine.items[0] : null;
      if (last && Date.now() - new Date(last.connected_at).getTime() < SHOW_AGAIN_MS) render(panel, last, ctx);
      live = openLive({
        onEvent: (kind, data) => {
          if (kind === 'agent_call') render(panel, data, ctx); // the core sends it to its agent only
          else if (kind === 'queues') renderQueues(bar, data.gateways);
        },
        onUp: () => (panel.dataset.live = 'up'), // the pops come through (tests wait on it)
        onDown: () => (panel.dataset.live = 'down'),
      });
    })
    .catch(() => {}); // the core is away: the pages work without the desk
  return {
    stop() {
      stopped = true;
      if (live) live.close();
      panel.remove();
      bar.remove();
    },
  };
}

// the case page's 通话录音 (an agent call's MixMonitor file), fetched with the token as evidence is
export function renderRecording(recording) {
  if (!recording) return null;
  const audio = h('audio', { controls: true, preload: 'none', class: 'recording', id: 'case-recording' });
  const section = h('section', { id: 'case-recording-box' }, h('h3', {}, DESK.recording), audio);
  evidenceUrl(recording.url)
    .then((url) => (audio.src = url))
    .catch((err) => section.append(h('p', { class: 'error' }, describeError(err))));
  return section;
}

// the case page's 回访与来电: its callbacks (waiting and why, each call, the survey) and the
// calls that asked about it, from the call records; for those who answer the hotline
export function renderCaseCalls(c, user) {
  if (!AGENT_ROLES.has(user.role) || !c.number) return null;
  const list = h('ul', { class: 'case-calls', id: 'case-calls' });
  const section = h('section', { id: 'case-calls-box' }, h('h3', {}, DESK.case_calls), list);
  api
    .get(`/api/v1/call-records?case_number=${encodeURIComponent(c.number)}&limit=50`)
    .then((page) => {
      if (!page.items.length) {
        fill(list, h('li', { class: 'muted' }, DESK.case_calls_none));
        return;
      }
      fill(
        list,
        page.items.map((r) =>
          h(
            'li',
            { dataset: { purpose: r.call_purpose || '' } },
            h('span', { class: 'muted' }, `${fmtTime(r.received_at)} · ${DESK.purpose[r.call_purpose] || DESK.purpose.none}`),
            ' ',
            r.description || r.title,
            r.recording ? recordingPart({ recording: r.recording }) : null,
          ),
        ),
      );
    })
    .catch((err) => fill(list, h('li', { class: 'error' }, describeError(err))));
  return section;
}
