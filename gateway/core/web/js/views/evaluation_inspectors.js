// 监督员考核: the inspectors' figures of the evaluation page's period (GET /api/v1/metrics/
// inspectors): valid reports, tasks answered on time, patrol days, grids visited per day and
// coverage of their grids, with the core's CSV.
import { api, describeError } from '../api.js';
import { EVALUATION } from '../labels.js';
import { fmtRate, h, toast } from '../ui.js';

// [key, column title, kind]: the columns of the table (text for people in one place)
export const INSPECTOR_COLUMNS = [
  ['reports', '上报数', 'count'],
  ['reports_valid', '有效上报', 'count'],
  ['reports_rejected', '不予立案', 'count'],
  ['reports_duplicate', '重复上报', 'count'],
  ['reports_pending', '待受理', 'count'],
  ['valid_rate', '有效上报率', 'rate'],
  ['tasks_answered', '核实核查数', 'count'],
  ['answered_on_time', '按时答复', 'count'],
  ['tasks_overdue', '超时未答', 'count'],
  ['on_time_rate', '按时答复率', 'rate'],
  ['patrol_days', '巡查天数', 'count'],
  ['patrol_minutes', '巡查时长（分）', 'count'],
  ['distance_km', '巡查里程（公里）', 'count'],
  ['grids_visited_per_day', '日均巡查网格', 'count'],
  ['coverage', '巡查覆盖率', 'rate'],
  ['daily_coverage', '日均覆盖率', 'rate'],
];

const TEXT = {
  title: '监督员考核',
  hint:
    '有效上报率 = 有效上报（已立案）/ 已受理的上报；按时答复率 = 按时答复 / (按时 + 超时答复 + 超时未答)；' +
    '日均巡查网格按时段内每天计（未巡查的日子计 0）；巡查覆盖率 = 时段内到过的责任网格 / 责任网格数。',
  inspector: '监督员',
  loading: '统计中…',
  none: '该时段没有监督员的数据',
  failed: '监督员考核统计失败：',
  export: '导出监督员 CSV',
  exportFailed: '导出失败：',
  tooLong: '时段过长：监督员考核最多统计 62 天',
};

function cell(value, kind) {
  if (kind === 'rate') return fmtRate(value);
  return value === null || value === undefined ? '—' : String(value);
}

function explain(err) {
  return err && err.code === 'period_too_long' ? TEXT.tooLong : describeError(err);
}

// The section (heading, hint, table) and a `load(start, end)` that fills it. `scope()`:
// the unit the page counts, { node, name } (node null: the core's default, the user's own
// centre); the section asks for it, and its heading names the unit the core's answer
// counted (`unitName(node, node_name)`: 全市, 海州区; null without an organisation tree).
export function inspectorSection(download, scope, unitName) {
  const body = h('div', { id: 'inspector-figures' });
  const heading = h('h3', { id: 'inspector-title' }, TEXT.title);
  let period = null;
  function query(start, end) {
    const { node } = scope();
    return { start: start.toISOString(), end: end.toISOString(), ...(node ? { node } : {}) };
  }
  const exportButton = h('button', { id: 'inspector-export' }, TEXT.export);
  exportButton.addEventListener('click', async () => {
    if (!period) return;
    const [start, end] = period;
    const { name } = scope();
    try {
      const response = await api.raw('/api/v1/metrics/inspectors.csv', query(start, end));
      download(await response.blob(), `citygw-监督员考核-${name ? `${name}-` : ''}${start.toISOString().slice(0, 10)}.csv`);
    } catch (err) {
      toast(TEXT.exportFailed + explain(err), 'error');
    }
  });
  const section = h(
    'section',
    { class: 'inspector-figures' },
    h('div', { class: 'view-head' }, heading, exportButton),
    h('p', { class: 'hint' }, TEXT.hint),
    body,
  );

  async function load(start, end) {
    period = [start, end];
    body.replaceChildren(h('p', { class: 'muted' }, TEXT.loading));
    let doc;
    try {
      doc = await api.get('/api/v1/metrics/inspectors', query(start, end));
    } catch (err) {
      body.replaceChildren(h('p', { class: 'error' }, TEXT.failed + explain(err)));
      return;
    }
    const unit = unitName(doc.node, doc.node_name);
    heading.textContent = unit ? EVALUATION.section_of.replace('{section}', TEXT.title).replace('{unit}', unit) : TEXT.title;
    heading.dataset.node = doc.node || '';
    if (!doc.inspectors.length) {
      body.replaceChildren(h('p', { class: 'muted' }, TEXT.none));
      return;
    }
    body.replaceChildren(
      h(
        'table',
        { class: 'metrics', id: 'inspector-table' },
        h('thead', {}, h('tr', {}, h('th', {}, TEXT.inspector), INSPECTOR_COLUMNS.map(([, name]) => h('th', {}, name)))),
        h(
          'tbody',
          {},
          doc.inspectors.map((row) =>
            h(
              'tr',
              { dataset: { inspector: row.inspector } },
              h('th', {}, row.inspector),
              INSPECTOR_COLUMNS.map(([key, , kind]) => h('td', { dataset: { metric: key } }, cell(row[key], kind))),
            ),
          ),
        ),
      ),
    );
  }

  return { section, load };
}
