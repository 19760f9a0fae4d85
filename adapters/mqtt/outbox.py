"""The durable edge outbox: messages on local disk until they are safely delivered.

`Outbox` is the store: an SQLite file in WAL mode. `put()` commits before it returns,
so a message survives the process being killed the moment after; rows are deleted only
when the broker's PUBACK for them arrived. Its size is bounded (messages and bytes):
when full, `put()` raises `OutboxFull` rather than dropping anything.

Messages that carry a ``confirm_id`` (candidate cases) wait longer: after the PUBACK they
stay until the consumer's `Receipt` names that id. A broker killed after its PUBACK (its
persistence is not synchronous) could otherwise lose them; without a receipt in time they
are sent again (to the tail, with doubling delays), and the consumer, storing by id,
absorbs the copy.

`OutboxPublisher` (`adapters.mqtt.outbox_publisher`) drains it to the broker.
"""

from __future__ import annotations

import fcntl
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from adapters.storage.wal_checkpoint import FALLBACK_CHECKPOINT_PAGES, WalCheckpointer

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (          -- waiting to be sent, or sent and not yet acked
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    topic      TEXT    NOT NULL,
    payload    BLOB    NOT NULL,
    qos        INTEGER NOT NULL,
    retain     INTEGER NOT NULL,
    queued_at  REAL    NOT NULL,
    confirm_id TEXT,                          -- set: keep until a receipt names it
    attempts   INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS awaiting (        -- acked by the broker, waiting for the receipt
    seq        INTEGER PRIMARY KEY,
    topic      TEXT    NOT NULL,
    payload    BLOB    NOT NULL,
    qos        INTEGER NOT NULL,
    retain     INTEGER NOT NULL,
    queued_at  REAL    NOT NULL,
    confirm_id TEXT    NOT NULL,
    attempts   INTEGER NOT NULL,
    resend_at  REAL    NOT NULL
);
CREATE INDEX IF NOT EXISTS awaiting_confirm_id ON awaiting (confirm_id);
CREATE INDEX IF NOT EXISTS awaiting_resend_at ON awaiting (resend_at);
CREATE TABLE IF NOT EXISTS refused (
    seq      INTEGER PRIMARY KEY,
    topic    TEXT    NOT NULL,
    payload  BLOB    NOT NULL,
    reason   TEXT    NOT NULL,
    refused_at REAL  NOT NULL
);
"""
_SCHEMA_VERSION = 2

_MOVE_TO_AWAITING = """
INSERT INTO awaiting (seq, topic, payload, qos, retain, queued_at, confirm_id, attempts, resend_at)
SELECT seq, topic, payload, qos, retain, queued_at, confirm_id, attempts,
       ? + MIN(? * (1 << MIN(attempts, 20)), ?)
FROM outbox WHERE seq IN ({marks})
"""

_INSERT = (
    "INSERT INTO outbox (topic, payload, qos, retain, queued_at, confirm_id)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)

_CHUNK = 500
"""Keys per ``IN (...)`` statement (SQLite's default limit on variables is far above)."""

_EARLY_RECEIPT_TTL_S = 3600.0
_EARLY_RECEIPTS_MAX = 100_000


_CHECKPOINT_EVERY_COMMITS = 1000  # a PASSIVE checkpoint every so many commits


class OutboxFull(Exception):
    """The outbox holds as much as it may; the message was NOT stored."""

    def __init__(
        self, queued_messages: int, queued_bytes: int, max_messages: int, max_bytes: int
    ) -> None:
        super().__init__(
            f"outbox full: {queued_messages} messages / {queued_bytes} bytes queued "
            f"(limits {max_messages} / {max_bytes}); the broker has been unreachable too long"
        )
        self.queued_messages = queued_messages
        self.queued_bytes = queued_bytes


class OutboxLocked(Exception):
    """Another process has this outbox open."""


class OutboxMessage(NamedTuple):
    """One stored message (a tuple: made for every message, so cheap to make)."""

    seq: int
    topic: str
    payload: bytes
    qos: int
    retain: bool
    confirm_id: str | None = None
    attempts: int = 0


PendingMessage = tuple[str, bytes, int, bool, str | None]
"""(topic, payload, qos, retain, confirm_id)"""


def _chunks(keys: list[Any]) -> Iterable[tuple[list[Any], str]]:
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        yield chunk, ",".join("?" * len(chunk))


class Outbox:
    """A bounded, durable FIFO of MQTT messages in one SQLite file (one process at a time).

    Rows waiting to be sent live in ``outbox`` (no secondary index: a put touches one
    b-tree); rows the broker acked but whose consumer receipt is still due move to
    ``awaiting``, indexed by confirm id and resend time. Recently put messages are also
    kept in memory (bounded), so the drain reads them without a query; after a restart,
    or once that cache overflowed, it reads the database.
    """

    def __init__(
        self,
        path: Path,
        *,
        max_messages: int,
        max_bytes: int,
        fsync: bool = False,
        memory_messages: int = 20_000,
        memory_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        self.path = path
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(path.with_suffix(path.suffix + ".lock"), "w")  # noqa: SIM115 - held for our lifetime
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._lock_file.close()
            raise OutboxLocked(f"{path} is in use by another process") from exc
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
        # checkpoints (the only fsyncs at synchronous=NORMAL) run on the checkpointer's own
        # connection, off the callers' path; this is only the safety net if it falls behind
        self._db.execute(f"PRAGMA wal_autocheckpoint={FALLBACK_CHECKPOINT_PAGES}")
        self._checkpointer = WalCheckpointer(
            path,
            fsync=fsync,
            every_commits=_CHECKPOINT_EVERY_COMMITS,
            name=f"outbox[{path.name}].checkpoint",
        )
        self._migrate()
        self._lock = threading.Lock()
        (count, size), (acount, asize) = (
            self._db.execute(
                f"SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM {table}"
            ).fetchone()
            for table in ("outbox", "awaiting")
        )
        self._count = int(count) + int(acount)
        self._bytes = int(size) + int(asize)
        self._awaiting = int(acount)
        # in-memory copy of the newest rows: every row with seq > _memory_from is in it
        self._memory: deque[OutboxMessage] = deque()
        self._memory_bytes = 0
        self._memory_limits = (memory_messages, memory_bytes)
        last = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetchone()[0]
        self._memory_from = int(last)
        # receipts that named a message before its PUBACK was settled: id -> monotonic time
        self._early_receipts: dict[str, float] = {}
        self._closed = False
        if self._count:
            log.info(
                "outbox %s: %d messages (%d bytes) waiting from before",
                path,
                self._count,
                self._bytes,
            )

    def _migrate(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version >= _SCHEMA_VERSION:
            return
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
        with self._transaction():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            if "awaiting" in columns:  # version 1: one table, a flag, two indexes
                self._db.execute(
                    "INSERT INTO awaiting (seq, topic, payload, qos, retain, queued_at,"
                    " confirm_id, attempts, resend_at) SELECT seq, topic, payload, qos, retain,"
                    " queued_at, confirm_id, attempts, COALESCE(resend_at, 0)"
                    " FROM outbox WHERE awaiting = 1"
                )
                self._db.execute("DELETE FROM outbox WHERE awaiting = 1")
                self._db.execute("DROP INDEX IF EXISTS outbox_confirm_id")
                self._db.execute("DROP INDEX IF EXISTS outbox_awaiting")
            self._db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction on the (locked) connection; rolled back on any error."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        self._checkpointer.committed()

    def _delete_returning(
        self, table: str, column: str, keys: list[Any], returning: str
    ) -> list[tuple[Any, ...]]:
        """Delete rows whose ``column`` is among ``keys`` (inside a transaction)."""
        rows: list[tuple[Any, ...]] = []
        for chunk, marks in _chunks(keys):
            rows += self._db.execute(
                f"DELETE FROM {table} WHERE {column} IN ({marks}) RETURNING {returning}", chunk
            ).fetchall()
        return rows

    # ------------------------------------------------------------------ writing

    def put(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        confirm_id: str | None = None,
    ) -> int:
        """Store one message durably; returns its sequence number. Raises `OutboxFull`."""
        if qos == 0:
            confirm_id = None
        size = len(payload)
        with self._lock:
            self._check_open()
            self._check_room(1, size)
            # one statement is its own transaction (autocommit): committed when it returns
            seq = int(
                self._db.execute(
                    _INSERT, (topic, payload, qos, int(retain), time.time(), confirm_id)
                ).lastrowid
                or 0
            )
            self._checkpointer.committed()
            self._count += 1
            self._bytes += size
            self._remember(OutboxMessage(seq, topic, payload, qos, retain, confirm_id))
            return seq

    def _check_room(self, messages: int, size: int) -> None:
        if self._count + messages > self.max_messages or self._bytes + size > self.max_bytes:
            error = OutboxFull(self._count, self._bytes, self.max_messages, self.max_bytes)
            log.error("%s", error)
            raise error

    def put_many(self, messages: Iterable[PendingMessage]) -> list[int]:
        """Store several messages in one transaction (all or none)."""
        batch = [
            (topic, payload, qos, retain, confirm_id if qos > 0 else None)
            for topic, payload, qos, retain, confirm_id in messages
        ]
        added_bytes = sum(len(message[1]) for message in batch)
        now = time.time()
        with self._lock:
            self._check_open()
            self._check_room(len(batch), added_bytes)
            seqs = []
            with self._transaction():
                for topic, payload, qos, retain, confirm_id in batch:
                    cursor = self._db.execute(
                        _INSERT, (topic, payload, qos, int(retain), now, confirm_id)
                    )
                    seqs.append(int(cursor.lastrowid or 0))
            self._count += len(batch)
            self._bytes += added_bytes
            for seq, (topic, payload, qos, retain, confirm_id) in zip(seqs, batch, strict=True):
                self._remember(OutboxMessage(seq, topic, payload, qos, retain, confirm_id))
            return seqs

    def _remember(self, message: OutboxMessage) -> None:
        max_messages, max_bytes = self._memory_limits
        if len(self._memory) >= max_messages or self._memory_bytes >= max_bytes:
            # too much unsent: forget the cache, the drain reads the database up to here
            self._memory.clear()
            self._memory_bytes = 0
            self._memory_from = message.seq
            return
        self._memory.append(message)
        self._memory_bytes += len(message.payload)

    def _forget(self, seqs: set[int]) -> None:
        memory = self._memory
        while memory and memory[0].seq in seqs:
            self._memory_bytes -= len(memory.popleft().payload)
        if memory and any(m.seq in seqs for m in memory):
            kept = [m for m in memory if m.seq not in seqs]
            self._memory = deque(kept)
            self._memory_bytes = sum(len(m.payload) for m in kept)

    # ------------------------------------------------------------------ draining

    def after(self, seq: int, limit: int) -> list[OutboxMessage]:
        """The oldest messages not yet acked with a sequence number above ``seq``, in order."""
        with self._lock:
            self._check_open()
            found: list[OutboxMessage] = []
            if seq < self._memory_from:
                rows = self._db.execute(
                    "SELECT seq, topic, payload, qos, retain, confirm_id, attempts FROM outbox"
                    " WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                    (seq, self._memory_from, limit),
                ).fetchall()
                found = [
                    OutboxMessage(int(s), t, bytes(p), int(q), bool(r), c, int(a))
                    for s, t, p, q, r, c, a in rows
                ]
            if len(found) < limit:
                for message in self._memory:  # all above _memory_from
                    if message.seq > seq:
                        found.append(message)
                        if len(found) >= limit:
                            break
            return found

    def delete(self, seqs: Iterable[int]) -> int:
        """Remove delivered messages by sequence number; returns how many were removed."""
        keys = list(seqs)
        if not keys:
            return 0
        with self._lock:
            self._check_open()
            with self._transaction():
                sizes = self._delete_returning("outbox", "seq", keys, "LENGTH(payload)")
            self._forget(set(keys))
            self._count -= len(sizes)
            self._bytes -= sum(size for (size,) in sizes)
            return len(sizes)

    def confirm(self, confirm_ids: Iterable[str]) -> int:
        """A receipt named these ids: remove their messages; remember ids not acked yet."""
        keys = list(confirm_ids)
        if not keys:
            return 0
        with self._lock:
            self._check_open()
            with self._transaction():
                rows = self._delete_returning(
                    "awaiting", "confirm_id", keys, "confirm_id, LENGTH(payload)"
                )
            matched = {confirm_id for confirm_id, _size in rows}
            removed = len(rows)
            self._count -= removed
            self._bytes -= sum(size for _id, size in rows)
            self._awaiting -= removed
            now = time.monotonic()
            for key in keys:
                if key not in matched:
                    self._early_receipts[key] = now
            self._expire_early_receipts(now)
            return removed

    def _expire_early_receipts(self, now: float) -> None:
        early = self._early_receipts
        while early:
            oldest_key = next(iter(early))
            if now - early[oldest_key] < _EARLY_RECEIPT_TTL_S and len(early) <= _EARLY_RECEIPTS_MAX:
                break
            del early[oldest_key]

    def await_receipt(
        self,
        seqs: Iterable[int] | Iterable[tuple[int, str]],
        *,
        timeout_s: float,
        backoff_max_s: float,
    ) -> None:
        """The broker acked these; keep them until a receipt, resend after a (doubling) timeout.

        ``seqs``: sequence numbers, or (sequence number, confirm id) pairs; a message whose
        receipt came before this call is deleted at once.
        """
        items = list(seqs)
        if not items:
            return
        with self._lock:
            self._check_open()
            settled: list[int] = []
            waiting: list[int] = []
            for item in items:
                if isinstance(item, tuple):
                    seq, confirm_id = item
                    if self._early_receipts.pop(confirm_id, None) is not None:
                        settled.append(seq)
                        continue
                else:
                    seq = item
                waiting.append(seq)
            now = time.time()
            moved = 0
            with self._transaction():
                for chunk, marks in _chunks(waiting):
                    moved += self._db.execute(
                        _MOVE_TO_AWAITING.format(marks=marks),
                        [now, timeout_s, backoff_max_s, *chunk],
                    ).rowcount
                    self._db.execute(f"DELETE FROM outbox WHERE seq IN ({marks})", chunk)
                sizes = self._delete_returning("outbox", "seq", settled, "LENGTH(payload)")
            self._awaiting += moved
            self._count -= len(sizes)
            self._bytes -= sum(size for (size,) in sizes)
            self._forget(set(waiting) | set(settled))

    def requeue_unconfirmed(self, limit: int) -> int:
        """Messages whose receipt is overdue go again, to the tail of the queue."""
        now = time.time()
        with self._lock:
            self._check_open()
            rows = self._db.execute(
                "SELECT seq FROM awaiting WHERE resend_at <= ? ORDER BY seq LIMIT ?",
                (now, limit),
            ).fetchall()
            if not rows:
                return 0
            requeued: list[OutboxMessage] = []
            with self._transaction():
                for (seq,) in rows:
                    row = self._db.execute(
                        "INSERT INTO outbox (topic, payload, qos, retain, queued_at, confirm_id,"
                        " attempts) SELECT topic, payload, qos, retain, queued_at, confirm_id,"
                        " attempts + 1 FROM awaiting WHERE seq = ?"
                        " RETURNING seq, topic, payload, qos, retain, confirm_id, attempts",
                        (seq,),
                    ).fetchone()
                    self._db.execute("DELETE FROM awaiting WHERE seq = ?", (seq,))
                    s, t, p, q, r, c, a = row
                    requeued.append(OutboxMessage(int(s), t, bytes(p), int(q), bool(r), c, int(a)))
            self._awaiting -= len(requeued)
            for message in requeued:
                self._remember(message)
            return len(requeued)

    def awaiting_receipt(self) -> int:
        return self._awaiting

    def set_aside(self, message: OutboxMessage, reason: str) -> None:
        """Move a message paho can never send (e.g. over the size limit) out of the queue, kept for people."""
        with self._lock:
            self._check_open()
            with self._transaction():
                self._db.execute(
                    "INSERT OR REPLACE INTO refused (seq, topic, payload, reason, refused_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (message.seq, message.topic, message.payload, reason, time.time()),
                )
                self._db.execute("DELETE FROM outbox WHERE seq = ?", (message.seq,))
            self._forget({message.seq})
            self._count -= 1
            self._bytes -= len(message.payload)

    # ------------------------------------------------------------------ facts

    @property
    def queued_messages(self) -> int:
        return self._count

    @property
    def queued_bytes(self) -> int:
        return self._bytes

    def oldest_queued_at(self) -> float | None:
        """When the oldest message still kept (unsent, or awaiting a receipt) was put (a
        wall-clock ``time.time()``); None when the outbox is empty. Two primary-key reads."""
        with self._lock:
            self._check_open()
            if self._count == 0:
                return None
            times = [
                row[0]
                for table in ("outbox", "awaiting")
                for row in self._db.execute(
                    f"SELECT queued_at FROM {table} ORDER BY seq LIMIT 1"
                ).fetchall()
            ]
            return min(times) if times else None

    def refused_count(self) -> int:
        with self._lock:
            self._check_open()
            return int(self._db.execute("SELECT COUNT(*) FROM refused").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._checkpointer.stop()
            self._db.close()
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"outbox {self.path} is closed")
