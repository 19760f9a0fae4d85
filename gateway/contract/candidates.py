"""Candidate cases: what a gateway (call, camera, inspector, API) reports to the core, with
its location, reporter and evidence."""

from __future__ import annotations

import base64
import binascii
import hashlib
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from gateway.contract.envelope import (
    EVENT_CODE_PATTERN,
    GRID_CODE_PATTERN,
    MAX_FACTS_BYTES,
    MAX_FACTS_DEPTH,
    _Message,
    check_facts,
)

# --------------------------------------------------------------------------- candidates


class EvidenceRole(StrEnum):
    SNAPSHOT = "snapshot"  # annotated JPEG of the frame that fired a rule
    CLIP = "clip"  # a few seconds of video around it
    RECORDING = "recording"  # a caller's voice (WAV 8 kHz)
    PHOTO = "photo"  # an inspector's or department's photo
    VOICE_NOTE = "voice_note"  # an inspector's spoken note on a report (WebM/Opus, MP4/AAC)


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
