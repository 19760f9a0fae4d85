"""综合评价 of one case, computed from its history (not a note someone types).

`evaluate_case` replays a case's steps and scores what the method asks about a closed
case, each part from 0 to 1, then their weighted mean × 100 (weights from config,
`CaseScoreWeights`; a part that does not apply to the case leaves the mean):

- ``on_time`` 按期: closed (结案) by the deadline: 1, late: 0 (a case never dispatched,
  with no deadline, leaves the part out);
- ``rework`` 返工: 1 less ``rework_penalty`` per failed verification or reopening;
- ``delays`` 延时/回退/挂账: 1 less ``delay_penalty`` per approved extension, return or
  suspension;
- ``satisfaction`` 市民满意度: the citizen's answer to the hotline survey (满意 1, 基本满意
  ``basically_satisfied``, 不满意 0), when there is one.

A grade comes from the score (``grades``: 优 ≥ 90, 良 ≥ 75, 中 ≥ 60, else 差 by default).
Pure: no I/O; the service stores the result with the 综合评价 step, the case page shows it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from gateway.core.settings import CaseScoreWeights
from gateway.core.workflow import Action, Case, PendingKind, Step

_SATISFACTION = {"satisfied": 1.0, "dissatisfied": 0.0}


@dataclass(frozen=True)
class CaseScore:
    score: float | None  # 0-100; None when no part applies
    grade: str | None  # excellent | good | fair | poor
    parts: dict[str, float] = field(default_factory=dict)  # each 0-1
    on_time: bool | None = None
    rework: int = 0
    delays: int = 0
    satisfaction: str | None = None

    def as_facts(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_case(case: Case, steps: Iterable[Step], weights: CaseScoreWeights) -> CaseScore:
    """The case's score from its steps (in log order) and its current fields."""
    on_time: bool | None = None
    rework = delays = 0
    satisfaction = case.satisfaction
    for step in steps:
        if step.action is Action.CLOSE or (
            step.action is Action.VERIFY_PASS and "on_time" in step.facts and on_time is None
        ):
            on_time = bool(step.facts.get("on_time"))  # the close's verdict wins
        elif step.action in (Action.VERIFY_FAIL, Action.REOPEN):
            rework += 1
        elif step.action is Action.APPROVE and step.facts.get("request") in _DELAYS:
            delays += 1
        elif step.action is Action.FEEDBACK and step.facts.get("satisfaction"):
            satisfaction = str(step.facts["satisfaction"])
    if case.deadline is None and case.dispatched_at is None:
        on_time = None
    parts: dict[str, float] = {}
    if on_time is not None:
        parts["on_time"] = 1.0 if on_time else 0.0
    if case.dispatched_at is not None or rework:
        parts["rework"] = max(0.0, 1.0 - weights.rework_penalty * rework)
        parts["delays"] = max(0.0, 1.0 - weights.delay_penalty * delays)
    answer = _satisfaction_value(satisfaction, weights)
    if answer is not None:
        parts["satisfaction"] = answer
    weighted = [(getattr(weights, name), value) for name, value in parts.items()]
    total = sum(w for w, _ in weighted)
    score = round(100 * sum(w * v for w, v in weighted) / total, 1) if total > 0 else None
    return CaseScore(
        score=score,
        grade=_grade(score, weights),
        parts={k: round(v, 4) for k, v in parts.items()},
        on_time=on_time,
        rework=rework,
        delays=delays,
        satisfaction=satisfaction,
    )


_DELAYS = {str(PendingKind.EXTENSION), str(PendingKind.RETURN), str(PendingKind.SUSPENSION)}


def _satisfaction_value(answer: str | None, weights: CaseScoreWeights) -> float | None:
    if answer == "basically_satisfied":
        return weights.basically_satisfied
    return _SATISFACTION.get(answer or "")


def _grade(score: float | None, weights: CaseScoreWeights) -> str | None:
    if score is None:
        return None
    if score >= weights.excellent_from:
        return "excellent"
    if score >= weights.good_from:
        return "good"
    if score >= weights.fair_from:
        return "fair"
    return "poor"
