"""Camera-assisted verification (核查 by camera) in the core: requests out, answers in.

When a camera case reaches 处理反馈 (the department reports it done), or when a person
asks from the case page, the core sends the video gateway pulling that camera a
`VerificationRequest`; the gateway looks again with the same rule and answers with a
`VerificationResult` (``cleared``, ``still_present`` or ``camera_unavailable``, with
before/after snapshots). The verdict is shown to the person who decides 核查: it never
changes the case's state.

- `Verification`: one request (a row): its command id, stable per (case, ``seq``), who
  asked and when, by when an answer is due, then the answer or the time-out.
- `request_for`: the contract command for a camera case, from the facts its candidate
  carried (rule, zone, boxes, frame size). Pure.
- `VerificationService`: every change is one transaction of the case store, with the
  messages it sends: the command goes into the core's transactional outbox (the event
  table the `EventRelay` publishes in order, QoS 1), and a case event (same state)
  tells the console and other listeners that something was asked, answered or timed out.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from gateway.contract import (
    CaseEvent,
    Source,
    VerificationRequest,
    VerificationResult,
    stable_message_id,
)
from gateway.core.ports import CaseNotFound, CaseTransaction
from gateway.core.service import CaseService
from gateway.core.settings import CameraCheckConfig
from gateway.core.workflow import OPEN_STATES, Action, Actor, Case, Role, Transition

log = logging.getLogger(__name__)

#: who may ask a camera to look again from the case page
REQUESTERS = frozenset({Role.OPERATOR, Role.SHIFT_LEAD, Role.DISPATCHER, Role.INSPECTOR})

#: actions of the (same-state) case events that make a check visible
REQUESTED, ANSWERED, TIMED_OUT = (
    "camera_check_requested",
    "camera_check_answered",
    "camera_check_timed_out",
)


class VerificationStatus(StrEnum):
    PENDING = "pending"  # sent, no answer yet
    ANSWERED = "answered"  # a gateway answered (possibly after the time-out)
    TIMED_OUT = "timed_out"  # no answer in time (核查请求超时)


class Trigger(StrEnum):
    REPORT = "report"  # the department reported the case done (处理反馈)
    MANUAL = "manual"  # a person asked from the case page


@dataclass(frozen=True)
class Verification:
    id: str  # the request's message id: stable per (case, seq)
    case_id: str
    seq: int
    camera_id: str
    trigger: Trigger
    requested_at: datetime
    requested_by: str
    reply_by: datetime
    status: VerificationStatus = VerificationStatus.PENDING
    verdict: str | None = None
    result_id: str | None = None
    answered_at: datetime | None = None
    timed_out_at: datetime | None = None
    detail: str = ""
    before_sha256: str | None = None
    after_sha256: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)


class VerificationRefused(Exception):
    """A check that may not be asked for now. ``code``: forbidden_role, no_camera,
    wrong_state, camera_check_pending."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class VerificationRecords(Protocol):
    """The checks table inside one case-store transaction (`VerificationStore.joined`)."""

    def of_case(self, case_id: str) -> list[Verification]: ...
    def get(self, request_id: str) -> Verification | None: ...
    def add(self, verification: Verification) -> None: ...
    def update(self, verification: Verification) -> None: ...
    def due(self, now: datetime, limit: int) -> list[Verification]:
        """Pending checks whose answer was due before ``now``, oldest first."""
        ...


class VerificationStore(Protocol):
    """Where checks are kept: beside the cases, written in the case store's transactions."""

    def joined(self, tx: CaseTransaction) -> VerificationRecords: ...
    def of_case(self, case_id: str) -> list[Verification]: ...


# --------------------------------------------------------------------------- pure


def is_camera_case(case: Case) -> bool:
    return case.source_kind == "camera" and bool(case.camera_id)


def request_id_for(case_id: str, seq: int) -> str:
    """Deterministic: the same request sent twice is answered once."""
    return stable_message_id("verify", case_id, str(seq))


def original_boxes(facts: dict[str, Any]) -> list[tuple[float, float, float, float]]:
    """The boxes of the detection that opened the case (the latest update's, if any)."""
    found = [_box(item.get("box")) for item in facts.get("objects") or [] if isinstance(item, dict)]
    boxes = [box for box in found if box is not None]
    if not boxes and (lead := _box(facts.get("box"))) is not None:
        boxes.append(lead)
    return boxes[:32]


