"""Evaluation from the step log: a generated history of 1 010 cases with hand-counted results."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from gateway.core.metrics import CSV_COLUMNS, CSV_HEADERS, evaluate, role_activity, to_csv
from gateway.core.settings import MetricWeights
from gateway.core.workflow import Action, CaseState, Role, Step
from tests.csv_rows import keyed_rows

S = CaseState
JAN1 = datetime(2026, 1, 1, tzinfo=UTC)
FEB1 = datetime(2026, 2, 1, tzinfo=UTC)


def day(d: int, month: int = 1) -> datetime:
    return datetime(2026, month, d, 3, 0, tzinfo=UTC)


def history() -> list[Step]:
    """1 000 cases registered in January, 10 voided, 7 registered in February.

    - cases 0-27: deadline 10 Feb, still with the department: not yet due;
    - cases 28-999 (972): deadline 28 Jan: due. Of them
      - 911 closed (核查通过 two hours before the centre's 结案): 850 on time (27 Jan),
        61 late (30 Jan);
        the first 880 of the 911 reported on 26 Jan, the other 31 on 29 Jan;
        50 of the on-time ones failed verification once first (rework) and reported again;
      - 40 never reported: overdue and undisposed;
      - 21 reported on 29 Jan, not yet verified.
    """
    steps: list[Step] = []

    def add(
        case: str,
        at: datetime,
        action: Action,
        to: CaseState,
        role: Role,
        dept: str | None,
        **facts: object,
    ) -> None:
        steps.append(Step(case, at, action, None, to, f"{role}-1", role, dept, facts=dict(facts)))

    def opened(case: str, n: int, registered: datetime, deadline: datetime) -> str:
        dept = "sanitation" if n % 2 == 0 else "traffic"
        add(
            case,
            registered - timedelta(hours=1),
            Action.CREATE,
            S.CANDIDATE,
            Role.SYSTEM,
            None,
            event_code="0102",
            grid_code=f"320706901001{n % 3:02d}",
            district="海州",
        )
        add(case, registered, Action.REGISTER, S.REGISTERED, Role.OPERATOR, None)
        add(
            case,
            registered,
            Action.DISPATCH,
            S.PROCESSING,
            Role.DISPATCHER,
            dept,
            deadline=deadline.isoformat(),
        )
        return dept

    for n in range(1000):
        case = f"c{n}"
        registered = day(5 + n % 20)
        if n < 28:
            opened(case, n, registered, day(10, 2))
            continue
        dept = opened(case, n, registered, day(28))
        k = n - 28
        if k < 911:
            if k < 50:
                add(case, day(25), Action.REPORT, S.REPORTED, Role.DEPARTMENT, dept)
                add(
                    case,
                    day(25) + timedelta(hours=2),
                    Action.VERIFY_FAIL,
                    S.PROCESSING,
                    Role.INSPECTOR,
                    dept,
                )
            add(
                case,
                day(26) if k < 880 else day(29),
                Action.REPORT,
                S.REPORTED,
                Role.DEPARTMENT,
                dept,
            )
            closed_at = day(27) if k < 850 else day(30)
            verified_at = closed_at - timedelta(hours=2)
            add(case, verified_at, Action.VERIFY_PASS, S.VERIFIED, Role.INSPECTOR, dept)
            add(case, closed_at, Action.CLOSE, S.CLOSED, Role.OPERATOR, dept)
        elif k < 911 + 40:
            pass
        else:
            add(case, day(29), Action.REPORT, S.REPORTED, Role.DEPARTMENT, dept)
    for n in range(10):
        case = f"v{n}"
        opened(case, n, day(6), day(20))
        add(case, day(7), Action.APPROVE, S.VOIDED, Role.SHIFT_LEAD, "sanitation", request="void")
    for n in range(7):
        opened(f"f{n}", n, day(3, 2), day(10, 2))
    return steps


WEIGHTS = MetricWeights()


def test_the_centre_wide_metrics_match_the_hand_counted_history() -> None:
    [m] = evaluate(history(), JAN1, FEB1, WEIGHTS)
    assert (m.registered, m.due, m.closed, m.closed_on_time) == (1010, 972, 911, 850)
    assert f"{m.closure_rate:.2%}" == "93.72%"  # 911 / 972
    assert m.on_time_closure_rate == pytest.approx(850 / 972, abs=1e-6)
    assert (m.disposals, m.rework) == (982, 50)
    assert m.rework_rate == pytest.approx(50 / 982, abs=1e-6)
    assert (m.due_disposal, m.disposed_on_time) == (972, 880)
    assert m.on_time_disposal_rate == pytest.approx(880 / 972, abs=1e-6)
    assert m.overdue_undisposed == 40
    expected_score = 100 * (
        0.3 * 911 / 972 + 0.3 * 850 / 972 + 0.3 * 880 / 972 + 0.1 * (1 - 50 / 982)
    )
    assert m.score == pytest.approx(expected_score, abs=0.01)


def test_department_groups_add_up_to_the_whole() -> None:
    groups = evaluate(history(), JAN1, FEB1, WEIGHTS, group_by="department")
    assert [g.group for g in groups] == ["sanitation", "traffic"]
    assert sum(g.due for g in groups) == 972 and sum(g.closed for g in groups) == 911
    assert sum(g.registered for g in groups) == 1010


def test_a_period_sees_only_what_had_happened_by_its_end() -> None:
    [m] = evaluate(history(), JAN1, day(28) + timedelta(hours=1), WEIGHTS)
    # on 28 Jan 04:00 the deadline 03:00 has passed; only the 850 on-time closures exist
    assert (m.due, m.closed, m.closed_on_time) == (972, 850, 850)
    [feb] = evaluate(history(), FEB1, datetime(2026, 3, 1, tzinfo=UTC), WEIGHTS)
    assert (feb.registered, feb.due) == (7, 7)


def test_a_case_counts_as_closed_at_the_centres_close_step_not_at_verification() -> None:
    [m] = evaluate(history(), JAN1, day(27) - timedelta(hours=1), WEIGHTS)
    # 27 Jan 02:00: the 850 on-time cases passed verification at 01:00, none is closed yet
    assert m.closed == 0
    [m] = evaluate(history(), JAN1, day(27) + timedelta(hours=1), WEIGHTS)
    assert (m.closed, m.closed_on_time) == (850, 850)


def test_a_log_written_before_the_close_step_counts_its_verification_as_the_close() -> None:
    legacy = [
        step
        for step in history()
        if step.action is not Action.CLOSE
        if not (step.action is Action.VERIFY_PASS and step.to_state is S.VERIFIED)
    ]
    for step in history():  # old logs: verify_pass went straight to closed, at the close time
        if step.action is Action.CLOSE:
            legacy.append(dataclasses.replace(step, action=Action.VERIFY_PASS))
    [m] = evaluate(legacy, JAN1, FEB1, WEIGHTS)
    assert (m.closed, m.closed_on_time) == (911, 850)


def test_role_activity_counts_steps_per_role() -> None:
    activity = role_activity(history(), JAN1, FEB1)
    assert activity["operator"]["register"] == 1010
    assert activity["inspector"]["verify_fail"] == 50
    assert activity["inspector"]["verify_pass"] == activity["operator"]["close"] == 911
    assert activity["shift_lead"]["approve"] == 10


def test_the_csv_export_has_one_row_per_group_with_every_column() -> None:
    text = to_csv(evaluate(history(), JAN1, FEB1, WEIGHTS, group_by="grid"), "grid")
    rows = keyed_rows(text, CSV_HEADERS)
    assert len(rows) == 3 and rows[0]["group"] == "32070690100100"
    assert sum(int(r["closed"]) for r in rows) == 911
    assert list(rows[0]) == CSV_COLUMNS


def test_every_csv_column_has_a_chinese_header() -> None:
    assert list(CSV_HEADERS) == CSV_COLUMNS
    for key, name in CSV_HEADERS.items():
        assert any("\u4e00" <= c <= "\u9fff" for c in name), key
    header = to_csv([]).splitlines()[0]
    assert header == "分组,立案数,应结案数,结案数,按期结案数,处置数,应处置数,按期处置数,返工数," \
        "超期未处置,结案率,按期结案率,按期处置率,返工率,综合得分,回访数,满意数,满意率"  # fmt: skip


def test_the_csv_says_its_groups_in_chinese_where_the_key_is_a_word() -> None:
    """All cases 全部, a group without the grouping's value as the console says it, a
    department or an event code with its name; grids and codes without a name as they are."""
    steps: list[Step] = []

    def add(case: str, at: datetime, action: Action, to: CaseState, **facts: object) -> None:
        dept = "sanitation" if action is Action.DISPATCH else None
        steps.append(Step(case, at, action, None, to, "x", Role.SYSTEM, dept, facts=dict(facts)))

    add("a", day(2), Action.CREATE, S.CANDIDATE, event_code="0102")
    add("b", day(2), Action.CREATE, S.CANDIDATE)
    for case in ("a", "b"):
        add(case, day(3), Action.REGISTER, S.REGISTERED)
    add("a", day(4), Action.DISPATCH, S.PROCESSING)

    def groups(group_by: str, names: dict[str, str]) -> list[str]:
        text = to_csv(evaluate(steps, JAN1, FEB1, WEIGHTS, group_by), group_by, names)
        return [row["group"] for row in keyed_rows(text, CSV_HEADERS)]

    assert groups("none", {}) == ["全部"]
    assert groups("department", {"sanitation": "环卫处"}) == ["未派遣", "sanitation 环卫处"]
    assert groups("event_code", {"0102": "暴露垃圾"}) == ["未知类型", "0102 暴露垃圾"]
    assert groups("event_code", {}) == ["未知类型", "0102"]
    assert groups("grid", {}) == ["未填网格"]


def test_bad_periods_and_groupings_are_refused() -> None:
    with pytest.raises(ValueError, match="group_by"):
        evaluate([], JAN1, FEB1, WEIGHTS, group_by="colour")
    with pytest.raises(ValueError, match="end after"):
        evaluate([], FEB1, JAN1, WEIGHTS)


def test_the_satisfaction_rate_counts_the_last_survey_answer_of_each_case() -> None:
    """满意率 = (满意 + 基本满意) / 回访数, from the feedback steps up to the period's end."""
    steps: list[Step] = []

    def add(case: str, at: datetime, action: Action, to: CaseState, **facts: object) -> None:
        steps.append(Step(case, at, action, None, to, "x", Role.SYSTEM, None, facts=dict(facts)))

    answers = {
        "a": ["satisfied"],
        "b": ["basically_satisfied"],
        "c": ["dissatisfied"],
        "d": ["dissatisfied", "satisfied"],  # reopened, done again, satisfied at last
        "e": [],  # never reached
    }
    for case, said in answers.items():
        add(case, day(2), Action.CREATE, S.CANDIDATE, event_code="0102")
        add(case, day(3), Action.REGISTER, S.REGISTERED)
        for n, satisfaction in enumerate(said):
            add(case, day(10 + n), Action.FEEDBACK, S.EVALUATED, satisfaction=satisfaction)
    add("f", day(3), Action.REGISTER, S.REGISTERED)
    add("f", day(2, month=2), Action.FEEDBACK, S.EVALUATED, satisfaction="dissatisfied")  # after

    (jan,) = evaluate(steps, JAN1, FEB1, WEIGHTS)
    assert (jan.surveyed, jan.satisfied, jan.satisfaction_rate) == (4, 3, 0.75)
    without = [s for s in steps if s.action is not Action.FEEDBACK]
    assert evaluate(without, JAN1, FEB1, WEIGHTS)[0].score == jan.score  # not in the score
    rows = keyed_rows(to_csv([jan]), CSV_HEADERS)
    assert rows[0]["satisfaction_rate"] == "0.75" and rows[0]["surveyed"] == "4"
