// 案件详情: facts, evidence, the step log, and every action the user's role allows now.
import { api, describeError, newRequestId } from '../api.js';
import { ACTIONS, CASE_SCORE, COMMUNITY, DEADLINE, HANDOFF, LEVELS, LIGHTS, PENDING, POSITION, REJECT_REASONS, ROLES, SATISFACTION, SEEN_AGAIN, SOURCES, TASKS } from '../labels.js';
import { ask, fill, fmtTime, h, lightBadge, toast } from '../ui.js';
import { renderCameraChecks, withoutCheckSnapshots } from './camera_check.js';
import { renderEvidence, renderFacts } from './evidence.js';
import { caseMapPanel } from './case_map.js';
import { caseComponentsPanel, componentRows, componentStepText, ownerHint } from './case_components.js';
import { renderCaseCalls, renderRecording } from '../desk.js';

const NEEDS_OPINION = new Set([
  'reject',
  'request_extension',
  'request_return',
  'request_suspension',
  'request_void',
  'deny',
  'verify_fail',
  'keep_closed',
  'confirm_fail',
  'escalate',
  'hand_down',
  'assign_community',
  'recall_community',
]);
// steps on an inspector's task, sent to /api/v1/cases/{id}/task with the inspector chosen
const TASK_ACTIONS = new Set(['request_confirmation', 'assign_task']);
// an inspector's answer to their 核实/核查, sent as the phone sends it: one multipart request to
// /api/v1/mobile/tasks/{id}/answer with a request id kept until the core acknowledges it
const ANSWERS = { confirm_pass: 'pass', confirm_fail: 'fail', verify_pass: 'pass', verify_fail: 'fail' };
const answerIds = new Map(); // `${case}:${action}` -> the request id of an answer not yet acknowledged
const DANGER = new Set(['reject', 'verify_fail', 'request_void', 'deny']);
// the step the method expects next, first match wins: highlighted whatever order the core lists
const EXPECTED = ['register', 'dispatch', 'report', 'verify_pass', 'close', 'approve', 'resume', 'reopen', 'evaluate'];
const OPINION_MAX = 4000; // TransitionIn.opinion

// what the user typed for an action that the core refused: offered again, never lost
const drafts = new Map();

// "camera/cam-1" -> "视频监控 cam-1"
function sourceText(source) {
  const [kind, ...rest] = String(source || '').split('/');
  return [SOURCES[kind] || kind, rest.join('/')].filter(Boolean).join(' ');
}

function seenText(template, s, extra = {}) {
  const values = { at: fmtTime((s.facts && s.facts.seen_at) || s.at, { seconds: true }), source: sourceText(s.facts && s.facts.source), ...extra };
  return template.replace(/\{(\w+)\}/g, (_, key) => String(values[key]));
}

// 综合评价: the core's score of a closed case, with the part each input gave (0-100 each)
function renderScore(score) {
  if (!score) return null;
  const D = CASE_SCORE.detail;
  const detail = {
    on_time: score.on_time === null ? '' : D.on_time[String(score.on_time)],
    rework: D.rework.replace('{n}', score.rework),
    delays: D.delays.replace('{n}', score.delays),
    satisfaction: score.satisfaction ? SATISFACTION[score.satisfaction] || '' : '',
  };
  const head = score.score === null
    ? h('p', { class: 'muted' }, CASE_SCORE.none)
    : h('p', { class: 'score' }, `${CASE_SCORE.score} ${score.score.toFixed(1)} · ${CASE_SCORE.grade} ${CASE_SCORE.grades[score.grade] || ''}`);
  const rows = Object.entries(score.parts).map(([part, value]) =>
    h('tr', { dataset: { part } }, h('th', {}, CASE_SCORE.parts[part] || part), h('td', {}, `${Math.round(value * 100)} 分`), h('td', {}, detail[part] || '')),
  );
  return h('section', { id: 'case-score' }, h('h3', {}, CASE_SCORE.title), head, rows.length ? h('table', { class: 'facts' }, rows) : null, h('p', { class: 'hint' }, CASE_SCORE.note));
}

// the case's open 核实/核查 task and a 核实's answer, for the summary table
function taskRows(c) {
  const rows = [];
  const task = c.facts && c.facts.task;
  if (task) {
    const who = task.assignee || TASKS.nobody;
    rows.push([TASKS.row, TASKS.text.replace('{kind}', TASKS.kinds[task.kind] || task.kind).replace('{who}', who).replace('{due}', fmtTime(task.due))]);
  }
  const done = c.facts && c.facts.confirmation;
  if (done) {
    const text = TASKS.confirmation_text.replace('{verdict}', TASKS.confirmation[done.verdict] || done.verdict).replace('{by}', done.by).replace('{at}', fmtTime(done.at));
    rows.push([TASKS.confirmation_row, done.on_time === false ? text + TASKS.late : text]);
  }
  return rows;
}

