"""The core's service layer: candidates in, transitions, feedback, overdue cases.

Each operation is one `CaseTransaction`: the case change, its step in the log, and the
`CaseEvent` to publish are committed together (a transactional outbox); the
`EventRelay` moves committed events to the MQTT outbox afterwards. The service itself
does no SQL and no MQTT: it works on the ports in `gateway.core.ports`.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pydantic_core

from gateway.case_numbers import CORE_ISSUER, format_case_number, serial_counter
from gateway.clock import Clock
from gateway.contract import (
    CandidateCase,
    CaseEvent,
    CaseFeedback,
    Evidence,
    Source,
    Topics,
    stable_message_id,
)
from gateway.core.case_components import ComponentLink
from gateway.core.case_components import link_component as linked_to
from gateway.core.case_evaluation import CaseScore, evaluate_case
from gateway.core.inspector_tasks import InspectorRoster
from gateway.core.intake import (
    DETECTION_FACTS,
    bounding_box,
    case_from_candidate,
    duplicate_of,
    place_of,
    track_key,
)
from gateway.core.ports import (
    Box,
    CaseNotFound,
    CaseStore,
    CaseTransaction,
    ConcurrentUpdate,
    EvidenceBytes,
)
from gateway.core.settings import CaseScoreWeights, DuplicateConfig
from gateway.core.workflow import (
    SYSTEM_ACTOR,
    Action,
    Actor,
    Case,
    CaseState,
    Command,
    Step,
    Transition,
    TransitionRefused,
    Workflow,
)
from gateway.gis.index import GridIndex

log = logging.getLogger(__name__)


@dataclass
class BatchIndex:
    """What one intake batch knows: cases by camera track, open cases by grid, taken numbers.

    Filled by a few queries at the start of the batch, then kept up to date with the
    cases the batch itself opens (so two candidates in one batch see each other).
    """

    tracks: dict[str, Case]
    numbers: set[str]
    by_grid: dict[tuple[str, str], list[Case]] = field(default_factory=dict)
    with_position: dict[str, list[Case]] = field(default_factory=dict)

    def add_open(self, case: Case) -> None:
        if case.grid_code is not None:
            self.by_grid.setdefault((case.event_code, case.grid_code), []).append(case)
        if case.lat is not None and case.lon is not None:
            self.with_position.setdefault(case.event_code, []).append(case)

    def open_in_grid(self, event_code: str, grid_code: str | None) -> list[Case]:
        return self.by_grid.get((event_code, grid_code), []) if grid_code else []

    def open_in_box(self, event_code: str, box: Box) -> list[Case]:
        lat_min, lat_max, lon_min, lon_max = box
        return [
            c
            for c in self.with_position.get(event_code, [])
            if lat_min <= c.lat <= lat_max and lon_min <= c.lon <= lon_max  # type: ignore[operator]
        ]


#: what `store_candidates` tells its listener per candidate: new case, re-detection, proposed merge
NewCaseListener = Callable[[CandidateCase, Case, str], None]
#: told each applied transition inside its transaction (what it writes commits with it)
TransitionHook = Callable[[CaseTransaction, Transition], None]


class CommitSignal:
    """Set after each commit that queued case events (an `Event`, cleared by its waiter);
    ``count`` grows with each, so a reader can tell whether anything was committed since
    it last looked without taking the signal from its waiter."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._counter = itertools.count(1)
        self.count = 0

    def set(self) -> None:
        self.count = next(self._counter)
        self._event.set()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)

    def clear(self) -> None:
        self._event.clear()


