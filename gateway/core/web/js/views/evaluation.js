// 综合评价: the core's metrics per department / district / grid / event code / week, with
// SVG charts and CSV export (the core's CSV, or this table's for the per-week view).
import { api, describeError } from '../api.js';
import { EVALUATION, GROUPINGS, METRICS, NO_GROUP } from '../labels.js';
import { rateBars } from '../charts.js';
import { centreDate, centreMidnight, downloadBlob, fmtRate, h, toast } from '../ui.js';
import { inspectorSection } from './evaluation_inspectors.js';

const CHART_SERIES = [
  ['closure_rate', '结案率'],
  ['on_time_closure_rate', '按期结案率'],
  ['on_time_disposal_rate', '按期处置率'],
  ['rework_rate', '返工率'],
];

// the per-week CSV's first column (the core's CSVs head theirs 分组, 考核对象)
const PERIOD_COLUMN = '时段';

// days are the centre's (core.calendar.timezone), whatever the browser's time zone
const dayStart = centreMidnight;

function weeks(start, end) {
  const out = [];
  for (let s = new Date(start); s < end; s = new Date(s.getTime() + 7 * 86400000)) {
    const e = new Date(Math.min(end.getTime(), s.getTime() + 7 * 86400000));
    out.push([s, e]);
  }
  return out;
}

