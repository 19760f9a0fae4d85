// 分级考核 (三级考核, GET /api/v1/organisation/evaluation): the units a level evaluates (the
// city: its districts and departments; a district: its streets and departments; a street: its
// communities, with the cases their street passed to them beside their grid figures), ranked
// by the composite score with the level's weights, for a month or chosen days in the centre's
// time zone. A district or street opens its own level (#/levels/<node>); the trail goes back
// up to the user's own level, never above it. 导出 CSV is the core's CSV of the same table.
import { api, describeError } from '../api.js';
import { METRICS } from '../labels.js';
import { centreDate, centreMidnight, downloadBlob, fill, fmtRate, fmtTime, h, toast } from '../ui.js';

// the page's text (labels.js holds the console-wide tables)
export const TEXT = {
  title: '分级考核',
  period: '统计时段',
  from: '从',
  to: '至',
  run: '统计',
  export: '导出 CSV',
  export_failed: '导出失败：',
  last30: '近 30 天',
  this_month: '本月（{month}）',
  last_month: '上月（{month}）',
  month: '{year}年{month}月',
  custom: '自定义日期',
  shown: '统计 {start} 至 {end} 立案的案件（指挥中心当地时间）',
  bad_days: '结束日期不能早于开始日期',
  future: '开始日期不能晚于今天',
  loading: '统计中…',
  failed: '统计失败：',
  none: '该层级没有考核对象',
  no_org: '未配置组织架构（市、区、街道、社区），无法分级考核',
  own_only: '只能查看本级及下级的考核，已显示本级',
  up: '返回上一级（{name}）',
  drill: '查看{name}的下级考核',
  rank: '排名',
  unit: '考核对象',
  basis: '口径',
  by_grid: '网格内案件',
  passed: '街道转派',
  by_dispatch: '派遣案件',
  weights: '综合得分权重：{parts}（返工率按 1 − 返工率 计分；无数据的比率不计入）',
  weight_names: {
    closure_rate: '结案率',
    on_time_closure_rate: '按期结案率',
    on_time_disposal_rate: '按期处置率',
    rework_rate: '返工率',
  },
  evaluates: {
    city: '考核对象：各区和市级部门（区按其网格内的案件，部门按派遣给它的案件）',
    district: '考核对象：本区各街道和区级部门（街道按其网格内的案件，部门按派遣给它的案件）',
    street: '考核对象：本街道各社区：网格内案件（排名依据），及街道转派社区办理的案件（四级联动）',
  },
  kinds: { district: '区', street: '街道', department: '部门', community: '社区' },
  unranked: '不参与排名',
  outside_hint: '本级立案、但所在网格不属于本级任何下级单位（或没有网格）的案件；列出以使各行合计等于本级总数，不参与排名',
};

// the chosen period, kept while the user drills down and back up
let chosen = null;

function format(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ''));
}

