"""Live view over WebRTC (aiortc): the camera readers' own pictures, relayed to viewers.

The camera readers offer decoded pictures here (`gateway.video.ports.LiveFeed`), and
only while someone watches: a camera's main stream (decoded for viewers only), or the
pull that feeds analysis for a camera with one stream, or while the main one is down.
Each camera has one source track; `MediaRelay` fans it out to every viewer, so a camera
is encoded once per viewer and decoded once in all.

Signalling is a small HTTP endpoint (aiohttp) the console uses:

- ``GET  /live/cameras``                 → ``[{"id", "viewers"}]`` (those the grant covers)
- ``POST /live/cameras/{id}/offer``      ``{"sdp", "type": "offer"}`` → the answer
- ``GET  /live/``                        → a minimal page that plays a camera

An offer needs ``Authorization: Bearer <grant>``: a live-view grant the core signed with
the shared secret (`gateway.live_tokens`) for this camera. Without the header: 401;
with a grant that is forged, expired, for another camera or unreadable: 403; both with
``{"error": code, "reason": ...}``. With no secret configured (development), offers
are taken from loopback peers only, and never through a proxy that forwards for others.

Everything runs on one asyncio loop in the thread ``live-view``. No STUN/TURN server is
contacted unless configured; bound to loopback, ICE offers loopback candidates only.
"""

from __future__ import annotations

import asyncio
import fractions
import ipaddress
import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import aioice.ice
import av
from aiohttp import web
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError

from gateway.live_tokens import ANY_CAMERA, LiveTokenError, LiveViewGrant, verify
from gateway.video.ports import Picture

log = logging.getLogger(__name__)

VIDEO_TIME_BASE = fractions.Fraction(1, 90000)
_MAX_BODY = 64 * 1024


def loopback_only_ice() -> None:
    """Make aioice gather loopback host candidates only (for a live view bound to loopback)."""
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []


class LiveViewState(StrEnum):
    NEW = "new"
    RUNNING = "running"
    STOPPED = "stopped"


class CameraTrack(MediaStreamTrack):
    """The newest picture of one camera as a video track (older ones are dropped)."""

    kind = "video"

    def __init__(self, camera_id: str) -> None:
        super().__init__()
        self.camera_id = camera_id
        self._frame: av.VideoFrame | None = None
        self._fresh = asyncio.Event()
        self._start = time.monotonic()
        self.delivered = 0

    def put(self, frame: av.VideoFrame) -> None:
        """Called on the loop: replace the pending frame."""
        self._frame = frame
        self._fresh.set()

    async def recv(self) -> av.VideoFrame:
        while self._frame is None:
            if self.readyState != "live":
                raise MediaStreamError
            self._fresh.clear()
            try:
                await asyncio.wait_for(self._fresh.wait(), 1.0)
            except TimeoutError:
                continue
        frame, self._frame = self._frame, None
        self._fresh.clear()
        frame.pts = int((time.monotonic() - self._start) / VIDEO_TIME_BASE)
        frame.time_base = VIDEO_TIME_BASE
        self.delivered += 1
        return frame


class _Camera:
    def __init__(self, camera_id: str) -> None:
        self.track = CameraTrack(camera_id)
        self.viewers: set[RTCPeerConnection] = set()
        self.last_offer = 0.0


_PAGE = """<!doctype html><meta charset="utf-8"><title>citygw live view</title>
<select id="cam"></select> <button id="go">watch</button>
<input id="token" size="40" placeholder="live-view grant (Bearer token)">
<video id="v" autoplay muted playsinline style="display:block;max-width:100%"></video>
<script>
const sel = document.getElementById('cam');
const tok = document.getElementById('token');
tok.value = new URLSearchParams(location.hash.slice(1)).get('token') || '';
const auth = () => tok.value ? {'Authorization': 'Bearer ' + tok.value} : {};
const list = () => fetch('cameras', {headers: auth()}).then(r => r.json()).then(cams => {
  sel.replaceChildren();
  (Array.isArray(cams) ? cams : []).forEach(c => {
    const o = document.createElement('option'); o.value = o.textContent = c.id; sel.appendChild(o);
  });
});
tok.onchange = list;
list();
document.getElementById('go').onclick = async () => {
  const pc = new RTCPeerConnection({iceServers: []});
  pc.addTransceiver('video', {direction: 'recvonly'});
  pc.ontrack = e => { document.getElementById('v').srcObject = e.streams[0] || new MediaStream([e.track]); };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise(ok => { if (pc.iceGatheringState === 'complete') ok();
    else pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && ok(); });
  const headers = {'Content-Type': 'application/json', ...auth()};
  const r = await fetch('cameras/' + encodeURIComponent(sel.value) + '/offer', {method: 'POST',
    headers, body: JSON.stringify(pc.localDescription)});
  if (!r.ok) { alert(await r.text()); return; }
  await pc.setRemoteDescription(await r.json());
};
</script>"""