def _box(value: Any) -> tuple[float, float, float, float] | None:
    if (
        isinstance(value, list | tuple)
        and len(value) == 4
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        return float(value[0]), float(value[1]), float(value[2]), float(value[3])
    return None


def _frame_size(facts: dict[str, Any]) -> tuple[int, int] | None:
    size = facts.get("frame_size")
    if (
        isinstance(size, list | tuple)
        and len(size) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
    ):
        return int(size[0]), int(size[1])
    return None


def _text(value: Any) -> str | None:
    return value[:64] if isinstance(value, str) and value else None


def request_for(
    case: Case,
    seq: int,
    *,
    source: Source,
    now: datetime,
    requested_by: str,
    window_s: float | None = None,
) -> VerificationRequest:
    """The command asking ``case``'s camera to look again (the case must have a camera)."""
    if not case.camera_id:
        raise ValueError(f"case {case.number} has no camera")
    facts = case.facts
    return VerificationRequest.create(
        source=source,
        id=request_id_for(case.id, seq),
        ts=now,
        case_id=case.id,
        case_number=case.number,
        request_seq=seq,
        camera_id=case.camera_id,
        event_code=case.event_code,
        zone_id=(case.zone_id or _text(facts.get("zone_id")) or "")[:64] or None,
        rule_id=_text(facts.get("rule_id")),
        label=_text(facts.get("label")),
        boxes=original_boxes(facts),
        frame_size=_frame_size(facts),
        window_s=window_s,
        requested_by=requested_by[:100],
    )


# --------------------------------------------------------------------------- service


class VerificationService:
    """Asks cameras to look again at cases and keeps their answers (see the module doc)."""

    def __init__(
        self, cases: CaseService, store: VerificationStore, settings: CameraCheckConfig
    ) -> None:
        self._cases = cases
        self._store = store
        self.settings = settings

    # ------------------------------------------------------------------ reads

    def of_case(self, case_id: str) -> list[Verification]:
        return self._store.of_case(case_id)

    def can_request(self, case: Case, actor: Actor, earlier: Sequence[Verification]) -> bool:
        """Whether ``actor`` may ask now (``earlier``: the case's checks so far)."""
        try:
            self._check(case, actor, earlier)
        except VerificationRefused:
            return False
        return True

    # ------------------------------------------------------------------ requests

    def on_transition(self, tx: CaseTransaction, result: Transition) -> None:
        """`CaseService.on_transition`: a camera case reported done asks its camera."""
        if not self.settings.on_report or result.step.action is not Action.REPORT:
            return
        if not is_camera_case(result.case):
            return
        records = self._store.joined(tx)
        try:
            verification = self._add(
                tx, records, result.case, Actor("core", Role.SYSTEM), Trigger.REPORT, result.step.at
            )
        except ValueError as exc:  # facts no command can carry: the report goes on without
            log.error("case %s reported: its camera cannot be asked (%s)", result.case.number, exc)
            return
        log.info(
            "case %s reported: camera %s asked to look again (%s)",
            result.case.number,
            verification.camera_id,
            verification.id,
        )

    def request(self, case_id: str, actor: Actor) -> Verification:
        """A person asks from the case page; raises `VerificationRefused` or `CaseNotFound`."""
        if actor.role not in REQUESTERS:
            raise VerificationRefused(
                "forbidden_role", f"a {actor.role} may not ask a camera to look again"
            )
        with self._cases.store.transaction() as tx:
            case = tx.get_case(case_id, for_update=True)
            if case is None:
                raise CaseNotFound(case_id)
            records = self._store.joined(tx)
            self._check(case, actor, records.of_case(case.id))
            try:
                verification = self._add(
                    tx, records, case, actor, Trigger.MANUAL, self._cases.clock.now()
                )
            except ValueError as exc:
                raise VerificationRefused("no_camera", f"camera cannot be asked: {exc}") from exc
        self._cases.committed.set()
        return verification

    def _check(self, case: Case, actor: Actor, earlier: Sequence[Verification]) -> None:
        if actor.role not in REQUESTERS:
            raise VerificationRefused(
                "forbidden_role", f"a {actor.role} may not ask a camera to look again"
            )
        if not case.camera_id:
            raise VerificationRefused("no_camera", f"case {case.number} has no camera")
        if case.state not in OPEN_STATES:
            raise VerificationRefused(
                "wrong_state", f"case {case.number} is {case.state}: nothing to check"
            )
        if any(v.status is VerificationStatus.PENDING for v in earlier):
            raise VerificationRefused(
                "camera_check_pending", f"a camera check of case {case.number} is still waiting"
            )

    def _add(
        self,
        tx: CaseTransaction,
        records: VerificationRecords,
        case: Case,
        requested_by: Actor,
        trigger: Trigger,
        now: datetime,
    ) -> Verification:
        seq = max((v.seq for v in records.of_case(case.id)), default=0) + 1
        command = request_for(
            case,
            seq,
            source=self._cases.source,
            now=now,
            requested_by=requested_by.name,
            window_s=self.settings.window_s,
        )
        verification = Verification(
            id=command.id,
            case_id=case.id,
            seq=seq,
            camera_id=command.camera_id,
            trigger=trigger,
            requested_at=now,
            requested_by=requested_by.name,
            reply_by=now + timedelta(seconds=self.settings.timeout_s),
        )
        records.add(verification)
        tx.add_event(self._cases.topics.verification_request(command.camera_id), command.to_json())
        self._case_event(tx, case, REQUESTED, verification, now, actor=requested_by)
        return verification

    # ------------------------------------------------------------------ answers

    def record_result(self, result: VerificationResult) -> bool:
        """Keep a gateway's answer and attach its snapshots to the case.

        True: stored now or already (the same answer again); False: no such request here
        (it can never apply: the caller refuses it for good).
        """
        for item in result.evidence:  # bytes first: idempotent, and safe before the commit
            if item.data is not None:
                self._cases.evidence.put(item.raw_bytes(), item.sha256)
        now = self._cases.clock.now()
        with self._cases.store.transaction() as tx:
            records = self._store.joined(tx)
            verification = records.get(result.request_id)
            if verification is None or verification.case_id != result.case_id:
                log.warning(
                    "camera check result %s answers unknown request %s (case %s)",
                    result.id,
                    result.request_id,
                    result.case_id,
                )
                return False
            if verification.result_id is not None:
                if verification.result_id != result.id:
                    log.warning(
                        "camera check %s answered twice (%s kept, %s ignored)",
                        verification.id,
                        verification.result_id,
                        result.id,
                    )
                return True
            late = verification.status is VerificationStatus.TIMED_OUT
            answered = dataclasses.replace(
                verification,
                status=VerificationStatus.ANSWERED,
                verdict=str(result.verdict),
                result_id=result.id,
                answered_at=now,
                detail=result.detail[:500],
                before_sha256=result.before_sha256,
                after_sha256=result.after_sha256,
                facts={
                    "passes": result.passes,
                    "passes_present": result.passes_present,
                    "checked_from": result.checked_from.isoformat()
                    if result.checked_from
                    else None,
                    "checked_to": result.checked_to.isoformat() if result.checked_to else None,
                    "late": late,
                    "gateway": result.source.id,
                    **{k: v for k, v in result.facts.items() if k in _RESULT_FACTS},
                },
            )
            records.update(answered)
            for item in result.evidence:
                tx.link_evidence(
                    verification.case_id, item, self._cases.evidence.has(item.sha256), now
                )
            case = tx.get_case(verification.case_id)
            if case is not None:
                self._case_event(tx, case, ANSWERED, answered, now, late=late)
        self._cases.committed.set()
        log.info(
            "camera check %s of case %s: %s%s",
            verification.id,
            verification.case_id,
            result.verdict,
            " (after its time-out)" if late else "",
        )
        return True

    def time_out(self, limit: int = 200) -> list[Verification]:
        """Mark checks not answered in time (核查请求超时); each once."""
        now = self._cases.clock.now()
        timed_out: list[Verification] = []
        with self._cases.store.transaction() as tx:
            records = self._store.joined(tx)
            for verification in records.due(now, limit):
                expired = dataclasses.replace(
                    verification, status=VerificationStatus.TIMED_OUT, timed_out_at=now
                )
                records.update(expired)
                timed_out.append(expired)
                case = tx.get_case(verification.case_id)
                if case is not None:
                    self._case_event(tx, case, TIMED_OUT, expired, now)
        if timed_out:
            self._cases.committed.set()
            log.warning(
                "%d camera check(s) timed out: %s",
                len(timed_out),
                ", ".join(f"{v.case_id}#{v.seq}" for v in timed_out[:20]),
            )
        return timed_out

    # ------------------------------------------------------------------ events

    def _case_event(
        self,
        tx: CaseTransaction,
        case: Case,
        action: str,
        verification: Verification,
        now: datetime,
        *,
        actor: Actor | None = None,
        late: bool = False,
    ) -> None:
        """A same-state case event: the console and listeners see the check change."""
        facts: dict[str, Any] = {
            "request_id": verification.id,
            "seq": verification.seq,
            "camera_id": verification.camera_id,
            "trigger": str(verification.trigger),
            "status": str(verification.status),
        }
        if verification.verdict is not None:
            facts["verdict"] = verification.verdict
        if late:
            facts["late"] = True
        payload = CaseEvent.encode(
            source=self._cases.source,
            id=stable_message_id("case-event", case.id, action, verification.id),
            ts=now,
            case_id=case.id,
            case_number=case.number,
            action=action,
            from_state=str(case.state),
            to_state=str(case.state),
            event_code=case.event_code,
            grid_code=case.grid_code,
            department=case.department,
            actor=actor.name if actor else "core",
            role=str(actor.role if actor else Role.SYSTEM),
            opinion="",
            deadline=case.deadline,
            light=self._cases.workflow.light(case, now),
            candidate_ids=[],
            facts=facts,
        )
        tx.add_event(self._cases.topics.case_events(case.id), payload)


#: facts of a result kept with the check (what the gateway saw)
_RESULT_FACTS = ("rule_id", "zone_id", "classes", "found", "window_s", "reason")
