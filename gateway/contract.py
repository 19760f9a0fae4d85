"""The MQTT contract of citygw (v1): topics and message schemas.

This is the one module both sides import. Every message is a JSON object with:

- ``schema``: the message kind, e.g. ``citygw.candidate_case``;
- ``version``: ``"MAJOR.MINOR"``; a consumer accepts its own major version and any minor
  (unknown fields of a newer minor are ignored), and rejects other majors with a reason;
- ``id``: globally unique, generated at the source: the idempotency key consumers store by;
- ``ts``: RFC 3339 UTC timestamp of when the source produced it;
- ``source``: who produced it (kind + id).

`parse_message` turns bytes into a typed message or raises `ContractError` carrying a
machine-readable ``code`` and a human reason. It does no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

import pydantic_core
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from gateway.clock import rfc3339, utc_now

CONTRACT_MAJOR = 1
CONTRACT_VERSION = "1.1"
"""1.1: `CameraStatus.gateway` (optional) names the video gateway instance pulling the camera."""
DEFAULT_TOPIC_ROOT = "citygw/v1"
#: Largest payload a consumer accepts. Evidence travels inline (base64), so a call's
#: recordings or a camera snapshot fit; a clip larger than this must be cut shorter.
MAX_PAYLOAD_BYTES = 8 * 1024 * 1024
#: A candidate's ``facts``: at most this many bytes as JSON, and this many levels of nesting
#: (the facts object itself is level 1). They describe a detection or a call; a case
#: listing returns them, so one oversized candidate must not weigh on every listing.
MAX_FACTS_BYTES = 64 * 1024
MAX_FACTS_DEPTH = 8

_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{7,127}$"
_SOURCE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$"
EVENT_CODE_PATTERN = r"^\d{4}$"
GRID_CODE_PATTERN = r"^\d{14}$"


class ContractError(ValueError):
    """A message that does not follow the contract. ``code`` is stable, ``reason`` is for people."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


def new_message_id(prefix: str = "") -> str:
    """A fresh globally unique id; ``prefix`` (e.g. a source id) helps people reading logs."""
    unique = uuid.uuid4().hex
    return f"{prefix}-{unique}" if prefix else unique


def stable_message_id(*parts: str) -> str:
    """A deterministic id from facts that identify one thing (a call's uniqueid, a rule firing).

    Publishing the same thing twice then yields the same id, so consumers store it once.
    """
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]
    return f"{parts[0][:24]}-{digest}" if parts and _ID_PREFIX.fullmatch(parts[0][:24]) else digest


_ID_PREFIX = re.compile(r"[A-Za-z0-9_\-]+")
#: bounded: a version of 5 000 digits is refused as malformed, never given to int()
_VERSION = re.compile(r"(\d{1,9})\.(\d{1,9})")
_NOT_IN_SEGMENT = re.compile("[/+#\x00]")


class SourceKind(StrEnum):
    CALL = "call"
    CAMERA = "camera"
    INSPECTOR = "inspector"
    API = "api"
    CORE = "core"
    DAEMON = "daemon"


