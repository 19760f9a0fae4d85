"""Learning from operators' false-detection rejects."""

from __future__ import annotations

from typing import Any

from gateway.contract import CaseEvent, Source, SourceKind
from gateway.video.analysis.feedback import FalsePositiveMemory
from gateway.video.detection import Detection

CLOTH = Detection(62, 489, 167, 532, 0.48, 1, "fallen_person")


def reject(
    facts: dict[str, Any], candidate_ids: list[str] | None = None, action: str = "reject"
) -> CaseEvent:
    return CaseEvent.create(
        source=Source(kind=SourceKind.CORE, id="core"),
        case_id="case-1",
        action=action,
        to_state="rejected",
        candidate_ids=candidate_ids or [],
        facts=facts,
    )


def test_a_false_detection_reject_suppresses_the_same_class_in_the_same_place() -> None:
    memory = FalsePositiveMemory(suppress_s=3600, min_iou=0.3)
    facts = {
        "reason": "false_detection",
        "camera_id": "cam-1",
        "label": "fallen_person",
        "box": [61, 490, 168, 533],
        "rule_id": "fall",
    }
    assert memory.learn(reject(facts), now=100.0)
    assert memory.suppressed("cam-1", CLOTH, now=200.0)
    assert not memory.suppressed("cam-2", CLOTH, now=200.0)  # another camera
    moved = Detection(400, 100, 500, 150, 0.5, 1, "fallen_person")
    assert not memory.suppressed("cam-1", moved, now=200.0)  # another place
    person = Detection(62, 489, 167, 532, 0.48, 0, "person")
    assert not memory.suppressed("cam-1", person, now=200.0)  # another class
    assert not memory.suppressed("cam-1", CLOTH, now=3701.0)  # expired
    assert memory.counts() == {("cam-1", "fall"): 1}


def test_a_reject_naming_only_the_candidate_is_learnt_from_the_published_facts() -> None:
    memory = FalsePositiveMemory(suppress_s=60, min_iou=0.3)
    memory.remember_candidate(
        "cam-1-abc123",
        {
            "camera_id": "cam-1",
            "rule_id": "fall",
            "objects": [{"label": "fallen_person", "box": [62, 489, 167, 532]}],
        },
    )
    assert memory.learn(reject({"reason": "false_detection"}, ["cam-1-abc123"]), now=0.0)
    assert memory.suppressed("cam-1", CLOTH, now=1.0)


def test_other_rejects_and_other_actions_teach_nothing() -> None:
    memory = FalsePositiveMemory(suppress_s=60, min_iou=0.3)
    facts = {"camera_id": "cam-1", "label": "fallen_person", "box": [62, 489, 167, 532]}
    assert memory.learn(reject({**facts, "reason": "duplicate"}), now=0.0) == []
    assert (
        memory.learn(reject({**facts, "reason": "false_detection"}, action="accept"), now=0.0) == []
    )
    assert not memory.suppressed("cam-1", CLOTH, now=1.0)


def test_a_reject_with_a_malformed_box_is_logged_and_ignored(caplog) -> None:  # type: ignore[no-untyped-def]
    memory = FalsePositiveMemory(suppress_s=60, min_iou=0.3)
    facts = {"reason": "false_detection", "camera_id": "cam-1", "label": "car", "box": [1, "x"]}
    assert memory.learn(reject(facts), now=0.0) == []
    assert "nothing learnt" in caplog.text