// the per-week table as CSV, headed as the table is (时段 and the figures' Chinese names)
function csvOf(groups) {
  const keys = ['group', ...METRICS.map(([k]) => k)];
  const heads = [PERIOD_COLUMN, ...METRICS.map(([, name]) => name)];
  const quote = (v) => (v === null || v === undefined ? '' : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
  return [heads.join(','), ...groups.map((g) => keys.map((k) => quote(g[k])).join(','))].join('\n') + '\n';
}

const download = downloadBlob;

// the unit whose cases the figures count, as its title names it: 全市, a district's name;
// null without an organisation tree (every case)
function unitName(node, name) {
  if (!node) return null;
  return node === 'city' ? EVALUATION.city : name || node;
}

export async function render(main, ctx) {
  const tomorrow = new Date(dayStart(centreDate(new Date())).getTime() + 86400000);
  const monthAgo = new Date(tomorrow.getTime() - 30 * 86400000);
  const from = h('input', { type: 'date', id: 'eval-start', value: centreDate(monthAgo) });
  const to = h('input', { type: 'date', id: 'eval-end', value: centreDate(tomorrow) });
  const group = h(
    'select',
    { id: 'eval-group' },
    Object.entries(GROUPINGS).map(([value, label]) => h('option', { value, selected: value === 'department' }, label)),
  );
  const exportButton = h('button', { id: 'eval-export' }, '导出 CSV');
  // published reports (月考、季考): a past month or quarter, as Excel, PDF or the printable page
  const lastMonth = new Date(dayStart(centreDate(new Date())).getTime() - 86400000);
  const reportPeriod = h('input', { type: 'month', id: 'report-period', value: centreDate(lastMonth).slice(0, 7) });
  const reportKind = h(
    'select',
    { id: 'report-kind' },
    h('option', { value: 'month', selected: true }, '月报'),
    h('option', { value: 'quarter' }, '季报'),
  );
  const reportButtons = [
    ['xlsx', '下载 Excel'],
    ['pdf', '下载 PDF（可打印）'],
  ].map(([format, label]) => h('button', { id: `report-${format}`, onclick: () => fetchReport(format) }, label));
  const output = h('div', { class: 'evaluation', id: 'eval-output' });
  // whose figures: the user's own centre's (the core's default), named in the title; the
  // core's answer (node, node_name) then says it for sure. The 监督员考核 and the 评价报表
  // ask for the same unit (node) and are named by it.
  const title = h('h2', { id: 'eval-title' }, '综合评价');
  const centre = ctx.ref.org && ctx.ref.org.me ? ctx.ref.org.me.centre : null;
  let unit = centre ? unitName(centre.id, centre.name) : null;
  let unitNode = centre ? centre.id : null;
  function showUnit(doc) {
    unit = unitName(doc.node, doc.node_name);
    unitNode = doc.node || null;
    title.textContent = unit ? EVALUATION.title_of.replace('{unit}', unit) : '综合评价';
    title.dataset.node = doc.node || '';
  }
  const scope = () => ({ node: unitNode, name: unit });
  const inspectors = inspectorSection(download, scope, unitName); // 监督员考核 of the same period
  if (unit) title.textContent = EVALUATION.title_of.replace('{unit}', unit);
  main.append(
    h(
      'div',
      { class: 'view-head' },
      title,
      h('label', {}, '从 ', from),
      h('label', {}, ' 到 ', to),
      group,
      h('button', { class: 'primary', id: 'eval-run', onclick: () => run() }, '统计'),
      exportButton,
      // 三级考核: the same indicators by level of the organisation (views/levels.js)
      ctx.ref.org ? h('a', { href: '#/levels', id: 'eval-levels', class: 'button' }, '分级考核（市、区、街道）') : null,
    ),
    h('p', { class: 'hint' }, '统计对象为所选时段内立案的案件；结案率 = 结案数 / 应结案数，返工率 = 返工数 / 处置数。'),
    h(
      'div',
      { class: 'view-head report-bar' },
      h('h3', {}, '评价报表'),
      h('label', {}, '期间 ', reportPeriod),
      reportKind,
      ...reportButtons,
      h('a', { href: '/public/ranking', target: '_blank', rel: 'noopener', id: 'report-public' }, '公开排名页'),
    ),
    output,
    inspectors.section,
  );

  function reportKey() {
    const [year, month] = (reportPeriod.value || '').split('-');
    if (!year || !month) return null;
    if (reportKind.value === 'quarter') return `${year}-Q${Math.floor((Number(month) - 1) / 3) + 1}`;
    return `${year}-${month}`;
  }

  async function fetchReport(format) {
    const key = reportKey();
    if (!key) {
      toast('请先选择报表期间', 'error');
      return;
    }
    try {
      const response = await api.raw(`/api/v1/reports/${key}`, { format, ...(unitNode ? { node: unitNode } : {}) });
      download(await response.blob(), `citygw-评价报表-${unit ? `${unit}-` : ''}${key}.${format}`);
    } catch (err) {
      toast(`报表下载失败：${describeError(err)}`, 'error');
    }
  }

  let last = [];

  function groupLabel(key, by) {
    if (key === '(none)') return NO_GROUP[by] || '未填写'; // the core's key for a case without one
    if (by === 'department') return ctx.ref.departments[key] || key;
    if (by === 'event_code') return ctx.eventName(key);
    if (by === 'none') return '全部';
    return key;
  }

  async function fetchGroups() {
    const start = dayStart(from.value);
    const end = dayStart(to.value);
    if (!(end > start)) throw new Error('结束日期须晚于开始日期');
    const by = group.value;
    if (by !== 'period') {
      const doc = await api.get('/api/v1/metrics', { start: start.toISOString(), end: end.toISOString(), group_by: by });
      showUnit(doc);
      return doc.groups.map((g) => ({ ...g, label: groupLabel(g.group, by) }));
    }
    const parts = weeks(start, end);
    const docs = await Promise.all(
      parts.map(([s, e]) => api.get('/api/v1/metrics', { start: s.toISOString(), end: e.toISOString(), group_by: 'none' })),
    );
    if (docs.length) showUnit(docs[0]);
    return parts.map(([s, e], i) => {
      const g = docs[i].groups[0] || { registered: 0 };
      const name = `${centreDate(s)}～${centreDate(new Date(e.getTime() - 86400000))}`;
      return { ...g, group: name, label: name };
    });
  }

  async function run() {
    output.replaceChildren(h('p', { class: 'muted' }, '统计中…'));
    if (dayStart(to.value) > dayStart(from.value)) inspectors.load(dayStart(from.value), dayStart(to.value));
    let groups;
    try {
      groups = await fetchGroups();
    } catch (err) {
      output.replaceChildren(h('p', { class: 'error' }, `统计失败：${describeError(err)}`));
      return;
    }
    last = groups;
    if (!groups.length) {
      output.replaceChildren(h('p', { class: 'muted' }, '该时段没有立案的案件'));
      return;
    }
    const table = h(
      'table',
      { class: 'metrics', id: 'metrics-table' },
      h('thead', {}, h('tr', {}, h('th', {}, '分组'), METRICS.map(([, name]) => h('th', {}, name)))),
      h(
        'tbody',
        {},
        groups.map((g) =>
          h(
            'tr',
            { dataset: { group: g.group } },
            h('th', {}, g.label),
            METRICS.map(([key, , kind]) =>
              h(
                'td',
                { dataset: { metric: key } },
                kind === 'rate' ? fmtRate(g[key]) : g[key] === null || g[key] === undefined ? '—' : String(g[key]),
              ),
            ),
          ),
        ),
      ),
    );
    const chart = rateBars(
      groups.map((g) => ({ label: g.label, values: g })),
      CHART_SERIES,
      { title: '各项比率' },
    );
    const scores = rateBars(
      // a week without cases has no score at all (undefined): no bar, not "NaN 分"
      groups.map((g) => ({ label: g.label, values: { score: Number.isFinite(g.score) ? g.score / 100 : null } })),
      [['score', '综合得分（百分制）']],
      { title: '综合得分', format: (v) => `${(v * 100).toFixed(1)} 分` },
    );
    output.replaceChildren(table, h('div', { class: 'charts' }, chart, scores));
  }

  exportButton.addEventListener('click', async () => {
    const by = group.value;
    const name = `citygw-评价-${unit ? `${unit}-` : ''}${by}-${from.value}-${to.value}.csv`;
    try {
      if (by === 'period') {
        if (!last.length) await run();
        download(new Blob(['\ufeff' + csvOf(last)], { type: 'text/csv;charset=utf-8' }), name);
        return;
      }
      const response = await api.raw('/api/v1/metrics.csv', {
        start: dayStart(from.value).toISOString(),
        end: dayStart(to.value).toISOString(),
        group_by: by,
      });
      download(await response.blob(), name);
    } catch (err) {
      toast(`导出失败：${describeError(err)}`, 'error');
    }
  });
  group.addEventListener('change', run);
  await run();
  return null;
}
