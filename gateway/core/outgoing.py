"""What leaves the core: committed case events relayed to MQTT, and the overdue watch.

`EventRelay` is the second half of the transactional outbox: case events are written
in the same database transaction as the change they describe; the relay copies them,
oldest first, into the daemon's durable MQTT outbox (`publish` is durable when it
returns) and only then deletes them from the database. A crash in between publishes
an event twice with the same message id, which consumers store once.

`OverdueWatch` asks the service, every ``interval_s``, to publish cases past their
deadline (once per case and deadline).
"""

from __future__ import annotations

import logging
import threading
from enum import StrEnum

from gateway.core.service import CaseService
from gateway.ports import MessagePublisher

log = logging.getLogger(__name__)


class LoopState(StrEnum):
    NEW = "new"
    RUNNING = "running"
    STOPPED = "stopped"


class _Loop:
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

    def _tick(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class EventRelay(_Loop):
    name = "core.event-relay"

    def __init__(self, service: CaseService, publisher: MessagePublisher, batch: int = 500) -> None:
        super().__init__(interval_s=0.5)
        self._service = service
        self._publisher = publisher
        self._batch = batch
        self.relayed = 0

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

    def _tick(self) -> None:
        while True:
            events = self._service.store.pending_events(self._batch)
            if not events:
                return
            for _seq, topic, payload in events:
                self._publisher.publish(topic, payload)
            self._service.store.delete_events([seq for seq, _topic, _payload in events])
            self.relayed += len(events)
            if len(events) < self._batch:
                return


class OverdueWatch(_Loop):
    name = "core.overdue-watch"

    def __init__(self, service: CaseService, interval_s: float) -> None:
        super().__init__(interval_s=interval_s)
        self._service = service

    def _tick(self) -> None:
        self._service.publish_overdue()
