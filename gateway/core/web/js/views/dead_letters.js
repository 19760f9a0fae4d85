// 死信 (admin): the messages the core refused for good, newest first, a page at a time, each
// with the reason in Chinese (labels.js DEAD_LETTER_REASONS); the core's own reason and the
// first bytes of the message open on demand (they are data, shown as received).
import { api } from '../api.js';
import { DEAD_LETTERS, DEAD_LETTER_REASONS } from '../labels.js';
import { fmtTime, h } from '../ui.js';

const PAGE = 50;

function format(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ''));
}

function size(bytes) {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${bytes} B`;
}

function row(item) {
  const reason = DEAD_LETTER_REASONS[item.code] || DEAD_LETTERS.unknown_code;
  const truncated = item.size > item.head_bytes ? format(DEAD_LETTERS.head_of, { n: item.head_bytes }) : '';
  return h(
    'tr',
    { dataset: { code: item.code } },
    h('td', {}, fmtTime(item.received_at, { seconds: true })),
    h('td', { class: 'dead-letter-reason' }, h('strong', {}, reason), h('div', { class: 'hint' }, item.code)),
    h('td', { class: 'mono' }, item.topic),
    h('td', {}, size(item.size)),
    h('td', { class: 'mono' }, item.message_id || DEAD_LETTERS.no_id),
    h(
      'td',
      {},
      h(
        'details',
        {},
        h('summary', {}, DEAD_LETTERS.details),
        h('p', {}, h('span', { class: 'hint' }, DEAD_LETTERS.core_reason), h('span', { class: 'mono' }, item.reason)),
        h('p', { class: 'hint' }, DEAD_LETTERS.head, truncated),
        h('pre', { class: 'mono dead-letter-head' }, item.head_text),
      ),
    ),
  );
}

export async function render(main) {
  let offset = 0;
  const summary = h('p', { class: 'hint', id: 'dead-letters-summary' });
  const body = h('tbody', { id: 'dead-letters-rows' });
  const previous = h('button', { id: 'dead-letters-previous', onclick: () => load(offset - PAGE) }, DEAD_LETTERS.previous);
  const next = h('button', { id: 'dead-letters-next', onclick: () => load(offset + PAGE) }, DEAD_LETTERS.next);
  main.append(
    h(
      'div',
      { class: 'view-head' },
      h('h2', {}, DEAD_LETTERS.title),
      h('button', { id: 'dead-letters-refresh', onclick: () => load(offset) }, DEAD_LETTERS.refresh),
    ),
    h('p', { class: 'hint' }, DEAD_LETTERS.intro),
    summary,
    h(
      'table',
      { class: 'dead-letters', id: 'dead-letters' },
      h('thead', {}, h('tr', {}, DEAD_LETTERS.columns.map((title) => h('th', {}, title)))),
      body,
    ),
    h('div', { class: 'pager' }, previous, next),
  );

  async function load(at) {
    const page = await api.get('/api/v1/dead-letters', { offset: Math.max(0, at), limit: PAGE });
    offset = page.offset;
    body.replaceChildren(...page.items.map(row));
    if (!page.items.length) body.append(h('tr', {}, h('td', { colspan: DEAD_LETTERS.columns.length }, DEAD_LETTERS.empty)));
    summary.textContent = page.total
      ? format(DEAD_LETTERS.summary, { total: page.total, from: offset + 1, to: offset + page.items.length })
      : '';
    previous.disabled = offset <= 0;
    next.disabled = offset + page.items.length >= page.total;
  }

  await load(0);
}
