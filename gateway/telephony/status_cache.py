"""What the IVR knows of each case's state, fed by the core's case events.

The core publishes every committed state change on ``cases/<id>/events``; the gateway
keeps the latest state per case number (bounded, least recently updated dropped first),
so a status query is answered on the edge without a round trip. A caller asking for a
number not yet seen waits a little (`wait_for`) in case the event is on its way.

With a ``path``, every state is also written to a small SQLite file and read back at
start-up, so a restarted gateway still knows the cases it heard of (the broker's
persistent session brings what was published while it was down).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from gateway.contract import CaseEvent, ContractError, parse_message

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaseStatus:
    case_number: str
    case_id: str
    state: str
    at: datetime


class CaseStatusCache:
    def __init__(self, max_entries: int = 200_000, *, path: Path | None = None) -> None:
        self._max = max_entries
        self._entries: OrderedDict[str, CaseStatus] = OrderedDict()
        self._changed = threading.Condition()
        self.events_seen = 0
        self.rejected = 0
        self._db: sqlite3.Connection | None = None
        if path is not None:
            self._open(path)

    def _open(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS case_status (case_number TEXT PRIMARY KEY,"
            " case_id TEXT NOT NULL, state TEXT NOT NULL, at TEXT NOT NULL)"
        )
        rows = db.execute(
            "SELECT case_number, case_id, state, at FROM case_status ORDER BY at DESC LIMIT ?",
            (self._max,),
        ).fetchall()
        for number, case_id, state, at in reversed(rows):
            self._entries[number] = CaseStatus(number, case_id, state, datetime.fromisoformat(at))
        self._db = db
        log.info("case status cache: %d cases known from %s", len(rows), path)

    def update(self, event: CaseEvent) -> bool:
        """Remember the event's state; False if it carries no number or is older than known."""
        if not event.case_number:
            return False
        status = CaseStatus(event.case_number, event.case_id, event.to_state, event.ts)
        with self._changed:
            self.events_seen += 1
            known = self._entries.get(event.case_number)
            if known is not None and known.at > status.at:
                return False  # redelivered or out of order: keep the newer state
            self._entries[event.case_number] = status
            self._entries.move_to_end(event.case_number)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
            if self._db is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO case_status VALUES (?, ?, ?, ?)",
                    (status.case_number, status.case_id, status.state, status.at.isoformat()),
                )
            self._changed.notify_all()
        return True

    def update_from_payload(self, payload: bytes) -> bool:
        """An MQTT payload from the case-event topic; a bad one is logged and dropped."""
        try:
            event = parse_message(payload, expect=CaseEvent)
        except ContractError as exc:
            self.rejected += 1
            log.warning("case event rejected (%s): %s", exc.code, exc.reason)
            return False
        assert isinstance(event, CaseEvent)
        return self.update(event)

    def get(self, case_number: str) -> CaseStatus | None:
        with self._changed:
            return self._entries.get(case_number)

    def wait_for(self, case_number: str, timeout_s: float) -> CaseStatus | None:
        """The status, waiting up to ``timeout_s`` for it to arrive."""
        with self._changed:
            self._changed.wait_for(lambda: case_number in self._entries, timeout=timeout_s)
            return self._entries.get(case_number)

    def close(self) -> None:
        with self._changed:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __len__(self) -> int:
        with self._changed:
            return len(self._entries)