class Source(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    kind: SourceKind
    id: Annotated[
        str, Field(pattern=_SOURCE_ID_PATTERN, description="gateway instance, camera id, ...")
    ]


class _Message(BaseModel):
    """Fields every message carries."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    SCHEMA: ClassVar[str] = ""

    schema_name: str = Field(alias="schema")
    version: str = CONTRACT_VERSION
    id: Annotated[str, Field(pattern=_ID_PATTERN)]
    ts: datetime
    source: Source

    @field_validator("ts")
    @classmethod
    def _ts_is_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError(
                "timestamp must carry a timezone (RFC 3339, e.g. 2026-01-05T09:00:00Z)"
            )
        # the wire carries milliseconds: keep the same precision in memory
        return value.astimezone(UTC).replace(microsecond=value.microsecond // 1000 * 1000)

    @field_validator("schema_name")
    @classmethod
    def _schema_matches(cls, value: str) -> str:
        if cls.SCHEMA and value != cls.SCHEMA:
            raise ValueError(f"expected schema {cls.SCHEMA!r}, got {value!r}")
        return value

    @field_serializer("ts")
    def _ts_rfc3339(self, value: datetime) -> str:
        return rfc3339(value)

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True, exclude_none=True).encode("utf-8")

    @classmethod
    def create(
        cls, *, source: Source, id: str | None = None, ts: datetime | None = None, **fields: Any
    ):  # type: ignore[no-untyped-def]
        """Build a message with the envelope filled in (fresh id, now, this schema)."""
        return cls(
            schema=cls.SCHEMA,
            version=CONTRACT_VERSION,
            id=id or new_message_id(source.id),
            ts=ts or utc_now(),
            source=source,
            **fields,
        )


# --------------------------------------------------------------------------- candidates


class EvidenceRole(StrEnum):
    SNAPSHOT = "snapshot"  # annotated JPEG of the frame that fired a rule
    CLIP = "clip"  # a few seconds of video around it
    RECORDING = "recording"  # a caller's voice (WAV 8 kHz)
    PHOTO = "photo"  # an inspector's or department's photo


class Evidence(BaseModel):
    """One piece of evidence, named by the SHA-256 of its bytes.

    The bytes travel inline (``data``, base64) so the edge needs no inbound port; a
    consumer that already holds the hash may receive the same evidence without data.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    media_type: Annotated[str, Field(pattern=r"^[a-z]+/[A-Za-z0-9.+\-]+$")]
    role: EvidenceRole
    size: Annotated[int, Field(ge=0)]
    name: Annotated[str, Field(max_length=200)] = ""
    data: str | None = Field(default=None, description="base64 of the bytes")

    @model_validator(mode="after")
    def _data_matches_hash(self) -> Evidence:
        if self.data is not None:
            raw = self.raw_bytes()
            if len(raw) != self.size:
                raise ValueError(f"evidence size {self.size} but data has {len(raw)} bytes")
            if hashlib.sha256(raw).hexdigest() != self.sha256:
                raise ValueError("evidence data does not match its sha256")
        return self

    def raw_bytes(self) -> bytes:
        if self.data is None:
            raise ValueError(f"evidence {self.sha256} carries no data")
        try:
            return base64.b64decode(self.data, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"evidence data is not valid base64: {exc}") from exc

    @classmethod
    def from_bytes(
        cls, raw: bytes, *, media_type: str, role: EvidenceRole, name: str = ""
    ) -> Evidence:
        return cls(
            sha256=hashlib.sha256(raw).hexdigest(),
            media_type=media_type,
            role=role,
            size=len(raw),
            name=name,
            data=base64.b64encode(raw).decode("ascii"),
        )


class Location(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    grid_code: Annotated[str | None, Field(pattern=GRID_CODE_PATTERN)] = None
    district: str | None = Field(default=None, max_length=100)
    address: str | None = Field(
        default=None, max_length=500, description="text a caller or inspector gave"
    )
    camera_id: str | None = Field(default=None, max_length=64)
    zone_id: str | None = Field(default=None, max_length=64)
    lat: Annotated[float | None, Field(ge=-90, le=90)] = None
    lon: Annotated[float | None, Field(ge=-180, le=180)] = None


class Reporter(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str | None = Field(default=None, max_length=100)
    callback_number: str | None = Field(default=None, pattern=r"^[0-9+*#]{1,32}$")


class CandidateCase(_Message):
    """A proposed case: from a call, a camera rule, an inspector or the API.

    ``partial`` marks a report cut short (a caller who hung up midway): ``facts`` then
    says how far it got. ``facts`` carries the call or detection facts that led to it.
    """

    SCHEMA: ClassVar[str] = "citygw.candidate_case"
    schema_name: str = Field(default=SCHEMA, alias="schema")

    event_code: Annotated[
        str, Field(pattern=EVENT_CODE_PATTERN, description="CJ/T 214 code, e.g. 0505")
    ]
    title: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=4000)
    location: Location = Field(default_factory=Location)
    evidence: list[Evidence] = Field(default_factory=list, max_length=32)
    reporter: Reporter | None = None
    urgent: bool = False
    partial: bool = False
    case_number: str | None = Field(
        default=None, max_length=32, description="number read to a caller"
    )
    facts: dict[str, Any] = Field(
        default_factory=dict,
        description=f"at most {MAX_FACTS_DEPTH} levels and {MAX_FACTS_BYTES} bytes as JSON",
    )

    @field_validator("facts")
    @classmethod
    def _facts_bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_facts(value)
        return value


def _nesting_exceeds(value: Any, limit: int) -> bool:
    """True if ``value`` nests lists and objects more than ``limit`` levels deep."""
    level: list[Any] = [value]
    for _ in range(limit):
        level = [
            child
            for item in level
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, dict | list | tuple)
        ]
        if not level:
            return False
    return True


def check_facts(facts: dict[str, Any]) -> None:
    """Refuse ``facts`` deeper than `MAX_FACTS_DEPTH` or larger than `MAX_FACTS_BYTES` as JSON."""
    if _nesting_exceeds(facts, MAX_FACTS_DEPTH):
        raise PydanticCustomError(
            "facts_too_deep",
            "facts nest more than {limit} levels deep",
            {"limit": MAX_FACTS_DEPTH},
        )
    size = len(pydantic_core.to_json(facts, inf_nan_mode="null"))
    if size > MAX_FACTS_BYTES:
        raise PydanticCustomError(
            "facts_too_large",
            "facts are {size} bytes as JSON; the limit is {limit}",
            {"size": size, "limit": MAX_FACTS_BYTES},
        )


def check_candidate_topic(candidate: CandidateCase, topic: str, topics: Topics) -> None:
    """Raise `ContractError` ``source_mismatch`` unless ``topic`` is the candidate topic of
    its own source (``candidates/<source.kind>/<source.id>``): a producer speaks for itself."""
    source = candidate.source
    _check_source_topic("candidate", source, topic, topics.candidate(source.kind, source.id))


def check_feedback_topic(feedback: CaseFeedback, topic: str, topics: Topics) -> None:
    """As `check_candidate_topic`, for ``feedback/<source.kind>/<source.id>``."""
    source = feedback.source
    _check_source_topic("feedback", source, topic, topics.feedback(source.kind, source.id))


def _check_source_topic(what: str, source: Source, topic: str, expected: str) -> None:
    if topic != expected:
        raise ContractError(
            "source_mismatch",
            f"a {what} from {source.kind}/{source.id} belongs on {expected}, not on {topic[:300]}",
        )


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
)


