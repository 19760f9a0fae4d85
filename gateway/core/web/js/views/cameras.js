// 视频墙: each camera's health and latest detection, and a live WebRTC view from `citygw video`.
//
// Health comes from the core's /api/v1/cameras (the video gateways' retained camera statuses:
// 在线/异常/离线, 未知 when a status is stale) and changes arrive on the core's event stream; a
// core without that route lists the cameras seen in recent cases, health unknown.
// Live view: the core issues a short-lived grant (/api/v1/cameras/<id>/live-token) that goes
// with the offer to the video gateway's signalling endpoint (<base>cameras/<id>/offer) as
// `Authorization: Bearer <grant>`. The base is the one saved here, else the core's configured
// `signalling_url`, else port 8091 of this host. A cross-origin gateway must allow the
// console's origin (CORS); otherwise the tile says so.
// PTZ (operators and shift leads): hold an arrow or zoom button to move (a continuous move,
// stopped on release; the camera stops by itself after PTZ_HOLD_S), or go to a preset; the
// commands go through the core (/api/v1/cameras/<id>/ptz) to the camera's video gateway, and
// what came of them shows in the tile (规则暂停 while the camera looks away from the view its
// rules are drawn for).
import { api, describeError, evidenceUrl } from '../api.js';
import { CAMERA_FAULTS, CAMERA_STATES, EVENT_FAULT_CAUSES, PTZ } from '../labels.js';
import { openLive } from '../live.js';
import { fmtAgo, fmtTime, h, objectName, toast } from '../ui.js';

const LIVE_KEY = 'citygw.liveUrl';
const PTZ_ROLES = ['operator', 'shift_lead'];
const PTZ_HOLD_S = 10; // a held button's move ends by itself after this, release or not
const PTZ_SPEED = 0.5;
const POLL_MS = 15000; // without the event stream
const STALE_CHECK_MS = 30000; // with it: statuses turn stale without any message
const HEALTH = { online: '在线', ok: '在线', degraded: '异常', offline: '离线', unauthorized: '认证失败', unknown: '未知' };
const GRANT_ERRORS = {
  missing_token: '视频网关要求授权，但核心未签发（核心未配置 live_view.token_secret）',
  loopback_only: '视频网关未配置实时画面密钥，只允许本机观看',
  malformed: '授权格式错误',
  bad_signature: '授权无效：核心与视频网关的实时画面密钥不一致',
  expired: '授权已过期，请重试',
  wrong_camera: '授权不适用于此摄像头',
};

function defaultBase() {
  return `${location.protocol}//${location.hostname}:8091/live/`;
}

// the video gateway's live view: saved by the user; else the core's; relative ('/live/') when a
// reverse proxy serves it on the console's own origin (no CORS needed)
function liveBase(fromCore) {
  const saved = localStorage.getItem(LIVE_KEY);
  return new URL(saved || fromCore || defaultBase(), location.href).href;
}

// a grant from the core; null when this core issues none (not configured, or an older core)
async function grant(cameraId) {
  try {
    return await api.post(`/api/v1/cameras/${encodeURIComponent(cameraId)}/live-token`);
  } catch (err) {
    if (err.status === 503 || err.status === 404) return null;
    throw err;
  }
}

async function refusal(response) {
  const text = await response.text();
  try {
    const doc = JSON.parse(text);
    // the gateway's reason is English, for technicians: its code is said in Chinese
    return GRANT_ERRORS[doc.error] || `拒绝了请求（${response.status}）`;
  } catch (_) {
    return `拒绝了请求（${response.status}）`;
  }
}

