"""A camera's ONVIF event subscription is part of its health (issue 16 §2), against the
test device: its web server down is an ``events`` fault, back up clears it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from adapters.onvif.events import PULLPOINT_GONE, SUBSCRIBE_FAILED, SUBSCRIPTION_LOST
from gateway.config import Config
from gateway.contract import CameraState, CameraStatus
from gateway.core.cameras import CameraHealth, CameraRegistry
from gateway.video.daemon import VideoGateway
from gateway.video.testcam.harness import TestCamera
from tests.video.conftest import StatusWatcher, fast_ingest


def _status_where(
    watcher: StatusWatcher,
    found: Callable[[CameraStatus], bool],
    timeout: float,
    *,
    after: int = 0,
) -> tuple[int, CameraStatus]:
    """The first status from index ``after`` that ``found`` accepts, and its index."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for index, status in enumerate(list(watcher.statuses)[after:], start=after):
            if found(status):
                return index, status
        time.sleep(0.05)
    seen = [(s.state.value, s.faults) for s in watcher.statuses[after:]]
    raise AssertionError(f"no such status within {timeout}s; saw {seen}")


@pytest.fixture
def gateway_holder() -> Iterator[list[VideoGateway]]:
    holder: list[VideoGateway] = []
    yield holder
    for gateway in holder:
        gateway.stop()


def _subscribed_gateway(
    test_camera: TestCamera,
    make_config: Callable[..., Config],
    status_watcher: StatusWatcher,
    gateway_holder: list[VideoGateway],
) -> VideoGateway:
    """A gateway whose camera gate-9 streams and holds an event subscription."""
    camera = {
        "id": "gate-9",
        "username": "admin",
        "password": "cam-secret",
        "onvif": {"url": test_camera.onvif_url, "analysis_width": 400},
    }
    video = {
        "ingest": fast_ingest(),
        "live_view": {"enabled": False},
        "main_stream": {"enabled": False},
        "cameras": [camera],
    }
    gateway = VideoGateway(make_config(video=video), analysis=False)
    gateway_holder.append(gateway)
    gateway.start()
    status_watcher.wait_for("gate-9", CameraState.ONLINE, 30)
    deadline = time.monotonic() + 20
    while not gateway.events.subscribers["gate-9"].active:
        assert time.monotonic() < deadline, "no subscription"
        time.sleep(0.05)
    assert "events" not in gateway.faults_of("gate-9")
    return gateway


def test_a_dead_event_subscription_is_an_events_fault_until_it_is_back(
    make_camera: Callable[..., TestCamera],
    make_config: Callable[..., Config],
    status_watcher: StatusWatcher,
    gateway_holder: list[VideoGateway],
) -> None:
    test_camera = make_camera(username="admin", password="cam-secret")
    _subscribed_gateway(test_camera, make_config, status_watcher, gateway_holder)

    test_camera.stop_onvif()  # the web server goes down; RTSP streams on
    index, down = _status_where(status_watcher, lambda s: "events" in s.faults, 20)
    assert down.state is CameraState.ONLINE  # the stream is fine: only the events are not
    # the pull in flight cut off, or answered as its pull point went
    assert down.faults["events"].startswith(
        (f"{SUBSCRIPTION_LOST}: 127.0.0.1:", f"{PULLPOINT_GONE}: 127.0.0.1:")
    )
    assert "127.0.0.1" in down.faults["events"] and "cam-secret" not in down.faults["events"]

    # the core judges an online camera with a dead subscription degraded, saying which part
    registry = CameraRegistry(timedelta(minutes=5))
    registry.update(down)
    view = registry.view("gate-9", down.ts)
    assert view is not None and view.health is CameraHealth.DEGRADED
    assert view.as_dict()["faults"] == {"events": down.faults["events"]}

    time.sleep(1.0)
    test_camera.start_onvif()
    started = time.monotonic()
    _, back = _status_where(status_watcher, lambda s: "events" not in s.faults, 30, after=index + 1)
    assert back.state is CameraState.ONLINE and back.faults == {}
    assert time.monotonic() - started < 20  # re-subscribed within the backoff's first steps
    assert test_camera.device.subscription_count == 1


def test_the_event_service_down_alone_is_an_events_fault_until_it_is_back(
    make_camera: Callable[..., TestCamera],
    make_config: Callable[..., Config],
    status_watcher: StatusWatcher,
    gateway_holder: list[VideoGateway],
) -> None:
    test_camera = make_camera(username="admin", password="cam-secret")
    gateway = _subscribed_gateway(test_camera, make_config, status_watcher, gateway_holder)

    test_camera.stop_events()  # the event service restarts; web server, media and RTSP answer
    index, down = _status_where(status_watcher, lambda s: "events" in s.faults, 20)
    assert down.state is CameraState.ONLINE
    assert down.faults["events"].startswith((f"{PULLPOINT_GONE}: ", f"{SUBSCRIBE_FAILED}: "))
    # it keeps failing to subscribe while the service is down, and says why
    _, refused = _status_where(
        status_watcher,
        lambda s: s.faults.get("events", "").startswith(SUBSCRIBE_FAILED),
        20,
        after=index,
    )
    assert "event service is not available" in refused.faults["events"]
    assert "cam-secret" not in refused.faults["events"]
    registry = CameraRegistry(timedelta(minutes=5))
    registry.update(refused)
    view = registry.view("gate-9", refused.ts)
    assert view is not None and view.health is CameraHealth.DEGRADED

    test_camera.start_events()
    started = time.monotonic()
    _, back = _status_where(status_watcher, lambda s: "events" not in s.faults, 30, after=index + 1)
    assert back.state is CameraState.ONLINE and back.faults == {}
    assert time.monotonic() - started < 20
    assert gateway.events.subscribers["gate-9"].active
    assert test_camera.device.subscription_count == 1
