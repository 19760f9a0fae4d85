// 待审核: candidate cases, urgent and newest first; confirm (立案), reject with a reason, merge.
// Live: the core's event stream brings each committed change with the case as the list shows
// it, so a new candidate appears (and a handled one goes) without asking; while the stream is
// down the list is polled every 3 seconds.
import { api, describeError } from '../api.js';
import { REJECT_REASONS, SOURCES } from '../labels.js';
import { openLive } from '../live.js';
import { ask, fill, fmtAgo, fmtTime, h, isTyping, toast } from '../ui.js';
import { renderEvidence, renderFacts } from './evidence.js';

const POLL_MS = 3000;
const drafts = new Map(); // reasons typed for a refused action: offered again, never lost

function order(a, b) {
  if (a.urgent !== b.urgent) return a.urgent ? -1 : 1;
  return new Date(b.created_at) - new Date(a.created_at);
}

export async function render(main, ctx) {
  const list = h('ol', { class: 'queue-list', id: 'queue-list', 'aria-label': '待审核案件' });
  const detail = h('section', { class: 'queue-detail', id: 'queue-detail' }, h('p', { class: 'muted' }, '选择左侧案件'));
  const counter = h('span', { class: 'count', id: 'queue-count' }, '');
  const live = h('span', { class: 'muted live-note', id: 'queue-live' }, '连接实时更新…');
  main.append(
    h('div', { class: 'view-head' }, h('h2', {}, '待审核 ', counter), live, h('span', { class: 'keys' }, '快捷键：J/K 上下 · A 立案 · R 不予立案 · M 合并 · O 打开案件')),
    h('div', { class: 'queue' }, list, detail),
  );

  let items = [];
  let total = 0;
  let selected = null;
  let busy = false;
  let stopped = false;
  let stream = 'connecting'; // → 'up' | 'polling'
  let poller = null;
  let later = null;

  function note() {
    const when = fmtTime(new Date());
    live.textContent = {
      connecting: `连接实时更新… · ${when}`,
      up: `实时更新 · ${when}`,
      polling: `每 3 秒刷新（实时连接中断）· ${when}`,
    }[stream];
    list.dataset.live = stream;
  }

  function refreshSoon() {
    clearTimeout(later);
    later = setTimeout(() => !stopped && refresh(), 300);
  }

  async function refresh() {
    let page;
    try {
      page = await api.get('/api/v1/cases', { state: 'candidate', limit: 200 });
    } catch (err) {
      live.textContent = `刷新失败：${describeError(err)}`;
      return;
    }
    const before = new Set(items.map((c) => c.id));
    items = page.items.slice().sort(order);
    total = page.total;
    show(new Set(before.size ? items.map((c) => c.id).filter((id) => !before.has(id)) : []));
  }

  // one committed change from the stream: the case as the list shows it, or a hint to reload
  function apply(change) {
    const c = change.case;
    if (!c) {
      if (change.to_state === 'candidate' || change.from_state === 'candidate') refreshSoon();
      return;
    }
    const at = items.findIndex((x) => x.id === c.id);
    const fresh = new Set();
    if (c.state === 'candidate') {
      if (at >= 0) items[at] = c;
      else {
        items.push(c);
        total += 1;
        fresh.add(c.id);
      }
    } else if (at >= 0) {
      items.splice(at, 1);
      total = Math.max(0, total - 1);
    } else return;
    items.sort(order);
    show(fresh);
  }

  function show(fresh) {
    note();
    counter.textContent = `（${total}）`;
    list.replaceChildren(
      ...items.map((c) =>
        h(
          'li',
          {
            class: `queue-item${c.urgent ? ' urgent' : ''}${c.id === selected ? ' selected' : ''}${fresh.has(c.id) ? ' fresh' : ''}`,
            dataset: { id: c.id, number: c.number },
            tabindex: 0,
            onclick: () => select(c.id),
          },
          h('div', { class: 'qi-top' }, h('b', {}, ctx.eventName(c.event_code)), c.urgent ? h('span', { class: 'tag urgent' }, '紧急') : null),
          h('div', { class: 'qi-sub' }, `${SOURCES[c.source_kind] || c.source_kind} · ${c.camera_id || c.address || c.grid_code || ''}`),
          h('div', { class: 'qi-sub muted' }, `${c.number} · ${fmtAgo(c.created_at)}`),
          c.proposed_merge_into ? h('div', { class: 'tag dup' }, '疑似重复') : null,
        ),
      ),
    );
    if (!items.length) list.append(h('li', { class: 'muted empty' }, '没有待审核的案件'));
    if (selected && !items.some((c) => c.id === selected)) {
      selected = null;
      detail.replaceChildren(h('p', { class: 'muted' }, '该案件已处理'));
    }
    if (!selected && items.length) select(items[0].id);
  }

  async function select(id) {
    selected = id;
    for (const li of list.querySelectorAll('li.queue-item')) li.classList.toggle('selected', li.dataset.id === id);
    let c;
    try {
      c = await api.get(`/api/v1/cases/${encodeURIComponent(id)}`);
    } catch (err) {
      detail.replaceChildren(h('p', { class: 'error' }, describeError(err)));
      return;
    }
    if (selected !== id) return;
    const can = new Set(c.allowed_actions);
    const buttons = h(
      'div',
      { class: 'actions' },
      h('button', { class: 'primary', id: 'act-register', disabled: !can.has('register'), onclick: () => act('register') }, '立案 (A)'),
      h('button', { class: 'danger', id: 'act-reject', disabled: !can.has('reject'), onclick: () => act('reject') }, '不予立案 (R)'),
      h('button', { id: 'act-merge', disabled: !can.has('merge'), onclick: () => act('merge') }, '合并 (M)'),
      h('a', { href: `#/case/${encodeURIComponent(c.id)}`, class: 'button' }, '案件详情 (O)'),
    );
    let merge = null;
    if (c.proposed_merge_into) {
      merge = h('p', { class: 'dup-note' }, '疑似与已有案件重复：');
      api
        .get(`/api/v1/cases/${encodeURIComponent(c.proposed_merge_into)}`)
        .then((t) => merge.append(h('a', { href: `#/case/${encodeURIComponent(t.id)}` }, `${t.number} ${ctx.eventName(t.event_code)}（${t.state_label}）`)))
        .catch(() => merge.append(c.proposed_merge_into));
    }
    fill(detail, 
      h('h3', { id: 'detail-title' }, `${c.number} · ${ctx.eventName(c.event_code)}`, c.urgent ? h('span', { class: 'tag urgent' }, '紧急') : null),
      h('p', {}, c.title || ''),
      h('p', { class: 'muted' }, `${SOURCES[c.source_kind] || c.source_kind} · 收到于 ${fmtTime(c.created_at)}`),
      merge,
      buttons,
      h('div', { class: 'detail-body' }, renderEvidence(c), h('div', {}, renderFacts(c), c.description ? h('p', { class: 'desc' }, c.description) : null)),
    );
    detail.dataset.version = c.version;
    detail.dataset.merge = c.proposed_merge_into || '';
  }

  async function act(action) {
    if (!selected || busy) return;
    const id = selected;
    const body = { action, expected_version: Number(detail.dataset.version) };
    if (action === 'reject') {
      const values = await ask('不予立案', [
        { name: 'reason', label: '原因', type: 'select', options: REJECT_REASONS, value: 'false_detection', required: true },
        { name: 'opinion', label: '说明', type: 'textarea', required: true, maxlength: 4000, placeholder: '例如：黄色布料被误识别为倒地人员', value: drafts.get(`${id}:reject`) },
      ], '不予立案');
      if (!values) return;
      body.reason = values.reason;
      body.opinion = values.opinion;
    } else if (action === 'merge') {
      const values = await ask('合并为重复案件', [
        { name: 'merge_into', label: '合并到（案件编号或ID）', required: true, value: detail.dataset.merge },
        { name: 'opinion', label: '说明', type: 'textarea', maxlength: 4000 },
      ], '合并');
      if (!values) return;
      let target = values.merge_into.trim();
      if (!target.includes('-') && /^[A-Z]{0,4}\d+$/.test(target)) {
        try {
          target = (await api.get(`/api/v1/cases/by-number/${encodeURIComponent(target)}`)).id;
        } catch (err) {
          toast(`找不到案件 ${target}：${describeError(err)}`, 'error');
          return;
        }
      }
      body.merge_into = target;
      body.opinion = values.opinion || '';
    }
    busy = true;
    try {
      const out = await api.transition(id, body);
      drafts.delete(`${id}:${action}`);
      toast(`${out.case.number}：${out.case.state_label}`, 'ok');
      selected = null;
      await refresh();
    } catch (err) {
      if (body.opinion) drafts.set(`${id}:${action}`, body.opinion);
      toast(`${describeError(err)}${body.opinion ? '（已保留您填写的说明）' : ''}`, 'error');
    } finally {
      busy = false;
    }
  }

  function move(delta) {
    if (!items.length) return;
    const index = Math.max(0, items.findIndex((c) => c.id === selected));
    const next = items[Math.min(items.length - 1, Math.max(0, index + delta))];
    select(next.id);
  }

  function onKey(event) {
    if (isTyping(event) || event.ctrlKey || event.metaKey || event.altKey || document.querySelector('dialog[open]')) return;
    const key = event.key.toLowerCase();
    const handlers = {
      j: () => move(1),
      arrowdown: () => move(1),
      k: () => move(-1),
      arrowup: () => move(-1),
      a: () => act('register'),
      r: () => act('reject'),
      m: () => act('merge'),
      o: () => selected && ctx.go(`#/case/${encodeURIComponent(selected)}`),
    };
    if (handlers[key]) {
      event.preventDefault();
      handlers[key]();
    }
  }

  function poll(on) {
    if (on && !poller) poller = setInterval(() => !stopped && !busy && refresh(), POLL_MS);
    if (!on && poller) {
      clearInterval(poller);
      poller = null;
    }
  }

  document.addEventListener('keydown', onKey);
  await refresh();
  const events = openLive({
    onEvent: (kind, data) => kind === 'case' && apply(data),
    onUp: async (resumed) => {
      poll(false);
      if (!resumed) await refresh(); // whatever changed before the stream was up
      stream = 'up';
      note();
    },
    onDown: () => {
      stream = 'polling';
      note();
      poll(true);
    },
  });
  return () => {
    stopped = true;
    poll(false);
    clearTimeout(later);
    events.close();
    document.removeEventListener('keydown', onKey);
  };
}
