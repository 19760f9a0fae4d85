// 部件问题 on the case page: the census components (部件, CJ/T 214) of the event's component
// types within R metres of the case's point, nearest first (GET /api/v1/cases/{id}/components),
// each with a 关联 button for the desk (POST /api/v1/cases/{id}/component). An event about no
// component class lists every class and says so. After linking, the page shows
// 关联部件: code · type · 权属单位, the log a 关联部件 step, the dispatcher the owner as a hint.
import { api, describeError } from '../api.js';
import { fmtTime, h, toast } from '../ui.js';

// the page's text (labels.js holds the console-wide tables)
export const TEXT = {
  title: '附近部件',
  row: '关联部件',
  link: '关联',
  linked: '已关联',
  loading: '正在查找附近部件…',
  failed: '无法加载附近部件：',
  no_point: '案件没有位置，无法查找附近部件',
  classes: '{r} 米内的{names}部件，由近及远',
  all_classes: '该事件类型没有对应的部件类别，列出 {r} 米内所有类别的部件，由近及远',
  none: '{r} 米内没有相关部件',
  by_hand: '关联于 {at}（{who}）',
  done: '{number}：已关联部件 {code}',
  owner_unknown: '权属单位不详',
  distance: '{m} 米',
  replaced: '（替换 {code}）',
  owner_hint: '派遣部门（关联部件的权属单位：{owner}）',
  owner_option: '{name}（部件权属单位）',
  columns: ['距离', '部件编码', '类型', '权属单位', '状态', ''],
  separator: '、',
};

const say = (template, values) => template.replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ''));

// "3207060102000012 · 污水井盖 · 市政设施管理处"
export function componentText(link) {
  return [link.id, link.type_name || link.name || link.type_code, link.owner || TEXT.owner_unknown].join(' · ');
}

// the summary table's row for the linked component, if any
export function componentRows(c) {
  const link = c.facts && c.facts.component;
  return link ? [[TEXT.row, componentText(link)]] : [];
}

// the log's note of a 关联部件 step: the component, and the one it replaced
export function componentStepText(s) {
  const link = s.facts && s.facts.component;
  if (!link) return '';
  return componentText(link) + (s.facts.replaced ? say(TEXT.replaced, { code: s.facts.replaced }) : '');
}

// the dispatch form's department field: the linked component's owner as a hint (the
// department is still the dispatcher's choice, the responsibility table's by default)
export function ownerHint(c, field) {
  const link = c.facts && c.facts.component;
  if (!link || !link.owner) return field;
  const options = { ...field.options };
  if (link.owner_department && options[link.owner_department]) {
    options[link.owner_department] = say(TEXT.owner_option, { name: options[link.owner_department] });
  }
  return { ...field, label: say(TEXT.owner_hint, { owner: link.owner }), options };
}

// the panel; onLinked() reloads the case page after a link
export function caseComponentsPanel(c, onLinked) {
  const body = h('div', { id: 'case-components' }, h('p', { class: 'muted' }, TEXT.loading));
  const element = h('section', { id: 'case-components-panel' }, h('h3', {}, TEXT.title), body);
  if (c.lat === null || c.lat === undefined || c.lon === null || c.lon === undefined) {
    body.replaceChildren(h('p', { class: 'muted', id: 'case-components-note' }, TEXT.no_point));
    return element;
  }
  load(c, body, onLinked);
  return element;
}

async function load(c, body, onLinked) {
  let near;
  try {
    near = await api.get(`/api/v1/cases/${encodeURIComponent(c.id)}/components`);
  } catch (err) {
    body.replaceChildren(h('p', { class: 'error' }, TEXT.failed + describeError(err)));
    return;
  }
  const r = Math.round(near.radius_m);
  const note = near.classes
    ? say(TEXT.classes, { r, names: near.classes.map((k) => k.name).join(TEXT.separator) })
    : say(TEXT.all_classes, { r });
  const linkedId = near.linked && near.linked.id;
  const parts = [h('p', { class: 'hint', id: 'case-components-note' }, note)];
  if (near.linked) {
    parts.push(
      h(
        'p',
        { id: 'case-component-linked' },
        `${TEXT.row}：${componentText(near.linked)}`,
        near.linked.linked_at ? h('span', { class: 'muted' }, ' ' + say(TEXT.by_hand, { at: fmtTime(near.linked.linked_at), who: near.linked.linked_by })) : null,
      ),
    );
  }
  if (!near.items.length) {
    parts.push(h('p', { class: 'muted' }, say(TEXT.none, { r })));
  } else {
    parts.push(
      h(
        'table',
        { class: 'steps components' },
        h('thead', {}, h('tr', {}, TEXT.columns.map((t) => h('th', {}, t)))),
        h(
          'tbody',
          {},
          near.items.map((item) =>
            h(
              'tr',
              { class: 'component', dataset: { id: item.id, distance: item.distance_m } },
              h('td', {}, say(TEXT.distance, { m: item.distance_m })),
              h('td', {}, item.id),
              h('td', {}, item.type_name || item.name),
              h('td', {}, item.owner || TEXT.owner_unknown),
              h('td', {}, item.state),
              h(
                'td',
                {},
                item.id === linkedId
                  ? h('span', { class: 'tag' }, TEXT.linked)
                  : near.can_link
                    ? h('button', { type: 'button', dataset: { component: item.id }, onclick: () => link(c, item, onLinked) }, TEXT.link)
                    : null,
              ),
            ),
          ),
        ),
      ),
    );
  }
  body.replaceChildren(...parts);
}

async function link(c, item, onLinked) {
  try {
    const out = await api.post(`/api/v1/cases/${encodeURIComponent(c.id)}/component`, { component_id: item.id, expected_version: c.version });
    toast(say(TEXT.done, { number: out.case.number, code: item.id }), 'ok');
  } catch (err) {
    toast(describeError(err), 'error');
  }
  await onLinked();
}
