"""Draining the durable outbox to the broker: in order, acked by PUBACK, confirmed by receipt.

`OutboxPublisher` drains an `Outbox`: one thread publishes rows in order, keeps at most
``inflight_window`` awaiting PUBACK, deletes acked rows in batches, and after a restart
starts again from the oldest row (what was in flight may then arrive twice; consumers
store by message id). While the broker is away, nothing new is handed to paho; paho
itself re-sends what was in flight when the connection returns. With a receipts topic,
it hands the consumers' `Receipt`s to the outbox, which keeps messages sent with a
``confirm_id`` until one names them and sends them again when none comes in time.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Sequence
from enum import StrEnum

from adapters.mqtt.connection import MqttConnection, PublishRefused, ReceivedMessage
from adapters.mqtt.outbox import Outbox
from gateway.contract import ContractError, Receipt, parse_message
from gateway.ports import Delivery

log = logging.getLogger(__name__)


class PublisherState(StrEnum):
    NEW = "new"
    RUNNING = "running"
    STOPPED = "stopped"


class OutboxPublisher:
    """Publishes through an `Outbox`: durable on `publish()`, in order, deleted when delivered.

    With ``receipts_filter`` set, it listens for consumers' `Receipt`s there and keeps
    messages published with a ``confirm_id`` until one names them.
    """

    def __init__(
        self,
        outbox: Outbox,
        connection: MqttConnection,
        *,
        inflight_window: int = 200,
        name: str = "outbox",
        receipts_filter: str | None = None,
        receipt_timeout_s: float = 30.0,
        receipt_backoff_max_s: float = 900.0,
    ) -> None:
        self.outbox = outbox
        self._connection = connection
        self._window = inflight_window
        self._name = name
        self._receipts_filter = receipts_filter
        self._receipt_timeout_s = receipt_timeout_s
        self._receipt_backoff_max_s = receipt_backoff_max_s
        self._state = PublisherState.NEW
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._inflight: dict[int, tuple[Delivery, str | None]] = {}
        self._receipted: deque[list[str]] = deque()
        self._last_handed_seq = 0
        self._next_resend_check = 0.0
        self._next_full_settle = 0.0
        self._coalesce_s = 0.002
        self._thread: threading.Thread | None = None
        self.published_total = 0
        self.acked_total = 0
        self.confirmed_total = 0
        self.resent_total = 0
        connection.add_publish_listener(self._poke)
        connection.add_connection_listener(lambda _up: self._wake.set())

    def _set_state(self, state: PublisherState) -> None:
        if state != self._state:
            log.info("%s %s -> %s", self._name, self._state, state)
            self._state = state

    def start(self) -> None:
        if self._state != PublisherState.NEW:
            return
        if self._receipts_filter is not None:
            self._connection.subscribe(self._receipts_filter, self._on_receipt)
        self._thread = threading.Thread(target=self._run, name=f"{self._name}.drain", daemon=True)
        self._set_state(PublisherState.RUNNING)
        self._thread.start()
        self._connection.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop draining (what is not delivered stays on disk for next time)."""
        if self._state != PublisherState.RUNNING:
            self._set_state(PublisherState.STOPPED)
            return
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._set_state(PublisherState.STOPPED)

    # ------------------------------------------------------------------ API

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        confirm_id: str | None = None,
    ) -> int:
        """Store durably, then let the drain thread send it. Raises `OutboxFull`.

        ``confirm_id``: keep the message until a consumer's receipt names this id.
        """
        if confirm_id is not None and self._receipts_filter is None:
            confirm_id = None  # nobody listens for receipts here: PUBACK is the end
        seq = self.outbox.put(topic, payload, qos=qos, retain=retain, confirm_id=confirm_id)
        self._poke()
        return seq

    def publish_many(self, messages: Sequence[tuple[str, bytes]], *, qos: int = 1) -> list[int]:
        """Store all of ``messages`` (topic, payload) in one transaction, then let the drain
        thread send them. Raises `OutboxFull` (none stored)."""
        seqs = self.outbox.put_many(
            (topic, payload, qos, False, None) for topic, payload in messages
        )
        self._poke()
        return seqs

    def _poke(self) -> None:
        """Wake the drain thread (a no-op while a wake-up is already pending)."""
        if not self._wake.is_set():
            self._wake.set()

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    def wait_drained(self, timeout: float) -> bool:
        """True once the outbox is empty (every message delivered and, if asked, confirmed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.outbox.queued_messages == 0:
                return True
            time.sleep(0.01)
        return self.outbox.queued_messages == 0

    # ------------------------------------------------------------------ callbacks (paho thread)

    def _on_receipt(self, message: ReceivedMessage) -> None:
        try:
            receipt = parse_message(message.payload, expect=Receipt)
        except ContractError as error:
            log.warning("%s: ignoring a bad receipt on %s: %s", self._name, message.topic, error)
        else:
            assert isinstance(receipt, Receipt)
            self._receipted.append([*receipt.ids, *receipt.rejected])
            self._wake.set()
        message.ack()

    # ------------------------------------------------------------------ drain loop

    def _run(self) -> None:
        was_connected = False
        while not self._stopping.is_set():
            self._wake.wait(0.5)
            # let acks and new messages gather for a moment: one transaction for many rows
            # instead of one per PUBACK (costs at most a few milliseconds of latency)
            self._stopping.wait(self._coalesce_s)
            self._wake.clear()
            try:
                self._settle_acks()
                self._apply_receipts()
                self._resend_overdue()
                connected = self._connection.connected
                if connected and not was_connected:
                    log.info(
                        "%s: broker reachable, %d queued", self._name, self.outbox.queued_messages
                    )
                was_connected = connected
                if connected:
                    self._hand_over()
            except sqlite3.Error:
                log.exception("%s: outbox database error; retrying", self._name)
                time.sleep(1.0)
            except Exception:
                # the drain thread must outlive any surprise: messages stay on disk meanwhile
                log.exception("%s: unexpected error while draining; retrying", self._name)
                time.sleep(1.0)
        self._settle_acks()
        self._apply_receipts()

    def _settle_acks(self) -> None:
        # PUBACKs come back in order: look at the oldest in-flight messages until the first
        # still unacked, and at all of them once a second in case one came out of order
        now = time.monotonic()
        done: list[int] = []
        if now >= self._next_full_settle:
            self._next_full_settle = now + 1.0
            done = [
                seq for seq, (delivery, _cid) in self._inflight.items() if delivery.is_published()
            ]
        else:
            for seq, (delivery, _cid) in self._inflight.items():
                if not delivery.is_published():
                    break
                done.append(seq)
        if not done:
            return
        plain: list[int] = []
        awaiting: list[tuple[int, str]] = []
        for seq in done:
            _delivery, confirm_id = self._inflight.pop(seq)
            if confirm_id is None:
                plain.append(seq)
            else:
                awaiting.append((seq, confirm_id))
        self.outbox.delete(plain)
        self.outbox.await_receipt(
            awaiting, timeout_s=self._receipt_timeout_s, backoff_max_s=self._receipt_backoff_max_s
        )
        self.acked_total += len(done)

    def _apply_receipts(self) -> None:
        ids: list[str] = []
        while self._receipted:
            ids.extend(self._receipted.popleft())
        if ids:
            self.confirmed_total += self.outbox.confirm(ids)

    def _resend_overdue(self) -> None:
        if self._receipts_filter is None or time.monotonic() < self._next_resend_check:
            return
        self._next_resend_check = time.monotonic() + 1.0
        moved = self.outbox.requeue_unconfirmed(self._window)
        if moved:
            self.resent_total += moved
            log.warning(
                "%s: %d messages had no receipt in time; sending them again", self._name, moved
            )

    def _hand_over(self) -> None:
        room = self._window - len(self._inflight)
        if self._inflight and room < max(1, self._window // 4):
            return  # refill in batches, not one message per returning ack
        while room > 0 and not self._stopping.is_set() and self._connection.connected:
            batch = self.outbox.after(self._last_handed_seq, room)
            if not batch:
                return
            for message in batch:
                try:
                    delivery = self._connection.publish(
                        message.topic, message.payload, qos=message.qos, retain=message.retain
                    )
                except PublishRefused as exc:
                    log.error(
                        "%s: message %d can never be sent, set aside: %s",
                        self._name,
                        message.seq,
                        exc.reason,
                    )
                    self.outbox.set_aside(message, exc.reason)
                    self._last_handed_seq = message.seq
                    continue
                self._last_handed_seq = message.seq
                self.published_total += 1
                if message.qos == 0:
                    self.outbox.delete([message.seq])
                    continue
                self._inflight[message.seq] = (delivery, message.confirm_id)
            room = self._window - len(self._inflight)
            self._settle_acks()