// a step that took up a case escalated or handed down: in time, or after its deadline
function takenText(facts) {
  if (!facts || facts.level_on_time === undefined) return '';
  return facts.level_on_time ? LEVELS.taken : LEVELS.taken_late;
}

// 上报 / 下派 in the log: from which centre to which, and by when it must be taken up
function levelText(facts, ctx) {
  const name = (id) => ctx.ref.centres[id] || id;
  return LEVELS.moved.replace('{from}', name(facts.from_centre)).replace('{to}', name(facts.to_centre)).replace('{due}', fmtTime(facts.level_deadline));
}

// 四级联动 in the log: the street office passed the case to a community, or took it back
function communityText(s, ctx) {
  const street = ctx.ref.departments[s.department] || s.department || '';
  const community = (s.facts && s.facts.community_name) || '';
  const template = s.action === 'assign_community' ? COMMUNITY.passed : COMMUNITY.recalled;
  return template.replace('{street}', street).replace('{community}', community);
}

// a step a community's user took: which community (the step's unit is its street office)
function byCommunityText(s, ctx) {
  const id = s.facts && s.facts.by_community;
  return id ? COMMUNITY.by_community.replace('{community}', ctx.ref.departments[id] || id) : '';
}

async function sendAnswer(c, action, values) {
  const key = `${c.id}:${action}`;
  if (!answerIds.has(key)) answerIds.set(key, newRequestId());
  const form = new FormData();
  form.append('request_id', answerIds.get(key));
  form.append('verdict', ANSWERS[action]);
  form.append('opinion', values.opinion || '');
  if (values.photo && values.photo.size) form.append('photos', values.photo, values.photo.name);
  const out = await api.form(`/api/v1/mobile/tasks/${encodeURIComponent(c.id)}/answer`, form);
  answerIds.delete(key);
  return out;
}

function fieldsFor(action, c, ctx, inspectors = []) {
  const fields = [];
  if (TASK_ACTIONS.has(action)) {
    const options = action === 'request_confirmation' ? { '': TASKS.by_grid } : {};
    for (const i of inspectors) options[i.name] = TASKS.inspector_option.replace('{name}', i.name).replace('{n}', i.open_tasks);
    fields.push({ name: 'assignee', label: TASKS.assignee, type: 'select', options, value: '', required: action === 'assign_task' });
  }
  if (action === 'reject') {
    fields.push({ name: 'reason', label: '原因', type: 'select', options: REJECT_REASONS, value: 'false_detection' });
  }
  if (action === 'merge') {
    fields.push({ name: 'merge_into', label: '合并到（案件ID）', required: true, value: c.proposed_merge_into || '' });
  }
  if (action === 'dispatch') {
    // a district centre dispatches to its own departments and streets (两级指挥)
    const targets = ctx.ref.org && ctx.ref.org.me.dispatch_targets;
    const own = targets && targets.length ? Object.fromEntries(targets.map((t) => [t.id, t.name])) : ctx.ref.departments;
    const options = { '': '按责任表自动匹配', ...own };
    // the linked component's owner (部件问题), a hint only: the choice stays the dispatcher's
    fields.push(ownerHint(c, { name: 'department', label: '派遣部门', type: 'select', options, value: '' }));
  }
  if (action === 'assign_community') {
    // a street office passes its case to one of its communities (四级联动)
    const mine = (ctx.ref.org && ctx.ref.org.me.communities) || [];
    const options = { '': COMMUNITY.by_grid, ...Object.fromEntries(mine.map((m) => [m.id, m.name])) };
    const here = mine.find((m) => c.grid_code && m.grids.some((g) => c.grid_code.startsWith(g)));
    fields.push({ name: 'community', label: COMMUNITY.picker, type: 'select', options, value: here ? here.id : '' });
  }
  if (action === 'request_extension') {
    fields.push({ name: 'extension_hours', label: '延长时限（小时，按案件时限的计时方式）', type: 'number', min: 0.5, step: 0.5, value: 8, required: true });
  }
  if (action === 'report') {
    fields.push({ name: 'photo', label: '处置照片（可选）', type: 'file', accept: 'image/*' });
  }
  if (ANSWERS[action]) {
    fields.push({ name: 'photo', label: '现场照片（可选）', type: 'file', accept: 'image/*' });
  }
  fields.push({
    name: 'opinion',
    label: NEEDS_OPINION.has(action) ? '意见（必填）' : '意见',
    type: 'textarea',
    maxlength: OPINION_MAX,
    required: NEEDS_OPINION.has(action),
    value: drafts.get(`${c.id}:${action}`) || '',
  });
  return fields;
}