class CaseService:
    def __init__(
        self,
        store: CaseStore,
        evidence: EvidenceBytes,
        workflow: Workflow,
        clock: Clock,
        topics: Topics,
        source: Source,
        *,
        duplicates: DuplicateConfig,
        number_prefix: str = CORE_ISSUER,
        grids: GridIndex | None = None,
        case_score: CaseScoreWeights | None = None,
    ) -> None:
        self.store = store
        self.evidence = evidence
        self.workflow = workflow
        self.clock = clock
        self.topics = topics
        self.source = source
        self.duplicates = duplicates
        self.number_prefix = number_prefix
        #: the imported unit grids: a candidate with a point and no grid is located in them
        self.grids = grids
        #: weights of a case's 综合评价 (`gateway.core.case_evaluation`)
        self.case_score = case_score or CaseScoreWeights()
        self.committed = CommitSignal()
        self.on_intake: NewCaseListener | None = None
        self.on_transition: TransitionHook | None = None
        #: the inspectors and their grids now: a 核实 or 核查 goes to the one of the case's
        #: grid (`InspectorRoster.assignee_for`); None: tasks open unassigned
        self.inspectors: Callable[[], InspectorRoster] | None = None

    # ------------------------------------------------------------------ intake

    def store_candidates(
        self, candidates: Sequence[CandidateCase], received: Mapping[str, bytes] | None = None
    ) -> list[bool]:
        """The `CandidateStore` port of `gateway.ingest`: one transaction, True per new id.

        Lookups are made once per batch (known ids, camera tracks, open cases in the same
        grids, case numbers): a handful of queries per batch, not per candidate. Case numbers
        (`gateway.case_numbers`) are reserved for the candidates that open a case, exactly:
        a re-detection of an open case's object takes none, so serials have no gaps.
        """
        from gateway.core.call_records import proposes_case, settle_calls, store_with_call_records

        if not all(map(proposes_case, candidates)):  # hotline call records: kept, no case
            return store_with_call_records(self, candidates, received)
        now = self.clock.now()
        results: list[bool] = []
        outcomes: list[tuple[CandidateCase, Case, str]] = []
        with self.store.transaction() as tx:
            known = tx.known_candidate_ids([c.id for c in candidates])
            fresh: dict[str, CandidateCase] = {}
            for c in candidates:
                if c.id not in known:
                    fresh.setdefault(c.id, c)
            index = self._batch_index(tx, list(fresh.values()), now)
            local_now = now.astimezone(self.workflow.calendar.zone)
            numbers = _Numbers(tx, self.number_prefix, local_now)
            numbers.reserve(_numbers_needed(candidates, known, index))
            for candidate in candidates:
                if candidate.id not in fresh or candidate.id in known:
                    results.append(False)
                    continue
                known.add(candidate.id)
                payload = received.get(candidate.id) if received else None
                case, outcome = self._intake_one(tx, index, candidate, numbers, now, payload)
                outcomes.append((candidate, case, outcome))
                results.append(True)
            settle_calls(tx, [candidate for candidate, _case, _outcome in outcomes])
        if outcomes:
            self.committed.set()
        if self.on_intake is not None:
            for candidate, case, outcome in outcomes:
                self.on_intake(candidate, case, outcome)
        return results

    def _batch_index(
        self, tx: CaseTransaction, fresh: list[CandidateCase], now: datetime
    ) -> BatchIndex:
        table = self.workflow.table
        keys = {k for k in (track_key(c) for c in fresh) if k is not None}
        track_since = now - timedelta(hours=self.duplicates.redetection_window_hours)
        tracks = tx.cases_by_tracks(sorted(keys), track_since) if keys else {}
        # where each case will lie: its grid, and around where it will stand (a camera's:
        # the ground its zone, else the camera, sees in its grid)
        places = [(c, place_of(c, table, self.grids)) for c in fresh]
        pairs = {(c.event_code, p.grid_code) for c, p in places if p.grid_code is not None}
        since = now - timedelta(minutes=self.duplicates.window_minutes)
        nearby = tx.open_cases_in_grids(sorted(pairs), since) if pairs else []
        boxes = sorted(
            {
                (c.event_code, bounding_box(point[0], point[1], self.duplicates.distance_m))
                for c, p in places
                if (point := p.point) is not None
            }
        )
        if boxes:
            near = {case.id: case for case in nearby}
            near.update((case.id, case) for case in tx.open_cases_in_boxes(boxes, since))
            nearby = sorted(near.values(), key=lambda case: case.created_at)
        asked = sorted({c.case_number for c in fresh if c.case_number})
        numbers = tx.existing_numbers(asked) if asked else set()
        index = BatchIndex(tracks=tracks, numbers=numbers)
        for case in nearby:
            index.add_open(case)
        return index

    def _intake_one(
        self,
        tx: CaseTransaction,
        index: BatchIndex,
        candidate: CandidateCase,
        numbers: _Numbers,
        now: datetime,
        received: bytes | None = None,
    ) -> tuple[Case, str]:
        key = track_key(candidate)
        existing = index.tracks.get(key) if key is not None else None
        if existing is not None:
            # the same object seen again: a mark (when, by whom) on its case, not another set
            # of snapshots and clips (the evidence of the first detection stands)
            update = candidate.facts if "update_of" in candidate.facts else None
            seen = {
                "seen_at": candidate.ts.isoformat(),
                "source": f"{candidate.source.kind}/{candidate.source.id}",
                "evidence_not_kept": len(candidate.evidence),
            }
            result = self.workflow.redetected(existing, now, candidate.id, update, seen)
            if result.case is not existing:  # an update grew the open case's facts
                tx.update_case(result.case, existing.version)
                assert key is not None
                index.tracks[key] = result.case
            tx.add_candidate(candidate, existing.id, "redetection", now, received)
            self._record(tx, result, [candidate.id])
            return result.case, "redetection"
        number = candidate.case_number
        if not number or number in index.numbers:
            if number:
                log.warning(
                    "candidate %s brings case number %s that is taken; assigning another",
                    candidate.id,
                    number,
                )
            number = numbers.next()
        case = case_from_candidate(candidate, number, self.workflow.table, now, self.grids)
        if candidate.case_number and number != candidate.case_number:
            case = dataclasses.replace(
                case, facts={**case.facts, "caller_case_number": candidate.case_number}
            )
        outcome = "new_case"
        nearby = list(index.open_in_grid(case.event_code, case.grid_code))
        if case.lat is not None and case.lon is not None:
            box = bounding_box(case.lat, case.lon, self.duplicates.distance_m)
            nearby += index.open_in_box(case.event_code, box)
        target = duplicate_of(case, nearby, self.duplicates)
        if target is not None:
            case = dataclasses.replace(case, proposed_merge_into=target.id)
            outcome = "proposed_merge"
        tx.insert_case(case)
        index.add_open(case)
        index.numbers.add(case.number)
        if key is not None:
            index.tracks[key] = case
        facts: dict[str, Any] = {
            "candidate_id": candidate.id,
            "source": f"{candidate.source.kind}/{candidate.source.id}",
            "event_code": case.event_code,
            "grid_code": case.grid_code,
            "district": case.district,
        }
        if target is not None:
            facts["proposed_merge_into"] = target.id
        tx.add_candidate(candidate, case.id, outcome, now, received)
        self._link_evidence(tx, case.id, candidate, now)
        self._record(tx, self.workflow.open(case, now, facts), [candidate.id])
        return case, outcome

    def _link_evidence(
        self, tx: CaseTransaction, case_id: str, candidate: CandidateCase, now: Any
    ) -> None:
        """The candidate's evidence kept with a new case: bytes first (idempotent, written
        before the transaction commits), then the links."""
        for item in candidate.evidence:
            if item.data is not None:
                self.evidence.put(item.raw_bytes(), item.sha256)
            tx.link_evidence(case_id, item, self.evidence.has(item.sha256), now)

    # ------------------------------------------------------------------ transitions

    def transition(
        self, case_id: str, command: Command, actor: Actor, *, attempts: int = 3
    ) -> Transition:
        """Apply one command; raises CaseNotFound, TransitionRefused or ConcurrentUpdate."""
        for attempt in range(attempts):
            # the steps so far, for a 综合评价 (read before: the transaction only writes)
            history = (
                [s.step for s in self.store.steps(case_id)]
                if command.action in _MAY_EVALUATE
                else None
            )
            try:
                with self.store.transaction() as tx:
                    result = self._transition_in(tx, case_id, command, actor, history)
                self.committed.set()
                return result
            except ConcurrentUpdate:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def score(self, case: Case, steps: Sequence[Step]) -> CaseScore:
        """The case's 综合评价 from its history (on time, rework, delays, satisfaction)."""
        return evaluate_case(case, steps, self.case_score)

    def _transition_in(
        self,
        tx: CaseTransaction,
        case_id: str,
        command: Command,
        actor: Actor,
        history: list[Step] | None = None,
    ) -> Transition:
        case = tx.get_case(case_id, for_update=True)
        if case is None:
            raise CaseNotFound(case_id)
        if command.action is Action.MERGE and command.merge_into:
            target = tx.get_case(command.merge_into, for_update=True)
            if target is None:
                raise TransitionRefused(
                    "merge_target_not_found", f"no case {command.merge_into} to merge into"
                )
            command = dataclasses.replace(command, merge_target=target)
        if command.action is Action.REJECT:
            command = dataclasses.replace(
                command, facts={**command.facts, **_rejection_facts(case, command)}
            )
        if command.action in _OPENS_TASK and command.assignee is None and self.inspectors:
            assignee = self.inspectors().assignee_for(case.grid_code)
            if assignee is not None:
                command = dataclasses.replace(command, assignee=assignee, assigned_by_grid=True)
        result = self.workflow.apply(case, command, actor, self.clock.now())
        if result.case.state is CaseState.EVALUATED and history is not None:
            # 综合评价 is computed, kept with its step (the opinion stays a note beside it)
            score = self.score(result.case, [*history, result.step])
            facts = {**result.step.facts, "case_score": score.as_facts()}
            result = Transition(result.case, dataclasses.replace(result.step, facts=facts))
        tx.update_case(result.case, expected_version=case.version)
        self._record(tx, result)
        if self.on_transition is not None:  # e.g. a camera check asked for with a report
            self.on_transition(tx, result)
        return result

    def link_component(self, case_id: str, link: ComponentLink, actor: Actor) -> Transition:
        """Link the case to a census component (部件问题), replacing any earlier link; one
        step and one event. Raises CaseNotFound, TransitionRefused or ConcurrentUpdate."""
        with self.store.transaction() as tx:
            case = tx.get_case(case_id, for_update=True)
            if case is None:
                raise CaseNotFound(case_id)
            result = linked_to(case, link, actor, self.clock.now(), self.workflow.organisation)
            tx.update_case(result.case, expected_version=case.version)
            self._record(tx, result)
        self.committed.set()
        return result

    def note_handoff(self, case_id: str, facts: dict[str, Any]) -> Transition:
        """Log that the emergency command centre acknowledged the case (a step, an event)."""
        with self.store.transaction() as tx:
            case = tx.get_case(case_id)
            if case is None:
                raise CaseNotFound(case_id)
            result = self.workflow.handed_off(case, self.clock.now(), facts)
            self._record(tx, result, ["handoff"])
        self.committed.set()
        return result

    def feedback(self, feedback: CaseFeedback) -> Transition | None:
        """A citizen's survey answer; dissatisfied asks for a reopen. None: no such case/state."""
        case = self.store.case_by_number(feedback.case_number)
        if case is None:
            log.warning("feedback %s for unknown case number %s", feedback.id, feedback.case_number)
            return None
        if any(s.step.facts.get("feedback_id") == feedback.id for s in self.store.steps(case.id)):
            log.info("feedback %s already applied to case %s", feedback.id, case.number)
            return None
        command = Command(
            Action.FEEDBACK,
            opinion=feedback.comment,
            facts={
                "satisfaction": feedback.satisfaction,
                "reopen_requested": feedback.reopen_requested,
                "feedback_id": feedback.id,
            },
        )
        actor = Actor(f"{feedback.source.kind}/{feedback.source.id}", SYSTEM_ACTOR.role)
        try:
            return self.transition(case.id, command, actor)
        except TransitionRefused as refused:
            log.warning(
                "feedback %s on case %s (%s) not applied: %s",
                feedback.id,
                case.number,
                case.state,
                refused.reason,
            )
            return None

    def attach(self, case: Case, evidence: Evidence) -> None:
        """Keep an uploaded photo/document with a case (bytes first, then the link)."""
        self.evidence.put(evidence.raw_bytes(), evidence.sha256)
        with self.store.transaction() as tx:
            tx.link_evidence(case.id, evidence, True, self.clock.now())

    # ------------------------------------------------------------------ overdue

    def publish_overdue(self, limit: int = 500) -> list[Case]:
        """Queue one `overdue` event per case past its deadline (once per case)."""
        now = self.clock.now()
        with self.store.transaction() as tx:
            overdue = tx.overdue_unnotified(now, limit)
            for case in overdue:
                event = self._event(case, "overdue", case.state, case.state, light="red")
                tx.add_event(self.topics.case_events(case.id), event)
            tx.mark_overdue_notified([c.id for c in overdue])
        if overdue:
            self.committed.set()
            log.info(
                "%d case(s) overdue: %s", len(overdue), ", ".join(c.number for c in overdue[:20])
            )
        return overdue

    # ------------------------------------------------------------------ events

    def _record(
        self, tx: CaseTransaction, result: Transition, candidate_ids: Sequence[str] = ()
    ) -> None:
        tx.add_step(result.step)
        step = result.step
        event = self._event(
            result.case,
            str(step.action),
            step.from_state,
            step.to_state,
            actor=step.actor,
            role=str(step.role),
            opinion=step.opinion,
            candidate_ids=list(candidate_ids),
            facts=step.facts,
            discriminator=candidate_ids[0] if candidate_ids else "",
            at=step.at,
        )
        tx.add_event(self.topics.case_events(result.case.id), event)

    def _event(
        self,
        case: Case,
        action: str,
        from_state: CaseState | None,
        to_state: CaseState,
        *,
        actor: str | None = None,
        role: str | None = None,
        opinion: str = "",
        candidate_ids: list[str] | None = None,
        facts: dict[str, Any] | None = None,
        light: str | None = None,
        discriminator: str = "",
        at: datetime | None = None,
    ) -> bytes:
        """The event of a change made ``at`` (a step's time; now if not given), as JSON."""
        moment = at or self.clock.now()
        light = light or self.workflow.light(case, moment)
        return CaseEvent.encode(
            source=self.source,
            id=_event_id(case, action, discriminator),
            ts=moment,
            case_id=case.id,
            case_number=case.number,
            action=action,
            from_state=str(from_state) if from_state else None,
            to_state=str(to_state),
            event_code=case.event_code,
            grid_code=case.grid_code,
            department=case.department,
            actor=actor,
            role=role,
            opinion=opinion[:4000],
            deadline=case.deadline,
            light=light,
            candidate_ids=candidate_ids or [],
            facts=_jsonable(facts or {}),
        )


