"""A bounded queue of inbound broker messages and the one worker thread that drains it.

The broker client's thread calls `submit()`; when the queue is full it waits (back-pressure:
the broker holds the rest, nothing is dropped). The worker hands the handler batches of up
to ``max_batch`` messages; the handler acknowledges what it has committed. `retry()` is the
shared "try again with doubling delays until it works or we stop" of both consumers.
`stalled_for()` says how long messages have waited without a batch being finished (a
health check: a database that is down, or a handler that keeps failing).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from gateway.ports import InboundMessage

log = logging.getLogger(__name__)

T = TypeVar("T")

BatchHandler = Callable[[list[InboundMessage]], None]


class _BatchQueue(Generic[T]):
    """A bounded FIFO whose reader takes everything waiting (up to a batch) at once.

    `queue.Queue` hands items out one by one, each ``get`` waking a writer blocked on a
    full queue: a batch of 200 was 200 hand-overs of the GIL between the worker and
    the broker client's thread. Here a batch is one hand-over.
    """

    def __init__(self, maxsize: int) -> None:
        self._items: deque[T] = deque()
        self._maxsize = maxsize
        lock = threading.Lock()
        self._not_empty = threading.Condition(lock)
        self._not_full = threading.Condition(lock)

    def put(self, item: T, timeout: float) -> bool:
        """Append ``item``; False if the queue stayed full for ``timeout`` seconds."""
        with self._not_full:
            if len(self._items) >= self._maxsize:
                self._not_full.wait(timeout)
                if len(self._items) >= self._maxsize:
                    return False
            self._items.append(item)
            self._not_empty.notify()
            return True

    def take(self, most: int, timeout: float) -> list[T]:
        """Up to ``most`` items, oldest first; waits up to ``timeout`` for the first."""
        with self._not_empty:
            if not self._items:
                self._not_empty.wait(timeout)
            items = self._items
            batch = [items.popleft() for _ in range(min(most, len(items)))]
            if batch:
                self._not_full.notify_all()
            return batch

    def empty(self) -> bool:
        return not self._items


class InboundQueue:
    """``start()``/``stop()`` own one worker thread named ``name``."""

    def __init__(
        self,
        handle: BatchHandler,
        *,
        name: str,
        queue_size: int,
        max_batch: int = 1,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        """``on_idle``: called on the worker when no message came for a while (0.2 s), for
        the handler's chores (writing what it gathered, a log summary); like a batch, it
        holds the worker while it runs."""
        self._handle = handle
        self._on_idle = on_idle
        self._name = name
        self._max_batch = max_batch
        self._queue: _BatchQueue[InboundMessage] = _BatchQueue(queue_size)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        # monotonic time since when messages have waited with no batch finished; None: idle
        self._waiting_since: float | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def running(self) -> bool:
        """True while the worker thread is alive (for watchdogs)."""
        return self._thread is not None and self._thread.is_alive() and not self._stopping.is_set()

    def submit(self, message: InboundMessage) -> None:
        """Called for each broker message; waits while the queue is full (back-pressure)."""
        while not self._stopping.is_set():
            if self._queue.put(message, timeout=0.5):
                if self._waiting_since is None:
                    self._waiting_since = time.monotonic()
                return

    def has_waiting(self) -> bool:
        """True while messages wait in the queue (not counting a batch being handled)."""
        return not self._queue.empty()

    def stalled_for(self) -> float:
        """Seconds messages have waited (queued, or in a batch being handled) without a batch
        being finished; 0.0 when nothing waits. A batch whose handler failed stays waiting:
        its messages are unacknowledged, and the broker holds back what comes after them."""
        since = self._waiting_since
        return 0.0 if since is None else max(0.0, time.monotonic() - since)

    def wait_idle(self, timeout: float) -> bool:
        """True when the queue is empty (for tests and tools)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.empty():
                return True
            time.sleep(0.01)
        return self._queue.empty()

    def retry(self, what: str, attempt: Callable[[], T], *, max_delay_s: float = 30.0) -> T | None:
        """``attempt()`` until it returns, waiting 0.5 s, 1 s, 2 s... between failures;
        None if we are stopped meanwhile (the caller then leaves its messages unacknowledged)."""
        delay = 0.5
        while not self._stopping.is_set():
            try:
                return attempt()
            except Exception as exc:
                log.error("%s failed (%s); retrying in %.1fs", what, exc, delay)
                if self._stopping.wait(delay):
                    return None
                delay = min(delay * 2, max_delay_s)
        return None

    def _idle(self) -> None:
        if self._on_idle is None:
            return
        try:
            self._on_idle()
        except Exception:
            log.exception("%s: the idle chore failed", self._name)

    def _run(self) -> None:
        while not self._stopping.is_set():
            batch = self._queue.take(self._max_batch, timeout=0.2)
            if not batch:
                self._idle()
                continue
            if self._waiting_since is None:
                self._waiting_since = time.monotonic()
            try:
                self._handle(batch)
            except Exception:
                # unacknowledged: the broker redelivers them after a reconnect or restart
                log.exception("%s: handling %d messages failed", self._name, len(batch))
                continue  # still waiting: no progress
            # progress: what is queued now has waited from this moment at most
            self._waiting_since = None if self._queue.empty() else time.monotonic()
