"""The case and its six-step workflow: states, roles, and every allowed transition.

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

Everything here is pure: `Workflow.apply(case, command, actor, now)` checks the role,
the state and the department, and returns the changed case and the `Step` to append to
the log; it raises `TransitionRefused` (with a stable ``code``) otherwise. No I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from gateway.core.calendar import (
    CalendarNotCovered,
    Light,
    WorkingCalendar,
    is_natural,
    pick_limit,
)
from gateway.core.dispatch import ResponsibilityTable
from gateway.core.inspector_tasks import (
    DEFAULT_TASK_MINUTES,
    TaskKind,
    answer_facts,
    task_refusal,
    task_step,
)
from gateway.core.organisation import Organisation, level_refusal
from gateway.core.settings import TimeLimit


class CaseState(StrEnum):
    CANDIDATE = "candidate"  # 信息收集: waiting for the operator (受理)
    REGISTERED = "registered"  # 立案: accepted, waiting for dispatch (派遣)
    REJECTED = "rejected"  # 不予立案 (e.g. a false detection)
    MERGED = "merged"  # a duplicate, merged into an open case
    PROCESSING = "processing"  # 处置: the department works on it
    SUSPENDED = "suspended"  # 挂账: approved suspension, the clock stops
    REPORTED = "reported"  # 处理反馈: department reports done, waiting for 核查
    VERIFIED = "verified"  # 核查通过: verified on site, waiting for the centre's 结案
    CLOSED = "closed"  # 结案: closed by the centre after a passed verification
    REOPEN_REQUESTED = "reopen_requested"  # a citizen was dissatisfied
    EVALUATED = "evaluated"  # 综合评价 done
    VOIDED = "voided"  # 作废


FINAL_STATES = frozenset(
    {CaseState.REJECTED, CaseState.MERGED, CaseState.EVALUATED, CaseState.VOIDED}
)
#: states in which a case counts as open (a duplicate may merge into it)
OPEN_STATES = frozenset(
    {
        CaseState.CANDIDATE,
        CaseState.REGISTERED,
        CaseState.PROCESSING,
        CaseState.SUSPENDED,
        CaseState.REPORTED,
    }
)

STATE_LABELS = {
    CaseState.CANDIDATE: "信息收集",
    CaseState.REGISTERED: "立案",
    CaseState.REJECTED: "不予立案",
    CaseState.MERGED: "合并",
    CaseState.PROCESSING: "处置",
    CaseState.SUSPENDED: "挂账",
    CaseState.REPORTED: "处理反馈",
    CaseState.VERIFIED: "待结案",
    CaseState.CLOSED: "结案",
    CaseState.REOPEN_REQUESTED: "申请重办",
    CaseState.EVALUATED: "综合评价",
    CaseState.VOIDED: "作废",
}


class Role(StrEnum):
    INSPECTOR = "inspector"  # 监督员
    OPERATOR = "operator"  # 受理员
    SHIFT_LEAD = "shift_lead"  # 值班长
    DISPATCHER = "dispatcher"  # 派遣员
    DEPARTMENT = "department"  # 专业部门
    ADMIN = "admin"  # manages users; no workflow actions
    SYSTEM = "system"  # the core itself (ingest, citizen feedback); never a user's role


USER_ROLES = tuple(role for role in Role if role is not Role.SYSTEM)


class Action(StrEnum):
    CREATE = "create"
    REDETECTED = "redetected"
    REGISTER = "register"
    REJECT = "reject"
    MERGE = "merge"
    DISPATCH = "dispatch"
    REQUEST_EXTENSION = "request_extension"
    REQUEST_RETURN = "request_return"
    REQUEST_SUSPENSION = "request_suspension"
    REQUEST_VOID = "request_void"
    APPROVE = "approve"
    DENY = "deny"
    RESUME = "resume"
    REPORT = "report"
    VERIFY_PASS = "verify_pass"
    VERIFY_FAIL = "verify_fail"
    CLOSE = "close"
    EVALUATE = "evaluate"
    FEEDBACK = "feedback"
    REOPEN = "reopen"
    KEEP_CLOSED = "keep_closed"
    HANDOFF = "handoff"  # the emergency command centre acknowledged the case (system)
    ESCALATE = "escalate"  # 上报: a district centre passes the case up to the city
    HAND_DOWN = "hand_down"  # 下派: the city passes the case down to its district
    REQUEST_CONFIRMATION = "request_confirmation"  # 派发核实: check a report on site first
    CONFIRM_PASS = "confirm_pass"  # 核实属实 (proposes 立案)
    CONFIRM_FAIL = "confirm_fail"  # 核实不属实 (proposes 不予立案)
    ASSIGN_TASK = "assign_task"  # 指派: a 核实/核查 task given (again) to an inspector


class PendingKind(StrEnum):
    EXTENSION = "extension"  # 申请延时
    RETURN = "return"  # 回退
    SUSPENSION = "suspension"  # 挂账
    VOID = "void"  # 作废


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
    #: a department user may act only on cases dispatched to its own department
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


class TransitionRefused(Exception):
    """An action that may not happen. ``code`` (stable; the console words it for people):
    forbidden_role, wrong_state, not_your_case, pending_request, no_pending_request,
    not_a_user_action, opinion_required, merge_target_required, merge_target_not_open,
    merge_target_not_found (raised by the service), unknown_department, bad_extension,
    calendar_not_covered (a deadline reaches a year whose holidays are not known and cannot
    be counted provisionally either)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class Actor:
    name: str
    role: Role
    department: str | None = None
    grids: tuple[str, ...] = ()  # an inspector's unit grids (codes or code prefixes)
    org_node: str | None = None  # the organisation node (None: the city centre)
    reach: tuple[str, ...] = ()  # grid prefixes of the user's centre (): every case


