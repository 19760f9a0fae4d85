"""A camera's own (ONVIF) rule candidate the outbox refuses is kept on disk and sent later.

The real parts: the whole `VideoGateway` (ONVIF PullPoint events from the test device,
the rules, the episodes on disk, the durable outbox and the broker). Only the outbox's
``put`` is wrapped to refuse candidates with its real `OutboxFull` (as a byte limit
refuses a candidate with a clip while small statuses still fit).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from adapters.mqtt.outbox import OutboxFull
from gateway.config import Config
from gateway.video.daemon import VideoGateway
from gateway.video.testcam.harness import TestCamera
from tests.video.conftest import StatusWatcher, fast_ingest

PARKING = "tns1:RuleEngine/FieldDetector/ObjectsInside"


def _wait(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _refusing(gateway: VideoGateway, full: threading.Event) -> None:
    """The gateway's outbox refuses candidates while ``full`` is set."""
    outbox = gateway.publisher.outbox
    put = outbox.put

    def refusing_put(topic: str, payload: bytes, **kwargs: Any) -> int:
        if full.is_set() and "/candidates/" in topic:
            raise OutboxFull(1_000_000, 10**9, 1_000_000, 10**9)
        return put(topic, payload, **kwargs)

    outbox.put = refusing_put  # type: ignore[method-assign]


@pytest.fixture
def gateways() -> Any:
    started: list[VideoGateway] = []
    yield started
    for gateway in started:
        gateway.stop()


def test_an_onvif_alarm_the_outbox_refuses_is_spilled_and_sent_once_with_its_end(
    make_camera: Callable[..., TestCamera],
    make_config: Callable[..., Config],
    status_watcher: StatusWatcher,
    gateways: list[VideoGateway],
) -> None:
    camera = make_camera()
    rule = {"topic": PARKING, "data": {"IsInside": "true"}, "event_code": "0505",
            "cooldown_s": 0}  # fmt: skip
    camera_config = {"id": "gate-3", "onvif": {"url": camera.onvif_url, "event_rules": [rule]}}
    config = make_config(
        video={"ingest": fast_ingest(), "live_view": {"enabled": False}, "cameras": [camera_config]}
    )
    spilled = config.state_dir / "unsent-video"
    full = threading.Event()
    full.set()
    gateway = VideoGateway(config, analysis=False)
    gateways.append(gateway)
    _refusing(gateway, full)
    gateway.start()
    _wait(lambda: "gate-3" in gateway.events.subscribers, 20)
    _wait(lambda: gateway.events.subscribers["gate-3"].active, 20)

    # the alarm starts while the outbox is full: tried, then kept on disk
    camera.emit_event(PARKING, {"IsInside": "true"}, {"Rule": "no-parking-1"})
    _wait(lambda: len(list(spilled.glob("*.json"))) == 1, 20)
    assert gateway.rules.candidates == 1 and status_watcher.candidates == []
    assert "1 candidate(s) wait in unsent-video" in gateway.describe()
    # the outbox has room again: the kept candidate goes out, once
    full.clear()
    (first,) = status_watcher.wait_candidates(1, 20)
    assert first.event_code == "0505" and first.facts["active"] is True
    _wait(lambda: not list(spilled.glob("*.json")), 5)

    # the alarm ends while the outbox is full again: its update is kept, the gateway stops
    full.set()
    camera.emit_event(PARKING, {"IsInside": "false"}, {"Rule": "no-parking-1"})
    _wait(lambda: len(list(spilled.glob("*.json"))) == 1, 20)
    assert gateway.rules.updates == 1
    gateway.stop()
    assert len(status_watcher.candidates) == 1

    # the next start sends what the last run kept
    again = VideoGateway(config, analysis=False)
    gateways.append(again)
    again.start()
    candidates = status_watcher.wait_candidates(2, 20)
    _wait(lambda: not list(spilled.glob("*.json")), 5)
    time.sleep(1.0)  # nothing more comes
    assert [c.id for c in status_watcher.candidates] == [first.id, candidates[1].id]
    update = candidates[1]
    assert update.facts["update_of"] == first.id and update.facts["active"] is False
    assert update.facts["duration_s"] > 0
