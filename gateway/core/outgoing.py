"""What leaves the core: committed case events relayed to MQTT, and the overdue watch.

`EventRelay` is the second half of the transactional outbox: case events are written
in the same database transaction as the change they describe (the event table *is*
the core's durable outbox); the relay publishes them in order (QoS 1) and deletes each
row only once the broker acknowledged it. After a crash or reconnect it starts again
from the oldest row, so an event may arrive twice, with the same message id, which
consumers store once.

The relay is also the one in-process place that sees every committed event: it hands
each one, once and in commit order, to ``on_committed`` (the console's live stream),
whether or not the broker is reachable: rows are told as the relay reads them to publish,
or, while it cannot publish (no broker, window full), by a separate look at the table.
A row is told before it can be published and deleted; the seen-set follows deletions
because SQLite may reuse a deleted row's number.

`OverdueWatch` asks the service, every ``interval_s``, to publish cases past their
deadline (once per case and deadline).
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Protocol

from gateway.core.service import CaseService
from gateway.ports import Delivery

log = logging.getLogger(__name__)


class LoopState(StrEnum):
    NEW = "new"
    RUNNING = "running"
    STOPPED = "stopped"


class _Loop(ABC):
    """One named thread running ``_tick`` until stopped; ``stop()`` runs a last tick."""

    name = "loop"

    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.state = LoopState.NEW

    def _set_state(self, state: LoopState) -> None:
        if state != self.state:
            log.info("%s %s -> %s", self.name, self.state, state)
            self.state = state

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._set_state(LoopState.RUNNING)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None:
            return
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout)
        self._thread = None
        self._set_state(LoopState.STOPPED)

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._tick()
            except Exception:
                log.exception("%s failed; retrying", self.name)
                self._stopping.wait(1.0)
            self._wake.wait(self._interval_s)
            self._wake.clear()
        try:
            self._tick()
        except Exception:
            log.exception("%s: last run failed", self.name)

    @abstractmethod
    def _tick(self) -> None:
        """One pass of the loop's work (called again after ``interval_s`` or a wake-up)."""


class EventConnection(Protocol):
    """What the relay needs of the MQTT connection (`adapters.mqtt.MqttConnection`)."""

    @property
    def connected(self) -> bool: ...

    def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> Delivery: ...

    def add_publish_listener(self, listener: Callable[[], None]) -> None: ...


#: told the committed events (seq, topic, payload) not told before, in commit order
CommitListener = Callable[[Sequence[tuple[int, str, bytes]]], None]


