"""Camera events from the ONVIF event loop to the rules, on a thread of their own.

The PullPoint subscribers of every camera share one asyncio loop; handling an event
(its episode state written durably, its state and candidate put in the outbox) costs
milliseconds of disk writes. Done on the loop, a hundred cameras' events stalled every
pull behind them (measured: 6 ms an event, pulls timing out at 100 events/s). An
`EventHandOff` takes each event in order into a bounded queue and hands it to the
handler on thread ``video.camera-events``; a full queue makes the loop wait (the device
keeps what is not pulled yet), it never drops an event.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from gateway.video.camera_events import CameraEvent

log = logging.getLogger(__name__)


class EventHandOff:
    """Events in, in order, to ``handle`` on one thread; ``put`` waits when it is full."""

    def __init__(self, handle: Callable[[CameraEvent], object], *, capacity: int = 10_000) -> None:
        self._handle = handle
        self._queue: queue.Queue[CameraEvent | None] = queue.Queue(maxsize=capacity)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.handled = 0

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._run, name="video.camera-events", daemon=True
            )
            self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def waiting(self) -> int:
        return self._queue.qsize()

    def put(self, event: CameraEvent) -> None:
        """Queue ``event``; waits while the queue is full (back pressure on the pulls)."""
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            log.warning("camera events: %d waiting; the pulls wait for them", self.waiting)
            self._queue.put(event)

    def stop(self, timeout: float = 30.0) -> None:
        """Handle what was queued, then end the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        self._queue.put(None)
        thread.join(timeout)
        if thread.is_alive():
            log.warning("camera events: %d still waiting after %.0f s", self.waiting, timeout)

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            if event is None:
                return
            try:
                self._handle(event)
            except Exception:  # one odd event must not end the others' handling
                log.exception("camera %s: event %s not handled", event.camera_id, event.topic)
            self.handled += 1
