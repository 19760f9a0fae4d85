"""Video test harness: a real GStreamer RTSP server and an ONVIF device on loopback.

- ``test_camera``: one `TestCamera` per test (killable, restartable), no credentials;
- ``make_camera(**kwargs)``: more cameras (e.g. with credentials), all stopped after the test.
Other areas' tests (analysis, the demo) can use the same `TestCamera` class directly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.config import Config
from gateway.contract import (
    CameraEventState,
    CameraState,
    CameraStatus,
    CandidateCase,
    Topics,
    parse_message,
)
from gateway.video.testcam.harness import TestCamera


@pytest.fixture
def make_camera(tmp_path: Path) -> Iterator[Callable[..., TestCamera]]:
    cameras: list[TestCamera] = []

    def build(**kwargs: Any) -> TestCamera:
        kwargs.setdefault("log_dir", tmp_path / f"camera-{len(cameras)}")
        camera = TestCamera(**kwargs).start()
        cameras.append(camera)
        return camera

    yield build
    for camera in cameras:
        camera.stop()


@pytest.fixture
def test_camera(make_camera: Callable[..., TestCamera]) -> TestCamera:
    return make_camera()


class StatusWatcher:
    """Collects retained/live `CameraStatus` messages from the real broker."""

    def __init__(self, config: Config) -> None:
        from adapters.mqtt.connection import MqttConnection

        self.statuses: list[CameraStatus] = []
        self.candidates: list[CandidateCase] = []
        self.events: list[tuple[str, CameraEventState]] = []  # (topic, state)
        self._cond = threading.Condition()
        self._connection = MqttConnection(config.mqtt, f"test-watch-{id(self)}", clean_session=True)
        topics = Topics(config.mqtt.topic_root)
        self._connection.subscribe(topics.all_camera_status, self._on_status)
        self._connection.subscribe(topics.all_candidates, self._on_candidate)
        self._connection.subscribe(topics.all_camera_events, self._on_event)
        self._connection.start()
        assert self._connection.wait_connected(15)

    def _on_status(self, message: Any) -> None:
        status = parse_message(message.payload, expect=CameraStatus)
        with self._cond:
            self.statuses.append(status)  # type: ignore[arg-type]
            self._cond.notify_all()

    def _on_event(self, message: Any) -> None:
        state = parse_message(message.payload, expect=CameraEventState)
        with self._cond:
            self.events.append((message.topic, state))  # type: ignore[arg-type]
            self._cond.notify_all()

    def _on_candidate(self, message: Any) -> None:
        candidate = parse_message(message.payload, expect=CandidateCase)
        with self._cond:
            self.candidates.append(candidate)  # type: ignore[arg-type]
            self._cond.notify_all()

    def wait_for(
        self, camera_id: str, state: CameraState, timeout: float, *, after: int = 0
    ) -> CameraStatus:
        """The first status of ``camera_id`` in ``state`` among messages from index ``after``."""

        def found() -> CameraStatus | None:
            for status in self.statuses[after:]:
                if status.camera_id == camera_id and status.state == state:
                    return status
            return None

        with self._cond:
            self._cond.wait_for(lambda: found() is not None, timeout)
            result = found()
        if result is None:
            seen = [(s.camera_id, s.state.value, s.detail) for s in self.statuses[after:]]
            raise AssertionError(f"no {state} for {camera_id} within {timeout}s; saw {seen}")
        return result

    def wait_candidates(self, count: int, timeout: float) -> list[CandidateCase]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.candidates) >= count, timeout)
            return list(self.candidates)

    def stop(self) -> None:
        self._connection.stop(publish_offline=False)


@pytest.fixture
def status_watcher(make_config: Callable[..., Config]) -> Iterator[StatusWatcher]:
    watcher = StatusWatcher(make_config())
    yield watcher
    watcher.stop()


def fast_ingest(**overrides: Any) -> dict[str, Any]:
    """Ingest settings that keep tests short (seconds, not the production minutes)."""
    return {
        "watchdog_s": 5,
        "open_timeout_s": 5,
        "reconnect_min_s": 1,
        "reconnect_max_s": 2,
        **overrides,
    }
