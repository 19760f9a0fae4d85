"""Camera checks on the video gateway, with fakes at the ports (frames, detector, publisher)."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from gateway.clock import SYSTEM_CLOCK
from gateway.contract import (
    Source,
    SourceKind,
    VerificationRequest,
    VerificationResult,
    VerificationVerdict,
)
from gateway.video.analysis.settings import AnalysisConfig
from gateway.video.detection import Detection
from gateway.video.frame import Frame
from gateway.video.settings import CameraCheckSettings
from gateway.video.verification import (
    Verifier,
    judge,
    result_id_for,
    target_for,
    verdict_of,
)

CORE = Source(kind=SourceKind.CORE, id="core-1")
GATEWAY = Source(kind=SourceKind.DAEMON, id="video-1")
VAN = Detection(650, 40, 725, 100, 0.9, 2, "vehicle", kind="truck")
PERSON = Detection(300, 300, 340, 420, 0.8, 0, "person")

ANALYSIS = AnalysisConfig.model_validate(
    {
        "cameras": {
            "cam-1": {
                "zones": {
                    "kerb": {"polygon": [[0.82, 0.0], [1.0, 0.0], [1.0, 0.25], [0.82, 0.25]]},
                    "square": {"polygon": [[0.0, 0.6], [0.3, 0.6], [0.3, 1.0], [0.0, 1.0]]},
                },
                "rules": [
                    {
                        "id": "no-parking",
                        "type": "dwell",
                        "event_code": "0505",
                        "classes": ["vehicle"],
                        "zone": "kerb",
                        "min_dwell_s": 60,
                    },
                    {
                        "id": "crowd",
                        "type": "count",
                        "event_code": "0499",
                        "classes": ["person"],
                        "zone": "square",
                        "min_count": 3,
                    },
                ],
            }
        }
    }
)


def request(n: int = 1, **fields: Any) -> VerificationRequest:
    values: dict[str, Any] = {
        "case_id": "case-1",
        "request_seq": n,
        "camera_id": "cam-1",
        "event_code": "0505",
        "zone_id": "kerb",
        "rule_id": "no-parking",
        "label": "vehicle",
        "boxes": [(650.0, 40.0, 725.0, 100.0)],
        "frame_size": (768, 576),
    }
    values.update(fields)
    return VerificationRequest.create(source=CORE, id=f"verify-case-1-{n}", **values)


class FakeCamera:
    """A camera that hands out a new frame at each look (None while ``dark``)."""

    def __init__(self) -> None:
        self.seq = itertools.count(1)
        self.dark = False
        self.started = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)

    def latest_frame(self, camera_id: str) -> Frame | None:
        if self.dark or camera_id != "cam-1":
            return None
        seq = next(self.seq)
        image = np.full((576, 768, 3), 90, dtype=np.uint8)
        cv2.rectangle(image, (650, 40), (725, 100), (250, 250, 250), -1)  # the white van
        return Frame("cam-1", seq, self.started + timedelta(seconds=seq), time.monotonic(), image)


class FakeDetector:
    def __init__(self, *found: Detection) -> None:
        self.found = list(found)
        self.calls = 0

    def detect_frame(self, frame: Frame) -> list[Detection]:
        self.calls += 1
        return list(self.found)


def verifier(
    tmp_path: Path,
    camera: FakeCamera,
    detector: FakeDetector | None,
    published: list[VerificationResult],
    **settings: Any,
) -> Verifier:
    values: dict[str, Any] = {"window_s": 0.2, "passes": 3, "wait_for_frame_s": 0.3}
    values.update(settings)
    return Verifier(
        CameraCheckSettings(**values),
        ANALYSIS,
        state_dir=tmp_path,
        source=GATEWAY,
        cameras=lambda: {"cam-1", "cam-2"},
        latest_frame=camera.latest_frame,
        detector=detector,
        publish=published.append,
        clock=SYSTEM_CLOCK,
    )


def answered(checks: Verifier, published: list[VerificationResult]) -> VerificationResult:
    assert checks.wait_idle(10.0)
    assert published, "no answer was published"
    return published[-1]


# --------------------------------------------------------------------------- pure


def test_the_target_is_the_rules_classes_and_zone_with_boxes_scaled_to_the_frame() -> None:
    target = target_for(request(), ANALYSIS, (384, 288))
    assert target.classes == {"vehicle"} and target.min_count == 1
    assert target.polygon is not None and target.polygon[0] == (0.82, 0.0)
    assert target.boxes == ((325.0, 20.0, 362.5, 50.0),)
    crowd = target_for(request(rule_id="crowd", zone_id="square"), ANALYSIS, (768, 576))
    assert crowd.classes == {"person"} and crowd.min_count == 3
    unknown = target_for(request(rule_id="gone", zone_id=None), ANALYSIS, (768, 576))
    assert unknown.classes == {"vehicle"} and unknown.polygon is None  # the original detection


def test_a_pass_sees_objects_of_the_classes_standing_in_the_zone_or_on_the_original_box() -> None:
    in_zone = target_for(request(), ANALYSIS, (768, 576))
    assert judge([VAN, PERSON], in_zone, (768, 576)) == [VAN]
    elsewhere = target_for(
        request(zone_polygon=[(0.0, 0.7), (0.4, 0.7), (0.4, 1.0), (0.0, 1.0)]), ANALYSIS, (768, 576)
    )
    assert judge([VAN, PERSON], elsewhere, (768, 576)) == []
    by_box = target_for(request(rule_id=None, zone_id=None), ANALYSIS, (768, 576))
    moved = Detection(100, 40, 175, 100, 0.9, 2, "vehicle")
    assert judge([VAN, moved], by_box, (768, 576)) == [VAN]


def test_the_verdict_needs_enough_passes_and_at_least_one() -> None:
    assert verdict_of(0, 0, 0.5) is VerificationVerdict.CAMERA_UNAVAILABLE
    assert verdict_of(4, 2, 0.5) is VerificationVerdict.STILL_PRESENT
    assert verdict_of(4, 1, 0.5) is VerificationVerdict.CLEARED


# --------------------------------------------------------------------------- the verifier


def test_a_van_still_in_the_zone_is_still_present_with_before_and_after_snapshots(
    tmp_path: Path,
) -> None:
    published: list[VerificationResult] = []
    detector = FakeDetector(VAN, PERSON)
    checks = verifier(tmp_path, FakeCamera(), detector, published)
    checks.start()
    assert checks.handle(request()) == "started"
    result = answered(checks, published)
    assert result.verdict is VerificationVerdict.STILL_PRESENT
    assert (result.passes, result.passes_present, detector.calls) == (3, 3, 3)
    assert result.id == result_id_for(result.request_id)
    assert (result.case_id, result.camera_id) == ("case-1", "cam-1")
    assert [e.sha256 for e in result.evidence] == [result.before_sha256, result.after_sha256]
    assert result.before_sha256 != result.after_sha256
    for item in result.evidence:
        image = cv2.imdecode(np.frombuffer(item.raw_bytes(), np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (576, 768, 3)
    assert result.facts["found"][0]["label"] == "vehicle"
    assert result.checked_from is not None and result.checked_to > result.checked_from
    checks.stop()


def test_a_zone_over_empty_ground_is_cleared(tmp_path: Path) -> None:
    published: list[VerificationResult] = []
    checks = verifier(tmp_path, FakeCamera(), FakeDetector(VAN, PERSON), published)
    checks.start()
    checks.handle(request(zone_polygon=[(0.0, 0.0), (0.3, 0.0), (0.3, 0.3), (0.0, 0.3)]))
    result = answered(checks, published)
    assert result.verdict is VerificationVerdict.CLEARED
    assert result.passes == 3 and result.passes_present == 0 and len(result.evidence) == 2
    checks.stop()


def test_a_dark_camera_is_unavailable_without_snapshots(tmp_path: Path) -> None:
    published: list[VerificationResult] = []
    camera = FakeCamera()
    camera.dark = True
    checks = verifier(tmp_path, camera, FakeDetector(VAN), published)
    checks.start()
    checks.handle(request())
    result = answered(checks, published)
    assert result.verdict is VerificationVerdict.CAMERA_UNAVAILABLE
    assert result.evidence == [] and result.passes == 0
    assert "no fresh frame" in result.detail
    checks.stop()


def test_a_repeated_request_gets_the_same_answer_without_looking_again(tmp_path: Path) -> None:
    published: list[VerificationResult] = []
    detector = FakeDetector(VAN)
    checks = verifier(tmp_path, FakeCamera(), detector, published)
    checks.start()
    checks.handle(request())
    first = answered(checks, published)
    checks.stop()
    again = verifier(tmp_path, FakeCamera(), detector, published)  # after a restart
    again.start()
    assert again.handle(request()) == "repeated"
    assert len(published) == 2 and published[1] == first  # the same message, the same id
    assert detector.calls == 3
    again.stop()


def test_a_request_for_a_camera_of_another_gateway_is_ignored(tmp_path: Path) -> None:
    published: list[VerificationResult] = []
    checks = verifier(tmp_path, FakeCamera(), FakeDetector(VAN), published)
    checks.start()
    assert checks.handle(request(camera_id="cam-9")) == "ignored"
    assert checks.wait_idle(1.0) and published == []
    checks.stop()


def test_a_check_cut_short_by_a_stop_runs_again_at_the_next_start(tmp_path: Path) -> None:
    published: list[VerificationResult] = []
    camera = FakeCamera()
    gate = threading.Event()

    class SlowDetector(FakeDetector):
        def detect_frame(self, frame: Frame) -> list[Detection]:
            gate.wait(5.0)
            return super().detect_frame(frame)

    checks = verifier(tmp_path, camera, SlowDetector(VAN), published, window_s=5.0)
    checks.start()
    checks.handle(request())
    checks.stop(timeout=0.1)  # the check is still in its first pass
    gate.set()
    assert checks.wait_idle(10.0)
    assert published == []  # cut short: not answered as unavailable, kept on disk
    assert list(tmp_path.glob("camera-checks/*.request.json"))
    again = verifier(tmp_path, camera, FakeDetector(VAN), published)
    again.start()  # resumes it
    result = answered(again, published)
    assert result.verdict is VerificationVerdict.STILL_PRESENT
    assert not list(tmp_path.glob("camera-checks/*.request.json"))
    again.stop()


def test_analysis_off_means_the_camera_cannot_be_checked(tmp_path: Path) -> None:
    published: list[VerificationResult] = []
    checks = verifier(tmp_path, FakeCamera(), None, published)
    checks.start()
    checks.handle(request())
    result = answered(checks, published)
    assert result.verdict is VerificationVerdict.CAMERA_UNAVAILABLE
    assert "analysis is off" in result.detail
    checks.stop()


@pytest.mark.parametrize("bad", [b"not json", b'{"schema": "citygw.verification_request"}'])
def test_a_broken_request_is_logged_and_acknowledged(tmp_path: Path, bad: bytes) -> None:
    published: list[VerificationResult] = []
    checks = verifier(tmp_path, FakeCamera(), FakeDetector(VAN), published)
    checks.start()

    class Message:
        topic = "citygw/v1/commands/video/cam-1/verify"
        payload = bad
        acked = False

        def ack(self) -> bool:
            self.acked = True
            return True

    message = Message()
    checks.on_request_message(message)
    assert message.acked and published == []
    checks.stop()


# --------------------------------------------------------------------------- the pipeline's part


class ListDetector:
    """A `Detector` that finds the same boxes in every image."""

    name = "fake"
    input_size = (416, 416)
    max_batch = 4

    def __init__(self, found: list[Detection]) -> None:
        self.found = found
        self.images = 0

    def detect(self, images: Any) -> list[list[Detection]]:
        self.images += len(images)
        return [list(self.found) for _ in images]

    def close(self) -> None:
        pass


def test_the_pipeline_detects_a_whole_frame_with_its_score_and_class_filters(
    tmp_path: Path,
) -> None:
    from gateway.config import Config
    from gateway.video.analysis.pipeline import AnalysisPipeline

    config = Config.model_validate(
        {
            "state_dir": str(tmp_path),
            "video": {
                "analysis": {
                    "min_score": 0.35,
                    "cameras": {"cam-1": {"classes": {"vehicle": {"min_score": 0.6}}}},
                }
            },
        }
    )
    weak = Detection(10, 10, 50, 50, 0.3, 0, "person")
    doubtful_van = Detection(100, 40, 175, 100, 0.5, 2, "vehicle")
    detector = ListDetector([VAN, PERSON, weak, doubtful_van])
    pipeline = AnalysisPipeline(config, None, SYSTEM_CLOCK, detector=detector)  # type: ignore[arg-type]
    frame = FakeCamera().latest_frame("cam-1")
    assert frame is not None
    with pytest.raises(RuntimeError):
        pipeline.detect_frame(frame)  # not started
    pipeline.start()
    try:
        assert pipeline.detect_frame(frame) == [VAN, PERSON]
        assert detector.images == 1
    finally:
        pipeline.stop()