# --------------------------------------------------------------------------- parsing


#: error types of our own validators that name a message's fault better than ``invalid``
_OWN_CODES = frozenset({"facts_too_deep", "facts_too_large"})


def _format_validation_error(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False):
        path = ".".join(str(p) for p in item["loc"]) or "(message)"
        parts.append(f"{path}: {item['msg']}")
    return "; ".join(parts)


def parse_message(
    payload: bytes,
    *,
    expect: type[_Message] | tuple[type[_Message], ...] | None = None,
    max_bytes: int = MAX_PAYLOAD_BYTES,
) -> Message:
    """Parse one MQTT payload into a contract message, or raise `ContractError`.

    Codes: ``too_large``, ``bad_encoding``, ``bad_json``, ``too_deep``, ``not_an_object``,
    ``unknown_schema``, ``bad_version``, ``unsupported_version``, ``unexpected_schema``,
    ``invalid``, ``facts_too_deep``, ``facts_too_large``; ``unreadable`` for any other
    failure. Nothing else is raised: whatever a payload holds, it is refused alone, with
    a code, and never stops the consumer reading the next one.
    """
    try:
        return _parse_message(payload, expect, max_bytes)
    except ContractError:
        raise
    except RecursionError as exc:
        raise ContractError("too_deep", "the JSON nests deeper than a message may") from exc
    except Exception as exc:  # one message's fault, whatever it was: refuse it alone
        raise ContractError(
            "unreadable", f"the payload could not be read ({type(exc).__name__}: {exc})"[:1000]
        ) from exc


