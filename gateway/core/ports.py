"""What the core's services need from storage, as Protocols (SQLAlchemy lives in adapters/).

A `CaseTransaction` is one unit of work: everything done through it commits together
(the case change, its step, and the event to publish: a transactional outbox) or not at
all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from gateway.contract import CandidateCase, Evidence
from gateway.core.workflow import Case, Step


class CaseNotFound(LookupError):
    def __init__(self, key: str) -> None:
        super().__init__(f"no case {key}")
        self.key = key


class ConcurrentUpdate(Exception):
    """The case changed since it was read (someone else acted first)."""


#: (lat_min, lat_max, lon_min, lon_max)
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class CaseScope:
    """The cases one inspector (监督员) sees: those on their grids (codes or code prefixes)
    and those reported by them (candidates from source ``reporter_id``, on the inspector
    or API topic)."""

    grids: tuple[str, ...]
    reporter_id: str


@dataclass(frozen=True)
class CaseFilter:
    states: tuple[str, ...] = ()
    event_code: str | None = None  # a code or a prefix
    grid_prefix: str | None = None
    department: str | None = None
    community: str | None = None  # the cases passed to this community (四级联动)
    created_from: datetime | None = None
    created_to: datetime | None = None
    deadline_before: datetime | None = None
    number: str | None = None
    scope: CaseScope | None = None  # None: every case (other roles)
    #: cases with an inspector's open task (核实/核查, `gateway.core.inspector_tasks`):
    #: "open" any, "unassigned" those given to nobody
    task: str | None = None
    task_assignee: str | None = None  # cases whose open task is this inspector's
    offset: int = 0
    limit: int = 50


@dataclass(frozen=True)
class StoredStep:
    seq: int
    step: Step


@dataclass(frozen=True)
class EvidenceLink:
    sha256: str
    media_type: str
    size: int
    role: str
    name: str
    stored: bool


@dataclass(frozen=True)
class CaseDetail:
    """A case with what its detail view shows, read together (one read transaction)."""

    case: Case
    candidate_ids: list[str]
    evidence: list[EvidenceLink]


class CaseTransaction(Protocol):
    def known_candidate_ids(self, ids: Sequence[str]) -> set[str]: ...
    def cases_by_tracks(self, track_keys: Sequence[str], since: datetime) -> dict[str, Case]:
        """The newest case created since ``since`` for each camera track key that has one."""
        ...

    def open_cases_in_grids(self, pairs: Sequence[tuple[str, str]], since: datetime) -> list[Case]:
        """Open cases created since ``since`` with one of the (event code, grid) pairs."""
        ...

    def open_cases_in_boxes(self, boxes: Sequence[tuple[str, Box]], since: datetime) -> list[Case]:
        """Open cases created since ``since`` inside any of the (event code, box) pairs.

        One lookup for a whole intake batch; each case at most once.
        """
        ...

    def existing_numbers(self, numbers: Sequence[str]) -> set[str]: ...
    def reserve_serials(self, counter: str, count: int) -> int:
        """Reserve ``count`` consecutive serials of the named counter (from 1); returns the first."""
        ...

    def get_case(self, case_id: str, *, for_update: bool = False) -> Case | None: ...
    def case_by_number(self, number: str) -> Case | None: ...
    def insert_case(self, case: Case) -> None: ...
    def update_case(self, case: Case, expected_version: int) -> None:
        """Raise `ConcurrentUpdate` if the stored version is not ``expected_version``."""
        ...

    def add_step(self, step: Step) -> None: ...
    def add_candidate(
        self,
        candidate: CandidateCase,
        case_id: str,
        outcome: str,
        received_at: datetime,
        received: bytes | None = None,
    ) -> None:
        """Keep the candidate (as ``received``, the payload it was parsed from, if given)."""
        ...

    def set_aside_cdr_records(self, uniqueids: Sequence[str]) -> list[str]:
        """Set aside the CDR call records (``call_record``, recorded from the CDR) of these
        calls that also have a record from the IVR, stored or in this transaction; the
        ids set aside. Two transactions storing the two records of one call at once
        still leave the CDR's set aside (several cores: a lock per call)."""
        ...

    def link_evidence(
        self, case_id: str, evidence: Evidence, stored: bool, at: datetime
    ) -> None: ...
    def add_event(self, topic: str, payload: bytes) -> None: ...
    def overdue_unnotified(self, now: datetime, limit: int) -> list[Case]: ...
    def mark_overdue_notified(self, case_ids: Sequence[str]) -> None: ...


class CaseStore(Protocol):
    """The core's database."""

    def transaction(self) -> AbstractContextManager[CaseTransaction]: ...
    def get_case(self, case_id: str) -> Case | None: ...
    def case_by_number(self, number: str) -> Case | None: ...
    def case_detail(self, case_id: str) -> CaseDetail | None: ...
    def list_cases(self, query: CaseFilter) -> tuple[list[Case], int]: ...
    def steps(self, case_id: str) -> list[StoredStep]: ...
    def all_steps(self, since_seq: int = 0, limit: int = 100_000) -> list[StoredStep]: ...
    def candidate_ids(self, case_id: str) -> list[str]: ...
    def evidence_of(self, case_id: str) -> list[EvidenceLink]: ...
    def evidence_meta(self, sha256: str) -> EvidenceLink | None: ...
    def pending_events(self, limit: int, after_seq: int = 0) -> list[tuple[int, str, bytes]]: ...
    def delete_events(self, seqs: Sequence[int]) -> None: ...
    def count_cases(self) -> int: ...


class EvidenceBytes(Protocol):
    """The content-addressed store of evidence bytes."""

    def put(self, data: bytes, sha256: str | None = None) -> str: ...
    def has(self, sha256: str) -> bool: ...
    def read(self, sha256: str) -> bytes: ...


class UserUpdate(StrEnum):
    UPDATED = "updated"
    NOT_FOUND = "not_found"
    LAST_ADMIN = "last_admin"  # it would leave no active admin: nothing was changed


class UserStore(Protocol):
    def insert_user(
        self,
        name: str,
        role: str,
        department: str | None,
        grids: list[str],
        password_hash: str,
        at: datetime,
        *,
        org_node: str | None = None,
    ) -> bool: ...
    def replace_user(
        self,
        name: str,
        role: str,
        department: str | None,
        grids: list[str],
        password_hash: str,
        at: datetime,
        *,
        org_node: str | None = None,
    ) -> bool: ...
    def update_user(
        self, name: str, values: Mapping[str, Any], *, end_sessions: bool
    ) -> UserUpdate: ...
    def user(self, name: str) -> dict[str, Any] | None: ...
    def users(self) -> list[dict[str, Any]]: ...
    def add_token(self, token_hash: str, user_name: str, expires_at: datetime) -> None: ...
    def token_user(self, token_hash: str, now: datetime) -> dict[str, Any] | None: ...
    def delete_token(self, token_hash: str) -> None: ...
