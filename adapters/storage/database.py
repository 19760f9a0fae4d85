"""Opening the core's database: SQLite (WAL) by default, PostgreSQL by URL; migrations.

`open_engine` applies the per-dialect settings (SQLite: WAL, a busy timeout, foreign
keys; PostgreSQL: a connect timeout and a statement timeout) and `migrate` brings the
schema to the newest Alembic revision. Both are start-up steps, never import-time work.

Several cores may start at once on one database: `migrate` holds a lock while Alembic
reads the schema's revision and upgrades it, so one core migrates and the others find
the schema at its newest revision (PostgreSQL: a transaction-level advisory lock;
SQLite: the write lock its ``BEGIN IMMEDIATE`` takes).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.engine import Engine
from sqlalchemy.engine.url import make_url

from adapters.storage.wal_checkpoint import FALLBACK_CHECKPOINT_PAGES

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: SQLite's page cache per connection (its default is 2 MiB)
SQLITE_CACHE_KIB = 64 * 1024


def open_engine(
    url: str, *, timeout_s: float = 10.0, pool_size: int = 8, background_checkpoints: bool = False
) -> Engine:
    """An engine for ``url``; the parent folder of an SQLite file is created.

    ``background_checkpoints``: the caller runs a `WalCheckpointer` on the SQLite file, so
    the engine's connections leave WAL checkpoints to it (no effect on PostgreSQL).
    """
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": timeout_s, "check_same_thread": False}
        engine = sa.create_engine(parsed, **kwargs)

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # the driver's own transaction handling is turned off; we emit BEGIN ourselves
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            _enter_wal_mode(cursor, timeout_s)
            cursor.execute("PRAGMA synchronous=NORMAL")
            if background_checkpoints:  # see adapters.storage.wal_checkpoint
                cursor.execute(f"PRAGMA wal_autocheckpoint={FALLBACK_CHECKPOINT_PAGES}")
            # the cases table has a dozen indexes with random keys: keep their pages cached
            cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            cursor.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _sqlite_begin(connection: Any) -> None:
            # writers take the write lock up front (no lock upgrade deadlocks); readers do not
            readonly = connection.get_execution_options().get("citygw_readonly", False)
            connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        return engine
    if parsed.get_backend_name() == "postgresql":
        timeout_ms = int(timeout_s * 1000)
        kwargs["connect_args"] = {
            "connect_timeout": max(1, int(timeout_s)),
            "options": f"-c statement_timeout={timeout_ms * 3} -c lock_timeout={timeout_ms}",
        }
        kwargs["pool_size"] = pool_size
        kwargs["pool_pre_ping"] = True
        kwargs["pool_timeout"] = timeout_s
        return sa.create_engine(parsed, **kwargs)
    raise ValueError(
        f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql"
    )


def _enter_wal_mode(cursor: Any, timeout_s: float) -> None:
    """``PRAGMA journal_mode=WAL``, tried again while another connection holds the lock.

    Switching a new file to WAL needs its exclusive lock, and SQLite answers "database is
    locked" at once, without its busy handler, when two connections opening the same new
    file ask for it together (several cores starting on one empty database)."""
    deadline = time.monotonic() + timeout_s
    pause_s = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause_s > deadline:
                raise
            time.sleep(pause_s)
            pause_s = min(pause_s * 2, 0.2)


#: the advisory lock key cores take while they migrate (any constant: "citygw" in ASCII)
MIGRATION_LOCK_KEY = 0x63_69_74_79_67_77
#: how long a starting core waits for another one's migration, at most
MIGRATION_WAIT_S = 600.0


def migrate(engine: Engine, revision: str = "head", *, wait_s: float = MIGRATION_WAIT_S) -> None:
    """Upgrade the schema to ``revision`` (idempotent); one process at a time.

    On PostgreSQL the migration's transaction first takes the advisory lock
    `MIGRATION_LOCK_KEY` (released by its commit or rollback, or when the connection
    dies), waiting up to ``wait_s`` for another process's migration; SQLite's writer
    transaction (``BEGIN IMMEDIATE``, see `open_engine`) already excludes other writers.
    """
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            _wait_for_migration_lock(connection, wait_s)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    log.info(
        "database %s at revision %s", engine.url.render_as_string(hide_password=True), revision
    )


def _wait_for_migration_lock(connection: sa.Connection, wait_s: float) -> None:
    """Polls (a plain wait would run into the connection's lock and statement timeouts)."""
    deadline = time.monotonic() + wait_s
    take = sa.text("SELECT pg_try_advisory_xact_lock(:key)")
    logged = False
    while not connection.execute(take, {"key": MIGRATION_LOCK_KEY}).scalar_one():
        if time.monotonic() > deadline:
            raise TimeoutError(f"another process held the migration lock for {wait_s:g} s")
        if not logged:
            log.info("another process is migrating the database; waiting for it")
            logged = True
        time.sleep(0.2)


#: failures that say the database is away or busy, not that the data is bad
_OUTAGES: tuple[type[BaseException], ...] = (
    sa.exc.OperationalError,  # connection refused or lost, server shutting down, locked
    sa.exc.InterfaceError,
    sa.exc.DisconnectionError,
    sa.exc.TimeoutError,  # no pooled connection in time
    sa.exc.PendingRollbackError,
    OSError,  # sockets, a full disk, this store's own write-lock timeout
)


def is_outage(exc: BaseException) -> bool:
    """True when ``exc`` means the database (or the disk under it) cannot take writes now:
    the writer waits and tries again. False when the statement itself failed (bad data, a
    constraint, a bug): retrying the same batch would fail for ever."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, _OUTAGES)
