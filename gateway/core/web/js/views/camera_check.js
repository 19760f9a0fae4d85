// 摄像头核查 on the case page: a camera case's checks (the verdict with the before/after
// snapshots, or that the request timed out) and, for the roles allowed, a button that asks
// the camera to look again. The verdict only informs whoever decides 核查: it never closes
// nor returns a case. While a check waits, the section asks again every few seconds.
import { api, describeError, evidenceUrl } from '../api.js';
import { CAMERA_CHECK, CAMERA_CHECK_TRIGGERS, CAMERA_VERDICTS } from '../labels.js';
import { fill, fmtTime, h, toast } from '../ui.js';

const POLL_MS = 3000;
// the video gateway names its snapshots check-before-… / check-after-… (gateway/video/verification.py)
const CHECK_SNAPSHOT = /^check-(before|after)-/;

// the case's evidence less the checks' snapshots, which this section shows beside their verdict
export function withoutCheckSnapshots(c) {
  return { ...c, evidence: (c.evidence || []).filter((e) => !CHECK_SNAPSHOT.test(e.name || '')) };
}

function outcome(item) {
  if (item.verdict) return `${CAMERA_VERDICTS[item.verdict] || item.verdict}${item.late ? CAMERA_CHECK.late : ''}`;
  if (item.status === 'timed_out') return CAMERA_CHECK.timed_out;
  return CAMERA_CHECK.pending;
}

function snapshot(url, caption) {
  const figure = h('figure', { class: 'ev ev-snapshot' }, h('figcaption', {}, caption));
  if (!url) {
    figure.append(h('p', { class: 'muted' }, CAMERA_CHECK.no_snapshot));
    return figure;
  }
  const img = h('img', { alt: caption, class: 'snapshot' });
  figure.append(h('div', { class: 'snapshot-frame' }, img));
  evidenceUrl(url)
    .then((src) => {
      img.src = src;
    })
    .catch((err) => figure.append(h('p', { class: 'error' }, `${CAMERA_CHECK.load_failed}${describeError(err)}`)));
  return figure;
}

function renderItem(item) {
  const seen =
    item.passes !== null && item.passes !== undefined
      ? CAMERA_CHECK.passes.replace('{present}', item.passes_present).replace('{passes}', item.passes)
      : null;
  return h(
    'div',
    { class: `camera-check check-${item.verdict || item.status}`, dataset: { status: item.status, verdict: item.verdict || '' } },
    h('p', { class: 'check-outcome' }, h('strong', {}, outcome(item))),
    h(
      'p',
      { class: 'muted' },
      [
        CAMERA_CHECK.seq.replace('{seq}', item.seq),
        CAMERA_CHECK_TRIGGERS[item.trigger] || item.trigger,
        `${CAMERA_CHECK.requested_at}${fmtTime(item.requested_at)}`,
        item.answered_at ? `${CAMERA_CHECK.answered_at}${fmtTime(item.answered_at)}` : null,
        seen,
      ]
        .filter(Boolean)
        .join(' · '),
    ),
    item.verdict && item.verdict !== 'camera_unavailable'
      ? h('div', { class: 'evidence check-snapshots' }, snapshot(item.before_url, CAMERA_CHECK.before), snapshot(item.after_url, CAMERA_CHECK.after))
      : null,
  );
}

export function renderCameraChecks(c) {
  if (!c.camera_id) return null;
  const section = h('section', { class: 'camera-checks', id: 'camera-checks' }, h('h3', {}, CAMERA_CHECK.title));
  let shown = false;

  async function ask() {
    try {
      await api.post(`/api/v1/cases/${encodeURIComponent(c.id)}/camera-checks`);
      toast(`${c.number}：${CAMERA_CHECK.requested}`, 'ok');
    } catch (err) {
      toast(describeError(err), 'error');
    }
    await load();
  }

  async function load() {
    if (shown && !section.isConnected) return; // the page was left or drawn anew
    let out;
    try {
      out = await api.get(`/api/v1/cases/${encodeURIComponent(c.id)}/camera-checks`);
    } catch (err) {
      fill(section, h('h3', {}, CAMERA_CHECK.title), h('p', { class: 'error' }, describeError(err)));
      return;
    }
    shown = true;
    const items = out.items.slice().reverse(); // newest first
    fill(
      section,
      h('h3', {}, CAMERA_CHECK.title),
      h('p', { class: 'muted' }, CAMERA_CHECK.note),
      out.can_request ? h('button', { id: 'camera-check-request', onclick: ask }, CAMERA_CHECK.request) : null,
      items.length ? items.map(renderItem) : h('p', { class: 'muted' }, CAMERA_CHECK.none),
    );
    if (out.items.some((item) => item.status === 'pending')) setTimeout(load, POLL_MS);
  }

  load();
  return section;
}
