"""The test camera itself: a real RTSP stream and a SOAP device that follows ONVIF."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable

import av
import pytest

from gateway.video.testcam.harness import TestCamera
from gateway.video.testcam.onvif_device import parse_duration


def _first_frames(url: str, count: int) -> list[av.VideoFrame]:
    frames = []
    with av.open(url, options={"rtsp_transport": "tcp"}, timeout=(10, 10)) as container:
        for frame in container.decode(video=0):
            frames.append(frame)
            if len(frames) >= count:
                break
    return frames


def test_the_rtsp_server_streams_the_video_in_real_time(test_camera: TestCamera) -> None:
    started = time.monotonic()
    frames = _first_frames(test_camera.rtsp_url, 30)
    elapsed = time.monotonic() - started
    assert (frames[0].width, frames[0].height) == (768, 576)
    assert elapsed > 2.0  # 30 frames at 10 fps are paced, not dumped at once


def test_the_sub_stream_is_smaller(test_camera: TestCamera) -> None:
    frame = _first_frames(test_camera.sub_rtsp_url, 1)[0]
    assert (frame.width, frame.height) == (384, 288)


def test_the_snapshot_uri_serves_a_jpeg(test_camera: TestCamera) -> None:
    url = f"http://127.0.0.1:{test_camera.onvif_port}/snapshot.jpg"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read(2) == b"\xff\xd8"


def test_wrong_rtsp_credentials_are_refused(make_camera: Callable[..., TestCamera]) -> None:
    camera = make_camera(username="admin", password="right")
    good = camera.rtsp_url.replace("rtsp://", "rtsp://admin:right@")
    assert _first_frames(good, 1)
    with pytest.raises(av.HTTPUnauthorizedError):
        _first_frames(camera.rtsp_url.replace("rtsp://", "rtsp://admin:wrong@"), 1)


@pytest.mark.parametrize(
    ("text", "seconds"), [("PT60S", 60), ("PT1M30S", 90), ("PT1H", 3600), ("P1DT1S", 86401)]
)
def test_durations_read_as_xml_schema_says(text: str, seconds: float) -> None:
    assert parse_duration(text, 0) == seconds
