"""Candidate ingest: from broker messages to stored candidates, exactly once by id.

Messages arrive on the MQTT thread and wait in a bounded queue (when it is full the MQTT
thread waits too, and the broker keeps the rest). One worker takes them in batches:

- a payload that breaks the contract is logged with its reason, sent to the dead-letter
  topic, and then acknowledged (it will never become valid by waiting);
- valid candidates are stored in one transaction; the store answers which ids were new
  (a redelivered id is a duplicate and changes nothing); only after the commit is each
  message acknowledged;
- when the store fails (a database restart), nothing is acknowledged: the batch is
  retried with backoff until it commits, so a database outage loses nothing;
- after the commit, a `Receipt` names every id stored (new or already known) and every
  refused one, so the producing edge outbox can forget them (end-to-end, past the broker).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.contract import CandidateCase, ContractError, Source, dead_letter_for, parse_message
from gateway.inbound_queue import InboundQueue
from gateway.ports import InboundMessage, ReceiptSender
from gateway.publishing import ContractPublisher

log = logging.getLogger(__name__)


def _id_of(payload: bytes) -> str | None:
    """The ``id`` of a refused payload if one can be read (so its producer stops resending it)."""
    if len(payload) > 1024 * 1024:
        return None
    try:
        document = json.loads(payload)
    except ValueError:
        return None
    value = document.get("id") if isinstance(document, dict) else None
    return value if isinstance(value, str) and 0 < len(value) <= 128 else None


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
    ) -> None:
        self._receipts = receipts
        self._store = store
        self._dead_letters = dead_letters
        self._consumer = consumer
        self._max_batch = max_batch
        self._max_payload_bytes = max_payload_bytes
        self._on_stored = on_stored
        self._retry_max_s = retry_max_s
        self._inbound = InboundQueue(
            self._handle_batch, name="ingest.worker", queue_size=queue_size, max_batch=max_batch
        )
        self.stats = IngestStats()

    def start(self) -> None:
        self._inbound.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._inbound.stop(timeout)

    @property
    def running(self) -> bool:
        """True while the worker thread is alive (for watchdogs)."""
        return self._inbound.running

    def submit(self, message: InboundMessage) -> None:
        """Called for each broker message; waits while the queue is full (back-pressure)."""
        self._inbound.submit(message)

    def wait_idle(self, timeout: float) -> bool:
        """True when the queue is empty (for tests and tools)."""
        return self._inbound.wait_idle(timeout)

    # ------------------------------------------------------------------ worker

    def _handle_batch(self, batch: list[InboundMessage]) -> None:
        self.stats.received += len(batch)
        accepted: list[tuple[InboundMessage, CandidateCase]] = []
        rejected_ids: list[str] = []
        for message in batch:
            candidate = self._parse_or_dead_letter(message, rejected_ids)
            if candidate is not None:
                accepted.append((message, candidate))
        if not accepted:
            self._send_receipt([], rejected_ids)
            return
        # one id may come twice in one batch (a redelivery): keep the first
        unique: dict[str, CandidateCase] = {}
        received: dict[str, bytes] = {}
        for message, candidate in accepted:
            if candidate.id not in unique:
                unique[candidate.id] = candidate
                received[candidate.id] = message.payload
        candidates = list(unique.values())
        is_new = self._store_with_retry(candidates, received)
        if is_new is None:
            return  # stopping: nothing acknowledged, the broker will redeliver
        for message, _candidate in accepted:
            message.ack()
        self._send_receipt(list(unique), rejected_ids)
        for candidate, new in zip(candidates, is_new, strict=True):
            if new:
                self.stats.stored += 1
            else:
                self.stats.duplicates += 1
            if self._on_stored is not None:
                try:
                    self._on_stored(candidate, new)
                except Exception:
                    log.exception("on_stored callback failed for %s", candidate.id)
        self.stats.duplicates += len(accepted) - len(candidates)

    def _send_receipt(self, ids: list[str], rejected: list[str]) -> None:
        if self._receipts is None or not (ids or rejected):
            return
        try:
            self._receipts.send_receipt(ids, rejected)
        except Exception:
            log.exception("could not send a receipt (the producers will resend; no loss)")

    def _parse_or_dead_letter(
        self, message: InboundMessage, rejected_ids: list[str]
    ) -> CandidateCase | None:
        try:
            kwargs = (
                {} if self._max_payload_bytes is None else {"max_bytes": self._max_payload_bytes}
            )
            parsed = parse_message(message.payload, expect=CandidateCase, **kwargs)
        except ContractError as error:
            log.warning(
                "rejected message on %s (%d bytes): %s: %s",
                message.topic,
                len(message.payload),
                error.code,
                error.reason[:500],
            )
            letter = dead_letter_for(
                topic=message.topic, payload=message.payload, error=error, consumer=self._consumer
            )
            try:
                self._dead_letters.dead_letter(letter, self._consumer.id)
            except Exception:
                log.exception(
                    "could not queue dead letter for %s; leaving it unacknowledged", message.topic
                )
                return None
            self.stats.dead_lettered += 1
            message.ack()
            message_id = _id_of(message.payload)
            if message_id is not None:
                rejected_ids.append(message_id)
            return None
        assert isinstance(parsed, CandidateCase)
        return parsed

    def _store_with_retry(
        self, candidates: list[CandidateCase], received: Mapping[str, bytes]
    ) -> list[bool] | None:
        def attempt() -> list[bool]:
            try:
                return self._store.store_candidates(candidates, received)
            except Exception:
                self.stats.store_failures += 1
                raise

        return self._inbound.retry(
            f"storing {len(candidates)} candidates", attempt, max_delay_s=self._retry_max_s
        )