SYSTEM_ACTOR = Actor("core", Role.SYSTEM)


@dataclass(frozen=True)
class Pending:
    kind: PendingKind
    requested_by: str
    requested_at: datetime
    extension_hours: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "requested_by": self.requested_by,
            "requested_at": self.requested_at.isoformat(),
            "extension_hours": self.extension_hours,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Pending:
        return cls(
            kind=PendingKind(data["kind"]),
            requested_by=data["requested_by"],
            requested_at=datetime.fromisoformat(data["requested_at"]),
            extension_hours=data.get("extension_hours"),
        )


@dataclass(frozen=True)
class Case:
    id: str
    number: str
    state: CaseState
    event_code: str
    created_at: datetime
    source_kind: str = "api"
    title: str = ""
    description: str = ""
    grid_code: str | None = None
    district: str | None = None
    address: str | None = None
    camera_id: str | None = None
    zone_id: str | None = None
    lat: float | None = None
    lon: float | None = None
    urgent: bool = False
    track_key: str | None = None
    reporter_name: str | None = None
    callback_number: str | None = None
    department: str | None = None
    dispatched_at: datetime | None = None
    deadline: datetime | None = None
    suspended_at: datetime | None = None
    suspended_minutes: float = 0.0
    rework_count: int = 0
    pending: Pending | None = None
    proposed_merge_into: str | None = None
    merged_into: str | None = None
    closed_at: datetime | None = None
    satisfaction: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    #: the centre handling the case after 上报/下派 (None: its grid's district, else the city)
    centre: str | None = None

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


@dataclass(frozen=True)
class Command:
    """What a person (or the core) asks to do to a case."""

    action: Action
    opinion: str = ""
    department: str | None = None  # dispatch: overrides the responsibility table
    merge_into: str | None = None  # merge: the open case this one duplicates
    merge_target: Case | None = None  # merge: that case, loaded by the service
    extension_hours: float | None = None  # request_extension: hours asked for (the limit's unit)
    attachments: tuple[str, ...] = ()  # sha256 of evidence (photos) with this step
    facts: dict[str, Any] = field(default_factory=dict)
    #: report / request_confirmation: the inspector the task goes to (None: nobody covers
    #: the grid); assign_task: the one it goes to now. Filled by the service or the route.
    assignee: str | None = None
    assigned_by_grid: bool = False  # the assignee came from the grid table


@dataclass(frozen=True)
class Step:
    """One line of the append-only case log."""

    case_id: str
    at: datetime
    action: Action
    from_state: CaseState | None
    to_state: CaseState
    actor: str
    role: Role
    department: str | None = None
    opinion: str = ""
    attachments: tuple[str, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Transition:
    case: Case
    step: Step


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
        for action in (*RULES, *LEVEL_RULES):
            try:
                self._check(case, Command(action, opinion="x"), actor)
            except TransitionRefused:
                continue
            allowed.append(action)
        return allowed

    def light(self, case: Case, now: datetime) -> Light | None:
        """None before dispatch, and when the calendar does not know the year's holidays."""
        if case.deadline is None or case.dispatched_at is None:
            return None
        end = case.closed_at or case.suspended_at or now
        try:
            return self.calendar.light(
                case.dispatched_at, case.deadline, end, case.suspended_minutes, self._natural(case)
            )
        except CalendarNotCovered:
            return None

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
            facts={**command.facts, **facts},
        )
        return Transition(new_case, step)

    def _check(self, case: Case, command: Command, actor: Actor) -> Rule:
        action = command.action
        rule = RULES.get(action) or LEVEL_RULES.get(action)
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
        if (rule.own_department or actor.role is Role.DEPARTMENT) and (
            actor.department is None or actor.department != case.department
        ):
            raise TransitionRefused("not_your_case", f"case {case.number} is not your department's")
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
            return (
                changes,
                CaseState.PROCESSING,
                {"deadline": deadline.isoformat(), "suspended_minutes": paused},
            )
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
            return {**changes, "facts": {**case.facts, **facts}}, case.state, facts
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
            return {"pending": None, "deadline": deadline}, case.state, facts
        if pending.kind is PendingKind.RETURN:
            changes = {
                "pending": None,
                "department": None,
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
