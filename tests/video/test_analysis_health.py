"""An analysis thread that dies under a running pipeline makes the video gateway degraded.

The real `VideoGateway` and `AnalysisPipeline`; the detector is a fake at its port that
raises what no loop catches (not an ``Exception``), so the detector thread ends while the
pipeline's state still says running.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from gateway.config import Config
from gateway.video import daemon
from gateway.video.analysis.pipeline import AnalysisPipeline, State
from gateway.video.daemon import GatewayState, VideoGateway
from gateway.video.detection import Detection
from tests.detection.test_pipeline import still_frames
from tests.video.conftest import fast_ingest


class Fatal(BaseException):
    """Not an ``Exception``: the detector stage's ``except Exception`` lets it through."""


class DyingDetector:
    name = "dying"
    input_size = (640, 640)
    max_batch = 1

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        raise Fatal("the detector's runtime aborted")

    def close(self) -> None:
        pass


def _video() -> dict[str, Any]:
    fall = {"id": "fall", "type": "fallen", "event_code": "0497", "min_duration_s": 2}
    return {
        "ingest": fast_ingest(),
        "live_view": {"enabled": False},
        "cameras": [{"id": "lawn-1", "rtsp_url": "rtsp://127.0.0.1:9/none"}],
        "analysis": {"cameras": {"lawn-1": {"rules": [fall]}}},
    }


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_detector_thread_that_dies_while_running_makes_the_gateway_degraded_and_unhealthy(
    make_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline_class = functools.partial(AnalysisPipeline, detector=DyingDetector())
    monkeypatch.setattr(daemon, "_load_pipeline_class", lambda: pipeline_class)
    gateway = VideoGateway(make_config(video=_video()))
    gateway.start()
    try:
        assert gateway.healthy() and gateway.faults_of("lawn-1") == {}
        assert not gateway.describe().startswith("degraded")
        for frame in still_frames(10, camera_id="lawn-1"):  # the first one goes to detection
            gateway.pipeline.submit(frame)
        deadline = time.monotonic() + 15
        while gateway.healthy():
            assert time.monotonic() < deadline, "the dead detector thread went unnoticed"
            time.sleep(0.05)
        # nothing was stopped: the thread died under a running pipeline and gateway
        assert gateway.pipeline.state is State.RUNNING and gateway.state is GatewayState.RUNNING
        reason = "analysis thread(s) died: video.analysis.detector"
        assert gateway.faults_of("lawn-1") == {"analysis": reason}
        assert gateway.describe() == f"degraded: {reason}; 0/1 cameras online"
        assert not gateway.healthy()  # the systemd watchdog is no longer fed: a restart
    finally:
        gateway.stop()
