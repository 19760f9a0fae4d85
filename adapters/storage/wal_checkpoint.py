"""SQLite WAL checkpoints on a thread and connection of their own.

At ``synchronous=NORMAL`` a commit only appends to the WAL; the checkpoint, which copies
the WAL back into the database file, is where SQLite fsyncs. Done inline (SQLite's
default, every 1 000 pages) it lands inside whichever writer's commit crossed the
threshold, a pause of milliseconds on the writer's path. Here it runs beside the
writers: WAL lets one checkpoint run while another connection writes. The writers'
connections keep a much higher ``wal_autocheckpoint`` (`FALLBACK_CHECKPOINT_PAGES`) as
a safety net should this thread fall behind.

Used by the edge outbox and the core's SQLite database.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

#: the writers' own ``wal_autocheckpoint``: only reached if the checkpointer falls behind
FALLBACK_CHECKPOINT_PAGES = 20_000


class WalCheckpointer:
    """``committed()`` after each write transaction; a PASSIVE checkpoint runs every
    ``every_commits`` commits, and after ``idle_s`` with any commit at all."""

    def __init__(
        self,
        path: Path,
        *,
        fsync: bool = False,
        every_commits: int = 1000,
        idle_s: float = 5.0,
        name: str | None = None,
    ) -> None:
        self._path = path
        self._fsync = fsync
        self._every_commits = every_commits
        self._idle_s = idle_s
        self._commits = 0
        self._due = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(
            target=self._run, name=name or f"{path.name}.checkpoint", daemon=True
        )
        self._thread.start()

    def committed(self) -> None:
        self._commits += 1
        if self._commits >= self._every_commits:
            self._due.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping = True
        self._due.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        db = sqlite3.connect(self._path, isolation_level=None, timeout=30)
        db.execute(f"PRAGMA synchronous={'FULL' if self._fsync else 'NORMAL'}")
        try:
            while not self._stopping:
                self._due.wait(self._idle_s)
                self._due.clear()
                if self._stopping or self._commits == 0:
                    continue
                self._commits = 0
                try:
                    _busy, frames, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error:
                    log.exception("%s: checkpoint failed; SQLite's own will do", self._path)
                    continue
                log.debug("%s: checkpoint %d/%d frames", self._path, copied, frames)
        finally:
            db.close()