def _parse_message(
    payload: bytes,
    expect: type[_Message] | tuple[type[_Message], ...] | None,
    max_bytes: int,
) -> Message:
    if len(payload) > max_bytes:
        raise ContractError(
            "too_large", f"payload is {len(payload)} bytes; the limit is {max_bytes}"
        )
    if isinstance(expect, type):
        # fast path for the one expected schema: pydantic parses the JSON itself (about
        # half the cost of json.loads + validate); anything it refuses takes the careful
        # path below, which says exactly what is wrong
        try:
            message = expect.model_validate_json(payload)
        except ValidationError:
            pass
        else:
            major = _VERSION.fullmatch(message.version)
            if major is not None and int(major.group(1)) == CONTRACT_MAJOR:
                return message  # type: ignore[return-value]
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContractError("bad_encoding", f"payload is not UTF-8: {exc}") from exc
    try:
        document = json.loads(text)
    except RecursionError as exc:
        raise ContractError("too_deep", "the JSON nests deeper than a message may") from exc
    except ValueError as exc:  # not JSON, or a number of more digits than int() reads
        raise ContractError("bad_json", f"payload is not JSON: {exc}"[:1000]) from exc
    return parse_document(document, expect=expect)


def parse_document(
    document: Any, *, expect: type[_Message] | tuple[type[_Message], ...] | None = None
) -> Message:
    """Like `parse_message` for an already decoded JSON value."""
    if not isinstance(document, Mapping):
        raise ContractError(
            "not_an_object", f"a message is a JSON object, got {type(document).__name__}"
        )
    schema = document.get("schema")
    if not isinstance(schema, str) or schema not in MESSAGE_TYPES:
        raise ContractError(
            "unknown_schema", f"unknown schema {repr(schema)[:100]}; known: {sorted(MESSAGE_TYPES)}"
        )
    version = document.get("version")
    match = _VERSION.fullmatch(version) if isinstance(version, str) else None
    if match is None:
        raise ContractError(
            "bad_version", f"version must be 'MAJOR.MINOR', got {repr(version)[:100]}"
        )
    if int(match.group(1)) != CONTRACT_MAJOR:
        raise ContractError(
            "unsupported_version",
            f"{schema} major version {match.group(1)} is not supported (this consumer speaks {CONTRACT_MAJOR}.x)",
        )
    message_type = MESSAGE_TYPES[schema]
    if expect is not None:
        expected = expect if isinstance(expect, tuple) else (expect,)
        if message_type not in expected:
            names = ", ".join(t.SCHEMA for t in expected)
            raise ContractError(
                "unexpected_schema", f"{schema} is not accepted here (expected {names})"
            )
    try:
        return message_type.model_validate(document)  # type: ignore[return-value]
    except ValidationError as exc:
        types = {item["type"] for item in exc.errors(include_url=False)}
        code = types.pop() if len(types) == 1 and types <= _OWN_CODES else "invalid"
        raise ContractError(code, _format_validation_error(exc)) from exc


# --------------------------------------------------------------------------- topics


