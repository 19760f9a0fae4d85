"""The case's six-step workflow: every allowed transition, and the state machine that
applies them (the states, roles, actions and records it works on: `gateway.core.case_model`).

Read `RULES` top to bottom to see the process:

    信息收集 candidate ──register──► 立案 registered ──dispatch──► 处置 processing
        │  └─reject──► 不予立案 rejected                         │  ▲   │ request_extension / request_return /
        └──merge───► merged (duplicate of an open case)           │  │   │ request_suspension → approve / deny
                                                                  │  │   └─(approved suspension)─► 挂账 suspended ─resume─┘
                                                 report (处理反馈) ▼  │ verify_fail (返工, same department)
                                                          reported ──┘
                                                             │ verify_pass (核查 pass)
                                                             ▼
                                                  核查通过 verified (待结案) ──close (结案, the centre)──┐
                                                                                                     ▼
                                                      结案 closed ──evaluate / feedback──► 综合评价 evaluated
                                                             └─ dissatisfied feedback ─► reopen_requested ─reopen─► processing
    作废 voided: request_void (any open state) + the shift lead's approval.
    四级联动: in 处置 a street office passes its case to a community (assign_community,
    转派社区) and takes it back (recall_community, 收回); the community then holds it.

Everything here is pure: `Workflow.apply(case, command, actor, now)` checks the role,
the state and the department, and returns the changed case and the `Step` to append to
the log; it raises `TransitionRefused` (with a stable ``code``) otherwise. No I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.core.calendar import (
    CalendarNotCovered,
    Light,
    WorkingCalendar,
    is_natural,
    pick_limit,
)
from gateway.core.case_model import (
    FINAL_STATES,
    OPEN_STATES,
    STATE_LABELS,
    SYSTEM_ACTOR,
    USER_ROLES,
    Action,
    Actor,
    Case,
    CaseState,
    Command,
    Pending,
    PendingKind,
    Role,
    Step,
    Transition,
    TransitionRefused,
)
from gateway.core.community_linkage import holder_facts, holder_refusal, pass_down, take_back
from gateway.core.dispatch import ResponsibilityTable
from gateway.core.inspector_tasks import (
    DEFAULT_TASK_MINUTES,
    TaskKind,
    answer_facts,
    task_refusal,
    task_step,
)
from gateway.core.level_deadline import end_window, level_window, window_facts
from gateway.core.organisation import Organisation, level_refusal
from gateway.core.settings import TimeLimit

#: the case's vocabulary and records live in `gateway.core.case_model`; they are named here
#: too, as the state machine's own words (``from gateway.core.workflow import Case``)
__all__ = [
    "APPROVERS",
    "COMMUNITY_RULES",
    "FINAL_STATES",
    "LEVEL_RULES",
    "OPEN_STATES",
    "RULES",
    "STATE_LABELS",
    "SYSTEM_ACTOR",
    "USER_ROLES",
    "Action",
    "Actor",
    "Case",
    "CaseState",
    "Command",
    "Pending",
    "PendingKind",
    "Role",
    "Rule",
    "Step",
    "Transition",
    "TransitionRefused",
    "Workflow",
]


_S, _R, _A = CaseState, Role, Action
_LEADS = frozenset({_R.DISPATCHER, _R.SHIFT_LEAD})
_DESK = frozenset({_R.OPERATOR, _R.DISPATCHER, _R.SHIFT_LEAD})
#: the inspector's answers (each ends its task)
_ANSWERS = frozenset({_A.CONFIRM_PASS, _A.CONFIRM_FAIL, _A.VERIFY_PASS, _A.VERIFY_FAIL})
#: steps whose effect is on the task (`gateway.core.inspector_tasks.task_step`)
_TASK_STEPS = frozenset(
    {_A.REPORT, _A.REQUEST_CONFIRMATION, _A.ASSIGN_TASK, _A.CONFIRM_PASS, _A.CONFIRM_FAIL}
)
#: states a task waits in (any step to another state ends it)
_TASK_STATES = frozenset({_S.CANDIDATE, _S.REPORTED})


@dataclass(frozen=True)
class Rule:
    states: frozenset[CaseState]
    roles: frozenset[Role]
    needs_opinion: bool = False
    #: a department user may act only on the cases it holds: dispatched to its department,
    #: or passed to its community (`gateway.core.community_linkage.holder_refusal`)
    own_department: bool = False


RULES: dict[Action, Rule] = {
    _A.REGISTER: Rule(frozenset({_S.CANDIDATE}), frozenset({_R.OPERATOR, _R.SHIFT_LEAD})),
    _A.REJECT: Rule(
        frozenset({_S.CANDIDATE}), frozenset({_R.OPERATOR, _R.SHIFT_LEAD}), needs_opinion=True
    ),
    _A.MERGE: Rule(frozenset({_S.CANDIDATE}), frozenset({_R.OPERATOR, _R.SHIFT_LEAD})),
    _A.DISPATCH: Rule(frozenset({_S.REGISTERED}), _LEADS),
    _A.REQUEST_EXTENSION: Rule(
        frozenset({_S.PROCESSING}), frozenset({_R.DEPARTMENT}), True, own_department=True
    ),
    _A.REQUEST_RETURN: Rule(
        frozenset({_S.PROCESSING}), frozenset({_R.DEPARTMENT}), True, own_department=True
    ),
    _A.REQUEST_SUSPENSION: Rule(
        frozenset({_S.PROCESSING}), frozenset({_R.DEPARTMENT}), True, own_department=True
    ),
    _A.REQUEST_VOID: Rule(
        frozenset(OPEN_STATES), frozenset({_R.OPERATOR, _R.DISPATCHER, _R.SHIFT_LEAD}), True
    ),
    # approve/deny: the roles depend on the request (a void needs the shift lead)
    _A.APPROVE: Rule(frozenset(OPEN_STATES), _LEADS),
    _A.DENY: Rule(frozenset(OPEN_STATES), _LEADS, needs_opinion=True),
    _A.RESUME: Rule(frozenset({_S.SUSPENDED}), _LEADS),
    _A.REPORT: Rule(frozenset({_S.PROCESSING}), frozenset({_R.DEPARTMENT}), own_department=True),
    _A.REQUEST_CONFIRMATION: Rule(
        frozenset({_S.CANDIDATE}), frozenset({_R.OPERATOR, _R.SHIFT_LEAD})
    ),
    _A.CONFIRM_PASS: Rule(frozenset({_S.CANDIDATE}), frozenset({_R.INSPECTOR})),
    _A.CONFIRM_FAIL: Rule(frozenset({_S.CANDIDATE}), frozenset({_R.INSPECTOR}), needs_opinion=True),
    _A.ASSIGN_TASK: Rule(frozenset({_S.CANDIDATE, _S.REPORTED}), _DESK),
    _A.VERIFY_PASS: Rule(frozenset({_S.REPORTED}), frozenset({_R.INSPECTOR})),
    _A.VERIFY_FAIL: Rule(frozenset({_S.REPORTED}), frozenset({_R.INSPECTOR}), needs_opinion=True),
    _A.CLOSE: Rule(frozenset({_S.VERIFIED}), frozenset({_R.OPERATOR, _R.SHIFT_LEAD})),
    _A.EVALUATE: Rule(frozenset({_S.CLOSED}), frozenset({_R.OPERATOR, _R.SHIFT_LEAD})),
    _A.FEEDBACK: Rule(frozenset({_S.CLOSED, _S.EVALUATED}), frozenset({_R.SYSTEM})),
    _A.REOPEN: Rule(frozenset({_S.REOPEN_REQUESTED}), frozenset({_R.SHIFT_LEAD})),
    _A.KEEP_CLOSED: Rule(
        frozenset({_S.REOPEN_REQUESTED}), frozenset({_R.SHIFT_LEAD}), needs_opinion=True
    ),
}

#: 上报 / 下派 between the centres: the desk of the level that handles the case
#: (`gateway.core.organisation.Organisation.level_refusal`), with the reason
LEVEL_RULES: dict[Action, Rule] = {
    _A.ESCALATE: Rule(frozenset({_S.CANDIDATE, _S.REGISTERED}), _DESK, needs_opinion=True),
    _A.HAND_DOWN: Rule(frozenset({_S.CANDIDATE, _S.REGISTERED}), _DESK, needs_opinion=True),
}

#: 四级联动: the street office passes its case to one of its communities (转派社区) and takes
#: it back (收回), with the reason; who holds a case: `gateway.core.community_linkage`
COMMUNITY_RULES: dict[Action, Rule] = {
    _A.ASSIGN_COMMUNITY: Rule(
        frozenset({_S.PROCESSING}), frozenset({_R.DEPARTMENT}), True, own_department=True
    ),
    _A.RECALL_COMMUNITY: Rule(
        frozenset({_S.PROCESSING, _S.SUSPENDED}),
        frozenset({_R.DEPARTMENT}),
        True,
        own_department=True,
    ),
}

#: who may approve each kind of request
APPROVERS: dict[PendingKind, frozenset[Role]] = {
    PendingKind.EXTENSION: _LEADS,
    PendingKind.RETURN: _LEADS,
    PendingKind.SUSPENSION: _LEADS,
    PendingKind.VOID: frozenset({_R.SHIFT_LEAD}),
}

_REQUESTS = {
    _A.REQUEST_EXTENSION: PendingKind.EXTENSION,
    _A.REQUEST_RETURN: PendingKind.RETURN,
    _A.REQUEST_SUSPENSION: PendingKind.SUSPENSION,
    _A.REQUEST_VOID: PendingKind.VOID,
}


class Workflow:
    """The rules of the process, with the tables they need (dispatch, limits, calendar)."""

    def __init__(
        self,
        table: ResponsibilityTable,
        calendar: WorkingCalendar,
        limits: list[TimeLimit],
        task_minutes: Mapping[TaskKind, float] = DEFAULT_TASK_MINUTES,
        organisation: Organisation | None = None,
    ) -> None:
        self.table = table
        self.calendar = calendar
        self.limits = limits
        self.task_minutes = task_minutes
        self.organisation = organisation  # two levels of command; None: one centre

    # ------------------------------------------------------------------ queries

    def allowed_actions(self, case: Case, actor: Actor) -> list[Action]:
        allowed = []
        for action in (*RULES, *LEVEL_RULES, *COMMUNITY_RULES):
            try:
                self._check(case, Command(action, opinion="x"), actor)
            except TransitionRefused:
                continue
            allowed.append(action)
        return allowed

    def light(self, case: Case, now: datetime) -> Light | None:
        """The disposal deadline's light; before dispatch the light of the time the centre
        a case was escalated or handed down to has to take it up (`gateway.core.
        level_deadline`), else None; None too when the calendar does not know the year."""
        try:
            if case.deadline is None or case.dispatched_at is None:
                window = level_window(case.facts)
                return self.calendar.light(*window, now) if window is not None else None
            end = case.closed_at or case.suspended_at or now
            return self.calendar.light(
                case.dispatched_at, case.deadline, end, case.suspended_minutes, self._natural(case)
            )
        except CalendarNotCovered:
            return None

    def _provisional(self, case: Case, deadline: datetime) -> dict[str, Any]:
        """``deadline_provisional`` for a deadline moved by an extension or a suspension
        when the working time it counts, from the dispatch to the new deadline, reaches a
        year whose holidays are counted provisionally (as at dispatch)."""
        start = case.dispatched_at or deadline
        if self._natural(case) or not self.calendar.provisional_between(start, deadline):
            return {}
        return {"deadline_provisional": True}

    def _natural(self, case: Case) -> bool:
        """Whether the case's deadline runs on the clock (自然时) rather than working time."""
        return is_natural(self.disposal_limit(case))

    def disposal_limit(self, case: Case) -> TimeLimit:
        return pick_limit(self.limits, case.event_code, case.urgent)

    # ------------------------------------------------------------------ creation

    def open(self, case: Case, now: datetime, facts: dict[str, Any] | None = None) -> Transition:
        """The first step of a case made from a candidate (信息收集)."""
        if case.state is not CaseState.CANDIDATE:
            raise ValueError("a new case starts in state candidate")
        step = Step(
            case.id,
            now,
            Action.CREATE,
            None,
            CaseState.CANDIDATE,
            SYSTEM_ACTOR.name,
            Role.SYSTEM,
            facts=dict(facts or {}),
        )
        return Transition(case, step)

    def redetected(
        self,
        case: Case,
        now: datetime,
        candidate_id: str,
        update: dict[str, Any] | None = None,
        seen: dict[str, Any] | None = None,
    ) -> Transition:
        """A candidate that is the same tracked object again: logged as a "seen again" mark
        (``seen``: when it was seen and by which source), not as more evidence.

        ``update``: the facts of a camera's update of its first candidate (``update_of``
        set: the parking has lasted longer, the crowd grew, a clearer picture). They
        replace the case's facts of the same names while the case is still open, so the
        operator sees the condition as it is now; the case's version goes up. A case in a
        final state keeps its facts (the update is only logged).
        """
        facts: dict[str, Any] = {"candidate_id": candidate_id, **(seen or {})}
        if update and case.state not in FINAL_STATES:
            changed = {k: v for k, v in update.items() if case.facts.get(k) != v}
            if changed:
                facts["updated"] = changed
                case = dataclasses.replace(
                    case, facts={**case.facts, **changed}, version=case.version + 1
                )
        step = Step(
            case.id,
            now,
            Action.REDETECTED,
            case.state,
            case.state,
            SYSTEM_ACTOR.name,
            Role.SYSTEM,
            facts=facts,
        )
        return Transition(case, step)

    def handed_off(self, case: Case, now: datetime, facts: dict[str, Any]) -> Transition:
        """The emergency command centre acknowledged the case: logged, the state unchanged."""
        step = Step(
            case.id,
            now,
            Action.HANDOFF,
            case.state,
            case.state,
            SYSTEM_ACTOR.name,
            Role.SYSTEM,
            department=case.department,
            facts=dict(facts),
        )
        return Transition(case, step)

    # ------------------------------------------------------------------ transitions

    def apply(self, case: Case, command: Command, actor: Actor, now: datetime) -> Transition:
        self._check(case, command, actor)
        try:
            changes, to_state, facts = self._effect(case, command, actor, now)
        except CalendarNotCovered as unknown:
            raise TransitionRefused("calendar_not_covered", str(unknown)) from unknown
        case_facts = changes.get("facts", case.facts)
        # a task ends with its answer or when the case leaves the state it was asked in;
        # a 核实's proposal with the case's 信息收集
        ended = {"task"} if to_state not in _TASK_STATES or command.action in _ANSWERS else set()
        if to_state is not CaseState.CANDIDATE:
            ended.add("proposal")
        if ended & case_facts.keys():
            changes["facts"] = {k: v for k, v in case_facts.items() if k not in ended}
        facts = {**facts, **self._level_taken(case, command.action, actor, to_state, changes, now)}
        new_case = dataclasses.replace(case, state=to_state, version=case.version + 1, **changes)
        step = Step(
            case_id=case.id,
            at=now,
            action=command.action,
            from_state=case.state,
            to_state=to_state,
            actor=actor.name,
            role=actor.role,
            department=new_case.department or case.department,
            opinion=command.opinion,
            attachments=command.attachments,
            facts={**command.facts, **facts, **holder_facts(case, actor)},
        )
        return Transition(new_case, step)

    def _level_taken(
        self,
        case: Case,
        action: Action,
        actor: Actor,
        to_state: CaseState,
        changes: dict[str, Any],
        now: datetime,
    ) -> dict[str, Any]:
        """Step facts (``level_on_time``) when this step ends the time the case's centre
        had to take it up after 上报/下派: the centre's desk acts, or the case leaves the
        states it is moved in; the window leaves the case's facts (``changes``). A new move
        by the receiving centre ends the old window and starts its own."""
        org = self.organisation
        takes_up = (
            org is not None
            and actor.role in _DESK
            and org.centre_of(actor.org_node).id
            == org.handling_centre(case.centre, case.grid_code).id
        )
        if action in LEVEL_RULES:
            ended = end_window(case.facts, now, taken_up=True, moved_on=False)
            return ended[1] if ended is not None else {}
        moved_on = to_state not in LEVEL_RULES[Action.ESCALATE].states
        ended = end_window(
            changes.get("facts", case.facts), now, taken_up=takes_up, moved_on=moved_on
        )
        if ended is None:
            return {}
        changes["facts"] = ended[0]
        return ended[1]

    def _check(self, case: Case, command: Command, actor: Actor) -> Rule:
        action = command.action
        rule = RULES.get(action) or LEVEL_RULES.get(action) or COMMUNITY_RULES.get(action)
        if rule is None:
            raise TransitionRefused(
                "not_a_user_action", f"{action} is not something a person can do"
            )
        if actor.role not in rule.roles:
            raise TransitionRefused(
                "forbidden_role", f"a {actor.role} may not {action} (only {_names(rule.roles)})"
            )
        if case.state not in rule.states:
            raise TransitionRefused("wrong_state", f"cannot {action} a case in state {case.state}")
        if rule.own_department or actor.role is Role.DEPARTMENT:  # the case's holder only
            holder = holder_refusal(self.organisation, case, action, actor)
            if holder is not None:
                raise TransitionRefused(*holder)
        level = level_refusal(self.organisation, action, actor.org_node, case, command.department)
        if actor.role in _DESK and level is not None:
            raise TransitionRefused(*level)
        if action in _REQUESTS and case.pending is not None:
            raise TransitionRefused(
                "pending_request", f"a {case.pending.kind} request is already waiting for approval"
            )
        if action in (Action.APPROVE, Action.DENY):
            if case.pending is None:
                raise TransitionRefused("no_pending_request", "there is no request to decide on")
            approvers = APPROVERS[case.pending.kind]
            if actor.role not in approvers:
                raise TransitionRefused(
                    "forbidden_role",
                    f"a {case.pending.kind} request needs {_names(approvers)} to decide",
                )
        if action is Action.REPORT and case.pending is not None:
            raise TransitionRefused(
                "pending_request", f"decide the {case.pending.kind} request first"
            )
        if rule.needs_opinion and not command.opinion.strip():
            raise TransitionRefused("opinion_required", f"{action} needs an opinion (the reason)")
        refusal = task_refusal(case.facts, str(case.state), str(action), actor.name)
        if refusal is not None:
            raise TransitionRefused(*refusal)
        return rule

    def _effect(
        self, case: Case, command: Command, actor: Actor, now: datetime
    ) -> tuple[dict[str, Any], CaseState, dict[str, Any]]:
        """(field changes, new state, facts for the step) of an already checked command."""
        action = command.action
        if action is Action.REGISTER:
            return {"proposed_merge_into": None}, CaseState.REGISTERED, {}
        if action is Action.REJECT:
            return {}, CaseState.REJECTED, {}
        if action is Action.MERGE:
            target = command.merge_target
            if target is None or command.merge_into != target.id:
                raise TransitionRefused(
                    "merge_target_required", "merge needs the id of an open case"
                )
            if target.id == case.id or not target.is_open:
                raise TransitionRefused(
                    "merge_target_not_open",
                    f"case {target.number} is not another open case to merge into",
                )
            return {"merged_into": target.id}, CaseState.MERGED, {"merged_into": target.id}
        if action is Action.DISPATCH:
            department = command.department or self.table.department_for(
                case.event_code, case.grid_code
            )
            if self.organisation is not None and actor.role in _DESK:  # the level's own
                department = self.organisation.dispatch_target(actor.org_node, department, case)
            if not self.table.is_department(department):
                raise TransitionRefused("unknown_department", f"unknown department {department!r}")
            limit = self.disposal_limit(case)
            deadline = self.calendar.deadline(now, limit)
            changes = {
                "department": department,
                "community": None,
                "dispatched_at": now,
                "deadline": deadline,
                "suspended_minutes": 0.0,
            }
            facts: dict[str, Any] = {
                "deadline": deadline.isoformat(),
                "limit": f"{limit.amount:g} {limit.unit}",
            }
            if not is_natural(limit) and self.calendar.provisional_between(now, deadline):
                facts["deadline_provisional"] = True  # counted on a year's statutory days alone
            return changes, CaseState.PROCESSING, facts
        if action in _REQUESTS:
            hours = command.extension_hours
            if action is Action.REQUEST_EXTENSION and (hours is None or not 0 < hours <= 1000):
                raise TransitionRefused(
                    "bad_extension", "an extension needs 0 < extension_hours ≤ 1000"
                )
            pending = Pending(_REQUESTS[action], actor.name, now, hours)
            request_facts: dict[str, Any] = {"request": str(pending.kind)}
            if hours is not None and action is Action.REQUEST_EXTENSION:
                request_facts["extension_hours"] = hours
            return {"pending": pending}, case.state, request_facts
        if action is Action.DENY:
            assert case.pending is not None
            return {"pending": None}, case.state, {"request": str(case.pending.kind)}
        if action is Action.APPROVE:
            return self._approve(case, now)
        if action is Action.RESUME:
            assert case.suspended_at is not None and case.deadline is not None
            natural = self._natural(case)
            paused = self.calendar.minutes_between(case.suspended_at, now, natural)
            deadline = self.calendar.add_minutes(case.deadline, paused, natural)
            changes = {
                "suspended_at": None,
                "suspended_minutes": case.suspended_minutes + paused,
                "deadline": deadline,
            }
            facts = {"deadline": deadline.isoformat(), "suspended_minutes": paused}
            return changes, CaseState.PROCESSING, {**facts, **self._provisional(case, deadline)}
        if action in _TASK_STEPS:
            try:
                case_facts, step_facts = task_step(
                    case.facts,
                    str(action),
                    now,
                    command.assignee,
                    actor.name,
                    self.task_minutes,
                    by_grid=command.assigned_by_grid,
                )
            except ValueError as exc:
                raise TransitionRefused(str(exc), "name the inspector to assign") from exc
            to_state = CaseState.REPORTED if action is Action.REPORT else case.state
            return {"facts": case_facts}, to_state, step_facts
        if action in (Action.ESCALATE, Action.HAND_DOWN):  # 上报 / 下派, with a time to take it up
            org = self.organisation
            assert org is not None  # checked by level_refusal
            due = self.calendar.deadline(now, TimeLimit(event_prefix="", amount=org.limit_hours))
            changes, facts = org.level_change(action, case.centre, case.grid_code, due)
            case_facts = {**case.facts, **facts, **window_facts(now)}
            return {**changes, "facts": case_facts}, case.state, facts
        if action is Action.ASSIGN_COMMUNITY:  # 转派社区: still 处置, the street responsible
            changes, facts = pass_down(self.organisation, case, command)
            return changes, case.state, facts
        if action is Action.RECALL_COMMUNITY:
            changes, facts = take_back(self.organisation, case)
            return changes, case.state, facts
        if action is Action.VERIFY_PASS:
            # on_time here: the disposal was verified by the deadline
            on_time = case.deadline is None or now <= case.deadline
            return {}, CaseState.VERIFIED, {"on_time": on_time, **answer_facts(case.facts, now)}
        if action is Action.CLOSE:
            # 按期结案: the centre closed the case by the deadline (the light stops here)
            on_time = case.deadline is None or now <= case.deadline
            return {"closed_at": now}, CaseState.CLOSED, {"on_time": on_time}
        if action is Action.VERIFY_FAIL:
            return (
                {"rework_count": case.rework_count + 1},
                CaseState.PROCESSING,
                {"rework": case.rework_count + 1, **answer_facts(case.facts, now)},
            )
        if action is Action.EVALUATE:
            return {}, CaseState.EVALUATED, {}
        if action is Action.FEEDBACK:
            satisfaction = str(command.facts.get("satisfaction", ""))
            reopen = satisfaction == "dissatisfied" or bool(command.facts.get("reopen_requested"))
            to_state = CaseState.REOPEN_REQUESTED if reopen else CaseState.EVALUATED
            return {"satisfaction": satisfaction or None}, to_state, {}
        if action is Action.REOPEN:
            return (
                {"rework_count": case.rework_count + 1, "closed_at": None},
                CaseState.PROCESSING,
                {"rework": case.rework_count + 1},
            )
        if action is Action.KEEP_CLOSED:
            return {}, CaseState.EVALUATED, {}
        raise TransitionRefused("not_a_user_action", f"unknown action {action}")  # pragma: no cover

    def _approve(
        self, case: Case, now: datetime
    ) -> tuple[dict[str, Any], CaseState, dict[str, Any]]:
        pending = case.pending
        assert pending is not None
        facts: dict[str, Any] = {"request": str(pending.kind)}
        if pending.kind is PendingKind.EXTENSION:
            assert case.deadline is not None and pending.extension_hours is not None
            deadline = self.calendar.add_minutes(
                case.deadline, pending.extension_hours * 60, self._natural(case)
            )
            facts["deadline"] = deadline.isoformat()
            facts.update(self._provisional(case, deadline))
            return {"pending": None, "deadline": deadline}, case.state, facts
        if pending.kind is PendingKind.RETURN:
            changes = {
                "pending": None,
                "department": None,
                "community": None,
                "dispatched_at": None,
                "deadline": None,
                "suspended_minutes": 0.0,
            }
            facts["returned_by"] = case.department
            return changes, CaseState.REGISTERED, facts
        if pending.kind is PendingKind.SUSPENSION:
            return {"pending": None, "suspended_at": now}, CaseState.SUSPENDED, facts
        return {"pending": None}, CaseState.VOIDED, facts


def _names(roles: frozenset[Role]) -> str:
    return ", ".join(sorted(str(r) for r in roles))