// "YYYY-MM-DD" n days after a calendar day
function addDays(day, n) {
  const [y, m, d] = day.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

// the months offered: this one and the eleven before, as "YYYY-MM"
function months(today) {
  const [y, m] = today.split('-').map(Number);
  return Array.from({ length: 12 }, (_, i) => {
    const at = new Date(Date.UTC(y, m - 1 - i, 1));
    return at.toISOString().slice(0, 7);
  });
}

function monthLabel(key, i) {
  const [year, month] = key.split('-');
  const name = format(TEXT.month, { year, month: Number(month) });
  if (i === 0) return format(TEXT.this_month, { month: name });
  if (i === 1) return format(TEXT.last_month, { month: name });
  return name;
}

// a preset's first and last calendar day (the last day included)
function presetDays(preset, today) {
  if (preset === 'last30') return [addDays(today, -29), today];
  const first = `${preset}-01`;
  const last = addDays(addDays(first, 32).slice(0, 8) + '01', -1);
  return [first, last < today ? last : today];
}

// [start, end) as instants: from the first day's midnight to the day after the last, or now
function periodOf(from, to) {
  const today = centreDate(new Date());
  if (!from || !to || to < from) throw new Error(TEXT.bad_days);
  if (from > today) throw new Error(TEXT.future);
  const start = centreMidnight(from);
  const end = new Date(Math.min(centreMidnight(addDays(to, 1)).getTime(), Date.now()));
  return [start, end];
}

function cell(value, kind) {
  if (value === null || value === undefined || (typeof value === 'number' && !Number.isFinite(value))) return '—';
  if (kind === 'rate') return fmtRate(value);
  if (kind === 'score') return `${value.toFixed(1)} 分`;
  return String(value);
}

function weightsText(weights) {
  const entries = Object.entries(TEXT.weight_names).map(([key, name]) => [name, Number(weights[key]) || 0]);
  const total = entries.reduce((sum, [, w]) => sum + w, 0);
  const parts = entries.map(([name, w]) => `${name} ${total ? Math.round((w / total) * 1000) / 10 : 0}%`);
  return format(TEXT.weights, { parts: parts.join('，') });
}

// the nodes from the user's own level down to `id` (null: `id` is not under it)
function trail(nodes, own, id) {
  const path = [];
  for (let node = nodes.get(id); node; node = nodes.get(node.parent)) {
    path.unshift(node);
    if (node.id === own) return path;
  }
  return null;
}

export async function render(main, ctx, arg) {
  const org = ctx.ref.org;
  if (!org || !org.me || !org.me.centre) {
    fill(main, h('h2', {}, TEXT.title), h('p', { class: 'error' }, TEXT.no_org));
    return null;
  }
  const nodes = new Map(org.nodes.map((n) => [n.id, n]));
  const own = org.me.centre.id;
  let path = trail(nodes, own, arg || own);
  const aboveOwn = !path || !['city', 'district', 'street'].includes(path[path.length - 1].kind);
  if (aboveOwn) path = [nodes.get(own) || org.me.centre];
  const node = path[path.length - 1];

  const today = centreDate(new Date());
  const preset = h(
    'select',
    { id: 'levels-preset', 'aria-label': TEXT.period },
    h('option', { value: 'last30' }, TEXT.last30),
    months(today).map((key, i) => h('option', { value: key }, monthLabel(key, i))),
    h('option', { value: 'custom' }, TEXT.custom),
  );
  const from = h('input', { type: 'date', id: 'levels-start', max: today });
  const to = h('input', { type: 'date', id: 'levels-end', max: today });
  chosen = chosen || { preset: 'last30', days: presetDays('last30', today) };
  preset.value = chosen.preset;
  [from.value, to.value] = chosen.days;
  preset.addEventListener('change', () => {
    if (preset.value !== 'custom') [from.value, to.value] = presetDays(preset.value, today);
    run();
  });
  for (const input of [from, to]) {
    input.addEventListener('change', () => {
      preset.value = 'custom';
      run();
    });
  }
  const exportButton = h('button', { id: 'levels-export', type: 'button', disabled: true }, TEXT.export);
  const crumbs = h(
    'nav',
    { class: 'levels-trail', id: 'levels-trail', 'aria-label': TEXT.title },
    path.map((n, i) =>
      i === path.length - 1
        ? h('strong', { 'aria-current': 'page', dataset: { node: n.id } }, n.name)
        : [h('a', { href: `#/levels/${encodeURIComponent(n.id)}`, dataset: { node: n.id } }, n.name), ' › '],
    ),
    path.length > 1
      ? h('a', { href: `#/levels/${encodeURIComponent(path[path.length - 2].id)}`, id: 'levels-up', class: 'levels-up' }, format(TEXT.up, { name: path[path.length - 2].name }))
      : null,
  );
  const shown = h('p', { class: 'hint', id: 'levels-period' });
  const weights = h('p', { class: 'hint', id: 'levels-weights' });
  const output = h('div', { class: 'evaluation levels', id: 'levels-output' });
  fill(
    main,
    h(
      'div',
      { class: 'view-head' },
      h('h2', {}, TEXT.title),
      h('label', {}, `${TEXT.period} `, preset),
      h('label', {}, `${TEXT.from} `, from),
      h('label', {}, `${TEXT.to} `, to),
      h('button', { class: 'primary', id: 'levels-run', type: 'button', onclick: () => run() }, TEXT.run),
      exportButton,
    ),
    aboveOwn && arg ? h('p', { class: 'error', id: 'levels-own-only' }, TEXT.own_only) : null,
    crumbs,
    h('p', { class: 'hint', id: 'levels-scope' }, TEXT.evaluates[node.kind] || ''),
    weights,
    shown,
    output,
  );

  let last = null; // the query of the table shown: the CSV is of exactly that
  let loading = 0;

  async function run() {
    const mine = ++loading;
    let start;
    let end;
    try {
      [start, end] = periodOf(from.value, to.value);
    } catch (err) {
      fill(output, h('p', { class: 'error' }, describeError(err)));
      return;
    }
    chosen = { preset: preset.value, days: [from.value, to.value] };
    exportButton.disabled = true;
    fill(output, h('p', { class: 'muted' }, TEXT.loading));
    const query = { node: node.id, start: start.toISOString(), end: end.toISOString() };
    let doc;
    try {
      doc = await api.get('/api/v1/organisation/evaluation', query);
    } catch (err) {
      if (mine === loading) fill(output, h('p', { class: 'error' }, TEXT.failed + describeError(err)));
      return;
    }
    if (mine !== loading) return;
    last = query;
    shown.textContent = format(TEXT.shown, { start: fmtTime(doc.start), end: fmtTime(doc.end) });
    weights.textContent = weightsText(doc.weights);
    if (!doc.units.length && !doc.outside) {
      fill(output, h('p', { class: 'muted' }, TEXT.none));
      return;
    }
    fill(output, table(doc));
    exportButton.disabled = false;
  }

  function table(doc) {
    const street = doc.node.kind === 'street';
    const figures = (values) => METRICS.map(([key, , kind]) => h('td', { dataset: { metric: key } }, cell(values[key], kind)));
    let rank = 0;
    const rows = doc.units.flatMap((unit) => {
      const scored = unit.score !== null && unit.score !== undefined;
      if (scored) rank += 1;
      const drill = unit.kind === 'district' || unit.kind === 'street';
      const span = street && unit.passed ? 2 : 1;
      const name = drill
        ? h('a', { href: `#/levels/${encodeURIComponent(unit.id)}`, class: 'drill', title: format(TEXT.drill, { name: unit.name }) }, unit.name)
        : unit.name;
      const head = [
        h('td', { class: 'rank', rowspan: span }, scored ? String(rank) : '—'),
        h('th', { rowspan: span }, name, ' ', h('small', { class: 'muted' }, TEXT.kinds[unit.kind] || '')),
      ];
      const basis = unit.kind === 'department' ? TEXT.by_dispatch : TEXT.by_grid;
      const first = h('tr', { dataset: { unit: unit.id, basis: 'own' } }, head, street ? h('td', { class: 'basis' }, basis) : null, figures(unit));
      if (span === 1) return [first];
      const passed = h('tr', { class: 'passed', dataset: { unit: unit.id, basis: 'passed' } }, h('td', { class: 'basis' }, TEXT.passed), figures(unit.passed));
      return [first, passed];
    });
    if (doc.outside) {
      // unranked, last: the level's cases on grids of none of its units, so the rows add up
      rows.push(
        h(
          'tr',
          { class: 'outside', dataset: { unit: 'outside', basis: 'own' }, title: TEXT.outside_hint },
          h('td', { class: 'rank' }, '—'),
          h('th', {}, doc.outside.name, ' ', h('small', { class: 'muted' }, TEXT.unranked)),
          street ? h('td', { class: 'basis' }, TEXT.by_grid) : null,
          figures(doc.outside),
        ),
      );
    }
    return h(
      'table',
      { class: 'metrics', id: 'levels-table', dataset: { node: doc.node.id } },
      h(
        'thead',
        {},
        h('tr', {}, h('th', {}, TEXT.rank), h('th', {}, TEXT.unit), street ? h('th', {}, TEXT.basis) : null, METRICS.map(([, title]) => h('th', {}, title))),
      ),
      h('tbody', {}, rows),
    );
  }

  exportButton.addEventListener('click', async () => {
    if (!last) return;
    try {
      const response = await api.raw('/api/v1/organisation/evaluation', { ...last, format: 'csv' });
      downloadBlob(await response.blob(), `citygw-分级考核-${node.name}-${from.value}-${to.value}.csv`);
    } catch (err) {
      toast(TEXT.export_failed + describeError(err), 'error');
    }
  });
  await run();
  return null;
}
