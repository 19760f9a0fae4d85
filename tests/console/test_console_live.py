"""The console's live parts: the review queue updated by the core's event stream (no reload,
no poll), camera health on the camera wall changing in place, and the live-view grant sent
with the WebRTC offer."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.mqtt import MqttConnection
from adapters.mqtt.broker import free_port
from gateway import bootstrap, live_tokens
from gateway.config import Config
from gateway.contract import CameraState, CameraStatus, Source, SourceKind
from gateway.core.daemon import build_core
from gateway.core.intake import case_id_for
from gateway.core.workflow import Action, Actor, Command, Role
from tests.console.conftest import CORE_SETTINGS, USERS, RunningCore, grids_of, screenshot
from tests.console.test_console_workflow import camera_candidate

SECRET = "console-live-view-secret-0123456789"


@pytest.fixture
def core(make_config: Callable[..., Config], tmp_path: Path) -> Iterator[RunningCore]:
    """The console's core, issuing live-view grants for a gateway behind its own /live/."""
    port = free_port()
    config = make_config(
        core={
            **CORE_SETTINGS,
            "database_url": f"sqlite:///{tmp_path / 'core.sqlite3'}",
            "http_port": port,
            "live_view": {"token_secret": SECRET, "token_ttl_s": 60, "signalling_url": "/live/"},
        }
    )
    daemon = build_core(config)
    for role, (name, department) in USERS.items():
        daemon.auth.add_user(name, role, "console-pass-1", department, grids_of(role))
    daemon.start()
    try:
        yield RunningCore(config, daemon, f"http://127.0.0.1:{port}")
    finally:
        daemon.stop()


def list_requests(page: Any) -> list[str]:
    """Every GET of the case list or camera list the page makes from now on."""
    seen: list[str] = []

    def on_request(request: Any) -> None:
        path = request.url.split("://", 1)[1].split("/", 1)[1]
        if request.method == "GET" and path.startswith(("api/v1/cases?", "api/v1/cameras")):
            seen.append(path)

    page.on("request", on_request)
    return seen


def test_a_new_candidate_appears_in_the_queue_without_a_reload_or_a_poll(
    core: RunningCore, login: Any
) -> None:
    first = camera_candidate(
        "0505", "机动车乱停放", "car", 0.9, (100, 250, 300, 380),
        track_id=1, grid_code="32070390100101", zone_id="curb",
    )  # fmt: skip
    core.publish_candidates([first])
    first_case = core.wait_for_case(first.id)

    operator = login("operator")
    operator.wait_for_selector(f'.queue-item[data-id="{first_case.id}"]')
    operator.wait_for_selector('#queue-list[data-live="up"]')
    assert "实时更新" in operator.inner_text("#queue-live")
    requests = list_requests(operator)
    operator.evaluate("window.__sameDocument = true")

    arriving = camera_candidate(
        "0102", "暴露垃圾", "bag", 0.8, (10, 300, 60, 350),
        track_id=2, grid_code="32072200100101", zone_id="lawn",
    )  # fmt: skip
    core.publish_candidates([arriving])
    new_id = case_id_for(arriving.id)
    row = operator.locator(f'.queue-item[data-id="{new_id}"]')
    row.wait_for(timeout=20_000)
    assert "0102 暴露垃圾" in row.inner_text()
    assert "fresh" in (row.get_attribute("class") or "")
    assert operator.inner_text("#queue-count") == "（2）"
    screenshot(operator, "30-queue-live-new-candidate")

    # another operator confirms the first one elsewhere: it leaves this queue, live too
    core.daemon.service.transition(
        first_case.id, Command(Action.REGISTER), Actor("lead", Role.SHIFT_LEAD)
    )
    operator.wait_for_selector(f'.queue-item[data-id="{first_case.id}"]', state="detached")
    assert operator.inner_text("#queue-count") == "（1）"

    assert requests == [], f"the queue asked for its list: {requests}"
    assert operator.evaluate("window.__sameDocument") is True  # never reloaded
    assert operator.console_errors == []


def test_the_queue_falls_back_to_polling_when_the_stream_is_refused(
    core: RunningCore, login: Any
) -> None:
    operator = login("operator")
    operator.wait_for_selector('#queue-list[data-live="up"]')
    operator.context.route("**/api/v1/events/stream-ticket", lambda route: route.abort())
    core.daemon.live.hub.close()  # every stream ends ("stopping"); new tickets fail
    operator.wait_for_selector('#queue-list[data-live="polling"]')
    assert "每 3 秒刷新" in operator.inner_text("#queue-live")
    candidate = camera_candidate(
        "0505", "机动车乱停放", "car", 0.9, (100, 250, 300, 380),
        track_id=3, grid_code="32070390100101", zone_id="curb",
    )  # fmt: skip
    core.publish_candidates([candidate])
    operator.wait_for_selector(f'.queue-item[data-id="{case_id_for(candidate.id)}"]')