class _Numbers:
    """One intake batch's case numbers: serials of the local day reserved exactly as
    counted beforehand (`_numbers_needed`); one more reserved should the count fall short."""

    def __init__(self, tx: CaseTransaction, issuer: str, local_now: datetime) -> None:
        self._tx = tx
        self._issuer = issuer
        self._day = local_now
        self._counter = serial_counter(issuer, local_now)
        self._next = 0
        self._left = 0

    def reserve(self, count: int) -> None:
        if count > 0:
            self._next = self._tx.reserve_serials(self._counter, count)
            self._left = count

    def next(self) -> str:
        if self._left == 0:
            self.reserve(1)
        serial = self._next
        self._next += 1
        self._left -= 1
        return format_case_number(self._issuer, self._day, serial)


def _numbers_needed(candidates: Sequence[CandidateCase], known: set[str], index: BatchIndex) -> int:
    """How many of the batch's candidates open a case without a number of their own: not
    already stored, not a re-detection of a case's track (known, or opened earlier in the
    batch), and not bringing a free number (a hotline call's)."""
    needed = 0
    seen_ids: set[str] = set()
    tracks: set[str] = set()
    asked: set[str] = set()
    for candidate in candidates:
        if candidate.id in known or candidate.id in seen_ids:
            continue
        seen_ids.add(candidate.id)
        key = track_key(candidate)
        if key is not None:
            if key in index.tracks or key in tracks:
                continue
            tracks.add(key)
        number = candidate.case_number
        if not number or number in index.numbers or number in asked:
            needed += 1
        else:
            asked.add(number)
    return needed


