// 我的任务 (监督员, issue 19): the inspector's 核实 / 核查 tasks on the desktop, from the phone's
// own list (GET /api/v1/mobile/tasks: given to them, or to nobody on their grids; due first)
// and answered through the phone's answer (POST /api/v1/mobile/tasks/{id}/answer): verdict,
// opinion and photos in one multipart request with a request id made when the form opens, so
// a double click or a retry after a lost reply makes one answer. 核实 (confirm) is asked of a
// report not registered yet (属实 / 不属实: a proposal to the operator), 核查 (verify) of a case
// reported done (通过 / 不通过: back to the department, 返工).
// Live: a committed change on the core's event stream reloads the list; while down, polled.
import { api, describeError, newRequestId } from '../api.js';
import { LIGHTS } from '../labels.js';
import { openLive } from '../live.js';
import { fill, fmtTime, h, lengthCounter, lightBadge, toast } from '../ui.js';

const POLL_MS = 10000;
const OPINION_MAX = 4000; // the answer route's opinion
const MAX_PHOTOS = 4; // mobile_routes.MAX_PHOTOS
const KINDS = ['confirm', 'verify'];

// the page's text (labels.js holds the console-wide tables)
export const TEXT = {
  title: '我的核实、核查任务',
  hint: '核实：现场确认群众或热线反映的问题是否属实；核查：现场确认部门处理反馈的问题是否已解决（不通过则返工）。打开案件编号可查看详情。',
  refresh: '刷新',
  status: '共 {n} 件 · {at} 更新{how}',
  live: { connecting: '', up: ' · 实时更新', polling: ' · 定时刷新（实时连接中断）' },
  failed: '刷新失败：{why}',
  kinds: { confirm: '核实', verify: '核查' },
  column: '{kind}（{n}）',
  empty: '暂无{kind}任务',
  due: '期限 {at}',
  overdue: '已超期',
  grid: '网格 {code}',
  nobody: '待认领（本网格未指派监督员）',
  open: '答复{kind}',
  answer_title: '{kind} · 案件 {number}',
  verdict: '{kind}结论',
  verdicts: {
    confirm: { pass: '属实', fail: '不属实' },
    verify: { pass: '通过', fail: '不通过（返工）' },
  },
  opinion: '{kind}意见',
  opinion_hint: '不属实或不通过时必须填写原因',
  photos: '现场照片（可选，最多 {n} 张）',
  choose: '选择照片',
  chosen: '已选 {n} 张',
  none_chosen: '未选择照片',
  submit: '提交{kind}结果',
  sending: '提交中…',
  cancel: '取消',
  need_verdict: '请选择{kind}结论',
  need_opinion: '请填写原因',
  too_many: '照片最多 {n} 张',
  sent: '{number}：{kind}结果已提交（{verdict}）',
  moved: '，案件转入“{state}”',
  refused: '提交失败：{why}（可再次提交，不会重复答复）',
};

function format(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ''));
}

// 核实 of a report not registered yet, 核查 of a case reported done (as the phone tells them)
export function taskKind(c) {
  const task = c.facts && c.facts.task;
  return (task && task.kind) || (c.state === 'candidate' ? 'confirm' : 'verify');
}

function taskOf(c) {
  return (c.facts && c.facts.task) || {};
}

function gridText(c, ctx) {
  if (!c.grid_code) return null;
  const grid = ctx.ref.grids[c.grid_code];
  const place = grid ? [grid.district, grid.street, grid.community].filter(Boolean).join(' ') : '';
  return format(TEXT.grid, { code: c.grid_code }) + (place ? ` · ${place}` : '');
}

function taskCard(c, ctx, onAnswer) {
  const kind = taskKind(c);
  const task = taskOf(c);
  const due = task.due || c.deadline;
  const late = due && new Date(due) < new Date();
  return h(
    'div',
    { class: 'task', dataset: { case: c.id, kind } },
    h(
      'a',
      {
        class: `card light-${c.light || 'none'}${c.urgent ? ' urgent' : ''}`,
        href: `#/case/${encodeURIComponent(c.id)}`,
        dataset: { id: c.id, number: c.number, state: c.state },
      },
      h('div', { class: 'card-top' }, h('b', {}, c.number), lightBadge(c.light, LIGHTS)),
      h('div', { class: 'card-event' }, c.event_name ? `${c.event_code} ${c.event_name}` : ctx.eventName(c.event_code)),
      c.grid_code ? h('div', { class: 'muted task-grid' }, gridText(c, ctx)) : null,
      c.address ? h('div', { class: 'muted' }, c.address) : null,
      due ? h('div', { class: 'deadline task-due' }, format(TEXT.due, { at: fmtTime(due) })) : null,
      late ? h('span', { class: 'tag urgent' }, TEXT.overdue) : null,
      task.kind && !task.assignee ? h('span', { class: 'tag pending' }, TEXT.nobody) : null,
      c.urgent ? h('span', { class: 'tag urgent' }, '紧急') : null,
    ),
    h('button', { type: 'button', class: 'primary task-answer', onclick: () => onAnswer(c) }, format(TEXT.open, { kind: TEXT.kinds[kind] })),
  );
}

