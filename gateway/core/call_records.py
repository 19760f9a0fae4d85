"""Call records (话务记录): hotline calls the centre keeps without opening a case.

Every 12319 call ends in a candidate on MQTT; ``facts.call_purpose`` says what the call
was for (`gateway.telephony.call_report`). A report or a suggestion proposes a case and
goes through intake as any candidate. A consultation, a status query, a call handed
straight to an agent and a call that ended before the caller chose anything propose
nothing: the core keeps them as call records, stored once by candidate id in the
candidates table with no case, and they never reach the operators' review queue.

A call that never reached the IVR is recorded by `citygw ami` from Asterisk's CDR
(``facts.recorded_from`` ``cdr``); should the IVR's own record of the same call come
after all, `settle_calls` sets the CDR's aside (outcome ``call_set_aside``), so each
call is listed once and never as "not reached" when it was. The candidates table keeps
a call's uniqueid in a column of its own for that (`call_uniqueid`).

`proposes_case` is the domain decision; `store_with_call_records` is what the service
does with a batch that holds call records (they are split off before the case intake,
so the intake's per-candidate work never sees them); `CallRecordReader` is the read
port of the API's call-record list.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from gateway.clock import Clock
from gateway.contract import CandidateCase, SourceKind
from gateway.core.ports import CaseTransaction, EvidenceBytes

log = logging.getLogger(__name__)

#: call purposes that propose no case (``callback``: a reporter called back about a
#: closed case, `gateway.telephony.callback_report`); any other purpose (report, suggestion, or one a
#: newer gateway adds) goes through intake, so a report is never lost as a mere record
RECORD_ONLY_PURPOSES = frozenset({"consultation", "status_query", "transfer", "none", "callback"})

#: how a call record sits in the candidates table: no case, this outcome
NO_CASE = ""
CALL_RECORD_OUTCOME = "call_record"
#: a call record from Asterisk's CDR ("never reached the IVR", `citygw ami`) of a call
#: whose IVR record came after all: kept, no longer listed (see `settle_calls`)
CALL_SET_ASIDE_OUTCOME = "call_set_aside"
#: ``facts.recorded_from`` of a call record made from the CDR by the AMI side
RECORDED_FROM_CDR = "cdr"
#: the longest uniqueid the candidates table keeps in its own column
_UNIQUEID_MAX = 64


_CALL = SourceKind.CALL


def call_purpose(candidate: CandidateCase) -> str | None:
    """The call purpose a call candidate names (None: not a call, or an older gateway)."""
    if candidate.source.kind is not _CALL:
        return None
    purpose = candidate.facts.get("call_purpose")
    return purpose if isinstance(purpose, str) else None


def call_uniqueid(candidate: CandidateCase) -> str | None:
    """The Asterisk uniqueid of the call a call candidate records (None: not a call, none)."""
    if candidate.source.kind is not _CALL:
        return None
    value = candidate.facts.get("uniqueid")
    return value if isinstance(value, str) and 0 < len(value) <= _UNIQUEID_MAX else None


def settle_calls(tx: CaseTransaction, candidates: Sequence[CandidateCase]) -> None:
    """Two records of one call: the IVR's stands, the CDR's is set aside.

    `citygw ami` records a call from its CDR as never reaching the IVR when no IVR
    record of it came within its grace (``telephony.callbacks.unhandled_grace_s``). A
    late IVR record (its gateway was restarting, its outbox waited on the broker) would
    otherwise leave a wrong record beside the right one. Called in the transaction that
    stores ``candidates``, whichever of the two comes first: the store sets aside every
    CDR record of these calls that has an IVR record, its own or one stored before.
    """
    uniqueids = sorted({u for u in map(call_uniqueid, candidates) if u is not None})
    if not uniqueids:
        return
    set_aside = tx.set_aside_cdr_records(uniqueids)
    if set_aside:
        log.info(
            "%d call record(s) from the CDR set aside, their calls reached the IVR: %s",
            len(set_aside),
            ", ".join(set_aside),
        )


def proposes_case(candidate: CandidateCase) -> bool:
    """True unless the candidate is the record of a call that asked for no case.

    Runs once per candidate of every intake batch: a camera's answer costs one check.
    """
    if candidate.source.kind is not _CALL:
        return True
    return call_purpose(candidate) not in RECORD_ONLY_PURPOSES


# --------------------------------------------------------------------------- storing


class _Store(Protocol):
    def transaction(self) -> AbstractContextManager[CaseTransaction]: ...


class IntakeService(Protocol):
    """What `store_with_call_records` needs of `gateway.core.service.CaseService`."""

    @property
    def store(self) -> _Store: ...

    @property
    def evidence(self) -> EvidenceBytes: ...

    @property
    def clock(self) -> Clock: ...

    def store_candidates(
        self, candidates: Sequence[CandidateCase], received: Mapping[str, bytes] | None = None
    ) -> list[bool]: ...


def store_call_records(
    store: _Store,
    evidence: EvidenceBytes,
    records: Sequence[CandidateCase],
    now: datetime,
    received: Mapping[str, bytes] | None = None,
) -> list[bool]:
    """Store each record once by id (one transaction); True per id not seen before."""
    for record in records:  # bytes first, as intake does (none in today's call records)
        for item in record.evidence:
            if item.data is not None:
                evidence.put(item.raw_bytes(), item.sha256)
    results: list[bool] = []
    with store.transaction() as tx:
        known = tx.known_candidate_ids([r.id for r in records])
        for record in records:
            if record.id in known:
                results.append(False)
                continue
            known.add(record.id)
            tx.add_candidate(
                record, NO_CASE, CALL_RECORD_OUTCOME, now, (received or {}).get(record.id)
            )
            results.append(True)
        settle_calls(tx, [r for r, new in zip(records, results, strict=True) if new])
    return results


def store_with_call_records(
    service: IntakeService,
    candidates: Sequence[CandidateCase],
    received: Mapping[str, bytes] | None = None,
) -> list[bool]:
    """A batch holding call records: records apart, the rest through the case intake.

    Returns one flag per candidate, in the batch's order, as `store_candidates` does.
    The two parts commit separately; both are idempotent by id, so a redelivered batch
    after a crash between them stores only what is missing.
    """
    record_at = [i for i, c in enumerate(candidates) if not proposes_case(c)]
    case_at = [i for i, c in enumerate(candidates) if proposes_case(c)]
    results: list[bool] = [False] * len(candidates)
    stored = store_call_records(
        service.store,
        service.evidence,
        [candidates[i] for i in record_at],
        service.clock.now(),
        received,
    )
    for i, new in zip(record_at, stored, strict=True):
        results[i] = new
    if case_at:
        opened = service.store_candidates([candidates[i] for i in case_at], received)
        for i, new in zip(case_at, opened, strict=True):
            results[i] = new
    return results


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class CallRecordFilter:
    purpose: str | None = None
    #: the calls about one case: its callbacks and the status calls naming it
    case_number: str | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None
    offset: int = 0
    limit: int = 50


@dataclass(frozen=True)
class StoredCallRecord:
    """One call record as stored: the candidate's body (evidence without bytes)."""

    id: str
    received_at: datetime
    body: dict[str, Any]

    @property
    def facts(self) -> dict[str, Any]:
        facts = self.body.get("facts")
        return facts if isinstance(facts, dict) else {}

    def to_dict(self) -> dict[str, Any]:
        """The API's view: the call's facts up front, the rest of the message as sent."""
        facts = self.facts
        source = self.body.get("source") or {}
        reporter = self.body.get("reporter") or {}
        return {
            "id": self.id,
            "received_at": self.received_at,
            "source": f"{source.get('kind', '?')}/{source.get('id', '?')}",
            "call_purpose": facts.get("call_purpose"),
            "title": self.body.get("title", ""),
            "description": self.body.get("description", ""),
            "event_code": self.body.get("event_code"),
            "partial": bool(self.body.get("partial", False)),
            "caller": facts.get("caller"),
            "callback_number": reporter.get("callback_number"),
            "uniqueid": facts.get("uniqueid"),
            "asterisk_channel": facts.get("asterisk_channel"),
            "started_at": facts.get("started_at"),
            "ended_at": facts.get("ended_at"),
            "stage": facts.get("stage"),
            "outcome": facts.get("outcome"),
            "status_case_number": facts.get("status_case_number"),
            "facts": facts,
        }


class CallRecordReader(Protocol):
    def call_records(self, query: CallRecordFilter) -> tuple[list[StoredCallRecord], int]:
        """The page ``query`` asks for (newest first) and the total that match."""
        ...