class Topics:
    """Topic names under one root (config ``mqtt.topic_root``, default ``citygw/v1``)."""

    def __init__(self, root: str = DEFAULT_TOPIC_ROOT) -> None:
        root = root.strip("/")
        if not root or any(ch in root for ch in "+#\x00"):
            raise ValueError(f"invalid topic root {root!r}")
        self.root = root

    @staticmethod
    def _segment(value: str) -> str:
        if not value or _NOT_IN_SEGMENT.search(value):
            raise ValueError(f"invalid topic segment {value!r}")
        return value

    def candidate(self, source_kind: SourceKind | str, source_id: str) -> str:
        return (
            f"{self.root}/candidates/{self._segment(str(source_kind))}/{self._segment(source_id)}"
        )

    @property
    def all_candidates(self) -> str:
        return f"{self.root}/candidates/#"

    def case_events(self, case_id: str) -> str:
        return f"{self.root}/cases/{self._segment(case_id)}/events"

    @property
    def all_case_events(self) -> str:
        return f"{self.root}/cases/+/events"

    def feedback(self, source_kind: SourceKind | str, source_id: str) -> str:
        return f"{self.root}/feedback/{self._segment(str(source_kind))}/{self._segment(source_id)}"

    @property
    def all_feedback(self) -> str:
        return f"{self.root}/feedback/#"

    def daemon_status(self, daemon: str, instance: str) -> str:
        return f"{self.root}/status/{self._segment(daemon)}/{self._segment(instance)}"

    @property
    def all_daemon_status(self) -> str:
        return f"{self.root}/status/#"

    def camera_status(self, camera_id: str) -> str:
        return f"{self.root}/cameras/{self._segment(camera_id)}/status"

    @property
    def all_camera_status(self) -> str:
        return f"{self.root}/cameras/+/status"

    def receipts(self, consumer: str) -> str:
        return f"{self.root}/receipts/{self._segment(consumer)}"

    @property
    def all_receipts(self) -> str:
        return f"{self.root}/receipts/+"

    def dead_letter(self, consumer: str) -> str:
        return f"{self.root}/deadletter/{self._segment(consumer)}"

    @property
    def all_dead_letters(self) -> str:
        return f"{self.root}/deadletter/#"

    def verification_request(self, camera_id: str) -> str:
        return f"{self.root}/commands/video/{self._segment(camera_id)}/verify"

    @property
    def all_verification_requests(self) -> str:
        return f"{self.root}/commands/video/+/verify"

    def verification_result(self, camera_id: str) -> str:
        return f"{self.root}/results/video/{self._segment(camera_id)}/verify"

    @property
    def all_verification_results(self) -> str:
        return f"{self.root}/results/video/+/verify"

    def camera_event(
        self, camera_id: str, event_topic: str, source_items: Mapping[str, str]
    ) -> str:
        """``cameras/<camera-id>/events/<topic path>/<source>``: the ONVIF topic's parts
        without namespace prefixes, then the source items (``k=v,...``, ``-`` for none)."""
        return (
            f"{self.root}/cameras/{self._segment(camera_id)}/events/"
            f"{event_topic_path(event_topic)}/{source_segment(source_items)}"
        )

    @property
    def all_camera_events(self) -> str:
        return f"{self.root}/cameras/+/events/#"


_SEGMENT_MAX = 120


def _safe_segment(text: str) -> str:
    """``text`` as one topic segment: characters MQTT forbids in a segment become ``_``;
    a long one is cut and named by a hash of the whole, so two never collide by the cut."""
    safe = _NOT_IN_SEGMENT.sub("_", text) or "_"
    if len(safe) > _SEGMENT_MAX:
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
        safe = f"{safe[: _SEGMENT_MAX - 13]}~{digest}"
    return safe


def event_topic_path(event_topic: str) -> str:
    """``tns1:RuleEngine/FieldDetector/ObjectsInside`` -> ``RuleEngine/FieldDetector/ObjectsInside``
    (prefixes are the device's choice, as `topic_matches` in the video gateway ignores them)."""
    parts = [p.rpartition(":")[2] for p in event_topic.strip().strip("/").split("/")]
    return "/".join(_safe_segment(p) for p in parts[:16])


def source_segment(source_items: Mapping[str, str]) -> str:
    """The source items as one segment, in name order (``-`` when the event has none)."""
    if not source_items:
        return "-"
    return _safe_segment(",".join(f"{k}={source_items[k]}" for k in sorted(source_items)))


def dead_letter_for(
    *, topic: str, payload: bytes, error: ContractError, consumer: Source, head_bytes: int = 4096
) -> DeadLetter:
    """The dead-letter message for a payload a consumer rejected."""
    return DeadLetter.create(
        source=consumer,
        original_topic=topic,
        error_code=error.code,
        reason=error.reason[:4000],
        payload_size=len(payload),
        payload_head_b64=base64.b64encode(payload[:head_bytes]).decode("ascii"),
    )


def utc(moment: datetime) -> datetime:
    """Normalise an aware datetime to UTC (for callers building messages by hand)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC)
