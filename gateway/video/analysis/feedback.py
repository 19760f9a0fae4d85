"""Learning from operators: a candidate rejected as a false detection suppresses its place.

The core publishes a `CaseEvent` with ``action == "reject"`` and
``facts.reason == "false_detection"``; its facts name the camera, the label (or class),
the box and, when known, the rule and zone. When the event carries only
``candidate_ids``, the facts are looked up among the candidates this gateway published.
For ``suppress_s`` afterwards, a detection of the same label on the same camera that
overlaps the rejected box by ``min_iou`` is dropped before tracking and rules.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from gateway.contract import CaseEvent
from gateway.video.detection import Detection

log = logging.getLogger("citygw.video.feedback")

REJECT_ACTION = "reject"
FALSE_DETECTION = "false_detection"


@dataclass(frozen=True, slots=True)
class Suppression:
    camera_id: str
    label: str
    box: tuple[float, float, float, float]
    rule_id: str | None
    until: float  # monotonic


def _iou(a: tuple[float, float, float, float], b: Detection) -> float:
    ix = max(0.0, min(a[2], b.x2) - max(a[0], b.x1))
    iy = max(0.0, min(a[3], b.y2) - max(a[1], b.y1))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + b.area - inter
    return inter / union if union > 0 else 0.0


def _box_of(value: Any) -> tuple[float, float, float, float] | None:
    if not isinstance(value, list | tuple) or len(value) != 4:
        return None
    try:
        x1, y1, x2, y2 = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if x2 <= x1 or y2 <= y1:
        return None
    return (x1, y1, x2, y2)


class FalsePositiveMemory:
    """Rejected places per camera, and false-positive counts per camera and rule."""

    def __init__(self, suppress_s: float, min_iou: float, remember: int = 2000) -> None:
        self._suppress_s = suppress_s
        self._min_iou = min_iou
        self._remember = remember
        self._candidates: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._suppressions: list[Suppression] = []
        self._counts: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def remember_candidate(self, candidate_id: str, facts: dict[str, Any]) -> None:
        """Keep a published candidate's facts (bounded) so a reject by id can be learnt."""
        with self._lock:
            self._candidates[candidate_id] = facts
            while len(self._candidates) > self._remember:
                self._candidates.popitem(last=False)

    def learn(self, event: CaseEvent, now: float) -> list[Suppression]:
        """Suppressions learnt from ``event`` (none when it is not a false-detection reject)."""
        if event.action != REJECT_ACTION or event.facts.get("reason") != FALSE_DETECTION:
            return []
        sources: list[dict[str, Any]] = []
        if event.facts.get("camera_id"):
            sources.append(dict(event.facts))
        with self._lock:
            sources += [self._candidates[c] for c in event.candidate_ids if c in self._candidates]
        learnt: list[Suppression] = []
        for facts in sources:
            learnt += self._from_facts(facts, now)
        if not learnt:
            log.warning(
                "case %s rejected as a false detection, but its facts name no camera and box "
                "this gateway knows (facts keys: %s, candidates: %s): nothing learnt",
                event.case_id,
                sorted(event.facts),
                event.candidate_ids,
            )
            return []
        with self._lock:
            self._suppressions += learnt
            counted = {(s.camera_id, s.rule_id or "?") for s in learnt}
            for key in counted:
                self._counts[key] = self._counts.get(key, 0) + 1
        for item in learnt:
            log.info(
                "learnt false detection: camera %s %s at %s suppressed for %.0f s (case %s)",
                item.camera_id,
                item.label,
                [round(v) for v in item.box],
                self._suppress_s,
                event.case_id,
            )
        return learnt

    def _from_facts(self, facts: dict[str, Any], now: float) -> list[Suppression]:
        camera_id = facts.get("camera_id")
        if not isinstance(camera_id, str) or not camera_id:
            return []
        rule_id = facts.get("rule_id") if isinstance(facts.get("rule_id"), str) else None
        found: list[Suppression] = []
        direct_box = _box_of(facts.get("box"))
        label = facts.get("label") or facts.get("class")
        if direct_box is not None and isinstance(label, str):
            found.append(Suppression(camera_id, label, direct_box, rule_id, now + self._suppress_s))
        for obj in facts.get("objects") or []:
            if not isinstance(obj, dict):
                continue
            box = _box_of(obj.get("box"))
            if box is not None and isinstance(obj.get("label"), str):
                found.append(
                    Suppression(camera_id, obj["label"], box, rule_id, now + self._suppress_s)
                )
        return found

    def suppressed(self, camera_id: str, detection: Detection, now: float) -> bool:
        with self._lock:
            self._suppressions = [s for s in self._suppressions if s.until > now]
            return any(
                s.camera_id == camera_id
                and s.label == detection.label
                and _iou(s.box, detection) >= self._min_iou
                for s in self._suppressions
            )

    def counts(self) -> dict[tuple[str, str], int]:
        """False positives per (camera id, rule id)."""
        with self._lock:
            return dict(self._counts)

    def active(self) -> list[Suppression]:
        with self._lock:
            return list(self._suppressions)
