"""Live view: an aiortc client negotiates over the signalling endpoint and receives frames."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from adapters.webrtc.live_view import LiveViewServer
from gateway.config import Config
from gateway.contract import CameraState
from gateway.live_tokens import ANY_CAMERA, issue
from gateway.video.daemon import VideoGateway
from gateway.video.frame_sink import LatestFrame
from gateway.video.testcam.harness import TestCamera, free_port
from tests.video.conftest import StatusWatcher, fast_ingest

SECRET = "live-view-test-secret-0123456789abcdef"


def _grant(camera_id: str = ANY_CAMERA, *, secret: str = SECRET, **when: float) -> str:
    now = datetime.now(UTC) + timedelta(**when)
    return issue(secret, subject="op-7", camera_id=camera_id, now=now, ttl=timedelta(minutes=5))


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _watch(
    base: str, camera_id: str, frames_wanted: int, size: tuple[int, int] | None = None
) -> list[tuple[int, int]]:
    """Frames received until ``frames_wanted`` of them (of ``size``, if given) arrived."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    received: list[tuple[int, int]] = []
    done = asyncio.Event()
    readers: list[asyncio.Task[None]] = []

    def enough() -> bool:
        return len([r for r in received if size is None or r == size]) >= frames_wanted

    @pc.on("track")
    def on_track(track) -> None:  # type: ignore[no-untyped-def]
        async def read() -> None:
            while not enough():
                frame = await track.recv()
                received.append((frame.width, frame.height))
            done.set()

        readers.append(asyncio.ensure_future(read()))

    await pc.setLocalDescription(await pc.createOffer())
    async with httpx.AsyncClient(timeout=30) as client:
        listed = await client.get(f"{base}/live/cameras", headers=_bearer(_grant(camera_id)))
        assert listed.status_code == 200 and [c["id"] for c in listed.json()] == [camera_id]
        reply = await client.post(
            f"{base}/live/cameras/{camera_id}/offer",
            json={"sdp": pc.localDescription.sdp, "type": pc.localDescription.type},
            headers=_bearer(_grant(camera_id)),
        )
        assert reply.status_code == 200, reply.text
        answer = reply.json()
        missing = await client.post(
            f"{base}/live/cameras/nobody/offer",
            json={"sdp": "x", "type": "offer"},
            headers=_bearer(_grant()),
        )
        assert missing.status_code == 404
        bad = await client.post(
            f"{base}/live/cameras/{camera_id}/offer", content=b"{nope", headers=_bearer(_grant())
        )
        assert bad.status_code == 400
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type=answer["type"]))
    try:
        await asyncio.wait_for(done.wait(), 40)
    finally:
        await pc.close()
        for task in readers:
            task.cancel()
    return received


CONSOLE = "http://console.test:8080"
T = TypeVar("T")


