"""What a PullPoint subscriber says of its subscription's health (issue 16 §2), against the
test device alone: its event service down, a renew refused, its web server down; each a
fault led by what failed, cleared once a subscription is established again."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from adapters.onvif.device import probe_device
from adapters.onvif.events import (
    PULLPOINT_GONE,
    RENEW_FAILED,
    SUBSCRIBE_FAILED,
    SUBSCRIPTION_LOST,
    EventSource,
    EventThread,
)
from gateway.video.camera_events import CameraEvent
from gateway.video.testcam.harness import free_port
from gateway.video.testcam.onvif_device import OnvifDevice, OnvifEvent, OnvifServer, StreamProfile

PARKING = "tns1:RuleEngine/FieldDetector/ObjectsInside"


class HealthLog:
    """The health a subscriber reports, in order (on the event thread)."""

    def __init__(self) -> None:
        self.said: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, camera_id: str, fault: str) -> None:
        assert camera_id == "cam-1"
        with self._lock:
            self.said.append(fault)

    def wait(self, found: Callable[[str], bool], timeout: float, *, after: int = 0) -> int:
        """The index of the first report from ``after`` that ``found`` accepts."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for index, fault in enumerate(self.said[after:], start=after):
                    if found(fault):
                        return index
            time.sleep(0.05)
        raise AssertionError(f"no such health report in {timeout}s; said {self.said}")


@pytest.fixture
def device_server() -> Iterator[OnvifServer]:
    """The test ONVIF device alone, with credentials (no RTSP: events need none)."""

    def device(base_url: str) -> OnvifDevice:
        return OnvifDevice(
            base_url=base_url,
            profiles=[StreamProfile("main", "main", "rtsp://127.0.0.1:1/main", 768, 576, 10)],
            snapshot_url=f"{base_url}/snapshot.jpg",
            username="admin",
            password="cam-secret",
        )

    server = OnvifServer(device, port=free_port(), snapshot=b"\xff\xd8")
    server.start()
    yield server
    server.stop()


def _url(server: OnvifServer) -> str:
    return f"http://127.0.0.1:{server.port}/onvif/device_service"


def _events(health: HealthLog, **options: float) -> tuple[EventThread, list[CameraEvent]]:
    events: list[CameraEvent] = []
    settings = {"timeout_s": 3.0, "termination_s": 30.0, "pull_timeout_s": 1.0, "retry_s": 0.5}
    thread = EventThread(events.append, on_health=health, **{**settings, **options})
    thread.start()
    return thread, events


def test_the_event_service_down_alone_is_a_fault_naming_the_lost_pull_point_until_it_is_back(
    device_server: OnvifServer,
) -> None:
    device = device_server.device
    device.emit(OnvifEvent(PARKING, {"Rule": "r1"}, {"IsInside": "true"}))
    health = HealthLog()
    thread, events = _events(health, retry_max_s=1.0)
    try:
        thread.apply([EventSource("cam-1", _url(device_server), "admin", "cam-secret")])
        first = health.wait(lambda f: f == "", 15)
        assert health.said[: first + 1] == [""]  # subscribed: nothing said before
        device.set_events_available(False)  # the event daemon restarts; the web server is up
        gone = health.wait(bool, 15, after=first)
        assert health.said[gone].startswith(f"{PULLPOINT_GONE}: 127.0.0.1:")
        assert "PullMessages" in health.said[gone]
        refused = health.wait(lambda f: f.startswith(SUBSCRIBE_FAILED), 15, after=gone)
        assert "CreatePullPointSubscription" in health.said[refused]
        assert "event service is not available" in health.said[refused]
        assert all("cam-secret" not in f and "admin" not in f for f in health.said)
        # the device answers everything else meanwhile: it is not down, its events are
        probe = probe_device(_url(device_server), "admin", "cam-secret", timeout_s=3)
        assert [p.token for p in probe.profiles] == ["main"]
        assert device.subscription_count == 0

        device.set_events_available(True)
        back = health.wait(lambda f: f == "", 10, after=refused)
        assert health.said[back - 1] != ""  # no flapping: one clear after the faults
        assert device.subscription_count == 1
        deadline = time.monotonic() + 10
        while len(events) < 2:  # the alarm, still active, re-sent to the new subscription
            assert time.monotonic() < deadline, f"events: {events}"
            time.sleep(0.05)
        assert events[1].operation == "Initialized" and events[1].data == {"IsInside": "true"}
    finally:
        thread.stop()
    assert device.subscription_count == 0  # unsubscribed at the end


def test_a_renew_the_device_refuses_is_a_renew_fault_until_renewing_works(
    device_server: OnvifServer,
) -> None:
    device = device_server.device
    health = HealthLog()
    # a 3 s term: renewed about every second
    thread, _events_seen = _events(health, termination_s=3.0, retry_max_s=1.0)
    try:
        thread.apply([EventSource("cam-1", _url(device_server), "admin", "cam-secret")])
        first = health.wait(lambda f: f == "", 15)
        subscriber = thread.subscribers["cam-1"]
        deadline = time.monotonic() + 15
        while subscriber.renewals < 1:
            assert time.monotonic() < deadline, "never renewed"
            time.sleep(0.05)
        device.unsupported = frozenset({"Renew"})  # an empty 200, as the real one answers
        refused = health.wait(bool, 15, after=first)
        assert health.said[refused].startswith(f"{RENEW_FAILED}: 127.0.0.1:")
        assert "Renew" in health.said[refused]
        device.unsupported = frozenset()
        back = health.wait(lambda f: f == "", 15, after=refused)
        renewals = subscriber.renewals
        time.sleep(2.5)  # and it stays up: renewals go through again
        assert subscriber.renewals > renewals and health.said[back:] == [""]
    finally:
        thread.stop()


def test_the_web_server_down_is_a_lost_subscription_then_no_subscription_can_be_made(
    device_server: OnvifServer,
) -> None:
    health = HealthLog()
    thread, _events_seen = _events(health, retry_max_s=1.0)
    try:
        thread.apply([EventSource("cam-1", _url(device_server), "admin", "cam-secret")])
        first = health.wait(lambda f: f == "", 15)
        device_server.stop()
        lost = health.wait(bool, 15, after=first)
        # the pull in flight is answered by its handler thread (the pull point is gone) or
        # cut off (lost)
        assert health.said[lost].startswith(
            (f"{SUBSCRIPTION_LOST}: 127.0.0.1:", f"{PULLPOINT_GONE}: 127.0.0.1:")
        )
        health.wait(lambda f: f.startswith(f"{SUBSCRIBE_FAILED}: 127.0.0.1:"), 15, after=lost)
        device_server.start()
        health.wait(lambda f: f == "", 15, after=lost)
        assert device_server.device.subscription_count == 1
    finally:
        thread.stop()
