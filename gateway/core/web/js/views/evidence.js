// Evidence of a case: snapshots with the detection boxes drawn over, recordings, an inspector's
// voice notes (语音备注: the report's, and one sent with a 核实/核查 answer, captioned so) and
// clips playable.
import { describeError, evidenceUrl } from '../api.js';
import { TASKS } from '../labels.js';
import { fmtTime, h, objectName, svg } from '../ui.js';

const ROLE_NAMES = { snapshot: '抓拍', clip: '录像', recording: '录音', photo: '照片', voice_note: '语音备注' };

function boxOverlay(facts) {
  const box = facts && facts.box;
  const size = facts && facts.frame_size;
  if (!Array.isArray(box) || box.length !== 4 || !Array.isArray(size) || size.length !== 2) return null;
  const [x1, y1, x2, y2] = box.map(Number);
  const [w, hgt] = size.map(Number);
  if (!(w > 0 && hgt > 0)) return null;
  const label = [objectName(facts.label) || null, facts.score !== undefined ? Number(facts.score).toFixed(2) : null]
    .filter((v) => v !== null && v !== undefined)
    .join(' ');
  return svg(
    'svg',
    { class: 'boxes', viewBox: `0 0 ${w} ${hgt}`, preserveAspectRatio: 'none' },
    svg('rect', { x: x1, y: y1, width: x2 - x1, height: y2 - y1, class: 'box' }),
    label ? svg('text', { x: x1 + 4, y: Math.max(y1 - 6, 16), class: 'box-label' }, label) : null,
  );
}

// the inspector's answer steps: their attachments (photos, a voice note) came with them
const ANSWERS = new Set(['confirm_pass', 'confirm_fail', 'verify_pass', 'verify_fail']);

// sha256 -> the answer step it was sent with
function answerOf(steps) {
  const found = new Map();
  for (const step of steps || []) {
    if (!ANSWERS.has(step.action)) continue;
    for (const sha of step.attachments || []) found.set(sha, step);
  }
  return found;
}

// the caption of an evidence item: what it is (抓拍 1, 抓拍 2 …), a note's length, and for a
// note sent with an answer which 核实/核查 and whose
function captionOf(item, title, detail, answer) {
  if (item.role !== 'voice_note') return title;
  const kind = answer && TASKS.kinds[answer.action.startsWith('confirm') ? 'confirm' : 'verify'];
  const text = answer ? TASKS.answer_voice.replace('{kind}', kind).replace('{who}', answer.actor) : title;
  const seconds = Number(((answer || detail).facts || {}).voice_note_s);
  return seconds > 0 ? `${text}（${Math.round(seconds)} 秒）` : text;
}

export function renderEvidence(detail, steps = []) {
  const wrap = h('div', { class: 'evidence' });
  if (!detail.evidence.length) {
    wrap.append(h('p', { class: 'muted' }, '无证据材料'));
    return wrap;
  }
  const order = { snapshot: 0, photo: 1, voice_note: 2, recording: 3, clip: 4 };
  const items = detail.evidence.slice().sort((a, b) => (order[a.role] ?? 9) - (order[b.role] ?? 9));
  const answers = answerOf(steps);
  const numbered = (item) => !(item.role === 'voice_note' && answers.has(item.sha256)); // an answer's note is named by its answer
  const count = {};
  for (const item of items.filter(numbered)) count[item.role] = (count[item.role] || 0) + 1;
  const seen = {};
  for (const item of items) {
    // captioned by what it is (抓拍 1, 抓拍 2 …); the file's own name only on hover
    if (numbered(item)) seen[item.role] = (seen[item.role] || 0) + 1;
    const title = `${ROLE_NAMES[item.role] || '附件'}${count[item.role] > 1 && numbered(item) ? ' ' + seen[item.role] : ''}`;
    const answer = item.role === 'voice_note' ? answers.get(item.sha256) : undefined;
    const figure = h('figure', { class: `ev ev-${item.role}${answer ? ' ev-answer' : ''}`, title: item.name || undefined });
    if (answer) figure.dataset.step = String(answer.seq);
    figure.append(h('figcaption', {}, captionOf(item, title, detail, answer)));
    wrap.append(figure);
    if (!item.available) {
      figure.append(h('p', { class: 'muted' }, '证据尚未到达核心'));
      continue;
    }
    const media = item.media_type || '';
    let element;
    if (media.startsWith('image/')) {
      element = h('img', { alt: title, class: 'snapshot' });
      const frame = h('div', { class: 'snapshot-frame' }, element);
      if (item.role === 'snapshot') {
        const overlay = boxOverlay(detail.facts);
        if (overlay) frame.append(overlay);
      }
      figure.append(frame);
    } else if (media.startsWith('audio/')) {
      // the bytes are fetched already (a blob): its length shows before it is played
      element = h('audio', { controls: true, preload: 'metadata', class: item.role === 'voice_note' ? 'recording voice-note' : 'recording' });
      figure.append(element);
    } else if (media.startsWith('video/')) {
      element = h('video', { controls: true, preload: 'none', class: 'clip', playsinline: true });
      figure.append(element);
    } else {
      element = h('a', { download: item.name || item.sha256 }, '下载');
      figure.append(element);
    }
    evidenceUrl(item.url)
      .then((url) => {
        if (element.tagName === 'A') element.href = url;
        else element.src = url;
      })
      .catch((err) => figure.append(h('p', { class: 'error' }, `无法加载：${describeError(err)}`)));
  }
  return wrap;
}

export function renderFacts(detail) {
  const rows = [];
  const f = detail.facts || {};
  const add = (label, value) => {
    if (value !== undefined && value !== null && value !== '') rows.push(h('tr', {}, h('th', {}, label), h('td', {}, String(value))));
  };
  add('摄像头', detail.camera_id);
  add('监控区域', f.zone_name || detail.zone_id);
  add('单元网格', detail.grid_code);
  add('区域', detail.district);
  add('地址', detail.address);
  if (detail.lat !== null && detail.lon !== null) add('坐标', `${detail.lat}, ${detail.lon}`);
  add('上报人', detail.reporter_name);
  add('回拨号码', detail.callback_number);
  add('识别目标', objectName(f.label));
  if (f.object_kind && f.object_kind !== f.label) add('目标类别', objectName(f.object_kind));
  if (Array.isArray(f.with) && f.with.length) add('同时出现', f.with.map(objectName).join('、'));
  add('置信度', f.score);
  add('检测时间', f.captured_at ? fmtTime(f.captured_at, { seconds: true }) : null);
  add('停留时长（秒）', f.dwell_s);
  add('倒地时长（秒）', f.down_s);
  add('目标数量', f.count);
  add('持续时长（秒）', f.held_s);
  if (f.ended_at) {
    const lasted = typeof f.duration_s === 'number' ? `，持续 ${Math.round(f.duration_s)} 秒` : '';
    add('现场情况', `已消失（最后一次看到：${fmtTime(f.ended_at, { seconds: true })}${lasted}）`);
  } else if (detail.source_kind === 'camera' && (f.dwell_s || f.down_s || f.held_s)) {
    add('现场情况', '仍在现场（尚未消失）');
  }
  add('来电号码', f.caller_id || f.caller);
  return h('table', { class: 'facts' }, rows);
}
