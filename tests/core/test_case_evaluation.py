"""综合评价 of one case from its history: every part, their weights, the grade."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.core.case_evaluation import evaluate_case
from gateway.core.settings import CaseScoreWeights
from gateway.core.workflow import Action, Case, CaseState, Role, Step
from tests.core.helpers import MONDAY_10, case

W = CaseScoreWeights()


def step(action: Action, to: CaseState, **facts: object) -> Step:
    return Step("case-1", MONDAY_10, action, None, to, "u", Role.OPERATOR, facts=dict(facts))


def closed(state: CaseState = CaseState.CLOSED, **fields: object) -> Case:
    values = {"department": "traffic", "dispatched_at": MONDAY_10, "closed_at": MONDAY_10}
    values["deadline"] = MONDAY_10 + timedelta(hours=4)
    return case(state, **{**values, **fields})


def history(*extra: Step, on_time: bool = True) -> list[Step]:
    return [
        step(Action.DISPATCH, CaseState.PROCESSING),
        *extra,
        step(Action.REPORT, CaseState.REPORTED),
        step(Action.VERIFY_PASS, CaseState.VERIFIED, on_time=on_time),
        step(Action.CLOSE, CaseState.CLOSED, on_time=on_time),
    ]


def test_a_clean_case_closed_on_time_scores_full_marks_without_a_survey() -> None:
    score = evaluate_case(closed(), history(), W)
    assert score.parts == {"on_time": 1.0, "rework": 1.0, "delays": 1.0}
    assert (score.score, score.grade, score.satisfaction) == (100.0, "excellent", None)


def test_rework_late_closure_and_delays_each_cost_what_the_weights_say() -> None:
    rework = [
        step(Action.REPORT, CaseState.REPORTED),
        step(Action.VERIFY_FAIL, CaseState.PROCESSING),
    ]
    extension = step(Action.APPROVE, CaseState.PROCESSING, request="extension")
    denied = step(Action.DENY, CaseState.PROCESSING, request="return")
    score = evaluate_case(closed(), history(*rework, extension, denied, on_time=False), W)
    assert (score.on_time, score.rework, score.delays) == (False, 1, 1)
    assert score.parts == {"on_time": 0.0, "rework": 0.5, "delays": 0.75}
    # (0.4 * 0 + 0.25 * 0.5 + 0.1 * 0.75) / 0.75 = 26.7
    assert score.score == pytest.approx(26.7) and score.grade == "poor"


def test_the_citizens_survey_answer_counts_when_there_is_one() -> None:
    feedback = step(Action.FEEDBACK, CaseState.EVALUATED, satisfaction="basically_satisfied")
    steps = [*history(), feedback]
    score = evaluate_case(closed(CaseState.EVALUATED), steps, W)
    assert score.parts["satisfaction"] == 0.7 and score.satisfaction == "basically_satisfied"
    assert score.score == pytest.approx(100 * (0.4 + 0.25 + 0.1 + 0.25 * 0.7))
    unhappy = evaluate_case(closed(satisfaction="dissatisfied"), history(), W)
    assert unhappy.parts["satisfaction"] == 0.0 and unhappy.score == 75.0
    assert unhappy.grade == "good"


def test_weights_and_grades_come_from_config_and_are_bounded() -> None:
    only_time = CaseScoreWeights(on_time=1, rework=0, delays=0, satisfaction=0)
    assert evaluate_case(closed(), history(on_time=False), only_time).score == 0.0
    with pytest.raises(ValueError, match="grade thresholds"):
        CaseScoreWeights(good_from=95)
    with pytest.raises(ValueError, match="at least one weight"):
        CaseScoreWeights(on_time=0, rework=0, delays=0, satisfaction=0)
    with pytest.raises(ValueError):
        CaseScoreWeights(rework_penalty=2)


def test_a_log_from_before_the_close_step_takes_on_time_from_the_verification() -> None:
    old = [
        step(Action.DISPATCH, CaseState.PROCESSING),
        step(Action.VERIFY_PASS, CaseState.CLOSED, on_time=False),
    ]
    assert evaluate_case(closed(), old, W).on_time is False


def test_a_case_never_dispatched_has_no_on_time_part() -> None:
    undispatched = case(CaseState.CLOSED)
    assert evaluate_case(undispatched, [], W).score is None
