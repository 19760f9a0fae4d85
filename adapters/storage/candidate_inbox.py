"""A minimal durable inbox of candidate cases keyed by message id (SQLite, WAL).

It is the store behind the foundation's `citygw core` consumer: it proves exactly-once
storage by id and gives tests and tools a ground truth. The core workflow service's
case store implements the same `CandidateStore` port on SQLAlchemy.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from gateway.clock import SYSTEM_CLOCK, Clock, rfc3339
from gateway.contract import CandidateCase

_SCHEMA = """
CREATE TABLE IF NOT EXISTS candidate (
    id          TEXT PRIMARY KEY,
    source_kind TEXT NOT NULL,
    source_id   TEXT NOT NULL,
    event_code  TEXT NOT NULL,
    produced_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    body        TEXT NOT NULL
);
"""


class SqliteCandidateInbox:
    def __init__(self, path: Path, *, clock: Clock = SYSTEM_CLOCK) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._clock = clock

    def store_candidates(
        self, candidates: Sequence[CandidateCase], received: Mapping[str, bytes] | None = None
    ) -> list[bool]:
        received_at = rfc3339(self._clock.now())
        received = received or {}
        results = []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for candidate in candidates:
                    payload = received.get(candidate.id)
                    if payload is None:  # not handed over: the candidate as parsed
                        payload = candidate.to_json()
                    cursor = self._db.execute(
                        "INSERT OR IGNORE INTO candidate VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            candidate.id,
                            str(candidate.source.kind),
                            candidate.source.id,
                            candidate.event_code,
                            rfc3339(candidate.ts),
                            received_at,
                            payload.decode("utf-8"),
                        ),
                    )
                    results.append(cursor.rowcount == 1)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return results

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM candidate").fetchone()[0])

    def ids(self) -> set[str]:
        with self._lock:
            return {row[0] for row in self._db.execute("SELECT id FROM candidate")}

    def close(self) -> None:
        with self._lock:
            self._db.close()
