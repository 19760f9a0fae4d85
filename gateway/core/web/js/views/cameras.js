// 视频墙: each camera's health and latest detection, and a live WebRTC view from `citygw video`.
//
// Health comes from the core's /api/v1/cameras when its OpenAPI lists it; this core version
// does not collect camera status yet, so the wall then lists the cameras seen in recent cases.
// Live view talks to the video gateway's signalling endpoint (/live/cameras/<id>/offer). The
// browser may call it only on the console's own origin (a reverse proxy mapping /live/) or
// when the gateway allows the console's origin (CORS); otherwise the tile says so.
import { api, describeError, evidenceUrl } from '../api.js';
import { fmtAgo, fmtTime, h, toast } from '../ui.js';

const LIVE_KEY = 'citygw.liveUrl';
const POLL_MS = 15000;
const HEALTH = { online: '在线', ok: '在线', degraded: '异常', offline: '离线', unauthorized: '认证失败', unknown: '未知' };

// the video gateway's live view: saved by the user; relative ('/live/') when a reverse proxy
// serves it on the console's own origin (no CORS needed); else port 8091 of this host
function liveBase() {
  const saved = localStorage.getItem(LIVE_KEY);
  return new URL(saved || `${location.protocol}//${location.hostname}:8091/live/`, location.href).href;
}

async function watch(cameraId, video, note) {
  const base = liveBase();
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
  try {
    const response = await fetch(new URL(`cameras/${encodeURIComponent(cameraId)}/offer`, base), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(pc.localDescription),
      signal: abort.signal,
    });
    if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
    await pc.setRemoteDescription(await response.json());
    note.textContent = '实时画面（WebRTC）';
    return pc;
  } catch (err) {
    pc.close();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

export async function render(main, ctx) {
  const features = await api.features();
  const liveInput = h('input', { id: 'live-url', value: liveBase(), size: 36, 'aria-label': '视频网关实时画面地址' });
  const wall = h('div', { class: 'wall', id: 'camera-wall' });
  const status = h('span', { class: 'muted' }, '');
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
            localStorage.setItem(LIVE_KEY, liveInput.value.trim());
            toast('已保存实时画面地址', 'ok');
          },
        },
        '保存',
      ),
    ),
    features.cameras
      ? null
      : h('p', { class: 'hint', id: 'camera-health-note' }, '核心服务暂未提供摄像头健康状态接口（/api/v1/cameras）：以下列出近期有检测的摄像头，健康状态显示为“未知”。'),
    wall,
  );
  const peers = new Set();

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
      list = (Array.isArray(doc) ? doc : doc.items || []).map((cam) => ({
        id: cam.camera_id || cam.id,
        state: cam.state || cam.status || 'unknown',
        detail: cam.detail || cam.reason || '',
        at: cam.ts || cam.updated_at || null,
      }));
    }
    const known = new Set(list.map((c) => c.id));
    for (const id of latest.keys()) if (!known.has(id)) list.push({ id, state: 'unknown', detail: '', at: null });
    return list.sort((a, b) => a.id.localeCompare(b.id)).map((cam) => ({ ...cam, last: latest.get(cam.id) }));
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
          note.textContent = '连接中…';
          try {
            peers.add(await watch(cam.id, video, note));
            screen.replaceChildren(video);
          } catch (err) {
            const crossOrigin = new URL(liveBase()).origin !== location.origin;
            note.replaceChildren(
              crossOrigin
                ? '实时画面不可用：视频网关的信令接口在另一来源且未允许跨域（CORS）。请经反向代理以 /live/ 提供，或'
                : `实时画面不可用（${describeError(err)}）。可`,
              h('a', { href: liveBase(), target: '_blank', rel: 'noopener' }, '打开视频网关页面'),
            );
            note.classList.add('error');
          }
        },
      },
      '实时画面',
    );
    return h(
      'article',
      { class: `tile health-${cam.state}`, dataset: { camera: cam.id } },
      h('header', {}, h('b', {}, cam.id), h('span', { class: `health ${cam.state}` }, HEALTH[cam.state] || cam.state)),
      screen,
      cam.detail ? h('div', { class: 'muted' }, cam.detail) : null,
      cam.last
        ? h(
            'div',
            { class: 'last' },
            '最新检测：',
            h('a', { href: `#/case/${encodeURIComponent(cam.last.id)}` }, `${cam.last.number} ${ctx.eventName(cam.last.event_code)}`),
            ` · ${fmtAgo(cam.last.created_at)}`,
            cam.last.facts && cam.last.facts.label ? ` · ${cam.last.facts.label} ${cam.last.facts.score ?? ''}` : '',
          )
        : h('div', { class: 'muted' }, '暂无检测'),
      h('footer', {}, liveButton, note),
    );
  }

  async function refresh() {
    try {
      const list = await cameras();
      status.textContent = `${list.length} 路摄像头 · ${fmtTime(new Date())} 更新`;
      if (peers.size) return; // keep live views playing
      wall.replaceChildren(...list.map(tile));
      if (!list.length) wall.append(h('p', { class: 'muted' }, '暂无摄像头数据'));
    } catch (err) {
      status.textContent = `刷新失败：${describeError(err)}`;
    }
  }

  await refresh();
  const timer = setInterval(refresh, POLL_MS);
  return () => {
    clearInterval(timer);
    for (const pc of peers) pc.close();
  };
}
