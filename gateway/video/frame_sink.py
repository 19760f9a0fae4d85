"""Where camera readers hand decoded frames over: the `FrameSink` port and a keep-newest slot.

A reader calls ``sink.submit(frame)`` at the analysis rate; a sink must never block the
reader (a slow analysis loses old frames, not the camera). `LatestFrame` is the usual
building block: a one-frame slot that a consumer thread waits on.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

from gateway.video.frame import Frame


class FrameSink(Protocol):
    """Receives decoded frames; ``submit`` returns at once (keep-newest, never blocks)."""

    def submit(self, frame: Frame) -> None: ...


class LatestFrame:
    """A one-frame slot: ``submit`` replaces what is there; ``take`` waits for a new frame.

    Counts what it drops so a consumer can report how far behind it is.
    """

    def __init__(self) -> None:
        self._frame: Frame | None = None
        self._cond = threading.Condition()
        self._closed = False
        self.submitted = 0
        self.dropped = 0

    def submit(self, frame: Frame) -> None:
        with self._cond:
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self.submitted += 1
            self._cond.notify_all()

    def take(self, timeout: float | None = None) -> Frame | None:
        """The newest frame not yet taken, waiting up to ``timeout``; ``None`` if none/closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._frame is not None or self._closed, timeout)
            frame, self._frame = self._frame, None
            return frame

    def peek(self) -> Frame | None:
        with self._cond:
            return self._frame

    def close(self) -> None:
        """Wake every waiter; later ``take`` calls return what is left, then ``None``."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class FanOut:
    """One sink that forwards each frame to several (e.g. analysis and a test probe)."""

    def __init__(self, sinks: Sequence[FrameSink]) -> None:
        self._sinks = tuple(sinks)

    def submit(self, frame: Frame) -> None:
        for sink in self._sinks:
            sink.submit(frame)