export async function render(main, ctx, caseId) {
  const head = h('div', { class: 'view-head' });
  const body = h('div', { class: 'case-page' });
  main.append(head, body);
  let mapPanel = null; // where the case is (views/case_map.js), when it has a point

  async function load() {
    let c;
    let steps;
    try {
      [c, steps] = await Promise.all([
        api.get(`/api/v1/cases/${encodeURIComponent(caseId)}`),
        api.get(`/api/v1/cases/${encodeURIComponent(caseId)}/steps`),
      ]);
    } catch (err) {
      fill(head, h('h2', {}, '案件'));
      body.replaceChildren(h('p', { class: 'error' }, describeError(err)));
      return;
    }
    fill(head, 
      // no javascript: URL (the core's Content-Security-Policy refuses inline script)
      h('a', { href: '#/', class: 'back', onclick: (event) => { event.preventDefault(); history.back(); } }, '← 返回'),
      h('h2', { id: 'case-title' }, `${c.number} · ${ctx.eventName(c.event_code)}`),
      h('span', { class: `state state-${c.state}`, id: 'case-state' }, c.state_label),
      lightBadge(c.light, LIGHTS),
      c.urgent ? h('span', { class: 'tag urgent' }, '紧急') : null,
      c.level_overdue ? h('span', { class: 'tag level-overdue', id: 'case-level-overdue' }, LEVELS.overdue) : null,
    );
    const seen = steps.filter((s) => s.action === 'redetected');
    // the deadline as last set (dispatch, an approved extension, a resumed suspension) was
    // counted on a year's statutory holidays alone
    const deadlineSteps = steps.filter((s) => s.facts && s.facts.deadline);
    const provisional = c.deadline && deadlineSteps.length > 0 && Boolean(deadlineSteps[deadlineSteps.length - 1].facts.deadline_provisional);
    const summary = h(
      'table',
      { class: 'facts' },
      [
        ['来源', SOURCES[c.source_kind] || c.source_kind],
        ...(c.facts && c.facts.position_source === 'map'
          ? [[POSITION.row, c.facts.position_moved_m != null ? POSITION.by_hand.replace('{m}', c.facts.position_moved_m) : POSITION.by_hand_no_fix]]
          : []),
        ['收到时间', fmtTime(c.created_at)],
        [LEVELS.centre, c.centre_name || '—'],
        ...(c.level_deadline ? [[LEVELS.deadline, fmtTime(c.level_deadline) + (c.level_overdue ? LEVELS.overdue_note : '')]] : []),
        ['处置部门', c.department ? ctx.ref.departments[c.department] || c.department : '—'],
        ...(c.community ? [[COMMUNITY.row, c.community_name || ctx.ref.departments[c.community] || c.community]] : []),
        ['派遣时间', fmtTime(c.dispatched_at)],
        ['处置时限', fmtTime(c.deadline) + (provisional ? DEADLINE.provisional : '')],
        ['挂账时长', c.suspended_minutes ? `${Math.round(c.suspended_minutes)} 工作分钟` : '—'],
        ['返工次数', String(c.rework_count)],
        ['待批申请', c.pending ? `${PENDING[c.pending.kind] || c.pending.kind}（${c.pending.requested_by}）` : '—'],
        ['结案时间', fmtTime(c.closed_at)],
        ['市民满意度', c.satisfaction ? SATISFACTION[c.satisfaction] || '—' : '—'],
        [SEEN_AGAIN.row, seen.length ? seenText(SEEN_AGAIN.summary, seen[seen.length - 1], { count: seen.length }) : '—'],
        ...taskRows(c),
        ...componentRows(c),
      ].map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v))),
    );
    const expected = EXPECTED.find((a) => c.allowed_actions.includes(a));
    const actions = h(
      'div',
      { class: 'actions', id: 'case-actions' },
      c.allowed_actions.length
        ? c.allowed_actions.map((action) =>
            h(
              'button',
              {
                class: DANGER.has(action) ? 'danger' : action === expected ? 'primary' : '',
                dataset: { action },
                onclick: () => act(c, action),
              },
              action === 'approve' && c.pending ? `批准${PENDING[c.pending.kind] || ''}申请` : ACTIONS[action] || action,
            ),
          )
        : h('p', { class: 'muted' }, `${ROLES[ctx.user.role] || ctx.user.role}在此状态下没有可执行的操作`),
    );
    const log = h(
      'table',
      { class: 'steps', id: 'step-log' },
      h('thead', {}, h('tr', {}, ['#', '时间', '操作', '状态', '操作人', '意见'].map((t) => h('th', {}, t)))),
      h(
        'tbody',
        {},
        steps.map((s, i) =>
          h(
            'tr',
            { dataset: { action: s.action } },
            h('td', {}, i + 1),
            h('td', {}, fmtTime(s.at)),
            h('td', {}, ACTIONS[s.action] || s.action),
            h('td', {}, `${s.from_state ? (ctx.ref.states[s.from_state] || s.from_state) + ' → ' : ''}${ctx.ref.states[s.to_state] || s.to_state}`),
            // the core's own steps (intake, feedback) are the system's, whatever its instance name
            h('td', {}, s.role === 'system' ? ROLES.system : `${s.actor}（${ROLES[s.role] || s.role}${byCommunityText(s, ctx)}）`),
            h('td', {}, [
              s.opinion,
              s.facts && s.facts.reason ? `[${REJECT_REASONS[s.facts.reason] || s.facts.reason}]` : '',
              s.action === 'redetected' && s.facts && s.facts.seen_at ? seenText(SEEN_AGAIN.step, s) : '',
              (s.action === 'escalate' || s.action === 'hand_down') && s.facts ? levelText(s.facts, ctx) : '',
              s.action === 'assign_community' || s.action === 'recall_community' ? communityText(s, ctx) : '',
              s.facts && s.facts.deadline_provisional ? DEADLINE.provisional : '',
              takenText(s.facts),
              s.action === 'link_component' ? componentStepText(s) : '',
              s.action === 'handoff' && s.facts ? HANDOFF.receipt.replace('{ref}', s.facts.ack_ref || '—').replace('{n}', s.facts.attempts || 1) : '',
            ].filter(Boolean).join(' ')),
          ),
        ),
      ),
    );
    if (mapPanel) mapPanel.remove();
    mapPanel = caseMapPanel(c);
    fill(body, 
      h('section', { class: 'case-main' }, h('h3', {}, '操作'), actions, renderCameraChecks(c), h('h3', {}, '办理记录'), log),
      h(
        'aside',
        { class: 'case-side' },
        c.title ? h('p', {}, c.title) : null,
        summary,
        mapPanel ? mapPanel.element : null,
        caseComponentsPanel(c, load),
        renderScore(c.case_score),
        renderFacts(c),
        h('h3', {}, '证据'),
        renderEvidence(withoutCheckSnapshots(c), steps),
        renderRecording(c.recording),
        renderCaseCalls(c, ctx.user),
      ),
    );
    if (mapPanel) mapPanel.mount();
  }

  async function act(c, action) {
    let inspectors = [];
    if (TASK_ACTIONS.has(action)) {
      try {
        inspectors = await api.get('/api/v1/inspectors');
      } catch (err) {
        toast(describeError(err), 'error');
        return;
      }
    }
    const values = await ask(`${c.number} · ${ACTIONS[action] || action}`, fieldsFor(action, c, ctx, inspectors), ACTIONS[action] || '确定');
    if (!values) return;
    const request = { action, opinion: values.opinion || '', expected_version: c.version };
    if (values.assignee) request.assignee = values.assignee;
    if (values.reason) request.reason = values.reason;
    if (values.merge_into) request.merge_into = values.merge_into.trim();
    if (values.department) request.department = values.department;
    if (values.community) request.community = values.community;
    if (values.extension_hours) request.extension_hours = Number(values.extension_hours);
    try {
      if (values.photo && values.photo.size && !ANSWERS[action]) {
        const uploaded = await api.upload(c.id, values.photo, 'photo');
        request.attachments = [uploaded.sha256];
      }
      const out = ANSWERS[action]
        ? await sendAnswer(c, action, values)
        : TASK_ACTIONS.has(action)
          ? await api.post(`/api/v1/cases/${encodeURIComponent(c.id)}/task`, request)
          : await api.transition(c.id, request);
      drafts.delete(`${c.id}:${action}`);
      const done = ACTIONS[action] || action;
      const moved = out.case.state !== c.state && out.case.state_label !== done;
      const now = moved ? `，案件转入“${out.case.state_label}”` : '';
      toast(`${out.case.number}：已${done}${now}`, 'ok');
    } catch (err) {
      if (request.opinion) drafts.set(`${c.id}:${action}`, request.opinion);
      toast(`${describeError(err)}${request.opinion ? '（已保留您填写的意见）' : ''}`, 'error');
    }
    await load();
  }

  await load();
  return () => mapPanel && mapPanel.remove();
}
