"""Citizens' feedback from MQTT (`CaseFeedback` on ``feedback/#``) into the case log.

Messages wait in a bounded queue (the MQTT thread waits when it is full); one worker
applies each to its case (a dissatisfied survey becomes a reopen request) and only then
acknowledges it. A payload that breaks the contract goes to the dead-letter topic; a
feedback for an unknown case number or a case not yet closed is logged and dropped
(it can never apply later); a database failure leaves it unacknowledged for redelivery.
"""

from __future__ import annotations

import logging
import queue
import threading

from gateway.contract import CaseFeedback, ContractError, Source, dead_letter_for, parse_message
from gateway.core.service import CaseService
from gateway.ports import InboundMessage
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
    ) -> None:
        self._service = service
        self._dead_letters = dead_letters
        self._consumer = consumer
        self._queue: queue.Queue[InboundMessage] = queue.Queue(maxsize=queue_size)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.applied = 0
        self.ignored = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="core.feedback", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def submit(self, message: InboundMessage) -> None:
        while not self._stopping.is_set():
            try:
                self._queue.put(message, timeout=0.5)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                message = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self._handle(message)

    def _handle(self, message: InboundMessage) -> None:
        try:
            feedback = parse_message(message.payload, expect=CaseFeedback)
        except ContractError as error:
            log.warning(
                "rejected feedback on %s: %s: %s", message.topic, error.code, error.reason[:300]
            )
            letter = dead_letter_for(
                topic=message.topic, payload=message.payload, error=error, consumer=self._consumer
            )
            self._dead_letters.dead_letter(letter, self._consumer.id)
            message.ack()
            return
        assert isinstance(feedback, CaseFeedback)
        delay = 0.5
        while not self._stopping.is_set():
            try:
                result = self._service.feedback(feedback)
                break
            except Exception as exc:
                log.error("feedback %s not stored (%s); retrying in %.1fs", feedback.id, exc, delay)
                self._stopping.wait(delay)
                delay = min(delay * 2, 30.0)
        else:
            return  # stopping: not acknowledged, redelivered after restart
        if result is None:
            self.ignored += 1
        else:
            self.applied += 1
        message.ack()
