"""The case's vocabulary and records: its states, the roles and actions of the process,
the kinds of request, and the immutable `Case`, `Actor`, `Command`, `Step` and `Transition`
that `gateway.core.workflow` (the rules and the state machine) works on. Pure data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


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
    ASSIGN_COMMUNITY = "assign_community"  # 转派社区: a street office passes its case down
    RECALL_COMMUNITY = "recall_community"  # 收回: the street takes it back from the community
    LINK_COMPONENT = "link_component"  # 关联部件: the census component the case is about


class PendingKind(StrEnum):
    EXTENSION = "extension"  # 申请延时
    RETURN = "return"  # 回退
    SUSPENSION = "suspension"  # 挂账
    VOID = "void"  # 作废


class TransitionRefused(Exception):
    """An action that may not happen. ``code`` (stable; the console words it for people):
    forbidden_role, wrong_state, not_your_case, pending_request, no_pending_request,
    not_a_user_action, opinion_required, merge_target_required, merge_target_not_open,
    merge_target_not_found (raised by the service), unknown_department, bad_extension,
    calendar_not_covered (a deadline reaches a year whose holidays are not known and cannot
    be counted provisionally either); 四级联动 (`gateway.core.community_linkage`):
    not_your_community, with_community, not_with_community, not_a_street_office,
    street_office_only, community_required, community_not_in_street."""

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
    #: 四级联动: the community (its unit id, community-<code>) the street office passed the
    #: case to (转派社区); None: with ``department`` itself. The street stays responsible.
    community: str | None = None

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


@dataclass(frozen=True)
class Command:
    """What a person (or the core) asks to do to a case."""

    action: Action
    opinion: str = ""
    department: str | None = None  # dispatch: overrides the responsibility table
    community: str | None = None  # assign_community: the community (None: the case's grid's)
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
