"""Live view: an aiortc client negotiates over the signalling endpoint and receives frames."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from gateway.config import Config
from gateway.contract import CameraState
from gateway.video.daemon import VideoGateway
from gateway.video.frame_sink import LatestFrame
from gateway.video.testcam.harness import TestCamera, free_port
from tests.video.conftest import StatusWatcher, fast_ingest


async def _watch(base: str, camera_id: str, frames_wanted: int) -> list[tuple[int, int]]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    received: list[tuple[int, int]] = []
    done = asyncio.Event()
    readers: list[asyncio.Task[None]] = []

    @pc.on("track")
    def on_track(track) -> None:  # type: ignore[no-untyped-def]
        async def read() -> None:
            while len(received) < frames_wanted:
                frame = await track.recv()
                received.append((frame.width, frame.height))
            done.set()

        readers.append(asyncio.ensure_future(read()))

    await pc.setLocalDescription(await pc.createOffer())
    async with httpx.AsyncClient(timeout=30) as client:
        listed = await client.get(f"{base}/live/cameras")
        assert listed.status_code == 200
        reply = await client.post(
            f"{base}/live/cameras/{camera_id}/offer",
            json={"sdp": pc.localDescription.sdp, "type": pc.localDescription.type},
        )
        assert reply.status_code == 200, reply.text
        answer = reply.json()
        missing = await client.post(
            f"{base}/live/cameras/nobody/offer", json={"sdp": "x", "type": "offer"}
        )
        assert missing.status_code == 404
        bad = await client.post(f"{base}/live/cameras/{camera_id}/offer", content=b"{nope")
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
        allowed = client.options(offer, headers={"Origin": CONSOLE})
        assert allowed.status_code == 204
        assert allowed.headers["Access-Control-Allow-Origin"] == CONSOLE
        listed = client.get(f"{base}/live/cameras", headers={"Origin": CONSOLE})
        assert listed.headers["Access-Control-Allow-Origin"] == CONSOLE
        other = client.options(offer, headers={"Origin": "http://evil.test"})
        assert other.status_code == 403 and "Access-Control-Allow-Origin" not in other.headers
        plain = client.get(f"{base}/live/cameras", headers={"Origin": "http://evil.test"})
        assert "Access-Control-Allow-Origin" not in plain.headers


def test_a_webrtc_viewer_receives_the_cameras_video(
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
            },
            "cameras": [{"id": "gate-1", "rtsp_url": test_camera.rtsp_url}],
        }
    )
    gateway = VideoGateway(config, analysis=False, extra_sink=LatestFrame())
    gateway.start()
    try:
        status_watcher.wait_for("gate-1", CameraState.ONLINE, 20)
        reader = gateway.supervisor.reader("gate-1")
        assert reader is not None
        analysed_before = reader.frames_analysed
        _check_cors(f"http://127.0.0.1:{port}")
        received = _in_thread(lambda: asyncio.run(_watch(f"http://127.0.0.1:{port}", "gate-1", 10)))
        assert received[-1] == (768, 576)
        # one RTSP pull served both: analysis kept going, and the camera connected once
        assert reader.frames_analysed > analysed_before and reader.connects == 1
    finally:
        gateway.stop()
    assert not [t for t in threading.enumerate() if t.name == "live-view"]


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


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
def test_an_operator_can_watch_a_camera_live_in_chromium(
    test_camera: TestCamera,
    make_config: Callable[..., Config],
    status_watcher: StatusWatcher,
) -> None:
    port = free_port()
    config = make_config(
        video={
            "ingest": fast_ingest(),
            "live_view": {"enabled": True, "host": "127.0.0.1", "port": port},
            "cameras": [{"id": "gate-1", "rtsp_url": test_camera.rtsp_url}],
        }
    )
    gateway = VideoGateway(config, analysis=False)
    gateway.start()
    try:
        status_watcher.wait_for("gate-1", CameraState.ONLINE, 20)
        size = _in_thread(lambda: _play_in_chromium(port))
    finally:
        gateway.stop()
    assert size == [768, 576]


def _play_in_chromium(port: int) -> list[int]:
    """Open the gateway's /live/ page, press watch, wait until the video plays."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/live/", timeout=30_000)
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
