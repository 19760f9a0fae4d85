"""WAL checkpoints off the writers' path (`adapters.storage.wal_checkpoint`).

The observable: pages reach the database file itself (not only its WAL) when, and only
when, a checkpoint runs; the writers' connections never checkpoint on their own below
the fallback threshold.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from adapters.storage.case_store import SqlCaseStore
from adapters.storage.wal_checkpoint import FALLBACK_CHECKPOINT_PAGES, WalCheckpointer

ROW = "x" * 1000


def _writer(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA wal_autocheckpoint={FALLBACK_CHECKPOINT_PAGES}")
    db.execute("CREATE TABLE IF NOT EXISTS t (v TEXT)")
    return db


def _write(db: sqlite3.Connection, rows: int) -> None:
    db.execute("BEGIN IMMEDIATE")
    db.executemany("INSERT INTO t VALUES (?)", [(ROW,)] * rows)
    db.execute("COMMIT")


def _wait_for(condition, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_pages_reach_the_database_file_only_by_the_checkpointer(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite3"
    db = _writer(path)
    checkpointer = WalCheckpointer(path, every_commits=3, idle_s=60)
    try:
        for _ in range(2):  # 2 commits of ~500 KB: below every_commits, and far below the fallback
            _write(db, 500)
            checkpointer.committed()
        time.sleep(0.5)
        assert path.stat().st_size < 100_000, "the writer checkpointed inline"
        _write(db, 500)
        checkpointer.committed()  # the third commit: a checkpoint is due
        assert _wait_for(lambda: path.stat().st_size > 1_000_000)
    finally:
        checkpointer.stop()
        db.close()


def test_an_idle_database_with_commits_is_checkpointed(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite3"
    db = _writer(path)
    checkpointer = WalCheckpointer(path, every_commits=1000, idle_s=0.2)
    try:
        _write(db, 500)
        checkpointer.committed()
        assert _wait_for(lambda: path.stat().st_size > 400_000)
    finally:
        checkpointer.stop()
        db.close()


def test_stop_ends_the_thread(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite3"
    _writer(path).close()
    checkpointer = WalCheckpointer(path, idle_s=60)
    checkpointer.stop(5)
    assert not checkpointer._thread.is_alive()


def test_the_core_database_leaves_checkpoints_to_its_checkpointer(tmp_path: Path) -> None:
    store = SqlCaseStore.open(f"sqlite:///{tmp_path / 'core.sqlite3'}")
    try:
        with store.engine.connect() as connection:
            pages = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
        assert pages == FALLBACK_CHECKPOINT_PAGES
        assert store._checkpointer is not None
        with store.transaction():
            pass
        assert store._checkpointer._commits == 1
    finally:
        store.close()
    assert not store._checkpointer._thread.is_alive()
