"""Candidate ingest: from broker messages to stored candidates, exactly once by id.

Messages arrive on the MQTT thread and wait in a bounded queue (when it is full the MQTT
thread waits too, and the broker keeps the rest). One worker takes them in batches:

- a payload that breaks the contract in any way (`parse_message` refuses whatever it
  cannot read with a code; a source other than its topic's is ``source_mismatch``) is
  counted, kept (`gateway.dead_letters`, the core's database), sent to the dead-letter
  topic, and then acknowledged: it will never become valid by waiting. Refusing is kept
  cheap, so that a flood of poison does not slow the valid candidates around it: while
  more messages wait, refused ones are gathered and written together (one keep, one
  publish); the log names the first few each minute and sums up the rest by code;
- valid candidates are stored in one transaction; the store answers which ids were new
  (a redelivered id is a duplicate and changes nothing); only after the commit is each
  message acknowledged;
- when the store fails for an outage (``is_outage``: a database restart), nothing is
  acknowledged: the batch is retried with backoff until it commits, so an outage loses
  nothing; when it fails for any other reason, something in the batch cannot be stored:
  its candidates are stored one at a time, so valid neighbours go in and a candidate
  that fails alone is dead-lettered (``store_failed``) instead of being retried for ever;
- after the commit, a `Receipt` names every id stored (new or already known) and every
  refused one, so the producing edge outbox can forget them (end-to-end, past the broker).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from gateway.clock import utc_now
from gateway.contract import (
    CandidateCase,
    ContractError,
    Source,
    check_candidate_topic,
    dead_letter_for,
    parse_message,
)
from gateway.dead_letters import (
    STORE_FAILED,
    DeadLetterRecord,
    DeadLetterSink,
    RefusalLog,
    is_os_error,
    keep,
    message_id_of,
)
from gateway.inbound_queue import InboundQueue
from gateway.ports import InboundMessage, ReceiptSender
from gateway.publishing import ContractPublisher

log = logging.getLogger(__name__)


class CandidateStore(Protocol):
    def store_candidates(
        self, candidates: Sequence[CandidateCase], received: Mapping[str, bytes] | None = None
    ) -> list[bool]:
        """Store all in one transaction; for each, True if its id was new. Raise on failure.

        ``received``: the payload each was parsed from, by id (what an audit keeps).
        """
        ...


@dataclass
class IngestStats:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    store_failures: int = 0


StoredCallback = Callable[[CandidateCase, bool], None]


class CandidateIngest:
    """The consumer side of candidate cases. ``start()``/``stop()`` own one worker thread."""

    def __init__(
        self,
        store: CandidateStore,
        dead_letters: ContractPublisher,
        consumer: Source,
        *,
        max_batch: int = 200,
        queue_size: int = 2000,
        max_payload_bytes: int | None = None,
        on_stored: StoredCallback | None = None,
        receipts: ReceiptSender | None = None,
        retry_max_s: float = 30.0,
        kept: DeadLetterSink | None = None,
        is_outage: Callable[[BaseException], bool] = is_os_error,
        clock: Callable[[], datetime] = utc_now,
        refusal_log: RefusalLog | None = None,
        refused_batch: int = 200,
        refused_wait_s: float = 1.0,
    ) -> None:
        """``kept``: where dead letters are stored before their message is acknowledged;
        ``is_outage``: whether a store failure means the database is away (retry the batch)
        rather than that something in it cannot be stored (store one at a time);
        ``refusal_log``: how refusals are logged (default: the first 10 a minute one by one,
        then a summary by code); ``refused_batch``, ``refused_wait_s``: while more messages
        wait in the queue, refused ones are gathered and kept, published and acknowledged
        together, once this many are gathered or the oldest has waited this long (at once
        when the queue runs dry)."""
        self._refusal_log = refusal_log if refusal_log is not None else RefusalLog(log)
        self._receipts = receipts
        self._kept = kept
        self._is_outage = is_outage
        self._clock = clock
        self._store = store
        self._dead_letters = dead_letters
        self._consumer = consumer
        self._max_batch = max_batch
        self._max_payload_bytes = max_payload_bytes
        self._on_stored = on_stored
        self._retry_max_s = retry_max_s
        self._refused_batch = refused_batch
        self._refused_wait_s = refused_wait_s
        # refused messages not yet kept (unacknowledged: a stop leaves them to redelivery)
        self._refused: list[tuple[InboundMessage, ContractError]] = []
        self._refused_since = 0.0
        self._inbound = InboundQueue(
            self._handle_batch,
            name="ingest.worker",
            queue_size=queue_size,
            max_batch=max_batch,
            on_idle=self._idle,
        )
        self.stats = IngestStats()
        self.last_failure: str | None = None

    def start(self) -> None:
        self._inbound.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._inbound.stop(timeout)
        self._refusal_log.flush()

    @property
    def running(self) -> bool:
        """True while the worker thread is alive (for watchdogs)."""
        return self._inbound.running

    def submit(self, message: InboundMessage) -> None:
        """Called for each broker message; waits while the queue is full (back-pressure)."""
        self._inbound.submit(message)

    def wait_idle(self, timeout: float) -> bool:
        """True when the queue is empty and every refused message kept (for tests and tools)."""
        deadline = time.monotonic() + timeout
        while not self._inbound.wait_idle(max(0.0, deadline - time.monotonic())) or self._refused:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def stalled_for(self) -> float:
        """Seconds messages have waited without a batch being finished (0.0: none wait)."""
        return self._inbound.stalled_for()

    def health_problem(self, stall_after_s: float) -> str | None:
        """Why intake is unhealthy (for ``/healthz``), or None: a worker that is not running,
        or messages that have waited ``stall_after_s`` without a batch being finished."""
        if not self.running:
            return "the intake worker is not running"
        stalled = self._inbound.stalled_for()
        if stalled < stall_after_s:
            return None
        problem = f"intake has made no progress for {stalled:.0f} s while messages wait"
        return f"{problem} (last failure: {self.last_failure})" if self.last_failure else problem

    # ------------------------------------------------------------------ worker

    def _handle_batch(self, batch: list[InboundMessage]) -> None:
        self.stats.received += len(batch)
        candidates: dict[str, CandidateCase] = {}
        copies: dict[str, list[InboundMessage]] = {}  # one id may come twice (a redelivery)
        refused: list[tuple[InboundMessage, ContractError]] = []
        for message in batch:
            try:
                candidate = self._parse(message)
            except ContractError as error:
                refused.append((message, _refusal(error)))
                continue
            candidates.setdefault(candidate.id, candidate)  # the first copy is stored
            copies.setdefault(candidate.id, []).append(message)
        if refused and not self._refused:
            self._refused_since = time.monotonic()
        self._refused += refused
        rejected = self._flush_refused(force=False)
        if rejected is None:
            return  # stopping: nothing acknowledged, the broker will redeliver
        received = {id_: messages[0].payload for id_, messages in copies.items()}
        outcome = self._store_with_retry(list(candidates.values()), received) if candidates else []
        if outcome is None:
            return
        if isinstance(outcome, _Refused):
            # not an outage: something in the batch cannot be stored. One at a time, so
            # that its neighbours are stored and only what fails alone is refused
            log.warning(
                "storing a batch of %d candidates failed (%s); storing them one at a time",
                len(candidates),
                outcome.describe(),
            )
            self._store_one_by_one(candidates, copies, received, rejected)
            return
        self._confirm(list(zip(candidates.values(), outcome, strict=True)), copies, rejected)

    def _store_one_by_one(
        self,
        candidates: Mapping[str, CandidateCase],
        copies: Mapping[str, list[InboundMessage]],
        received: Mapping[str, bytes],
        rejected: list[str],
    ) -> None:
        stored: list[tuple[CandidateCase, bool]] = []
        for candidate in candidates.values():
            outcome = self._store_with_retry([candidate], {candidate.id: received[candidate.id]})
            if outcome is None:
                break  # stopping: what is stored is confirmed, the rest is redelivered
            if isinstance(outcome, _Refused):
                log.error(
                    "candidate %s cannot be stored (%s); refusing it",
                    candidate.id,
                    outcome.describe(),
                    exc_info=outcome.error,
                    extra={"candidate": candidate.id},
                )
                error = ContractError(
                    STORE_FAILED, f"the core could not store it: {outcome.describe()}"
                )
                letters = self._dead_letter([(message, error) for message in copies[candidate.id]])
                if letters is None:
                    break
                rejected += letters
                continue
            stored.append((candidate, outcome[0]))
        self._confirm(stored, copies, rejected)

    def _confirm(
        self,
        stored: list[tuple[CandidateCase, bool]],
        copies: Mapping[str, list[InboundMessage]],
        rejected: list[str],
    ) -> None:
        """Acknowledge the stored candidates' messages, then tell their producers."""
        for candidate, _new in stored:
            for message in copies[candidate.id]:
                message.ack()
        self._send_receipt([candidate.id for candidate, _new in stored], rejected)
        for candidate, new in stored:
            if new:
                self.stats.stored += 1
            else:
                self.stats.duplicates += 1
            self.stats.duplicates += len(copies[candidate.id]) - 1
            if self._on_stored is not None:
                try:
                    self._on_stored(candidate, new)
                except Exception:
                    log.exception(
                        "on_stored callback failed for %s",
                        candidate.id,
                        extra={"candidate": candidate.id},
                    )

    def _send_receipt(self, ids: list[str], rejected: list[str]) -> None:
        if self._receipts is None or not (ids or rejected):
            return
        try:
            self._receipts.send_receipt(ids, rejected)
        except Exception:
            log.exception("could not send a receipt (the producers will resend; no loss)")

    def _parse(self, message: InboundMessage) -> CandidateCase:
        """The candidate, or `ContractError`: whatever the payload holds, and a source that is
        not its topic's (``source_mismatch``)."""
        kwargs = {} if self._max_payload_bytes is None else {"max_bytes": self._max_payload_bytes}
        parsed = parse_message(message.payload, expect=CandidateCase, **kwargs)
        if not isinstance(parsed, CandidateCase):
            raise ContractError("unexpected_schema", f"{parsed.SCHEMA} is not a candidate")
        check_candidate_topic(parsed, message.topic, self._dead_letters.topics)
        return parsed

    def _flush_refused(self, *, force: bool) -> list[str] | None:
        """Keep, publish and acknowledge the refused messages gathered so far, if it is time:
        ``force``, or nothing else waits in the queue, or enough are gathered, or the oldest
        has waited long enough. Under a flood of poison this makes one write (and one
        dead-letter publish) of many instead of one a batch. The ids read in them (for the
        receipt), [] when not yet, None when stopped before they were kept."""
        pending = self._refused
        if not pending:
            return []
        due = (
            force
            or not self._inbound.has_waiting()
            or len(pending) >= self._refused_batch
            or time.monotonic() - self._refused_since >= self._refused_wait_s
        )
        if not due:
            return []
        rejected = self._dead_letter(pending)
        if rejected is not None:
            self._refused = []
        return rejected

    def _idle(self) -> None:
        """Nothing came for a while: keep what was gathered; end the log's window if due."""
        rejected = self._flush_refused(force=True)
        if rejected:
            self._send_receipt([], rejected)
        self._refusal_log.tick()

    def _dead_letter(self, refused: list[tuple[InboundMessage, ContractError]]) -> list[str] | None:
        """Keep, publish and acknowledge each refused message; the ids that could be read in
        them (for the receipt), or None if we were stopped before they were kept."""
        if not refused:
            return []
        now = self._clock()
        records = []
        for message, error in refused:
            self._refusal_log.refused(message.topic, len(message.payload), error.code, error.reason)
            message_id = message_id_of(message.payload)
            records.append(
                DeadLetterRecord.of(
                    topic=message.topic,
                    payload=message.payload,
                    error=error,
                    at=now,
                    message_id=message_id,
                )
            )
        sink = self._kept
        if sink is not None:
            outcome = self._inbound.retry(
                f"keeping {len(records)} dead letters",
                lambda: keep(sink, records, self._is_outage),
                max_delay_s=self._retry_max_s,
            )
            if outcome is None:
                return None
        self._publish_dead_letters(refused)
        for message, _error in refused:
            message.ack()
        self.stats.dead_lettered += len(refused)
        return [r.message_id for r in records if r.message_id is not None]

    def _publish_dead_letters(self, refused: list[tuple[InboundMessage, ContractError]]) -> None:
        """On the dead-letter topic, all in one go; kept and logged already, so a failure here
        is only logged: refusing a message must not stop intake."""
        try:
            letters = [
                dead_letter_for(
                    topic=message.topic,
                    payload=message.payload,
                    error=error,
                    consumer=self._consumer,
                )
                for message, error in refused
            ]
            self._dead_letters.dead_letters(letters, self._consumer.id)
        except Exception:
            log.exception("could not publish the dead letters of %d messages", len(refused))

    def _store_with_retry(
        self, candidates: list[CandidateCase], received: Mapping[str, bytes]
    ) -> list[bool] | _Refused | None:
        """Store, retrying an outage with backoff; `_Refused` when the store refused them for
        another reason; None when stopped meanwhile."""

        def attempt() -> list[bool] | _Refused:
            try:
                result = self._store.store_candidates(candidates, received)
            except Exception as exc:
                self.stats.store_failures += 1
                self.last_failure = f"{type(exc).__name__}: {exc}"[:300]
                if self._is_outage(exc):
                    raise
                return _Refused(exc)
            self.last_failure = None
            return result

        return self._inbound.retry(
            f"storing {len(candidates)} candidates", attempt, max_delay_s=self._retry_max_s
        )


@dataclass(frozen=True)
class _Refused:
    """The store failed on these candidates for a reason other than an outage."""

    error: Exception

    def describe(self) -> str:
        return f"{type(self.error).__name__}: {self.error}"[:1000]


def _refusal(error: ContractError) -> ContractError:
    """What is kept of a refusal until it is written: its code and reason, not the raised
    exception. That one's traceback holds the frame that caught it, and so the whole batch
    (payloads of megabytes, the parsed documents of the others) in a reference cycle that
    only the garbage collector's full passes free, long after the refusal is written."""
    return ContractError(error.code, error.reason)