def test_what_operators_taught_survives_a_restart_of_the_gateway(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from gateway.clock import FakeClock

    path = tmp_path / "false-detections.json"
    clock = FakeClock(datetime(2026, 12, 4, 8, 0, tzinfo=UTC))
    memory = FalsePositiveMemory(suppress_s=3600, min_iou=0.3, path=path, clock=clock)
    facts = {"reason": "false_detection", "camera_id": "cam-1", "label": "fallen_person",
             "box": [61, 490, 168, 533], "rule_id": "fall"}  # fmt: skip
    assert memory.learn(reject(facts), now=clock.monotonic())
    memory.remember_candidate(
        "cam-1-def456",
        {
            "camera_id": "cam-1",
            "rule_id": "park",
            "label": "vehicle",
            "box": [651, 42, 725, 99],
            "snapshot": "x" * 1000,
        },
    )
    # the gateway restarts 10 minutes later: a new process, whose monotonic clock reads
    # what the old one read at 08:00 (monotonic time does not carry across processes)
    later = FakeClock(datetime(2026, 12, 4, 8, 10, tzinfo=UTC))
    assert later.monotonic() == 1000.0
    restarted = FalsePositiveMemory(suppress_s=3600, min_iou=0.3, path=path, clock=later)
    (kept,) = restarted.active()
    assert abs((kept.until - later.monotonic()) - 3000) < 1  # 50 of its 60 minutes left
    assert restarted.suppressed("cam-1", CLOTH, now=later.monotonic() + 2900)
    assert not restarted.suppressed("cam-1", CLOTH, now=later.monotonic() + 3100)
    assert restarted.counts() == {("cam-1", "fall"): 1}
    # a reject by candidate id after the restart still finds the candidate's place
    van = Detection(650, 43, 724, 100, 0.8, 7, "vehicle")
    assert restarted.learn(
        reject({"reason": "false_detection"}, ["cam-1-def456"]), now=later.monotonic()
    )
    assert restarted.suppressed("cam-1", van, now=later.monotonic() + 1)
    assert "snapshot" not in path.read_text()  # only the facts a reject needs are kept


def test_an_expired_or_unreadable_memory_starts_empty_and_keeps_the_broken_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from gateway.clock import FakeClock

    path = tmp_path / "false-detections.json"
    clock = FakeClock()
    memory = FalsePositiveMemory(suppress_s=60, min_iou=0.3, path=path, clock=clock)
    facts = {"reason": "false_detection", "camera_id": "cam-1", "label": "fallen_person",
             "box": [61, 490, 168, 533]}  # fmt: skip
    memory.learn(reject(facts), now=clock.monotonic())
    clock.advance(120)
    assert FalsePositiveMemory(60, 0.3, path=path, clock=clock).active() == []
    path.write_text("{not json")
    assert FalsePositiveMemory(60, 0.3, path=path, clock=clock).active() == []
    assert (tmp_path / "false-detections.json.unreadable").read_text() == "{not json"


def test_a_reject_sent_while_the_video_gateway_was_down_is_learnt_when_it_is_back(
    make_config,  # type: ignore[no-untyped-def]
) -> None:
    import time

    import paho.mqtt.client as mqtt

    from gateway import bootstrap
    from gateway.video.daemon import VideoGateway

    config = make_config(
        video={"live_view": {"enabled": False}, "analysis": {"models": ["yolox-nano"]}}
    )
    first = VideoGateway(config)  # its persistent session subscribes, then it goes away
    first.start()
    first.stop()
    facts = {"reason": "false_detection", "camera_id": "cam-1", "label": "fallen_person",
             "box": [61, 490, 168, 533], "rule_id": "fall"}  # fmt: skip
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-core")
    client.connect(config.mqtt.host, config.mqtt.port)
    client.loop_start()
    try:
        topic = bootstrap.topics(config).case_events("case-1")
        client.publish(topic, reject(facts).to_json(), qos=1).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()
    back = VideoGateway(config)
    back.start()
    try:
        assert back.pipeline is not None
        deadline = time.monotonic() + 10
        while not back.pipeline.feedback.active() and time.monotonic() < deadline:
            time.sleep(0.1)
        (learnt,) = back.pipeline.feedback.active()
        assert learnt.camera_id == "cam-1" and learnt.label == "fallen_person"
    finally:
        back.stop()
