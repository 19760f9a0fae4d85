"""Video test harness: a real GStreamer RTSP server and an ONVIF device on loopback.

- ``test_camera``: one `TestCamera` per test (killable, restartable), no credentials;
- ``make_camera(**kwargs)``: more cameras (e.g. with credentials), all stopped after the test.
Other areas' tests (analysis, the demo) can use the same `TestCamera` class directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

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
