"""Request and response bodies of the core's HTTP API (pydantic; they make the OpenAPI schema)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.contract import EVENT_CODE_PATTERN, GRID_CODE_PATTERN
from gateway.core.workflow import Action, CaseState


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


class UserOut(_Out):
    name: str
    role: str
    department: str | None = None
    active: bool = True
    grids: list[str] = Field(default_factory=list, description="an inspector's unit grids")
    org_node: str | None = Field(default=None, description="organisation node (None: the city)")


class LoginOut(_Out):
    token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    user: UserOut


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._\-]+$")
    role: Literal["inspector", "operator", "shift_lead", "dispatcher", "department", "admin"]
    password: str = Field(min_length=8, max_length=200)
    department: str | None = Field(default=None, max_length=64)
    grids: list[str] = Field(
        default_factory=list,
        max_length=200,
        description="an inspector's unit grids: 14-digit codes or code prefixes (6-14 digits)",
    )
    org_node: str | None = Field(
        default=None,
        max_length=64,
        description="the organisation node: a district code for a district centre's desk "
        "(None: the city centre); a department user sits at its department's",
    )


class UserPatch(BaseModel):
    """What changes; a field not sent stays as it is (``department: null`` clears it)."""

    model_config = ConfigDict(extra="forbid")
    role: (
        Literal["inspector", "operator", "shift_lead", "dispatcher", "department", "admin"] | None
    ) = None
    department: str | None = Field(default=None, max_length=64)
    grids: list[str] | None = Field(default=None, max_length=200)
    active: bool | None = None
    password: str | None = Field(
        default=None, min_length=8, max_length=200, description="a new password (reset)"
    )
    org_node: str | None = Field(default=None, max_length=64, description="null: the city")


class EvidenceOut(_Out):
    sha256: str
    media_type: str
    size: int
    role: str
    name: str
    available: bool
    url: str


class CaseOut(_Out):
    id: str
    number: str
    state: str
    state_label: str
    event_code: str
    event_name: str | None
    title: str
    description: str
    source_kind: str
    created_at: datetime
    grid_code: str | None
    district: str | None
    address: str | None
    camera_id: str | None
    zone_id: str | None
    lat: float | None
    lon: float | None
    urgent: bool
    department: str | None
    dispatched_at: datetime | None
    deadline: datetime | None
    light: Literal["green", "yellow", "red"] | None = Field(
        description="the disposal deadline's light; before dispatch, that of the time the "
        "centre it was escalated or handed down to has to take it up (level_deadline)"
    )
    level_deadline: datetime | None = Field(
        default=None,
        description="by when the centre it was escalated (上报) or handed down (下派) to must "
        "take it up; null once taken up, or never moved",
    )
    level_overdue: bool = Field(
        default=False, description="that time has passed and the centre has not taken it up"
    )
    suspended_minutes: float
    rework_count: int
    pending: dict[str, Any] | None
    proposed_merge_into: str | None
    merged_into: str | None
    closed_at: datetime | None
    satisfaction: str | None
    facts: dict[str, Any]
    version: int
    centre: str | None = Field(default=None, description="the centre handling it (两级指挥)")
    centre_name: str | None = None
    community: str | None = Field(
        default=None, description="the community its street office passed it to (四级联动)"
    )
    community_name: str | None = None


class CaseScoreOut(_Out):
    """综合评价 of a closed case from its history (gateway/core/case_evaluation.py)."""

    score: float | None = Field(description="0-100; null when no part applies")
    grade: Literal["excellent", "good", "fair", "poor"] | None
    parts: dict[str, float] = Field(description="on_time, rework, delays, satisfaction: 0-1")
    on_time: bool | None
    rework: int
    delays: int
    satisfaction: str | None


class RecordingOut(_Out):
    """An agent call's recording (MixMonitor), served by /api/v1/recordings/{uniqueid}."""

    uniqueid: str
    url: str
    media_type: str
    size: int
    recorded_at: datetime


class LevelOut(_Out):
    """One level a case passed: the centre that first had it, then each 上报 / 下派."""

    centre: str
    centre_name: str
    action: str
    at: datetime
    actor: str | None = None
    reason: str | None = None
    level_deadline: str | None = None


class CaseDetailOut(CaseOut):
    levels: list[LevelOut] = Field(default_factory=list)
    case_score: CaseScoreOut | None = None
    recording: RecordingOut | None = None
    allowed_actions: list[str]
    candidate_ids: list[str]
    evidence: list[EvidenceOut]
    reporter_name: str | None
    callback_number: str | None


class CaseQuery(BaseModel):
    """The filters and page of GET /api/v1/cases (one model: validated in one pass)."""

    state: list[CaseState] | None = Field(default=None, description="any of these states")
    event_code: str | None = Field(default=None, pattern=r"^\d{1,4}$", description="code or prefix")
    grid: str | None = Field(default=None, pattern=r"^\d{1,14}$", description="grid prefix")
    department: str | None = Field(default=None, max_length=64)
    light: Literal["green", "yellow", "red"] | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    offset: int = Field(default=0, ge=0, le=1_000_000)
    limit: int = Field(default=50, ge=1, le=500)


class CasePage(_Out):
    total: int
    offset: int
    limit: int
    items: list[CaseOut]


class StepOut(_Out):
    seq: int
    at: datetime
    action: str
    from_state: str | None
    to_state: str
    actor: str
    role: str
    department: str | None
    opinion: str
    attachments: list[str]
    facts: dict[str, Any]


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Action = Field(description="what to do; see GET /cases/{id} allowed_actions")
    opinion: str = Field(default="", max_length=4000, description="reason / notes (处理意见)")
    department: str | None = Field(default=None, max_length=64, description="dispatch: override")
    community: str | None = Field(
        default=None,
        max_length=64,
        description="assign_community (转派社区): the street's community, community-<code> "
        "(default: the community whose grids hold the case's grid)",
    )
    merge_into: str | None = Field(default=None, max_length=64, description="merge: open case id")
    extension_hours: float | None = Field(default=None, gt=0, le=1000)
    attachments: list[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]] = Field(
        default_factory=list, max_length=32, description="sha256 of uploaded attachments"
    )
    reason: (
        Literal["false_detection", "not_in_scope", "duplicate", "insufficient", "other"] | None
    ) = Field(default=None, description="reject: why (false_detection teaches the video gateway)")
    expected_version: int | None = Field(
        default=None, ge=0, description="refuse (409) if the case changed since this version"
    )


class TransitionOut(_Out):
    case: CaseOut
    step: StepOut


class CaseIn(BaseModel):
    """A case reported through the API (an inspector in the field, an operator's form)."""

    model_config = ConfigDict(extra="forbid")
    event_code: str = Field(pattern=EVENT_CODE_PATTERN)
    title: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=4000)
    grid_code: str | None = Field(default=None, pattern=GRID_CODE_PATTERN)
    district: str | None = Field(default=None, max_length=100)
    address: str | None = Field(default=None, max_length=500)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    urgent: bool = False
    reporter_name: str | None = Field(default=None, max_length=100)
    callback_number: str | None = Field(default=None, pattern=r"^[0-9+*#]{1,32}$")
    call_uniqueid: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$",
        description="the hotline call an agent takes this report from (its screen pop):"
        " links the call's recording",
    )
    request_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{7,127}$",
        description="idempotency key: the same id twice makes one case",
    )


class AttachmentOut(_Out):
    sha256: str
    media_type: str
    size: int


class DepartmentOut(_Out):
    id: str
    name: str


class ErrorOut(_Out):
    error: str
    detail: Any