export async function watch(cameraId, video, note) {
  const granted = await grant(cameraId);
  const base = liveBase(granted && granted.signalling_url);
  const pc = new RTCPeerConnection({ iceServers: [] });
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.ontrack = (e) => {
    video.srcObject = e.streams[0] || new MediaStream([e.track]);
  };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') resolve();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
    setTimeout(resolve, 3000);
  });
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 15000);
  const headers = { 'Content-Type': 'application/json' };
  if (granted) headers.Authorization = `Bearer ${granted.token}`;
  try {
    let response;
    try {
      response = await fetch(new URL(`cameras/${encodeURIComponent(cameraId)}/offer`, base), {
        method: 'POST',
        headers,
        body: JSON.stringify(pc.localDescription),
        signal: abort.signal,
      });
    } catch (err) {
      err.base = base;
      throw err;
    }
    if (!response.ok) {
      const err = new Error(await refusal(response));
      err.refused = true;
      throw err;
    }
    await pc.setRemoteDescription(await response.json());
    note.textContent = granted ? '实时画面（WebRTC，已授权）' : '实时画面（WebRTC）';
    return pc;
  } catch (err) {
    pc.close();
    err.base = err.base || base;
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

export async function render(main, ctx) {
  const features = await api.features();
  const liveInput = h('input', {
    id: 'live-url',
    value: localStorage.getItem(LIVE_KEY) || '',
    placeholder: `核心配置的地址，或 ${defaultBase()}`,
    size: 36,
    'aria-label': '视频网关实时画面地址',
  });
  const wall = h('div', { class: 'wall', id: 'camera-wall' });
  const status = h('span', { class: 'muted', id: 'wall-status' }, '');
  main.append(
    h(
      'div',
      { class: 'view-head' },
      h('h2', {}, '视频墙'),
      status,
      h('label', {}, '实时画面地址 ', liveInput),
      h(
        'button',
        {
          onclick: () => {
            const value = liveInput.value.trim();
            if (value) localStorage.setItem(LIVE_KEY, value);
            else localStorage.removeItem(LIVE_KEY);
            toast(value ? '已保存实时画面地址' : '已恢复为核心配置的地址', 'ok');
          },
        },
        '保存',
      ),
    ),
    wall,
  );
  if (!features.cameras) {
    wall.before(h('p', { class: 'hint', id: 'camera-health-note' }, '核心服务暂未提供摄像头健康状态接口（/api/v1/cameras）：以下列出近期有检测的摄像头，健康状态显示为“未知”。'));
  }
  const peers = new Set();
  let connecting = 0; // tiles being connected or playing are updated in place, never replaced
  let streaming = false;

  async function cameras() {
    const recent = await api.get('/api/v1/cases', { limit: 500 });
    const latest = new Map();
    for (const c of recent.items) {
      if (!c.camera_id) continue;
      const seen = latest.get(c.camera_id);
      if (!seen || new Date(c.created_at) > new Date(seen.created_at)) latest.set(c.camera_id, c);
    }
    let list = [];
    if (features.cameras) {
      const doc = await api.get('/api/v1/cameras');
      list = doc.items.map(health);
    }
    const known = new Set(list.map((c) => c.id));
    for (const id of latest.keys()) if (!known.has(id)) list.push({ id, state: 'unknown', detail: '', at: null, stale: false });
    return list.sort((a, b) => a.id.localeCompare(b.id)).map((cam) => ({ ...cam, last: latest.get(cam.id) }));
  }

  // the core words its own judgements (gateway offline, status stale) in Chinese; a video
  // gateway's detail is a technician's English ("401 Unauthorized"): its camera state is said
  // in Chinese and the detail kept for the tooltip
  function health(cam) {
    const own = cam.gateway_offline || cam.stale;
    const parts = Object.keys(cam.faults || {}).sort();
    const faults = parts.map((part) => faultText(part, cam.faults[part]));
    const said = [CAMERA_STATES[cam.state] || '', ...faults].filter(Boolean).join('；');
    return {
      id: cam.camera_id,
      state: cam.health,
      faults: parts,
      detail: own ? cam.detail || '' : said,
      why: own ? '' : cam.detail || '',
      at: cam.last_seen,
      stale: cam.stale,
      view: cam,
    };
  }

  function faultText(part, reason) {
    const said = CAMERA_FAULTS[part] || `${part} 异常`;
    if (part !== 'events' || typeof reason !== 'string') return said;
    const cause = Object.keys(EVENT_FAULT_CAUSES).find((c) => reason.startsWith(c));
    return cause ? `${said}（${EVENT_FAULT_CAUSES[cause]}）` : said;
  }

  function healthBadge(cam) {
    return h(
      'span',
      { class: `health ${cam.state}`, title: cam.at ? `最后上报 ${fmtTime(cam.at)}` : '从未上报' },
      HEALTH[cam.state] || cam.state,
      cam.at ? h('span', { class: 'seen muted' }, ` · ${fmtAgo(cam.at)}上报`) : null,
    );
  }

  async function ptz(cameraId, body) {
    try {
      await api.post(`/api/v1/cameras/${encodeURIComponent(cameraId)}/ptz`, body);
      return true;
    } catch (err) {
      toast(describeError(err), 'error');
      return false;
    }
  }

  // the camera's PTZ buttons: hold to move, release to stop; a preset to go to
  function ptzBar(cam) {
    if (!PTZ_ROLES.includes(ctx.user.role)) return null;
    const hold = (label, name, pan, tilt, zoom) => {
      let moving = false;
      let pending = null; // the move's request: the stop goes after it, never before
      const release = async () => {
        if (!moving) return;
        moving = false;
        await pending;
        ptz(cam.id, { action: 'stop' });
      };
      return h(
        'button',
        {
          type: 'button',
          class: 'ptz-move',
          dataset: { ptz: name },
          title: PTZ.hold_hint,
          onpointerdown: () => {
            moving = true;
            pending = ptz(cam.id, { action: 'continuous_move', pan, tilt, zoom, timeout_s: PTZ_HOLD_S });
          },
          onpointerup: release,
          onpointerleave: release,
        },
        label,
      );
    };
    const preset = h('input', { class: 'ptz-preset', value: '1', size: 4, 'aria-label': PTZ.preset });
    return h(
      'div',
      { class: 'ptz', role: 'group', 'aria-label': PTZ.title },
      h('span', { class: 'muted' }, `${PTZ.title} `),
      hold(PTZ.left, 'left', -PTZ_SPEED, 0, 0),
      hold(PTZ.right, 'right', PTZ_SPEED, 0, 0),
      hold(PTZ.up, 'up', 0, PTZ_SPEED, 0),
      hold(PTZ.down, 'down', 0, -PTZ_SPEED, 0),
      hold(PTZ.zoom_in, 'zoom-in', 0, 0, PTZ_SPEED),
      hold(PTZ.zoom_out, 'zoom-out', 0, 0, -PTZ_SPEED),
      h('button', { type: 'button', dataset: { ptz: 'stop' }, onclick: () => ptz(cam.id, { action: 'stop' }) }, PTZ.stop),
      h('label', {}, ` ${PTZ.preset} `, preset),
      h(
        'button',
        {
          type: 'button',
          dataset: { ptz: 'goto' },
          onclick: async () => {
            const token = preset.value.trim();
            if (!token) {
              toast(PTZ.preset_missing, 'error');
              return;
            }
            if (await ptz(cam.id, { action: 'goto_preset', preset: token })) toast(PTZ.sent, 'ok');
          },
        },
        PTZ.goto,
      ),
    );
  }

  function tile(cam) {
    const video = h('video', { autoplay: true, muted: true, playsinline: true, class: 'live' });
    const note = h('span', { class: 'muted' }, '');
    const screen = h('div', { class: 'screen' });
    if (cam.last) {
      const snap = cam.last;
      api
        .get(`/api/v1/cases/${encodeURIComponent(snap.id)}`)
        .then((d) => d.evidence.find((e) => e.role === 'snapshot' && e.available))
        .then((e) => e && evidenceUrl(e.url))
        .then((url) => url && !screen.firstChild && screen.append(h('img', { src: url, alt: `${cam.id} 最新抓拍` })))
        .catch(() => {});
    }
    const liveButton = h(
      'button',
      {
        onclick: async () => {
          note.classList.remove('error');
          note.textContent = '连接中…';
          connecting += 1;
          try {
            peers.add(await watch(cam.id, video, note));
            screen.replaceChildren(video);
          } catch (err) {
            const base = err.base || liveBase();
            const crossOrigin = new URL(base).origin !== location.origin;
            note.replaceChildren(
              err.refused
                ? `视频网关拒绝：${err.message}。可`
                : crossOrigin
                  ? '实时画面不可用：视频网关的信令接口在另一来源且未允许跨域（CORS）。请经反向代理以 /live/ 提供，或'
                  : `实时画面不可用（${describeError(err)}）。可`,
              h('a', { href: base, target: '_blank', rel: 'noopener' }, '打开视频网关页面'),
            );
            note.classList.add('error');
          } finally {
            connecting -= 1;
          }
        },
      },
      '实时画面',
    );
    return h(
      'article',
      { class: `tile health-${cam.state}${cam.stale ? ' stale' : ''}`, dataset: { camera: cam.id, health: cam.state } },
      h('header', {}, h('b', {}, cam.id), healthBadge(cam)),
      screen,
      h('div', { class: 'muted detail', title: cam.why || undefined }, cam.detail || ''),
      cam.last
        ? h(
            'div',
            { class: 'last' },
            '最新检测：',
            h('a', { href: `#/case/${encodeURIComponent(cam.last.id)}` }, `${cam.last.number} ${ctx.eventName(cam.last.event_code)}`),
            ` · ${fmtAgo(cam.last.created_at)}`,
            cam.last.facts && cam.last.facts.label ? ` · ${objectName(cam.last.facts.label)} ${cam.last.facts.score ?? ''}` : '',
          )
        : h('div', { class: 'muted' }, '暂无检测'),
      h('footer', {}, liveButton, note),
      ptzBar(cam),
    );
  }

  // a health change from the event stream: update the tile in place (live views keep playing)
  function patch(view) {
    const cam = health(view);
    const el = [...wall.querySelectorAll('.tile')].find((t) => t.dataset.camera === cam.id);
    if (!el) return false;
    el.className = `tile health-${cam.state}${cam.stale ? ' stale' : ''}`;
    el.dataset.health = cam.state;
    el.querySelector('header .health').replaceWith(healthBadge(cam));
    const detail = el.querySelector('.detail');
    detail.textContent = cam.detail;
    if (cam.why) detail.title = cam.why;
    else detail.removeAttribute('title');
    return true;
  }

  function stamp() {
    status.textContent = `${wall.querySelectorAll('.tile').length} 路摄像头 · ${fmtTime(new Date())} 更新${streaming ? ' · 实时' : ''}`;
  }

  async function refresh() {
    try {
      const list = await cameras();
      if (peers.size || connecting) {
        for (const cam of list) if (cam.view) patch(cam.view);
      } else {
        wall.replaceChildren(...list.map(tile));
        if (!list.length) wall.append(h('p', { class: 'muted' }, '暂无摄像头数据'));
      }
      stamp();
    } catch (err) {
      status.textContent = `刷新失败：${describeError(err)}`;
    }
  }

  await refresh();
  let timer = setInterval(refresh, POLL_MS);
  const events = features.cameras
    ? openLive({
        onEvent: (kind, data) => {
          if (kind !== 'cameras') return;
          const views = data.cameras || [];
          if (!views.length || !views.every(patch)) refresh();
          else stamp();
        },
        onUp: (resumed) => {
          streaming = true;
          clearInterval(timer);
          timer = setInterval(refresh, STALE_CHECK_MS);
          if (!resumed) refresh();
        },
        onDown: () => {
          streaming = false;
          clearInterval(timer);
          timer = setInterval(refresh, POLL_MS);
        },
      })
    : null;
  return () => {
    clearInterval(timer);
    if (events) events.close();
    for (const pc of peers) pc.close();
  };
}
