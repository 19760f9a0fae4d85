"""Case numbers the IVR reads to a caller, assigned on the edge (the core may be away).

A number is ``<prefix><yymmdd><serial>``: 2 digits that differ per gateway instance
(config ``telephony.case_number_prefix``), the local date, and a serial from a durable
per-day counter (at least 5 digits). All digits, so ``SAY DIGITS`` reads it and a caller
can type it back for a status query; unique across restarts and power loss (serials are
reserved in blocks, each block fsynced before a number from it is read out; a restart
skips the rest of a block, so serials may have gaps) and across instances (the prefix). The core keeps a
candidate's number as the case number; the scheme is the centre's one (`gateway.case_numbers`),
the core numbering its own cases under another prefix (``00``).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from gateway.case_numbers import SERIAL_DIGITS, format_case_number
from gateway.clock import Clock

__all__ = ["BLOCK_SIZE", "SERIAL_DIGITS", "CaseNumberAllocator", "format_case_number"]

log = logging.getLogger(__name__)

#: serials reserved per durable write (one fsync per block instead of one per call)
BLOCK_SIZE = 20


class CaseNumberAllocator:
    """A durable per-day counter in one SQLite file; thread-safe.

    Serials are reserved ``block_size`` at a time, each block committed with fsync before
    a number from it is handed out. When half a block is used, the next block is reserved
    on a helper thread, so a caller never waits for the disk (except for the first number
    after a start or at midnight).
    """

    def __init__(
        self,
        path: Path,
        *,
        prefix: str,
        timezone: str,
        clock: Clock,
        block_size: int = BLOCK_SIZE,
    ) -> None:
        format_case_number(prefix, datetime(2000, 1, 1), 1)  # validates the prefix
        self.path = path
        self._prefix = prefix
        self._zone = ZoneInfo(timezone)
        self._clock = clock
        self._lock = threading.Lock()  # the serial state
        self._db_lock = threading.Lock()  # the database connection
        self._block_size = max(1, block_size)
        self._day = ""
        self._next = 1
        self._limit = 0  # last serial of the block in use
        self._ahead: tuple[str, int] | None = None  # (day, last serial) reserved ahead
        self._refill: threading.Thread | None = None
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS case_serials (day TEXT PRIMARY KEY, last INTEGER NOT NULL)"
        )

    def next(self) -> str:
        """A new number; its serial was durably reserved before it is returned."""
        local = self._clock.now().astimezone(self._zone)
        day = local.strftime("%Y-%m-%d")
        with self._lock:
            if day != self._day or self._next > self._limit:
                ahead, self._ahead = self._ahead, None
                last = ahead[1] if ahead and ahead[0] == day else self._reserve(day)
                self._day, self._limit = day, last
                self._next = last - self._block_size + 1
            serial = self._next
            self._next += 1
            running = self._refill is not None and self._refill.is_alive()
            if self._ahead is None and not running and self._limit - serial < self._block_size / 2:
                self._refill = threading.Thread(
                    target=self._reserve_ahead, args=(day,), name="case-numbers.reserve"
                )
                self._refill.start()
        return format_case_number(self._prefix, local, serial)

    def _reserve_ahead(self, day: str) -> None:
        try:
            last = self._reserve(day)
        except sqlite3.Error:
            log.exception("case numbers: reserving the next block failed; will retry on demand")
            return
        with self._lock:
            self._ahead = (day, last)

    def _reserve(self, day: str) -> int:
        """Reserve a block of serials of ``day``; returns its last serial (fsynced)."""
        with self._db_lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO case_serials (day, last) VALUES (?, ?) "
                    "ON CONFLICT(day) DO UPDATE SET last = last + excluded.last",
                    (day, self._block_size),
                )
                (last,) = self._db.execute(
                    "SELECT last FROM case_serials WHERE day = ?", (day,)
                ).fetchone()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return int(last)

    def settle(self, timeout: float = 30.0) -> None:
        """Wait for a reservation running ahead (tests, and `close`)."""
        refill = self._refill
        if refill is not None:
            refill.join(timeout)

    def close(self) -> None:
        self.settle()
        with self._db_lock:
            self._db.close()