// the answer form in a modal dialog; resolves with the case as the core answered, or null
function answerDialog(c) {
  const kind = taskKind(c);
  const kindText = TEXT.kinds[kind];
  const requestId = newRequestId(); // one answer, however often it is sent
  return new Promise((resolve) => {
    let sending = false;
    let done = null;
    const verdicts = Object.entries(TEXT.verdicts[kind]).map(([value, label]) =>
      h('label', { class: 'verdict' }, h('input', { type: 'radio', name: 'verdict', value, id: `answer-${value}` }), ` ${label}`),
    );
    const opinion = h('textarea', { name: 'opinion', id: 'answer-opinion', rows: 3, maxlength: OPINION_MAX, placeholder: TEXT.opinion_hint });
    const photos = h('input', { type: 'file', name: 'photos', id: 'answer-photos', accept: 'image/*', multiple: true, class: 'file-input' });
    const chosen = h('span', { class: 'muted file-name' }, TEXT.none_chosen);
    photos.addEventListener('change', () => {
      chosen.textContent = photos.files.length ? format(TEXT.chosen, { n: photos.files.length }) : TEXT.none_chosen;
    });
    const submit = h('button', { type: 'submit', class: 'primary', id: 'answer-submit' }, format(TEXT.submit, { kind: kindText }));
    const form = h(
      'form',
      { class: 'ask', id: 'answer-form', dataset: { kind, case: c.id } },
      h('h3', {}, format(TEXT.answer_title, { kind: kindText, number: c.number })),
      h('fieldset', { class: 'verdicts' }, h('legend', {}, format(TEXT.verdict, { kind: kindText })), verdicts),
      h('label', {}, h('span', {}, format(TEXT.opinion, { kind: kindText })), opinion, lengthCounter(opinion)),
      h(
        'label',
        {},
        h('span', {}, format(TEXT.photos, { n: MAX_PHOTOS })),
        h('span', { class: 'file-picker' }, photos, h('span', { class: 'button' }, TEXT.choose), chosen),
      ),
      h(
        'div',
        { class: 'buttons' },
        submit,
        h('button', { type: 'button', id: 'answer-cancel', onclick: () => dialog.close() }, TEXT.cancel),
      ),
    );
    const dialog = h('dialog', { class: 'ask-dialog', id: 'answer-dialog' }, form);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (sending) return; // a double click: the first click's request is the answer
      const verdict = (form.querySelector('input[name=verdict]:checked') || {}).value;
      if (!verdict) return toast(format(TEXT.need_verdict, { kind: kindText }), 'error');
      if (verdict === 'fail' && !opinion.value.trim()) return toast(TEXT.need_opinion, 'error');
      if (photos.files.length > MAX_PHOTOS) return toast(format(TEXT.too_many, { n: MAX_PHOTOS }), 'error');
      const body = new FormData();
      body.append('request_id', requestId);
      body.append('verdict', verdict);
      body.append('opinion', opinion.value.trim());
      for (const file of photos.files) body.append('photos', file, file.name);
      sending = true;
      submit.disabled = true;
      submit.textContent = TEXT.sending;
      try {
        const out = await api.form(`/api/v1/mobile/tasks/${encodeURIComponent(c.id)}/answer`, body);
        const moved = out.case.state !== c.state ? format(TEXT.moved, { state: out.case.state_label }) : '';
        toast(format(TEXT.sent, { number: c.number, kind: kindText, verdict: TEXT.verdicts[kind][verdict] }) + moved, 'ok');
        done = out.case;
        dialog.close();
      } catch (err) {
        toast(format(TEXT.refused, { why: describeError(err) }), 'error');
      } finally {
        sending = false;
        submit.disabled = false;
        submit.textContent = format(TEXT.submit, { kind: kindText });
      }
    });
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(done);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

export async function render(main, ctx) {
  const status = h('span', { class: 'muted', id: 'board-status' }, '');
  const columns = h('div', { class: 'board tasks-board', id: 'board' });
  let stream = 'connecting'; // → 'up' | 'polling'
  let poller = null;
  let later = null;
  let stopped = false;
  fill(
    main,
    h(
      'div',
      { class: 'view-head' },
      h('h2', {}, TEXT.title),
      h('button', { type: 'button', id: 'tasks-refresh', onclick: () => refresh() }, TEXT.refresh),
      status,
    ),
    h('p', { class: 'hint' }, TEXT.hint),
    columns,
  );

  async function answer(c) {
    const moved = await answerDialog(c);
    if (moved && !stopped) await refresh();
  }

  async function refresh() {
    let tasks;
    try {
      tasks = await api.get('/api/v1/mobile/tasks');
    } catch (err) {
      status.textContent = format(TEXT.failed, { why: describeError(err) });
      return;
    }
    status.textContent = format(TEXT.status, { n: tasks.length, at: fmtTime(new Date()), how: TEXT.live[stream] });
    columns.dataset.live = stream;
    columns.replaceChildren(
      ...KINDS.map((kind) => {
        const mine = tasks.filter((c) => taskKind(c) === kind); // due first, as the core lists them
        return h(
          'section',
          { class: 'column', dataset: { kind } },
          h('h3', {}, format(TEXT.column, { kind: TEXT.kinds[kind], n: mine.length })),
          mine.length ? mine.map((c) => taskCard(c, ctx, answer)) : h('p', { class: 'muted' }, format(TEXT.empty, { kind: TEXT.kinds[kind] })),
        );
      }),
    );
  }

  function refreshSoon() {
    clearTimeout(later);
    later = setTimeout(() => !stopped && refresh(), 300);
  }

  function poll(on) {
    if (on && !poller) poller = setInterval(refresh, POLL_MS);
    if (!on && poller) {
      clearInterval(poller);
      poller = null;
    }
  }

  await refresh();
  const events = openLive({
    onEvent: (kind) => kind === 'case' && refreshSoon(),
    onUp: (resumed) => {
      poll(false);
      stream = 'up';
      if (!resumed) refreshSoon();
    },
    onDown: () => {
      stream = 'polling';
      poll(true);
    },
  });
  return () => {
    stopped = true;
    poll(false);
    clearTimeout(later);
    events.close();
  };
}
