"""The video gateway's /metrics after a real run on the test camera (vtest, YOLOX-Nano)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from adapters.mqtt.broker import free_port
from gateway.config import Config
from gateway.video.daemon import VideoGateway
from gateway.video.testcam.harness import TestCamera
from tests.core.mqtt_helpers import wait_until
from tests.observability.scrape import exported_names, referenced_by, scrape, value
from tests.video.conftest import fast_ingest

WHOLE = {"polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}


def test_the_video_metrics_show_frame_rates_detector_latency_and_an_offline_camera(
    test_camera: TestCamera, make_config: Callable[..., Config], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.video")
    config = make_config(
        video={
            "analysis_fps": 5,
            "live_view": {"enabled": False},
            "ingest": fast_ingest(),
            "cameras": [
                {"id": "square-n", "rtsp_url": test_camera.rtsp_url},
                {"id": "gone-1", "rtsp_url": f"rtsp://127.0.0.1:{free_port()}/none"},
            ],
            "analysis": {
                "models": ["yolox-nano"],
                "cameras": {
                    "square-n": {
                        "zones": {"all": WHOLE},
                        "rules": [
                            {"id": "crowd", "type": "count", "event_code": "0409", "zone": "all",
                             "classes": ["person"], "min_count": 50, "min_duration_s": 2},
                        ],
                    }
                },
            },
        },
        metrics={"video_port": free_port()},
    )  # fmt: skip
    url = f"http://127.0.0.1:{config.metrics.video_port}/metrics"
    gateway = VideoGateway(config)
    try:
        gateway.start()
        assert gateway.pipeline is not None, "analysis did not start (see the log)"

        def detected() -> bool:
            samples = scrape(url)
            passes = samples.get("citygw_detector_seconds_count", [])
            return (
                sum(v for _labels, v in passes) >= 5
                and value(samples, "citygw_camera_fps", camera="square-n", stream="analysed") > 0
            )

        wait_until(detected, 60, "five detector passes on the test camera")
        samples = scrape(url)
    finally:
        gateway.stop()

    assert value(samples, "citygw_camera_up", camera="square-n") == 1
    assert value(samples, "citygw_camera_up", camera="gone-1") == 0
    # ~5 a second (analysis_fps) out of the camera's 10; a loaded machine delays some frames
    assert 2 <= value(samples, "citygw_camera_fps", camera="square-n", stream="analysed") <= 7
    assert value(samples, "citygw_camera_fps", camera="square-n", stream="in") >= 4
    assert value(samples, "citygw_camera_frames_analysed_total", camera="square-n") >= 5
    assert value(samples, "citygw_camera_reconnects_total", camera="square-n") == 1
    assert value(samples, "citygw_camera_decode_errors_total", camera="square-n") == 0
    assert value(samples, "citygw_camera_frames_skipped_total", camera="square-n") >= 0
    passes = value(samples, "citygw_detector_seconds_count", model="yolox-nano")
    total = value(samples, "citygw_detector_seconds_sum", model="yolox-nano")
    assert passes >= 5 and 0.001 < total / passes < 2.0  # YOLOX-Nano: ~20 ms a pass here
    assert value(samples, "citygw_video_frames_detected_total", camera="square-n") >= 1
    # no rule of the camera needs a stall zone's crop: no extra detector pass
    assert value(samples, "citygw_video_zone_crops_total", camera="square-n") == 0
    assert value(samples, "citygw_mqtt_connected", daemon="video") == 1

    # the readers' log records carry their camera's id (a field of its own in JSON logs)
    by_camera = {getattr(r, "camera", None) for r in caplog.records}
    assert {"square-n", "gone-1"} <= by_camera

    missing = referenced_by("video") - exported_names(samples)
    assert not missing, (
        f"the dashboard or alerts name metrics the video gateway does not export: {missing}"
    )