#: the actions that may end in 综合评价 (evaluated)
_MAY_EVALUATE = frozenset({Action.EVALUATE, Action.FEEDBACK, Action.KEEP_CLOSED})
#: steps that open an inspector's task (核查 with the report, 核实 when asked)
_OPENS_TASK = frozenset({Action.REPORT, Action.REQUEST_CONFIRMATION})


def _event_id(case: Case, action: str, discriminator: str) -> str:
    return stable_message_id("case-event", case.id, str(case.version), action, discriminator)


def _rejection_facts(case: Case, command: Command) -> dict[str, Any]:
    """What the video gateway learns from: the camera, zone and the detection rejected."""
    facts: dict[str, Any] = {}
    reason = command.facts.get("reason")
    if reason:
        facts["reason"] = reason
    if case.source_kind == "camera" or case.camera_id:
        facts["camera_id"] = case.camera_id
        facts["zone_id"] = case.zone_id
        for key in DETECTION_FACTS:
            if key in case.facts:
                facts[key] = case.facts[key]
    return facts


def _jsonable(value: Any) -> Any:
    """``value`` with only JSON types (anything else as its text), for an event's facts."""
    try:
        return pydantic_core.to_jsonable_python(value, fallback=str)  # compiled, the common case
    except (ValueError, TypeError):  # e.g. bytes that are not UTF-8
        return _jsonable_slowly(value)


def _jsonable_slowly(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable_slowly(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable_slowly(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
