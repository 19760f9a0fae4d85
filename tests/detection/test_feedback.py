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
