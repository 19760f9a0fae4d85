"""The camera wall's live view against the real video gateway: `citygw video` on the RTSP
test camera, its aiortc signalling endpoint, WebRTC into Chromium.

The console (core's origin) and the live view (the gateway's port) are different origins
and the gateway sends no CORS headers yet, so an ordinary browser must refuse the offer:
the tile then says why. With same-origin rules lifted (as a reverse proxy serving /live/
beside /console/ would make them), the same page plays the camera.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.mqtt.broker import free_port
from gateway.config import Config
from tests.console.conftest import (
    BYPASS_CSP,
    CHROMIUM,
    CHROMIUM_ARGS,
    RunningCore,
    screenshot,
    sign_in,
)
from tests.console.test_console_workflow import camera_candidate


@pytest.fixture
def live_gateway(
    core: RunningCore, make_config: Callable[..., Config], tmp_path: Path
) -> Iterator[str]:
    from gateway.video.daemon import VideoGateway
    from gateway.video.testcam.harness import MAIN_VIDEO, TestCamera

    if not MAIN_VIDEO.exists():
        pytest.fail(f"{MAIN_VIDEO} missing: run scripts/setup.sh")
    port = free_port()
    with TestCamera(log_dir=tmp_path / "camera") as camera:
        config = make_config(
            instance="live",
            state_dir=str(tmp_path / "video"),
            video={
                "live_view": {"enabled": True, "port": port},
                "cameras": [{"id": "cam-gate", "rtsp_url": camera.rtsp_url}],
                "analysis": {"enabled": False},
            },
        )
        gateway = VideoGateway(config)
        gateway.start()
        try:
            yield f"http://127.0.0.1:{port}/live/"
        finally:
            gateway.stop()


def open_wall(page: Any, live_url: str) -> Any:
    page.click('#nav a[data-view="cameras"]')
    page.fill("#live-url", live_url)
    page.click("text=保存")
    tile = page.locator('.tile[data-camera="cam-gate"]')
    tile.wait_for()
    tile.locator("footer button").click()
    return tile


def test_the_camera_wall_plays_the_gateway_live_view_over_webrtc(
    core: RunningCore, live_gateway: str, login: Any, browser: Any
) -> None:
    core.publish_candidates(
        [
            camera_candidate(
                "0505", "机动车乱停放", "car", 0.9, (100, 250, 300, 380),
                track_id=1, grid_code="32070390100101", zone_id="curb",
            )
        ]
    )  # fmt: skip

    # an ordinary browser: cross-origin signalling is refused, and the tile says why
    operator = login("operator")
    tile = open_wall(operator, live_gateway)
    tile.locator("footer .error").wait_for()
    assert "跨域" in tile.locator("footer").inner_text()
    assert tile.locator(f'footer a[href="{live_gateway}"]').count() == 1

    # same-origin rules lifted: the real WebRTC stream plays in the tile
    relaxed = browser.browser_type.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=[*CHROMIUM_ARGS, "--disable-web-security"],
        timeout=60_000,
    )
    try:
        page = relaxed.new_page(viewport={"width": 1366, "height": 768}, bypass_csp=BYPASS_CSP)
        page.set_default_timeout(20_000)
        sign_in(page, core.url, "operator")
        tile = open_wall(page, live_gateway)
        page.wait_for_function(
            "() => { const v = document.querySelector('.tile video');"
            " return v && v.videoWidth === 768 && v.currentTime > 1; }"
        )
        assert "WebRTC" in tile.locator("footer").inner_text()
        screenshot(page, "13-camera-wall-live")
    finally:
        relaxed.close()
