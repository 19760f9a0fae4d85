"""The core's running parts of camera checks: answers from MQTT in, requests timed out.

- `VerificationResultConsumer`: `VerificationResult`s from ``results/video/+/verify``
  (persistent session, manual acknowledgement) wait in a bounded queue; one worker
  stores each (`VerificationService.record_result`), then acknowledges it and sends the
  gateway a receipt naming it (its outbox keeps the answer until then, as it keeps
  candidates). A payload that breaks the contract goes to the dead-letter topic; an
  answer to a request this core never made is refused for good (receipt ``rejected``);
  a database failure leaves it unacknowledged for redelivery.
- `VerificationWatch`: every ``scan_s``, marks requests not answered in time as timed
  out (核查请求超时), each once.
"""

from __future__ import annotations

import logging

from gateway.contract import (
    ContractError,
    Source,
    VerificationResult,
    dead_letter_for,
    parse_message,
)
from gateway.core.outgoing import _Loop
from gateway.core.verification import VerificationService
from gateway.inbound_queue import InboundQueue
from gateway.ports import InboundMessage, ReceiptSender
from gateway.publishing import ContractPublisher

log = logging.getLogger(__name__)


class VerificationResultConsumer:
    def __init__(
        self,
        service: VerificationService,
        dead_letters: ContractPublisher,
        consumer: Source,
        *,
        receipts: ReceiptSender | None = None,
        queue_size: int = 200,
    ) -> None:
        self._service = service
        self._dead_letters = dead_letters
        self._consumer = consumer
        self._receipts = receipts
        self._inbound = InboundQueue(
            self._handle_batch, name="core.camera-checks", queue_size=queue_size
        )
        self.stored = 0
        self.refused = 0

    def start(self) -> None:
        self._inbound.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._inbound.stop(timeout)

    def submit(self, message: InboundMessage) -> None:
        self._inbound.submit(message)

    def wait_idle(self, timeout: float) -> bool:
        return self._inbound.wait_idle(timeout)

    def _handle_batch(self, batch: list[InboundMessage]) -> None:
        for message in batch:
            self._handle(message)

    def _handle(self, message: InboundMessage) -> None:
        try:
            result = parse_message(message.payload, expect=VerificationResult)
        except ContractError as error:
            log.warning(
                "rejected camera check result on %s: %s: %s",
                message.topic,
                error.code,
                error.reason[:300],
            )
            letter = dead_letter_for(
                topic=message.topic, payload=message.payload, error=error, consumer=self._consumer
            )
            self._dead_letters.dead_letter(letter, self._consumer.id)
            message.ack()
            return
        assert isinstance(result, VerificationResult)
        known = self._inbound.retry(
            f"storing camera check result {result.id}",
            lambda: self._service.record_result(result),
        )
        if self._inbound.stopping or known is None:
            return  # not acknowledged: redelivered after restart
        if known:
            self.stored += 1
            self._receipt([result.id], [])
        else:
            self.refused += 1
            self._receipt([], [result.id])
        message.ack()

    def _receipt(self, ids: list[str], rejected: list[str]) -> None:
        if self._receipts is None:
            return
        try:
            self._receipts.send_receipt(ids, rejected)
        except Exception:
            log.exception("could not send a receipt (the gateway will resend; no loss)")


class VerificationWatch(_Loop):
    name = "core.camera-check-watch"

    def __init__(self, service: VerificationService, interval_s: float) -> None:
        super().__init__(interval_s=interval_s)
        self._service = service

    def _tick(self) -> None:
        self._service.time_out()


class CameraCheckParts:
    """The core's camera-check parts together, started and stopped with the daemon."""

    def __init__(
        self,
        service: VerificationService,
        consumer: VerificationResultConsumer,
        watch: VerificationWatch,
    ) -> None:
        self.service = service
        self.consumer = consumer
        self.watch = watch

    def start(self) -> None:
        self.consumer.start()
        self.watch.start()

    def stop(self) -> None:
        self.consumer.stop()
        self.watch.stop()
