"""The full path on real video: the RTSP test camera serving vtest -> `citygw video` ingest
-> motion -> real YOLO weights -> tracker -> zone + count/fallen rules -> candidate cases
on a real Mosquitto, each with a JPEG snapshot whose boxes are drawn and a clip; exactly one
candidate per fired rule over the whole clip (79.5 s of video, played in real time), and
any later publication of a lasting condition an update of that candidate.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway import bootstrap
from gateway.config import Config
from gateway.contract import EvidenceRole
from gateway.video.frame import Frame
from gateway.video.testcam.harness import TestCamera

from .helpers import CandidateCollector, box_outline_drawn
from .test_pipeline import LAWN, WALKWAY

CLIP_SECONDS = 79.5  # vtest.avi: 795 frames at 10 fps


class FrameCounter:
    """A sink beside the pipeline: keeps the frames (by seq) to check snapshots against."""

    def __init__(self) -> None:
        self.frames: dict[int, Frame] = {}
        self._cond = threading.Condition()
        self.first: float | None = None
        self.last: float | None = None

    def submit(self, frame: Frame) -> None:
        with self._cond:
            self.frames[frame.seq] = frame
            self.first = frame.monotonic if self.first is None else self.first
            self.last = frame.monotonic
            self._cond.notify_all()

    def wait_span(self, seconds: float, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(
                lambda: (
                    self.first is not None
                    and self.last is not None
                    and self.last - self.first >= seconds
                ),
                timeout,
            )


@pytest.fixture
def camera(tmp_path: Path) -> Iterator[TestCamera]:
    with TestCamera(log_dir=tmp_path / "camera") as started:
        yield started


def test_the_test_camera_through_citygw_video_makes_one_candidate_per_fired_rule(
    camera: TestCamera, make_config: Callable[..., Config], request: pytest.FixtureRequest
) -> None:
    from gateway.video.daemon import VideoGateway

    config = make_config(
        video={
            "analysis_fps": 5,
            "live_view": {"enabled": False},
            "ingest": {"watchdog_s": 10, "open_timeout_s": 10},
            "cameras": [
                {"id": "square-n", "rtsp_url": camera.rtsp_url, "grid_code": "11010500100101"}
            ],
            "analysis": {
                "cameras": {
                    "square-n": {
                        "zones": {"lawn": LAWN, "walkway": WALKWAY},
                        "rules": [
                            {"id": "fall", "type": "fallen", "event_code": "0497",
                             "zone": "lawn", "min_duration_s": 2},
                            {"id": "crowd", "type": "count", "event_code": "0409",
                             "zone": "walkway", "classes": ["person"], "min_count": 3,
                             "min_duration_s": 2},
                        ],
                    }
                }
            },
        }
    )  # fmt: skip
    collector = CandidateCollector(config, bootstrap.topics(config).all_candidates)
    request.addfinalizer(collector.close)
    frames = FrameCounter()
    gateway = VideoGateway(config, extra_sink=frames)
    try:
        gateway.start()
        assert gateway.pipeline is not None, "analysis did not start (see the log)"
        assert frames.wait_span(CLIP_SECONDS, timeout=CLIP_SECONDS + 90), "video stalled"
        candidates = collector.wait_for(2, timeout=30)
        metrics = gateway.pipeline.metrics()
    finally:
        gateway.stop()
    # the whole clip has played: still one candidate per fired rule; a condition that
    # lasted may have been published again as an update of that candidate, never anew
    published = collector.wait_for(10, timeout=3)
    candidates = [c for c in published if "update_of" not in c.facts]
    assert sorted(c.facts["rule_id"] for c in candidates) == ["crowd", "fall"]
    by_rule = {c.facts["rule_id"]: c for c in candidates}
    for update in (c for c in published if "update_of" in c.facts):
        first = by_rule[update.facts["rule_id"]]
        assert update.facts["update_of"] == first.id
        assert update.facts["track_id"] == first.facts["track_id"]
    fall = by_rule["fall"]
    assert fall.event_code == "0497" and fall.location.grid_code == LAWN["grid_code"]
    assert fall.location.camera_id == "square-n" and fall.source.id == "square-n"
    snapshot = next(e for e in fall.evidence if e.role is EvidenceRole.SNAPSHOT)
    fired_on = frames.frames[fall.facts["frame_seq"]]
    assert box_outline_drawn(snapshot.raw_bytes(), fired_on.image, fall.facts["box"])
    clip = next(e for e in fall.evidence if e.role is EvidenceRole.CLIP)
    assert clip.media_type == "video/mp4" and clip.size > 10_000
    assert by_rule["crowd"].location.grid_code == WALKWAY["grid_code"]
    camera_metrics = metrics.cameras["square-n"]
    assert camera_metrics.frames_in >= CLIP_SECONDS * 5 * 0.9
    assert camera_metrics.frames_detected > 20 and metrics.detector_calls >= 20
