"""The one clock of citygw.

Every timestamp in the system comes from a `Clock`, so tests can move time and the
domain never calls `datetime.now()` itself. All times are timezone-aware UTC.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (for timeouts and rates)."""
        ...


class SystemClock:
    """The wall clock and the monotonic clock of this machine."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock that moves only when told to: for tests of deadlines, dwell and cooldowns."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start time")
        self._mono = 1000.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def advance(self, seconds: float = 0.0, **kwargs: float) -> None:
        delta = timedelta(seconds=seconds, **kwargs)
        with self._lock:
            self._now += delta
            self._mono += delta.total_seconds()


SYSTEM_CLOCK = SystemClock()


def utc_now() -> datetime:
    """`SYSTEM_CLOCK.now()`, for code that has no clock injected (bootstrap only)."""
    return SYSTEM_CLOCK.now()


def rfc3339(moment: datetime) -> str:
    """An RFC 3339 UTC timestamp with millisecond precision and a `Z` suffix."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: citygw timestamps must be timezone-aware")
    # isoformat truncates to milliseconds, like the wire format (and ~10x faster than strftime)
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds")[:23] + "Z"  # less the "+00:00"
