"""Citizens' feedback from MQTT (`CaseFeedback` on ``feedback/#``) into the case log.

Messages wait in a bounded queue (the MQTT thread waits when it is full); one worker
applies each to its case (a dissatisfied survey becomes a reopen request) and only then
acknowledges it. A payload that breaks the contract (or comes on another source's topic)
is kept as a dead letter (``kept``, the core's database) and goes to the dead-letter
topic; a feedback for an unknown case number or a case not yet closed is logged and dropped
(it can never apply later); a database failure leaves it unacknowledged for redelivery.
With ``receipts``, every feedback handled (applied, ignored or refused) is named in a
`Receipt`, so the producer's outbox forgets it; until then the producer resends it (a
shared subscription on a clean session loses what a stopped core held unacknowledged).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from gateway.clock import utc_now
from gateway.contract import (
    CaseFeedback,
    ContractError,
    Source,
    check_feedback_topic,
    dead_letter_for,
    parse_message,
)
from gateway.core.service import CaseService
from gateway.dead_letters import DeadLetterRecord, DeadLetterSink, is_os_error, keep, message_id_of
from gateway.inbound_queue import InboundQueue
from gateway.ports import InboundMessage, ReceiptSender
from gateway.publishing import ContractPublisher

log = logging.getLogger(__name__)


class FeedbackConsumer:
    def __init__(
        self,
        service: CaseService,
        dead_letters: ContractPublisher,
        consumer: Source,
        *,
        queue_size: int = 1000,
        kept: DeadLetterSink | None = None,
        is_outage: Callable[[BaseException], bool] = is_os_error,
        clock: Callable[[], datetime] = utc_now,
        receipts: ReceiptSender | None = None,
    ) -> None:
        self._service = service
        self._receipts = receipts
        self._kept = kept
        self._is_outage = is_outage
        self._clock = clock
        self._dead_letters = dead_letters
        self._consumer = consumer
        self._inbound = InboundQueue(
            self._handle_batch, name="core.feedback", queue_size=queue_size
        )
        self.applied = 0
        self.ignored = 0

    def start(self) -> None:
        self._inbound.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._inbound.stop(timeout)

    def submit(self, message: InboundMessage) -> None:
        self._inbound.submit(message)

    def _handle_batch(self, batch: list[InboundMessage]) -> None:
        handled: list[str] = []
        refused: list[str] = []
        for message in batch:
            outcome = self._handle(message)
            if outcome is not None:
                (handled if outcome[1] else refused).append(outcome[0])
        if self._receipts is not None and (handled or refused):
            try:
                self._receipts.send_receipt(handled, refused)
            except Exception:
                log.exception("could not send a feedback receipt (the producer resends; no loss)")

    def _handle(self, message: InboundMessage) -> tuple[str, bool] | None:
        """(its id, True if handled / False if refused) once acknowledged, if it has an id."""
        try:
            feedback = parse_message(message.payload, expect=CaseFeedback)
            assert isinstance(feedback, CaseFeedback)
            # a producer speaks for itself: only on its own source's topic
            check_feedback_topic(feedback, message.topic, self._dead_letters.topics)
        except ContractError as error:
            log.warning(
                "rejected feedback on %s: %s: %s", message.topic, error.code, error.reason[:300]
            )
            sink = self._kept
            if sink is not None:
                record = DeadLetterRecord.of(
                    topic=message.topic,
                    payload=message.payload,
                    error=error,
                    at=self._clock(),
                    message_id=message_id_of(message.payload),
                )
                kept = self._inbound.retry(
                    "keeping a dead letter", lambda: keep(sink, [record], self._is_outage)
                )
                if kept is None:
                    return None  # stopped: not acknowledged, redelivered after restart
            letter = dead_letter_for(
                topic=message.topic, payload=message.payload, error=error, consumer=self._consumer
            )
            self._dead_letters.dead_letter(letter, self._consumer.id)
            message.ack()
            refused_id = message_id_of(message.payload)
            return None if refused_id is None else (refused_id, False)
        result = self._inbound.retry(
            f"storing feedback {feedback.id}", lambda: self._service.feedback(feedback)
        )
        if self._inbound.stopping:
            return None  # not acknowledged: redelivered after restart
        if result is None:
            self.ignored += 1
        else:
            self.applied += 1
        message.ack()
        return feedback.id, True