def publish_status(
    connection: MqttConnection,
    config: Config,
    camera_id: str,
    state: CameraState,
    at: datetime,
    detail: str = "",
) -> None:
    status = CameraStatus.create(
        source=Source(kind=SourceKind.CAMERA, id=camera_id),
        ts=at,
        camera_id=camera_id,
        state=state,
        fps_in=25.0 if state is CameraState.ONLINE else 0.0,
        fps_analysed=5.0 if state is CameraState.ONLINE else 0.0,
        last_frame_at=at if state is CameraState.ONLINE else None,
        detail=detail,
    )
    topic = bootstrap.topics(config).camera_status(camera_id)
    assert connection.publish_and_wait(topic, status.to_json(), retain=True)


def test_the_camera_wall_shows_each_cameras_health_and_its_changes(
    core: RunningCore, login: Any
) -> None:
    core.publish_candidates(
        [
            camera_candidate(
                "0505", "机动车乱停放", "car", 0.9, (100, 250, 300, 380),
                track_id=1, grid_code="32070390100101", zone_id="curb",
            )
        ]
    )  # fmt: skip
    # the video gateway's own connection: retained "online" now, "offline" when it goes away
    video = bootstrap.mqtt_connection(core.config, "video")
    video.start()
    assert video.wait_connected(15)
    try:
        now = datetime.now(UTC)
        publish_status(video, core.config, "cam-gate", CameraState.ONLINE, now)
        publish_status(
            video, core.config, "cam-yard", CameraState.ERROR, now, "401 Unauthorized (RTSP)"
        )
        publish_status(video, core.config, "cam-old", CameraState.ONLINE, now - timedelta(hours=1))
        registry = core.daemon.live.cameras
        deadline = time.monotonic() + 20
        while len(registry.cameras(now)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)

        operator = login("operator")
        operator.click('#nav a[data-view="cameras"]')
        operator.wait_for_selector('.tile[data-camera="cam-old"]')
        health = {
            tile.get_attribute("data-camera"): tile.locator("header .health").inner_text()
            for tile in operator.locator(".tile").all()
        }
        assert health["cam-gate"].startswith("在线")
        assert health["cam-yard"].startswith("异常")
        assert health["cam-old"].startswith("未知")
        assert "上报" in health["cam-gate"]  # the last-seen time
        yard = operator.locator('.tile[data-camera="cam-yard"]')
        # a video gateway's own detail is English for technicians: a tooltip, the state in Chinese
        assert yard.locator(".detail").inner_text() == "摄像头连接失败，正在重试"
        assert "401 Unauthorized" in (yard.locator(".detail").get_attribute("title") or "")
        old = operator.locator('.tile[data-camera="cam-old"]')
        assert "状态已过期" in old.locator(".detail").inner_text()
        assert "stale" in (old.get_attribute("class") or "")
        assert operator.locator("#camera-health-note").count() == 0
        operator.wait_for_function(
            "document.querySelector('#wall-status').textContent.includes('实时')"
        )
        requests = list_requests(operator)

        publish_status(
            video, core.config, "cam-gate", CameraState.RECONNECTING, datetime.now(UTC), "no frames"
        )
        operator.wait_for_selector('.tile[data-camera="cam-gate"][data-health="degraded"]')
        gate = operator.locator('.tile[data-camera="cam-gate"]')
        assert gate.locator("header .health").inner_text().startswith("异常")
        assert gate.locator(".detail").inner_text() == "视频中断，正在重新连接"
        assert gate.locator(".detail").get_attribute("title") == "no frames"
        assert requests == [], f"the wall asked again: {requests}"
        screenshot(operator, "31-camera-wall-health")

        video.stop()  # the only video gateway is gone: none of its cameras can be online
        operator.wait_for_selector('.tile[data-camera="cam-gate"][data-health="offline"]')
        assert gate.locator(".detail").inner_text() == "视频网关离线"
        assert requests == []
    finally:
        video.stop(publish_offline=False)


def test_the_camera_wall_sends_the_cores_grant_with_the_offer(
    core: RunningCore, login: Any
) -> None:
    core.publish_candidates(
        [
            camera_candidate(
                "0505", "机动车乱停放", "car", 0.9, (100, 250, 300, 380),
                track_id=1, grid_code="32070390100101", zone_id="curb",
            )
        ]
    )  # fmt: skip
    offers: list[dict[str, Any]] = []

    def video_gateway(route: Any) -> None:  # /live/ behind the console's reverse proxy
        request = route.request
        offers.append({"headers": request.headers, "body": request.post_data})
        route.fulfill(
            status=401,
            content_type="application/json",
            body=json.dumps({"error": "expired", "reason": "token expired"}),
        )

    operator = login("operator")
    operator.context.route("**/live/cameras/*/offer", video_gateway)
    operator.click('#nav a[data-view="cameras"]')
    tile = operator.locator('.tile[data-camera="cam-gate"]')
    tile.wait_for()
    tile.locator("footer button").click()
    tile.locator("footer .error").wait_for(timeout=20_000)
    assert "授权已过期" in tile.locator("footer").inner_text()

    [offer] = offers
    scheme, _, token = offer["headers"]["authorization"].partition(" ")
    assert scheme == "Bearer"
    grant = live_tokens.verify(SECRET, token, camera_id="cam-gate", now=datetime.now(UTC))
    assert grant.subject == USERS["operator"][0]
    assert json.loads(offer["body"])["type"] == "offer"
    screenshot(operator, "32-camera-wall-grant-refused")