def _in_thread(work: Callable[[], T]) -> T:
    """Run ``work`` in a thread of its own: the test session may already run an event loop
    in this thread (the console tests' browser), where asyncio and Playwright's sync API
    refuse to start another."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="test.client") as executor:
        return executor.submit(work).result()


def _check_cors(base: str) -> None:
    """Only the configured console origin may signal cross-origin."""
    offer = f"{base}/live/cameras/gate-1/offer"
    with httpx.Client(timeout=10) as client:
        allowed = client.options(
            offer,
            headers={
                "Origin": CONSOLE,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert allowed.status_code == 204
        assert allowed.headers["Access-Control-Allow-Origin"] == CONSOLE
        allowed_headers = allowed.headers["Access-Control-Allow-Headers"].lower()
        assert {"authorization", "content-type"} <= {h.strip() for h in allowed_headers.split(",")}
        # a refusal is readable cross-origin: the console shows the reason
        refused = client.post(offer, json={}, headers={"Origin": CONSOLE})
        assert refused.status_code == 401
        assert refused.headers["Access-Control-Allow-Origin"] == CONSOLE
        listed = client.get(f"{base}/live/cameras", headers={"Origin": CONSOLE})
        assert listed.headers["Access-Control-Allow-Origin"] == CONSOLE
        other = client.options(offer, headers={"Origin": "http://evil.test"})
        assert other.status_code == 403 and "Access-Control-Allow-Origin" not in other.headers
        plain = client.get(f"{base}/live/cameras", headers={"Origin": "http://evil.test"})
        assert "Access-Control-Allow-Origin" not in plain.headers


def test_a_webrtc_viewer_receives_the_main_stream_while_analysis_reads_the_sub_stream(
    test_camera: TestCamera,
    make_config: Callable[..., Config],
    status_watcher: StatusWatcher,
) -> None:
    port = free_port()
    config = make_config(
        video={
            "ingest": fast_ingest(),
            "live_view": {
                "enabled": True,
                "host": "127.0.0.1",
                "port": port,
                "allow_origins": [CONSOLE],
                "token_secret": SECRET,
            },
            "main_stream": {"live_grace_s": 1},
            "cameras": [
                {
                    "id": "gate-1",
                    "rtsp_url": test_camera.sub_rtsp_url,
                    "main_rtsp_url": test_camera.rtsp_url,
                }
            ],
        }
    )
    sink = LatestFrame()
    gateway = VideoGateway(config, analysis=False, extra_sink=sink)
    gateway.start()
    try:
        status_watcher.wait_for("gate-1", CameraState.ONLINE, 20)
        reader = gateway.supervisor.reader("gate-1")
        assert reader is not None and reader.main is not None
        analysed_before = reader.frames_analysed
        _check_cors(f"http://127.0.0.1:{port}")
        base = f"http://127.0.0.1:{port}"
        received = _in_thread(lambda: asyncio.run(_watch(base, "gate-1", 10, (768, 576))))
        assert received[-1] == (768, 576)  # the main stream, at full resolution
        assert set(received) <= {(768, 576), (384, 288)}  # the sub-stream until it came
        frame = sink.take(timeout=5)
        assert frame is not None and frame.image.shape == (288, 384, 3)
        # analysis kept going on its one sub-stream pull; the main stream connected once
        assert reader.frames_analysed > analysed_before and reader.connects == 1
        assert reader.main.connects == 1 and reader.main.pictures >= 10
        # the viewer left: decoding stops after the grace period, demuxing goes on
        deadline = time.monotonic() + 15
        while reader.main.decoding:
            assert time.monotonic() < deadline, "the main stream kept decoding"
            time.sleep(0.1)
        assert reader.main.state == "online"
    finally:
        gateway.stop()
    assert not [t for t in threading.enumerate() if t.name == "live-view"]


@pytest.fixture
def signalling() -> Iterator[Callable[..., str]]:
    """``signalling(**kwargs)``: a started `LiveViewServer` for camera gate-1; its base URL."""
    servers: list[LiveViewServer] = []

    def start(**kwargs: object) -> str:
        kwargs.setdefault("camera_ids", lambda: ["gate-1"])
        server = LiveViewServer(port=0, **kwargs)  # type: ignore[arg-type]
        servers.append(server)
        server.start()
        return f"http://127.0.0.1:{server.port}"

    yield start
    for server in servers:
        server.stop()


def test_an_offer_needs_a_genuine_unexpired_grant_for_that_camera(
    signalling: Callable[..., str],
) -> None:
    base = signalling(token_secret=SECRET, allow_origins=[CONSOLE])
    offer = f"{base}/live/cameras/gate-1/offer"
    body = {"sdp": "v=0", "type": "offer"}
    with httpx.Client(timeout=10) as client:
        missing = client.post(offer, json=body)
        assert missing.status_code == 401
        assert missing.json()["error"] == "missing_token" and missing.json()["reason"]
        assert missing.headers["WWW-Authenticate"].startswith("Bearer")
        basic = client.post(offer, json=body, headers={"Authorization": "Basic b3A6cHc="})
        assert basic.status_code == 401
        cases = {
            "bad_signature": _grant("gate-1", secret="another-secret-" + "x" * 32),
            "expired": _grant("gate-1", minutes=-10),
            "wrong_camera": _grant("gate-2"),
            "malformed": "v1.not-a-token",
        }
        for code, token in cases.items():
            refused = client.post(offer, json=body, headers=_bearer(token))
            assert refused.status_code == 403, (code, refused.text)
            assert refused.json()["error"] == code and refused.json()["reason"]
        # a good grant passes the check (this body is then refused as an offer, not as a grant)
        for token in (_grant("gate-1"), _grant(ANY_CAMERA)):
            passed = client.post(offer, json={"sdp": 1}, headers=_bearer(token))
            assert passed.status_code == 400 and "bad offer" in passed.json()["error"]
        # the grant is checked before the camera: no probing which cameras exist
        assert client.post(f"{base}/live/cameras/nobody/offer", json=body).status_code == 401


def test_the_camera_list_shows_only_what_the_grant_covers(
    signalling: Callable[..., str],
) -> None:
    base = signalling(token_secret=SECRET, camera_ids=lambda: ["gate-1", "gate-2"])
    cameras = f"{base}/live/cameras"
    with httpx.Client(timeout=10) as client:
        assert client.get(cameras).status_code == 401
        forged = client.get(cameras, headers=_bearer(_grant(secret="another-secret-" + "x" * 32)))
        assert forged.status_code == 403 and forged.json()["error"] == "bad_signature"
        one = client.get(cameras, headers=_bearer(_grant("gate-2"))).json()
        assert [c["id"] for c in one] == ["gate-2"]
        every = client.get(cameras, headers=_bearer(_grant(ANY_CAMERA))).json()
        assert [c["id"] for c in every] == ["gate-1", "gate-2"]


def test_without_a_secret_only_loopback_peers_may_offer_and_the_start_warns(
    signalling: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="adapters.webrtc.live_view"):
        base = signalling()
    assert "NO TOKEN SECRET" in caplog.text
    offer = f"{base}/live/cameras/gate-1/offer"
    with httpx.Client(timeout=10) as client:
        local = client.post(offer, json={"sdp": 1})
        assert local.status_code == 400  # allowed through, then refused as a bad offer
        proxied = client.post(offer, json={"sdp": 1}, headers={"X-Forwarded-For": "10.1.2.3"})
        assert proxied.status_code == 403 and proxied.json()["error"] == "loopback_only"


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    # WebRTC on loopback only: offer 127.0.0.1 candidates, no mDNS names
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
]


def test_an_operator_can_watch_a_camera_live_in_chromium(
    test_camera: TestCamera,
    make_config: Callable[..., Config],
    status_watcher: StatusWatcher,
) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (scripts/setup.sh does)")
    port = free_port()
    config = make_config(
        video={
            "ingest": fast_ingest(),
            "live_view": {
                "enabled": True,
                "host": "127.0.0.1",
                "port": port,
                "token_secret": SECRET,
            },
            "cameras": [{"id": "gate-1", "rtsp_url": test_camera.rtsp_url}],
        }
    )
    gateway = VideoGateway(config, analysis=False)
    gateway.start()
    try:
        status_watcher.wait_for("gate-1", CameraState.ONLINE, 20)
        token = _grant("gate-1")
        size = _in_thread(lambda: _play_in_chromium(port, token))
    finally:
        gateway.stop()
    assert size == [768, 576]


def _play_in_chromium(port: int, token: str) -> list[int]:
    """Open the gateway's /live/ page with a grant, press watch, wait until the video plays."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/live/#token={token}", timeout=30_000)
            page.wait_for_selector("#cam option[value=gate-1]", state="attached")
            page.click("#go")
            page.wait_for_function(
                "() => { const v = document.getElementById('v');"
                " return v.videoWidth > 0 && v.currentTime > 1; }",
                timeout=40_000,
            )
            size: list[int] = page.evaluate(
                "() => [document.getElementById('v').videoWidth,"
                " document.getElementById('v').videoHeight]"
            )
        finally:
            browser.close()
    return size
