// 案件看板 by state with lights and deadlines; the department view (its own cases, as the API
// restricts them) is the same board, narrower. (The inspector's 核实/核查 tasks are
// views/inspector_tasks.js.)
// Live: a committed change on the core's event stream reloads the board (coalesced); while the
// stream is down the board is polled.
import { api, describeError } from '../api.js';
import { BOARD_STATES, LIGHTS, PENDING, SOURCES } from '../labels.js';
import { openLive } from '../live.js';
import { fill, fmtTime, h, lightBadge } from '../ui.js';

const POLL_MS = 10000;

// the page's text (labels.js holds the console-wide tables)
export const TEXT = {
  // a case escalated (上报) or handed down (下派): by when its new centre must take it up
  level_due: '受理期限 {due}',
  level_overdue: '超过上报/下派期限',
  level_count: ' · 超过上报/下派期限 {n} 件',
};

function format(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ''));
}

const LAYOUTS = {
  board: { title: '案件看板', states: BOARD_STATES },
  department: { title: '本部门案件', states: ['processing', 'suspended', 'reported', 'verified', 'closed'] },
};

const HINTS = {
  department: '仅显示派遣给本部门（社区：街道转派给本社区）的案件。打开案件可处理反馈、申请延时、回退或挂账；街道还可转派社区或收回。',
};

function card(c, ctx) {
  return h(
    'a',
    {
      class: `card light-${c.light || 'none'}${c.urgent ? ' urgent' : ''}`,
      href: `#/case/${encodeURIComponent(c.id)}`,
      dataset: { id: c.id, number: c.number, state: c.state },
    },
    h('div', { class: 'card-top' }, h('b', {}, c.number), lightBadge(c.light, LIGHTS)),
    h('div', { class: 'card-event' }, ctx.eventName(c.event_code)),
    h('div', { class: 'muted' }, `${SOURCES[c.source_kind] || c.source_kind}${c.department ? ' · ' + (ctx.ref.departments[c.department] || c.department) : ''}${c.community ? ' · ' + (c.community_name || c.community) : ''}`),
    c.deadline ? h('div', { class: 'deadline' }, `时限 ${fmtTime(c.deadline)}`) : null,
    c.level_deadline ? h('div', { class: 'deadline level-deadline' }, format(TEXT.level_due, { due: fmtTime(c.level_deadline) })) : null,
    c.level_overdue ? h('span', { class: 'tag level-overdue' }, TEXT.level_overdue) : null,
    c.pending ? h('span', { class: 'tag pending' }, `待批：${PENDING[c.pending.kind] || c.pending.kind}`) : null,
    c.rework_count ? h('span', { class: 'tag rework' }, `返工 ${c.rework_count}`) : null,
    c.urgent ? h('span', { class: 'tag urgent' }, '紧急') : null,
  );
}

export async function render(main, ctx) {
  const layout = LAYOUTS[ctx.view] || LAYOUTS.board;
  const lightFilter = h(
    'select',
    { id: 'light-filter', 'aria-label': '按灯色筛选' },
    h('option', { value: '' }, '全部灯色'),
    Object.entries(LIGHTS).map(([value, label]) => h('option', { value }, label)),
  );
  const status = h('span', { class: 'muted', id: 'board-status' }, '');
  let stream = 'connecting'; // → 'up' | 'polling'
  let poller = null;
  let later = null;
  let stopped = false;
  const columns = h('div', { class: 'board', id: 'board' });
  // fill, not append: append(null) would print "null" under the title
  fill(
    main,
    h('div', { class: 'view-head' }, h('h2', {}, layout.title), lightFilter, status),
    HINTS[ctx.view] ? h('p', { class: 'hint' }, HINTS[ctx.view]) : null,
    columns,
  );

  async function refresh() {
    let page;
    try {
      page = await api.get('/api/v1/cases', { state: layout.states, light: lightFilter.value || undefined, limit: 500 });
    } catch (err) {
      status.textContent = `刷新失败：${describeError(err)}`;
      return;
    }
    const how = { connecting: '', up: ' · 实时更新', polling: ' · 定时刷新（实时连接中断）' }[stream];
    const late = page.items.filter((c) => c.level_overdue).length;
    const lateText = late ? format(TEXT.level_count, { n: late }) : '';
    status.textContent = `共 ${page.total} 件${lateText} · ${fmtTime(new Date())} 更新${how}`;
    status.dataset.levelOverdue = String(late);
    columns.dataset.live = stream;
    const byState = Object.fromEntries(layout.states.map((s) => [s, []]));
    for (const c of page.items) (byState[c.state] ||= []).push(c);
    columns.replaceChildren(
      ...layout.states.map((state) => {
        const cases = byState[state].sort((a, b) => {
          const rank = { red: 0, yellow: 1, green: 2 };
          return (rank[a.light] ?? 3) - (rank[b.light] ?? 3) || new Date(b.created_at) - new Date(a.created_at);
        });
        return h(
          'section',
          { class: 'column', dataset: { state } },
          h('h3', {}, `${ctx.ref.states[state] || state}（${cases.length}）`),
          cases.map((c) => card(c, ctx)),
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

  lightFilter.addEventListener('change', refresh);
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
