"""The other messages: case events and feedback, daemon and camera health, dead letters,
receipts, camera-assisted verification and camera event state; and the table of all
message types by schema name."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

import pydantic_core
from pydantic import (
    Field,
    field_serializer,
)

from gateway.clock import rfc3339
from gateway.contract.agent_calls import AgentCall, AgentQueues
from gateway.contract.candidates import CandidateCase, Evidence
from gateway.contract.envelope import (
    _ID_PATTERN,
    _SOURCE_ID_PATTERN,
    CONTRACT_VERSION,
    EVENT_CODE_PATTERN,
    GRID_CODE_PATTERN,
    Source,
    _Message,
)
from gateway.contract.ptz import PtzCommand

# --------------------------------------------------------------------------- case events


class CaseEvent(_Message):
    """A state change of a case, published by the core after it is committed."""

    SCHEMA: ClassVar[str] = "citygw.case_event"
    schema_name: str = Field(default=SCHEMA, alias="schema")

    case_id: Annotated[str, Field(min_length=1, max_length=64)]
    case_number: str | None = Field(default=None, max_length=32)
    action: Annotated[str, Field(min_length=1, max_length=64)]
    from_state: str | None = None
    to_state: Annotated[str, Field(min_length=1, max_length=64)]
    event_code: Annotated[str | None, Field(pattern=EVENT_CODE_PATTERN)] = None
    grid_code: Annotated[str | None, Field(pattern=GRID_CODE_PATTERN)] = None
    department: str | None = None
    actor: str | None = None
    role: str | None = None
    opinion: str = Field(default="", max_length=4000)
    deadline: datetime | None = None
    light: Literal["green", "yellow", "red"] | None = None
    candidate_ids: list[str] = Field(default_factory=list)
    facts: dict[str, Any] = Field(default_factory=dict)

    @field_serializer("deadline")
    def _deadline_rfc3339(self, value: datetime | None) -> str | None:
        return rfc3339(value) if value else None

    @classmethod
    def encode(cls, *, source: Source, id: str, ts: datetime, **fields: Any) -> bytes:
        """``CaseEvent.create(...).to_json()``, byte for byte, without building the model.

        For the core, which makes an event per change from its own stored, validated
        state: building and validating the model was a tenth of its intake. Only this
        schema's fields are taken; values are not validated: use `create` elsewhere.
        """
        if not (fields.keys() <= _CASE_EVENT_FIELDS and fields.keys() >= _CASE_EVENT_REQUIRED):
            unknown = sorted(fields.keys() - _CASE_EVENT_FIELDS)
            missing = sorted(_CASE_EVENT_REQUIRED - fields.keys())
            raise TypeError(f"{cls.SCHEMA}: unknown {unknown}, missing {missing}")
        document: dict[str, Any] = {
            "schema": cls.SCHEMA,
            "version": CONTRACT_VERSION,
            "id": id,
            "ts": rfc3339(ts),
            "source": {"kind": source.kind.value, "id": source.id},
        }
        get = fields.get
        for name, default in _CASE_EVENT_FIELD_DEFAULTS:
            value = get(name, default)
            if value is not None:  # as to_json's exclude_none
                document[name] = value
        deadline = document.get("deadline")
        if deadline is not None:  # replacing a value keeps its place in the document
            document["deadline"] = rfc3339(deadline)
        return pydantic_core.to_json(document, inf_nan_mode="null")  # as the model does


#: `CaseEvent.encode`: the event's own fields in declaration order, and their defaults
_CASE_EVENT_FIELDS_IN_ORDER = tuple(
    name for name in CaseEvent.model_fields if name not in _Message.model_fields
)
_CASE_EVENT_FIELDS = frozenset(_CASE_EVENT_FIELDS_IN_ORDER)
_CASE_EVENT_REQUIRED = frozenset(
    name for name in _CASE_EVENT_FIELDS if CaseEvent.model_fields[name].is_required()
)
_CASE_EVENT_DEFAULTS: dict[str, Any] = {
    name: CaseEvent.model_fields[name].get_default(call_default_factory=True)
    for name in _CASE_EVENT_FIELDS - _CASE_EVENT_REQUIRED
}
_CASE_EVENT_FIELD_DEFAULTS = tuple(
    (name, _CASE_EVENT_DEFAULTS.get(name)) for name in _CASE_EVENT_FIELDS_IN_ORDER
)


class CaseFeedback(_Message):
    """What a citizen said about a case afterwards (the IVR's satisfaction survey)."""

    SCHEMA: ClassVar[str] = "citygw.case_feedback"
    schema_name: str = Field(default=SCHEMA, alias="schema")

    case_number: Annotated[str, Field(min_length=1, max_length=32)]
    satisfaction: Literal["satisfied", "basically_satisfied", "dissatisfied"]
    reopen_requested: bool = False
    comment: str = Field(default="", max_length=2000)
    facts: dict[str, Any] = Field(default_factory=dict)


# --------------------------------------------------------------------------- health


class DaemonState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class DaemonStatus(_Message):
    """Retained availability of a daemon; the broker publishes ``offline`` as its last will."""

    SCHEMA: ClassVar[str] = "citygw.daemon_status"
    schema_name: str = Field(default=SCHEMA, alias="schema")

    daemon: Annotated[str, Field(min_length=1, max_length=32)]
    instance: Annotated[str, Field(pattern=_SOURCE_ID_PATTERN)]
    state: DaemonState
    software_version: str = ""


class CameraState(StrEnum):
    STARTING = "starting"
    ONLINE = "online"
    RECONNECTING = "reconnecting"
    OFFLINE = "offline"
    ERROR = "error"


class CameraStatus(_Message):
    """Retained health of one camera, published on each state change and periodically."""

    SCHEMA: ClassVar[str] = "citygw.camera_status"
    schema_name: str = Field(default=SCHEMA, alias="schema")

    camera_id: Annotated[str, Field(pattern=_SOURCE_ID_PATTERN)]
    state: CameraState
    fps_in: Annotated[float, Field(ge=0)] = 0.0
    fps_analysed: Annotated[float, Field(ge=0)] = 0.0
    last_frame_at: datetime | None = None
    detail: str = Field(default="", max_length=500)
    gateway: Annotated[
        str | None,
        Field(
            pattern=_SOURCE_ID_PATTERN,
            description="instance of the video gateway pulling this camera (its DaemonStatus"
            " instance): its last will means this camera is not watched any more",
        ),
    ] = None
    faults: dict[Annotated[str, Field(max_length=32)], Annotated[str, Field(max_length=300)]] = (
        Field(
            default_factory=dict,
            max_length=8,
            description="parts of the camera's service that do not work, with the reason "
            "(stream, events, analysis): a camera that streams but is not analysed is not "
            "healthy (contract 1.1: older consumers ignore it)",
        )
    )

    @field_serializer("last_frame_at")
    def _last_frame_rfc3339(self, value: datetime | None) -> str | None:
        return rfc3339(value) if value else None


class DeadLetter(_Message):
    """A message a consumer could not accept, with the reason; the original is kept (bounded)."""

    SCHEMA: ClassVar[str] = "citygw.dead_letter"
    schema_name: str = Field(default=SCHEMA, alias="schema")

    original_topic: str
    error_code: str
    reason: str = Field(max_length=4000)
    payload_size: int
    payload_head_b64: str = Field(description="base64 of the first bytes of the original payload")


class Receipt(_Message):
    """A consumer's end-to-end confirmation: these message ids are committed (or refused for good).

    An edge outbox keeps a candidate until a receipt names it, and sends it again if none
    comes: a broker that crashes after its PUBACK cannot lose a candidate that way.
    """

    SCHEMA: ClassVar[str] = "citygw.receipt"
    schema_name: str = Field(default=SCHEMA, alias="schema")

    consumer: Annotated[str, Field(min_length=1, max_length=64)]
    ids: list[str] = Field(
        default_factory=list, max_length=10_000, description="stored (new or already known)"
    )
    rejected: list[str] = Field(
        default_factory=list, max_length=10_000, description="refused for good (dead-lettered)"
    )


# --------------------------------------------------------------------------- camera-assisted verification


_Fraction = Annotated[float, Field(ge=0, le=1)]


class VerificationRequest(_Message):
    """The core asks a video gateway to look again at a camera case (核查 by camera).

    Sent when a camera-sourced case reaches 处理反馈 (the department says it is done), or
    when a person asks from the case page. ``id`` is stable per (case, ``request_seq``):
    the same command delivered twice is answered with the same result. The gateway that
    pulls ``camera_id`` runs the rule's classes over fresh frames for a short window and
    answers with a `VerificationResult`; other gateways ignore it.
    """

    SCHEMA: ClassVar[str] = "citygw.verification_request"
    schema_name: str = Field(default=SCHEMA, alias="schema")

    case_id: Annotated[str, Field(min_length=1, max_length=64)]
    case_number: str | None = Field(default=None, max_length=32)
    request_seq: Annotated[int, Field(ge=1, description="1 for a case's first request, ...")]
    camera_id: Annotated[str, Field(pattern=_SOURCE_ID_PATTERN)]
    event_code: Annotated[str, Field(pattern=EVENT_CODE_PATTERN)]
    zone_id: str | None = Field(default=None, max_length=64)
    rule_id: str | None = Field(default=None, max_length=64)
    zone_polygon: list[tuple[_Fraction, _Fraction]] | None = Field(
        default=None,
        min_length=3,
        max_length=64,
        description="[x, y] fractions of the frame; overrides the gateway's zone of that id",
    )
    label: str | None = Field(
        default=None, max_length=64, description="label of the original detection"
    )
    boxes: list[tuple[float, float, float, float]] = Field(
        default_factory=list,
        max_length=32,
        description="the original detection boxes [x1, y1, x2, y2], pixels of frame_size",
    )
    frame_size: tuple[int, int] | None = Field(
        default=None, description="[width, height] of the frame the boxes were found on"
    )
    window_s: float | None = Field(
        default=None, gt=0, le=300, description="how long to look (the gateway's default if absent)"
    )
    requested_by: str = Field(default="", max_length=100)


class VerificationVerdict(StrEnum):
    CLEARED = "cleared"  # nothing of the rule's classes in the zone any more
    STILL_PRESENT = "still_present"  # the condition is still seen
    CAMERA_UNAVAILABLE = "camera_unavailable"  # no fresh frames to judge by


class VerificationResult(_Message):
    """A video gateway's answer to one `VerificationRequest` (``request_id``), with before
    and after snapshots (evidence inline by SHA-256, as candidates carry theirs). It
    informs the person who decides 核查: it never closes or returns a case by itself."""

    SCHEMA: ClassVar[str] = "citygw.verification_result"
    schema_name: str = Field(default=SCHEMA, alias="schema")

    request_id: Annotated[str, Field(pattern=_ID_PATTERN)]
    case_id: Annotated[str, Field(min_length=1, max_length=64)]
    camera_id: Annotated[str, Field(pattern=_SOURCE_ID_PATTERN)]
    verdict: VerificationVerdict
    detail: str = Field(default="", max_length=500)
    passes: Annotated[int, Field(ge=0, description="detector passes over fresh frames")] = 0
    passes_present: Annotated[int, Field(ge=0, description="passes that saw the condition")] = 0
    checked_from: datetime | None = None
    checked_to: datetime | None = None
    evidence: list[Evidence] = Field(default_factory=list, max_length=4)
    before_sha256: Annotated[
        str | None, Field(pattern=r"^[0-9a-f]{64}$", description="evidence: the first look")
    ] = None
    after_sha256: Annotated[
        str | None, Field(pattern=r"^[0-9a-f]{64}$", description="evidence: the last look")
    ] = None
    facts: dict[str, Any] = Field(default_factory=dict)

    @field_serializer("checked_from", "checked_to")
    def _checked_rfc3339(self, value: datetime | None) -> str | None:
        return rfc3339(value) if value else None


# --------------------------------------------------------------------------- camera event state


class CameraEventState(_Message):
    """Retained state of one camera-side event (ONVIF topic and source) on one camera.

    Published by the video gateway when an alarm starts, when it ends (with its
    duration), and when a stateless event arrives; retained per camera, topic and
    source, so a consumer subscribing later reads each alarm's state at once (as
    Frigate's per-camera state topics). ``active`` is the alarm's state (a ``true`` /
    ``false`` data item such as ``State`` or ``IsInside``); ``None`` for an event without
    one. ``started_at`` is the episode's start as first seen: a device re-sending an
    active alarm on a new subscription (``PropertyOperation=Initialized``) continues the
    episode, it never starts one. ``candidate_id`` names the candidate the episode made.
    """

    SCHEMA: ClassVar[str] = "citygw.camera_event"
    schema_name: str = Field(default=SCHEMA, alias="schema")

    camera_id: Annotated[str, Field(pattern=_SOURCE_ID_PATTERN)]
    topic: Annotated[str, Field(min_length=1, max_length=300, description="the ONVIF topic")]
    source_items: dict[str, str] = Field(
        default_factory=dict, max_length=32, description="the event's tt:Source items"
    )
    data: dict[str, str] = Field(
        default_factory=dict, max_length=32, description="the last tt:Data items"
    )
    active: bool | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_s: Annotated[float | None, Field(ge=0)] = None
    operation: str = Field(default="", max_length=32, description="Initialized, Changed or Deleted")
    candidate_id: Annotated[str | None, Field(pattern=_ID_PATTERN)] = None
    event_code: Annotated[str | None, Field(pattern=EVENT_CODE_PATTERN)] = None

    @field_serializer("started_at", "ended_at")
    def _times_rfc3339(self, value: datetime | None) -> str | None:
        return rfc3339(value) if value else None


MESSAGE_TYPES: dict[str, type[_Message]] = {
    cls.SCHEMA: cls
    for cls in (
        CandidateCase,
        CaseEvent,
        CaseFeedback,
        DaemonStatus,
        CameraStatus,
        DeadLetter,
        Receipt,
        VerificationRequest,
        VerificationResult,
        CameraEventState,
        PtzCommand,
        AgentCall,
        AgentQueues,
    )
}

Message = (
    CandidateCase
    | CaseEvent
    | CaseFeedback
    | DaemonStatus
    | CameraStatus
    | DeadLetter
    | Receipt
    | VerificationRequest
    | VerificationResult
    | CameraEventState
    | PtzCommand
    | AgentCall
    | AgentQueues
)
