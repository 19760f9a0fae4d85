"""The state machine: every transition, and every refusal (wrong role, wrong state)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.core.calendar import pick_limit
from gateway.core.inspector_tasks import TaskKind, new_task
from gateway.core.settings import CoreConfig
from gateway.core.workflow import (
    APPROVERS,
    RULES,
    Action,
    Actor,
    Case,
    CaseState,
    Command,
    Pending,
    PendingKind,
    Role,
    TransitionRefused,
)
from gateway.demo import DEMO_CORE
from tests.core.helpers import MONDAY_10, case, core_config, workflow

WF = workflow()
NOW = MONDAY_10 + timedelta(hours=1)
DEADLINE = MONDAY_10 + timedelta(days=1)


def actor(role: Role, department: str | None = None) -> Actor:
    if role is Role.DEPARTMENT and department is None:
        department = "traffic"
    return Actor(f"{role}-user", role, department)


def target_case() -> Case:
    return case(CaseState.PROCESSING, id="case-open", number="C2", department="traffic")


def ready(action: Action, state: CaseState | None = None) -> tuple[Case, Command]:
    """A case in which ``action`` is possible (in ``state`` if given), and its command."""
    rule = RULES[action]
    state = state or sorted(rule.states)[0]
    fields: dict = {"department": "traffic", "dispatched_at": MONDAY_10, "deadline": DEADLINE}
    command = Command(action, opinion="because")
    if action in (Action.APPROVE, Action.DENY):
        fields["pending"] = Pending(PendingKind.EXTENSION, "d", MONDAY_10, 4)
    if action is Action.RESUME:
        fields["suspended_at"] = MONDAY_10
    if action is Action.MERGE:
        target = target_case()
        command = Command(action, merge_into=target.id, merge_target=target)
    if action is Action.REQUEST_EXTENSION:
        command = Command(action, opinion="needs a crane", extension_hours=8)
    if action is Action.FEEDBACK:
        command = Command(action, facts={"satisfaction": "satisfied"})
    if action in (Action.CONFIRM_PASS, Action.CONFIRM_FAIL, Action.ASSIGN_TASK):
        fields["facts"] = {"task": new_task(TaskKind.CONFIRM, MONDAY_10, None, None)}
    if action is Action.ASSIGN_TASK:
        command = Command(action, assignee="ivan")
    return case(state, **fields), command


EXPECTED = {
    Action.REGISTER: CaseState.REGISTERED,
    Action.REJECT: CaseState.REJECTED,
    Action.MERGE: CaseState.MERGED,
    Action.DISPATCH: CaseState.PROCESSING,
    Action.REQUEST_EXTENSION: CaseState.PROCESSING,
    Action.REQUEST_RETURN: CaseState.PROCESSING,
    Action.REQUEST_SUSPENSION: CaseState.PROCESSING,
    Action.REQUEST_VOID: None,
    Action.APPROVE: None,  # stays: an extension keeps the state
    Action.DENY: None,
    Action.RESUME: CaseState.PROCESSING,
    Action.REPORT: CaseState.REPORTED,
    Action.VERIFY_PASS: CaseState.VERIFIED,
    Action.CLOSE: CaseState.CLOSED,
    Action.VERIFY_FAIL: CaseState.PROCESSING,
    Action.EVALUATE: CaseState.EVALUATED,
    Action.FEEDBACK: CaseState.EVALUATED,
    Action.REOPEN: CaseState.PROCESSING,
    Action.KEEP_CLOSED: CaseState.EVALUATED,
    Action.REQUEST_CONFIRMATION: None,  # 核实 happens in 信息收集
    Action.CONFIRM_PASS: None,
    Action.CONFIRM_FAIL: None,
    Action.ASSIGN_TASK: None,
}

ALLOWED = [(action, role) for action, rule in RULES.items() for role in sorted(rule.roles)]
FORBIDDEN = [(a, r) for a, rule in RULES.items() for r in Role if r not in rule.roles]
WRONG_STATES = [(a, s) for a, rule in RULES.items() for s in CaseState if s not in rule.states]
EVERY_STATE = [(a, s) for a, rule in RULES.items() for s in sorted(rule.states)]


@pytest.mark.parametrize(("action", "role"), ALLOWED, ids=lambda v: str(v))
def test_each_action_is_allowed_to_its_roles_and_logged(action: Action, role: Role) -> None:
    before, command = ready(action)
    result = WF.apply(before, command, actor(role), NOW)
    expected = EXPECTED[action] or before.state
    assert result.case.state is expected
    assert result.case.version == before.version + 1
    step = result.step
    assert (step.action, step.from_state, step.to_state) == (action, before.state, expected)
    assert (step.actor, step.role, step.at) == (f"{role}-user", role, NOW)


@pytest.mark.parametrize(("action", "state"), EVERY_STATE, ids=lambda v: str(v))
def test_each_action_works_from_every_state_it_lists(action: Action, state: CaseState) -> None:
    before, command = ready(action, state)
    role = sorted(RULES[action].roles)[0]
    assert WF.apply(before, command, actor(role), NOW).step.from_state is state


@pytest.mark.parametrize(("action", "role"), FORBIDDEN, ids=lambda v: str(v))
def test_each_action_is_refused_to_every_other_role(action: Action, role: Role) -> None:
    before, command = ready(action)
    with pytest.raises(TransitionRefused) as refused:
        WF.apply(before, command, actor(role), NOW)
    assert refused.value.code == "forbidden_role"


@pytest.mark.parametrize(("action", "state"), WRONG_STATES, ids=lambda v: str(v))
def test_each_action_is_refused_in_every_other_state(action: Action, state: CaseState) -> None:
    _, command = ready(action)
    before, _ = ready(action)
    before = case(state, department="traffic", pending=before.pending, suspended_at=MONDAY_10)
    role = sorted(RULES[action].roles)[0]
    with pytest.raises(TransitionRefused) as refused:
        WF.apply(before, command, actor(role), NOW)
    assert refused.value.code == "wrong_state"


def test_the_system_role_does_nothing_but_record_feedback() -> None:
    system_actions = [a for a, rule in RULES.items() if Role.SYSTEM in rule.roles]
    assert system_actions == [Action.FEEDBACK]
    assert all(Role.ADMIN not in rule.roles for rule in RULES.values())


@pytest.mark.parametrize(
    "action", [a for a, r in RULES.items() if Role.DEPARTMENT in r.roles], ids=str
)
def test_a_department_may_not_act_on_another_departments_case(action: Action) -> None:
    before, command = ready(action)
    with pytest.raises(TransitionRefused) as refused:
        WF.apply(before, command, actor(Role.DEPARTMENT, "sanitation"), NOW)
    assert refused.value.code == "not_your_case"


def test_a_rejection_needs_a_reason() -> None:
    with pytest.raises(TransitionRefused, match="needs an opinion"):
        WF.apply(case(), Command(Action.REJECT, opinion="  "), actor(Role.OPERATOR), NOW)


def test_dispatch_takes_the_department_from_the_responsibility_table_and_sets_a_deadline() -> None:
    registered = case(CaseState.REGISTERED)  # 0505 in grid 320706901...: traffic, 4 work hours
    result = WF.apply(registered, Command(Action.DISPATCH), actor(Role.DISPATCHER), MONDAY_10)
    assert result.case.department == "traffic"
    assert result.case.deadline == MONDAY_10 + timedelta(hours=5)  # 10-12, 13-15 local
    assert result.step.facts["limit"] == "4 work_hours"
    other = case(CaseState.REGISTERED, event_code="0102")
    assert (
        WF.apply(other, Command(Action.DISPATCH), actor(Role.DISPATCHER), NOW).case.department
        == "sanitation"
    )


def test_a_dispatcher_may_override_the_department_but_not_invent_one() -> None:
    registered = case(CaseState.REGISTERED)
    cmd = Command(Action.DISPATCH, department="sanitation")
    assert WF.apply(registered, cmd, actor(Role.DISPATCHER), NOW).case.department == "sanitation"
    with pytest.raises(TransitionRefused, match="unknown department"):
        WF.apply(
            registered, Command(Action.DISPATCH, department="nope"), actor(Role.DISPATCHER), NOW
        )


def _processing() -> Case:
    registered = case(CaseState.REGISTERED)
    return WF.apply(registered, Command(Action.DISPATCH), actor(Role.DISPATCHER), MONDAY_10).case


def test_an_approved_extension_moves_the_deadline_by_working_hours() -> None:
    c = _processing()
    asked = WF.apply(
        c,
        Command(Action.REQUEST_EXTENSION, opinion="crane", extension_hours=2),
        actor(Role.DEPARTMENT),
        NOW,
    ).case
    assert asked.pending is not None and asked.deadline == c.deadline
    with pytest.raises(TransitionRefused) as twice:
        WF.apply(asked, Command(Action.REQUEST_RETURN, opinion="x"), actor(Role.DEPARTMENT), NOW)
    assert twice.value.code == "pending_request"
    with pytest.raises(TransitionRefused) as report:
        WF.apply(asked, Command(Action.REPORT), actor(Role.DEPARTMENT), NOW)
    assert report.value.code == "pending_request"
    approved = WF.apply(asked, Command(Action.APPROVE), actor(Role.SHIFT_LEAD), NOW).case
    assert approved.pending is None
    assert c.deadline is not None
    assert approved.deadline == c.deadline + timedelta(hours=2)  # 15:00 + 2 h = 17:00


def test_a_denied_request_changes_nothing_but_the_log() -> None:
    c = _processing()
    asked = WF.apply(
        c, Command(Action.REQUEST_RETURN, opinion="not ours"), actor(Role.DEPARTMENT), NOW
    ).case
    denied = WF.apply(asked, Command(Action.DENY, opinion="it is"), actor(Role.DISPATCHER), NOW)
    assert denied.case.pending is None and denied.case.department == "traffic"
    assert denied.step.facts["request"] == "return"


def test_an_approved_return_sends_the_case_back_for_dispatch() -> None:
    c = _processing()
    asked = WF.apply(
        c, Command(Action.REQUEST_RETURN, opinion="not ours"), actor(Role.DEPARTMENT), NOW
    ).case
    result = WF.apply(asked, Command(Action.APPROVE), actor(Role.DISPATCHER), NOW)
    assert result.case.state is CaseState.REGISTERED
    assert result.case.department is None and result.case.deadline is None
    assert result.step.department == "traffic"


def test_suspended_working_time_is_added_back_to_the_deadline() -> None:
    c = _processing()
    asked = WF.apply(
        c, Command(Action.REQUEST_SUSPENSION, opinion="owner abroad"), actor(Role.DEPARTMENT), NOW
    ).case
    suspended = WF.apply(asked, Command(Action.APPROVE), actor(Role.DISPATCHER), NOW).case
    assert suspended.state is CaseState.SUSPENDED
    later = NOW + timedelta(days=1)  # one full working day (8 h) later
    resumed = WF.apply(suspended, Command(Action.RESUME), actor(Role.DISPATCHER), later).case
    assert resumed.suspended_minutes == 480
    assert c.deadline is not None and resumed.deadline == c.deadline + timedelta(days=1)
    assert WF.light(resumed, later) == "green"  # 1 of the 4 hours used: the pause does not count


def test_a_void_request_needs_the_shift_lead_not_the_dispatcher() -> None:
    asked = WF.apply(
        case(), Command(Action.REQUEST_VOID, opinion="test call"), actor(Role.OPERATOR), NOW
    ).case
    assert APPROVERS[PendingKind.VOID] == frozenset({Role.SHIFT_LEAD})
    with pytest.raises(TransitionRefused) as refused:
        WF.apply(asked, Command(Action.APPROVE), actor(Role.DISPATCHER), NOW)
    assert refused.value.code == "forbidden_role"
    assert (
        WF.apply(asked, Command(Action.APPROVE), actor(Role.SHIFT_LEAD), NOW).case.state
        is CaseState.VOIDED
    )


def test_deciding_without_a_request_is_refused() -> None:
    with pytest.raises(TransitionRefused) as refused:
        WF.apply(_processing(), Command(Action.APPROVE), actor(Role.DISPATCHER), NOW)
    assert refused.value.code == "no_pending_request"


def test_a_failed_verification_is_rework_for_the_same_department() -> None:
    reported = case(CaseState.REPORTED, department="traffic", rework_count=1)
    result = WF.apply(
        reported, Command(Action.VERIFY_FAIL, opinion="still there"), actor(Role.INSPECTOR), NOW
    )
    assert result.case.state is CaseState.PROCESSING
    assert result.case.department == "traffic" and result.case.rework_count == 2
    assert result.step.facts["rework"] == 2


def test_verification_on_time_is_recorded_for_the_metrics() -> None:
    reported = case(CaseState.REPORTED, department="traffic", deadline=NOW - timedelta(minutes=1))
    result = WF.apply(reported, Command(Action.VERIFY_PASS), actor(Role.INSPECTOR), NOW)
    assert result.case.state is CaseState.VERIFIED and result.case.closed_at is None
    assert result.step.facts["on_time"] is False


def test_a_passed_verification_waits_for_the_centre_to_close_the_case() -> None:
    deadline = NOW + timedelta(minutes=30)
    reported = case(CaseState.REPORTED, department="traffic", deadline=deadline)
    verified = WF.apply(reported, Command(Action.VERIFY_PASS), actor(Role.INSPECTOR), NOW).case
    assert WF.allowed_actions(verified, actor(Role.INSPECTOR)) == []
    assert WF.allowed_actions(verified, actor(Role.OPERATOR)) == [Action.CLOSE]
    with pytest.raises(TransitionRefused) as early:
        WF.apply(verified, Command(Action.EVALUATE), actor(Role.OPERATOR), NOW)
    assert early.value.code == "wrong_state"
    later = NOW + timedelta(hours=1)  # closed after the deadline: not 按期结案
    closed = WF.apply(verified, Command(Action.CLOSE), actor(Role.SHIFT_LEAD), later)
    assert closed.case.state is CaseState.CLOSED and closed.case.closed_at == later
    assert (closed.step.from_state, closed.step.facts["on_time"]) == (CaseState.VERIFIED, False)


def test_a_dissatisfied_citizen_asks_for_a_reopen_that_the_shift_lead_decides() -> None:
    closed = case(CaseState.CLOSED, department="traffic", closed_at=NOW)
    fb = Command(Action.FEEDBACK, facts={"satisfaction": "dissatisfied"})
    asked = WF.apply(closed, fb, Actor("ivr", Role.SYSTEM), NOW).case
    assert asked.state is CaseState.REOPEN_REQUESTED and asked.satisfaction == "dissatisfied"
    reopened = WF.apply(asked, Command(Action.REOPEN), actor(Role.SHIFT_LEAD), NOW).case
    assert reopened.state is CaseState.PROCESSING and reopened.rework_count == 1


def test_merge_needs_another_open_case_as_target() -> None:
    candidate = case()
    rejected = case(CaseState.REJECTED, id="case-2", number="C3")
    cmd = Command(Action.MERGE, merge_into="case-2", merge_target=rejected)
    with pytest.raises(TransitionRefused, match="not another open case"):
        WF.apply(candidate, cmd, actor(Role.OPERATOR), NOW)
    itself = Command(Action.MERGE, merge_into=candidate.id, merge_target=candidate)
    with pytest.raises(TransitionRefused, match="not another open case"):
        WF.apply(candidate, itself, actor(Role.OPERATOR), NOW)
    with pytest.raises(TransitionRefused, match="needs the id"):
        WF.apply(candidate, Command(Action.MERGE), actor(Role.OPERATOR), NOW)


def test_allowed_actions_lists_what_the_actor_may_do_now() -> None:
    assert WF.allowed_actions(case(), actor(Role.OPERATOR)) == [
        Action.REGISTER,
        Action.REJECT,
        Action.MERGE,
        Action.REQUEST_VOID,
        Action.REQUEST_CONFIRMATION,
    ]
    assert WF.allowed_actions(case(), actor(Role.ADMIN)) == []


# ---------------------------------------------------------------------- 核实 and 核查 tasks


def inspector(name: str = "ivan") -> Actor:
    return Actor(name, Role.INSPECTOR, grids=("320706",))


def test_a_confirmation_asked_by_the_operator_is_a_task_with_its_inspector_and_due_time() -> None:
    asked = WF.apply(
        case(),
        Command(Action.REQUEST_CONFIRMATION, assignee="ivan", assigned_by_grid=True),
        actor(Role.OPERATOR),
        NOW,
    )
    task = asked.case.facts["task"]
    assert asked.case.state is CaseState.CANDIDATE
    assert (task["kind"], task["assignee"], task["assigned_by"]) == ("confirm", "ivan", "grid")
    assert task["due"] == (NOW + timedelta(minutes=60)).isoformat()
    assert asked.step.facts["task"] == task
    with pytest.raises(TransitionRefused) as twice:
        WF.apply(asked.case, Command(Action.REQUEST_CONFIRMATION), actor(Role.OPERATOR), NOW)
    assert twice.value.code == "task_open"


def test_a_confirmed_report_proposes_registration_and_ends_the_task_on_time() -> None:
    asked = WF.apply(
        case(), Command(Action.REQUEST_CONFIRMATION, assignee="ivan"), actor(Role.OPERATOR), NOW
    )
    later = NOW + timedelta(minutes=30)
    answered = WF.apply(asked.case, Command(Action.CONFIRM_PASS), inspector(), later)
    facts = answered.case.facts
    assert answered.case.state is CaseState.CANDIDATE and "task" not in facts
    assert facts["proposal"] == "register"
    assert facts["confirmation"] == {
        "verdict": "confirmed",
        "by": "ivan",
        "at": later.isoformat(),
        "on_time": True,
    }
    assert answered.step.facts["task_on_time"] is True
    registered = WF.apply(answered.case, Command(Action.REGISTER), actor(Role.OPERATOR), later)
    assert "proposal" not in registered.case.facts and registered.case.facts["confirmation"]


def test_a_report_not_found_on_site_proposes_rejection_late_and_needs_a_reason() -> None:
    asked = WF.apply(case(), Command(Action.REQUEST_CONFIRMATION), actor(Role.OPERATOR), NOW)
    late = NOW + timedelta(hours=2)
    with pytest.raises(TransitionRefused) as bare:
        WF.apply(asked.case, Command(Action.CONFIRM_FAIL), inspector(), late)
    assert bare.value.code == "opinion_required"
    answered = WF.apply(
        asked.case, Command(Action.CONFIRM_FAIL, opinion="现场无堆物"), inspector(), late
    )
    assert answered.case.facts["proposal"] == "reject"
    assert answered.case.facts["confirmation"]["on_time"] is False


def test_only_the_assigned_inspector_answers_and_only_a_task_that_was_asked() -> None:
    with pytest.raises(TransitionRefused) as unasked:
        WF.apply(case(), Command(Action.CONFIRM_PASS), inspector(), NOW)
    assert unasked.value.code == "no_task"
    asked = WF.apply(
        case(), Command(Action.REQUEST_CONFIRMATION, assignee="ivan"), actor(Role.OPERATOR), NOW
    )
    with pytest.raises(TransitionRefused) as other:
        WF.apply(asked.case, Command(Action.CONFIRM_PASS), inspector("ines"), NOW)
    assert other.value.code == "not_your_task"
    assert WF.allowed_actions(asked.case, inspector("ines")) == []
    assert WF.allowed_actions(asked.case, inspector("ivan")) == [
        Action.CONFIRM_PASS,
        Action.CONFIRM_FAIL,
    ]


def test_the_centre_moves_a_task_to_another_inspector_keeping_its_due_time() -> None:
    asked = WF.apply(
        case(), Command(Action.REQUEST_CONFIRMATION, assignee="ivan"), actor(Role.OPERATOR), NOW
    )
    with pytest.raises(TransitionRefused) as nobody:
        WF.apply(asked.case, Command(Action.ASSIGN_TASK), actor(Role.DISPATCHER), NOW)
    assert nobody.value.code == "assignee_required"
    moved = WF.apply(
        asked.case, Command(Action.ASSIGN_TASK, assignee="ines"), actor(Role.DISPATCHER), NOW
    )
    task = moved.case.facts["task"]
    assert (task["assignee"], task["assigned_by"]) == ("ines", "dispatcher-user")
    assert task["due"] == asked.case.facts["task"]["due"]
    assert moved.step.facts["previous_assignee"] == "ivan"
    assert WF.apply(moved.case, Command(Action.CONFIRM_PASS), inspector("ines"), NOW)


def test_a_report_opens_a_check_task_that_the_answer_or_a_registration_ends() -> None:
    processing = case(
        CaseState.PROCESSING, department="traffic", dispatched_at=MONDAY_10, deadline=DEADLINE
    )
    reported = WF.apply(
        processing, Command(Action.REPORT, assignee="ivan"), actor(Role.DEPARTMENT), NOW
    )
    task = reported.case.facts["task"]
    assert (task["kind"], task["assignee"]) == ("verify", "ivan")
    assert task["due"] == (NOW + timedelta(minutes=240)).isoformat()
    failed = WF.apply(
        reported.case, Command(Action.VERIFY_FAIL, opinion="仍有堆物"), inspector(), NOW
    )
    assert "task" not in failed.case.facts and failed.step.facts["task_on_time"] is True
    # a 核实 dropped when the operator registers without waiting for it
    asked = WF.apply(case(), Command(Action.REQUEST_CONFIRMATION), actor(Role.OPERATOR), NOW)
    registered = WF.apply(asked.case, Command(Action.REGISTER), actor(Role.OPERATOR), NOW)
    assert "task" not in registered.case.facts


def test_an_urgent_case_in_natural_hours_is_due_the_same_night_and_pauses_on_the_clock() -> None:
    limits = [
        {"event_prefix": "", "condition": "normal", "amount": 2, "unit": "work_days"},
        {"event_prefix": "04", "condition": "urgent", "amount": 2, "unit": "natural_hours"},
    ]
    wf = workflow(core_config(time_limits=limits))
    friday_19 = MONDAY_10 + timedelta(days=4, hours=9)  # Friday 9 Jan 19:00 Shanghai
    fallen = case(CaseState.REGISTERED, event_code="0497", urgent=True)
    dispatched = wf.apply(fallen, Command(Action.DISPATCH), actor(Role.DISPATCHER), friday_19)
    assert dispatched.case.deadline == friday_19 + timedelta(hours=2)  # not Monday
    assert dispatched.step.facts["limit"] == "2 natural_hours"
    assert wf.light(dispatched.case, friday_19 + timedelta(minutes=90)) == "green"
    assert wf.light(dispatched.case, friday_19 + timedelta(minutes=100)) == "yellow"
    dept = actor(Role.DEPARTMENT, "city-management")
    asked = wf.apply(
        dispatched.case, Command(Action.REQUEST_SUSPENSION, opinion="x"), dept, friday_19
    )
    paused = wf.apply(asked.case, Command(Action.APPROVE), actor(Role.SHIFT_LEAD), friday_19)
    later = friday_19 + timedelta(minutes=30)
    resumed = wf.apply(paused.case, Command(Action.RESUME), actor(Role.SHIFT_LEAD), later).case
    assert resumed.suspended_minutes == 30
    assert resumed.deadline == friday_19 + timedelta(hours=2, minutes=30)


def test_by_default_an_urgent_case_registered_on_friday_evening_is_due_that_evening() -> None:
    """The built-in limits (and so the demo's, which sets none): urgent (紧急) in natural
    hours, 2 on the clock; a fall registered Friday 20:00 is due Friday 22:00, not Monday."""
    defaults = [limit.model_dump() for limit in CoreConfig().time_limits]
    assert CoreConfig.model_validate(DEMO_CORE).time_limits == CoreConfig().time_limits
    assert pick_limit(CoreConfig().time_limits, "0497", urgent=True).unit == "natural_hours"
    assert pick_limit(CoreConfig().time_limits, "0102", urgent=False).unit == "work_days"
    wf = workflow(core_config(time_limits=defaults))
    friday_20 = MONDAY_10 + timedelta(days=4, hours=10)  # Friday 9 Jan 20:00 Shanghai
    fallen = case(CaseState.CANDIDATE, event_code="0497", urgent=True)
    registered = wf.apply(fallen, Command(Action.REGISTER), actor(Role.OPERATOR), friday_20)
    dispatched = wf.apply(
        registered.case, Command(Action.DISPATCH), actor(Role.DISPATCHER), friday_20
    )
    assert dispatched.case.deadline == friday_20 + timedelta(hours=2)  # Friday 22:00
    assert dispatched.step.facts["limit"] == "2 natural_hours"
