"""The contract's envelope: versions, limits, ids, sources and the fields every message
carries, and the bounds on a candidate's ``facts``."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar

import pydantic_core
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_serializer,
    field_validator,
)
from pydantic_core import PydanticCustomError

from gateway.clock import rfc3339, utc_now

CONTRACT_MAJOR = 1
CONTRACT_VERSION = "1.3"
"""1.1: `CameraStatus.gateway` (optional) names the video gateway instance pulling the camera.
1.2: `PtzCommand` (``commands/video/<camera>/ptz``, core -> video gateway); a consumer of 1.1
ignores the topic it does not subscribe to.
1.3: `AgentCall` (``agent-calls/<source-id>``, telephony gateway -> core): an agent took a
queued hotline call (the agent's screen pop); `AgentQueues` (``agent-queues/<source-id>``,
retained): the agents' queue figures."""
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


def _shape(value: Any, limit: int) -> tuple[bool, int]:
    """(whether ``value`` nests lists and objects more than ``limit`` levels deep, a lower
    bound of its size as JSON). The bound counts each string and key as its characters and
    quotes (a character is at least a byte in UTF-8, escapes only add), each other scalar
    as one byte, and brackets, colons and commas: for ASCII text without escapes and no
    other scalars it is the exact size. Only levels up to ``limit`` are counted."""
    level: list[Any] = [value]
    size = 0
    for _ in range(limit):
        deeper: list[Any] = []
        for item in level:
            if isinstance(item, dict):
                size += 2 * len(item) + 1 if item else 2  # braces, colons and commas
                for key in item:
                    if isinstance(key, str):
                        size += len(key) + 2
                children = item.values()
            else:
                size += len(item) + 1 if item else 2  # brackets and commas
                children = item
            for child in children:
                if isinstance(child, str):
                    size += len(child) + 2
                elif isinstance(child, dict | list | tuple):
                    deeper.append(child)
                else:
                    size += 1
        if not deeper:
            return False, size
        level = deeper
    return True, size


def check_facts(facts: dict[str, Any]) -> None:
    """Refuse ``facts`` deeper than `MAX_FACTS_DEPTH` or larger than `MAX_FACTS_BYTES` as JSON.

    Facts whose text alone passes the limit are refused without writing them out as JSON
    (a fuzzer's megabytes of facts cost ~7 ms to serialise, on every parse of them)."""
    too_deep, at_least = _shape(facts, MAX_FACTS_DEPTH)
    if too_deep:
        raise PydanticCustomError(
            "facts_too_deep",
            "facts nest more than {limit} levels deep",
            {"limit": MAX_FACTS_DEPTH},
        )
    if at_least > MAX_FACTS_BYTES:
        raise PydanticCustomError(
            "facts_too_large",
            "facts are at least {size} bytes as JSON; the limit is {limit}",
            {"size": at_least, "limit": MAX_FACTS_BYTES},
        )
    size = len(pydantic_core.to_json(facts, inf_nan_mode="null"))
    if size > MAX_FACTS_BYTES:
        raise PydanticCustomError(
            "facts_too_large",
            "facts are {size} bytes as JSON; the limit is {limit}",
            {"size": size, "limit": MAX_FACTS_BYTES},
        )


def utc(moment: datetime) -> datetime:
    """Normalise an aware datetime to UTC (for callers building messages by hand)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC)
