"""Learning from operators: a candidate rejected as a false detection suppresses its place.

The core publishes a `CaseEvent` with ``action == "reject"`` and
``facts.reason == "false_detection"``; its facts name the camera, the label (or class),
the box and, when known, the rule and zone. When the event carries only
``candidate_ids``, the facts are looked up among the candidates this gateway published.
For ``suppress_s`` afterwards, a detection of the same label on the same camera that
overlaps the rejected box by ``min_iou`` is dropped before tracking and rules.

With a ``path``, what was learnt outlives the process: the suppressions (with their end
as wall-clock time) and the facts of the candidates remembered for rejects by id are
written to that JSON file on every change and read back at start, so a restart neither
forgets an operator's "误报" nor the candidates it may still be about.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gateway.clock import Clock
from gateway.contract import CaseEvent
from gateway.durable_file import set_aside, write_durably
from gateway.video.detection import Detection

log = logging.getLogger("citygw.video.feedback")

#: the facts of a published candidate a reject by id needs (camera, label, boxes, rule)
_KEPT_FACTS = ("camera_id", "label", "class", "box", "rule_id", "zone_id", "objects")

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

    def __init__(
        self,
        suppress_s: float,
        min_iou: float,
        remember: int = 2000,
        *,
        path: Path | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._suppress_s = suppress_s
        self._min_iou = min_iou
        self._remember = remember
        self._candidates: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._suppressions: list[Suppression] = []
        self._counts: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        if path is not None and clock is None:
            raise ValueError("a persisted memory needs the clock to convert its times")
        self._path = path
        self._clock = clock
        if path is not None:
            self._load()

    def remember_candidate(self, candidate_id: str, facts: dict[str, Any]) -> None:
        """Keep a published candidate's facts (bounded) so a reject by id can be learnt."""
        kept = {k: facts[k] for k in _KEPT_FACTS if k in facts}
        with self._lock:
            self._candidates[candidate_id] = kept
            while len(self._candidates) > self._remember:
                self._candidates.popitem(last=False)
            self._save_locked()

    # ----------------------------------------------------------------- persistence

    def _load(self) -> None:
        assert self._path is not None and self._clock is not None
        try:
            document = json.loads(self._path.read_text(encoding="utf-8"))
            mono, wall = self._clock.monotonic(), self._clock.now().timestamp()
            suppressions = [
                Suppression(
                    camera_id=str(item["camera_id"]),
                    label=str(item["label"]),
                    box=(
                        float(item["box"][0]),
                        float(item["box"][1]),
                        float(item["box"][2]),
                        float(item["box"][3]),
                    ),
                    rule_id=item.get("rule_id"),
                    until=mono + float(item["until_epoch"]) - wall,
                )
                for item in document.get("suppressions", [])
            ]
            candidates = [(str(c), dict(f)) for c, f in document.get("candidates", [])]
            counts = {(str(c), str(r)): int(n) for c, r, n in document.get("counts", [])}
        except FileNotFoundError:
            return
        except (ValueError, KeyError, TypeError, IndexError, OSError) as exc:
            log.error(
                "false-detection memory %s unreadable (%s): starting empty, kept as %s",
                self._path,
                exc,
                set_aside(self._path),
            )
            return
        self._suppressions = [s for s in suppressions if s.until > mono]
        self._candidates = OrderedDict(candidates[-self._remember :])
        self._counts = counts
        log.info(
            "false-detection memory: %d suppression(s) and %d candidate(s) from %s",
            len(self._suppressions),
            len(self._candidates),
            self._path,
        )

    def _save_locked(self) -> None:
        """Write the memory (the lock is held): a temporary file, then an atomic rename."""
        if self._path is None or self._clock is None:
            return
        mono, wall = self._clock.monotonic(), self._clock.now().timestamp()
        document = {
            "suppressions": [
                {**asdict(s), "box": list(s.box), "until_epoch": wall + s.until - mono}
                for s in self._suppressions
                if s.until > mono
            ],
            "candidates": list(self._candidates.items()),
            "counts": [[c, r, n] for (c, r), n in self._counts.items()],
        }
        try:
            write_durably(self._path, json.dumps(document, ensure_ascii=False).encode())
        except OSError as exc:  # a full disk must not stop analysis: said, not raised
            log.error("false-detection memory not saved to %s: %s", self._path, exc)

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
            self._save_locked()
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