class LiveViewServer:
    """WebRTC live view of the cameras (`LiveFeed` for the readers), in thread ``live-view``."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 8091,
        max_viewers: int = 8,
        fps: float = 10.0,
        ice_servers: list[str] | None = None,
        allow_origins: list[str] | None = None,
        camera_ids: Callable[[], list[str]] = list,
        token_secret: str | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.host = host
        self.port = port
        self._max_viewers = max_viewers
        self._min_interval = 1.0 / fps
        self._ice_servers = [RTCIceServer(url) for url in ice_servers or []]
        self._allow_origins = frozenset(allow_origins or [])
        self._camera_ids = camera_ids
        self._token_secret = token_secret or None
        self._now = now
        self._cameras: dict[str, _Camera] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._relay: MediaRelay | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._viewing: set[str] = set()
        self.state = LiveViewState.NEW
        try:
            if ipaddress.ip_address(host).is_loopback:
                loopback_only_ice()
        except ValueError:
            pass

    # ---------------------------------------------------------------- LiveFeed
    def wants_frames(self, camera_id: str) -> bool:
        return camera_id in self._viewing

    def offer(self, camera_id: str, picture: Picture) -> None:
        camera = self._cameras.get(camera_id)
        loop = self._loop
        if camera is None or loop is None or not camera.viewers:
            return
        now = time.monotonic()
        if now - camera.last_offer < self._min_interval * 0.9:
            return
        camera.last_offer = now
        loop.call_soon_threadsafe(camera.track.put, picture.native)

    # ---------------------------------------------------------------- lifecycle
    def _set_state(self, state: LiveViewState) -> None:
        if state != self.state:
            log.info("live view %s -> %s", self.state, state)
            self.state = state

    def start(self, timeout: float = 15.0) -> None:
        if self.state != LiveViewState.NEW:
            return
        self._thread = threading.Thread(target=self._main, name="live-view", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise TimeoutError("live view did not start")
        if self._error is not None:
            raise RuntimeError(f"live view could not start: {self._error}") from self._error
        self._set_state(LiveViewState.RUNNING)
        log.info("live view on http://%s:%d/live/", self.host, self.port)
        if self._token_secret is None:
            log.warning(
                "LIVE VIEW HAS NO TOKEN SECRET (video.live_view.token_secret, e.g. "
                "${CITYGW_LIVE_VIEW_SECRET}): offers are accepted from loopback peers only, "
                "and operators' consoles elsewhere cannot watch; set the secret the core uses"
            )

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._started.set()
            loop.close()
            return
        self._started.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._shutdown())
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:  # relay and track tasks aiortc leaves behind
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    async def _serve(self) -> None:
        self._relay = MediaRelay()
        app = web.Application(client_max_size=_MAX_BODY, middlewares=[self._cors])
        app.router.add_get("/live/", self._page)
        app.router.add_get("/live/cameras", self._list)
        app.router.add_post("/live/cameras/{camera_id}/offer", self._offer)
        app.router.add_route("OPTIONS", "/live/{tail:.*}", self._preflight)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])

    async def _shutdown(self) -> None:
        pcs = [pc for camera in self._cameras.values() for pc in camera.viewers]
        await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)
        for camera in self._cameras.values():
            camera.track.stop()
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self, timeout: float = 15.0) -> None:
        if self._thread is None or self._loop is None:
            self._set_state(LiveViewState.STOPPED)
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._thread = None
        self._set_state(LiveViewState.STOPPED)

    @property
    def viewers(self) -> int:
        return sum(len(c.viewers) for c in self._cameras.values())

    # ---------------------------------------------------------------- HTTP
    @web.middleware
    async def _cors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Cross-origin signalling only for configured origins (the console's)."""
        response: web.StreamResponse = await handler(request)
        origin = request.headers.get("Origin")
        if origin is not None and origin in self._allow_origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
        return response

    async def _preflight(self, request: web.Request) -> web.Response:
        origin = request.headers.get("Origin")
        if origin is None or origin not in self._allow_origins:
            return web.Response(status=403, text="origin not allowed")
        return web.Response(
            status=204,
            headers={
                "Access-Control-Allow-Methods": "GET, POST",
                "Access-Control-Allow-Headers": "Authorization, Content-Type",
                "Access-Control-Max-Age": "600",
            },
        )

    async def _page(self, _request: web.Request) -> web.Response:
        return web.Response(text=_PAGE, content_type="text/html")

    async def _list(self, request: web.Request) -> web.Response:
        """The cameras the caller's grant covers (all of them for a grant for ``*``)."""
        grant = self._authorize(request, None)
        if isinstance(grant, web.Response):
            return grant
        body = [
            {"id": cid, "viewers": len(self._cameras[cid].viewers) if cid in self._cameras else 0}
            for cid in sorted(self._camera_ids())
            if grant.allows(cid)
        ]
        return web.json_response(body)

    def _authorize(
        self, request: web.Request, camera_id: str | None
    ) -> LiveViewGrant | web.Response:
        """The caller's grant for ``camera_id`` (None: for any camera), or the refusal to
        send (401/403)."""
        if self._token_secret is None:
            if _loopback_peer(request):
                return LiveViewGrant(subject="loopback", camera_id=ANY_CAMERA, expires_at=0)
            return _refusal(
                403,
                "loopback_only",
                "no live-view secret is configured on this gateway: only loopback peers "
                "may watch (set video.live_view.token_secret to the core's secret)",
            )
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _refusal(
                401,
                "missing_token",
                "send Authorization: Bearer <grant>; the console gets grants from the core",
                headers={"WWW-Authenticate": 'Bearer realm="citygw-live"'},
            )
        try:
            return verify(self._token_secret, token.strip(), camera_id=camera_id, now=self._now())
        except LiveTokenError as exc:
            return _refusal(403, exc.code, exc.reason)

    async def _offer(self, request: web.Request) -> web.Response:
        camera_id = request.match_info["camera_id"]
        grant = self._authorize(request, camera_id)
        if isinstance(grant, web.Response):
            log.warning(
                "live view %s: offer refused (%s) from %s", camera_id, grant.status, request.remote
            )
            return grant
        if camera_id not in self._camera_ids():
            return web.json_response({"error": f"no camera {camera_id!r}"}, status=404)
        if self.viewers >= self._max_viewers:
            return web.json_response({"error": "too many viewers"}, status=503)
        try:
            document: Any = await request.json()
            offer = RTCSessionDescription(sdp=str(document["sdp"]), type=str(document["type"]))
            if offer.type != "offer":
                raise ValueError("type must be 'offer'")
        except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
            return web.json_response({"error": f"bad offer: {exc}"}, status=400)
        camera = self._cameras.get(camera_id)
        if camera is None:
            camera = self._cameras[camera_id] = _Camera(camera_id)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=self._ice_servers))
        camera.viewers.add(pc)
        self._viewing.add(camera_id)

        log.info("live view %s: offer from %s (%s)", camera_id, grant.subject, request.remote)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            log.info("live view %s: viewer %s %s", camera_id, grant.subject, pc.connectionState)
            if pc.connectionState in ("failed", "closed"):
                await self._drop(camera_id, pc)

        try:
            assert self._relay is not None
            pc.addTrack(self._relay.subscribe(camera.track, buffered=False))
            await asyncio.wait_for(pc.setRemoteDescription(offer), 10)
            answer = await asyncio.wait_for(pc.createAnswer(), 10)
            await asyncio.wait_for(pc.setLocalDescription(answer), 30)
        except Exception as exc:
            await self._drop(camera_id, pc)
            log.warning("live view %s: negotiation failed: %s", camera_id, exc)
            return web.json_response({"error": f"negotiation failed: {exc}"}, status=400)
        local = pc.localDescription
        return web.json_response({"sdp": local.sdp, "type": local.type})

    async def _drop(self, camera_id: str, pc: RTCPeerConnection) -> None:
        camera = self._cameras.get(camera_id)
        if camera is not None:
            camera.viewers.discard(pc)
            if not camera.viewers:
                self._viewing.discard(camera_id)
        await pc.close()


def _refusal(
    status: int, code: str, reason: str, *, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response({"error": code, "reason": reason}, status=status, headers=headers)


def _loopback_peer(request: web.Request) -> bool:
    """A peer on this host speaking for itself (a local proxy forwarding for others is not)."""
    if "Forwarded" in request.headers or "X-Forwarded-For" in request.headers:
        return False
    try:
        return request.remote is not None and ipaddress.ip_address(request.remote).is_loopback
    except ValueError:
        return False