class EventRelay(_Loop):
    """Publishes the event table in order, at most ``window`` awaiting PUBACK at once;
    a row is deleted only after the broker acknowledged it.

    Work is done in batches: the window is refilled once a quarter of it is free (or it
    is empty), and acknowledged rows are deleted a quarter window at a time (or when
    nothing is left in flight). Refilling and deleting each cost a database round trip,
    however few rows they move: one per acknowledgement made the relay the core's
    second largest user of its interpreter lock. PUBACKs wake the relay once they add up
    to a batch, or to all that is in flight; the table is looked at again for the live
    stream only after a commit.
    """

    name = "core.event-relay"

    def __init__(
        self,
        service: CaseService,
        connection: EventConnection,
        window: int = 500,
        *,
        permanent_errors: tuple[type[Exception], ...] = (),
        on_committed: CommitListener | None = None,
    ) -> None:
        super().__init__(interval_s=0.5)
        self._on_committed = on_committed
        self._seen: set[int] = set()  # rows still in the table that were told already
        self._seen_upto = 0  # every row at or below this is in _seen
        self._started = False
        self._permanent_errors = permanent_errors
        self._service = service
        self._connection = connection
        self._window = window
        self._inflight: dict[int, Delivery] = {}
        self._batch = max(1, window // 4)  # rows refilled / deleted at once, at least
        self._acked: list[int] = []  # acknowledged, not yet deleted
        self._acks_since_tick = 0  # PUBACKs counted on paho's thread (a hint, not a tally)
        self._watched_commits = -1  # the service's commit count when `_watch` last looked
        self._last_seq = 0
        self.relayed = 0
        connection.add_publish_listener(self._on_puback)

    def _run(self) -> None:
        waker = threading.Thread(
            target=self._forward_commits, name=f"{self.name}.waker", daemon=True
        )
        waker.start()
        super()._run()
        waker.join(2.0)

    def _forward_commits(self) -> None:
        committed = self._service.committed
        while not self._stopping.is_set():
            if committed.wait(0.5):
                committed.clear()
                self._wake.set()
            elif self._inflight:
                self._wake.set()  # in case a PUBACK's wake-up was missed

    def _on_puback(self) -> None:
        """On paho's thread: wake the relay once the PUBACKs add up to work worth a tick."""
        self._acks_since_tick += 1
        inflight = len(self._inflight)
        if inflight and self._acks_since_tick >= min(self._batch, inflight):
            self._wake.set()

    def _tick(self) -> None:
        self._acks_since_tick = 0
        if not self._started or not self._connection.connected or self._waiting_for_acks():
            self._watch()  # else the publishing below reads (and tells) every new row first
        if self._settle():
            return  # some were handed over as the connection dropped: next tick, not now
        if not self._inflight:
            # nothing awaits a PUBACK: every row left is unsent (SQLite may even reuse the
            # sequence numbers of deleted rows), so start again from the oldest
            self._last_seq = 0
        while self._connection.connected and not self._stopping.is_set():
            if self._waiting_for_acks():
                return
            room = self._window - len(self._inflight)
            events = self._service.store.pending_events(room, after_seq=self._last_seq)
            if not events:
                return
            self._tell(events)
            for seq, topic, payload in events:
                if seq in self._inflight:
                    continue
                try:
                    self._inflight[seq] = self._connection.publish(topic, payload, qos=1)
                except self._permanent_errors as exc:  # too large, bad topic: never sendable
                    log.error("case event %d can never be published, dropped: %s", seq, exc)
                    self._service.store.delete_events([seq])
                    self._forget([seq])
                self._last_seq = seq
            if self._settle():
                return

    def _settle(self) -> bool:
        """Forget what the broker acknowledged; True if some deliveries were lost."""
        done: list[int] = []
        lost: list[int] = []
        for seq, delivery in self._inflight.items():
            try:
                if delivery.is_published():
                    done.append(seq)
            except (RuntimeError, ValueError):  # handed over while the connection dropped
                lost.append(seq)
        for seq in lost:
            del self._inflight[seq]
        if lost:
            self._last_seq = min(self._last_seq, min(lost) - 1)  # send those again
        for seq in done:
            del self._inflight[seq]
        self._acked += done
        # all of them before the relay starts again from the oldest row (nothing in flight)
        if self._acked and (
            len(self._acked) >= self._batch or not self._inflight or self._stopping.is_set()
        ):
            acked, self._acked = self._acked, []
            self._service.store.delete_events(acked)
            self._forget(acked)
            self.relayed += len(acked)
        return bool(lost)

    def _waiting_for_acks(self) -> bool:
        """Too little of the window is free to refill it now (see the class docstring)."""
        return bool(self._inflight) and self._window - len(self._inflight) < self._batch

    def _watch(self) -> None:
        """Tell the listener of rows committed since the last look (broker up or not).

        Rows already waiting when the relay starts predate every listener's client: they
        are marked seen, not told.
        """
        commits = self._service.committed.count
        if self._on_committed is None or commits == self._watched_commits:
            return  # nothing committed since the last look
        self._watched_commits = commits
        while not self._stopping.is_set() or not self._started:
            events = self._service.store.pending_events(500, after_seq=self._seen_upto)
            if not events:
                break
            if self._started:
                self._tell(events)
            else:
                self._seen.update(seq for seq, _topic, _payload in events)
            self._seen_upto = events[-1][0]
        self._started = True

    def _tell(self, events: Sequence[tuple[int, str, bytes]]) -> None:
        if self._on_committed is None:
            return
        fresh = [event for event in events if event[0] not in self._seen]
        if not fresh:
            return
        self._seen.update(seq for seq, _topic, _payload in fresh)
        try:
            self._on_committed(fresh)
        except Exception:  # the console's stream must never stop the relay
            log.exception("%s: commit listener failed", self.name)

    def _forget(self, seqs: Sequence[int]) -> None:
        if self._on_committed is None or not seqs:
            return
        self._seen.difference_update(seqs)
        if max(seqs) >= self._seen_upto:
            # the newest rows are gone: SQLite numbers the next row after the highest left,
            # which may be at or below the mark; every row left below the mark is in _seen
            self._seen_upto = max((s for s in self._seen if s <= self._seen_upto), default=0)

    def wait_idle(self, timeout: float) -> bool:
        """True once every committed event has been acknowledged by the broker (tests, tools)."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._inflight and not self._service.store.pending_events(1):
                return True
            self._wake.set()
            time.sleep(0.05)
        return False


class OverdueWatch(_Loop):
    name = "core.overdue-watch"

    def __init__(self, service: CaseService, interval_s: float) -> None:
        super().__init__(interval_s=interval_s)
        self._service = service

    def _tick(self) -> None:
        self._service.publish_overdue()
