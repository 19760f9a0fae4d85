"""The durable edge outbox: messages on local disk until the broker has them.

`Outbox` is the store: an SQLite file in WAL mode. `put()` commits before it returns,
so a message survives the process being killed the moment after; rows are deleted only
when the broker's PUBACK for them arrived. Its size is bounded (messages and bytes):
when full, `put()` raises `OutboxFull` rather than dropping anything.

`OutboxPublisher` drains it: one thread publishes rows in order, keeps at most
``inflight_window`` awaiting PUBACK, deletes acked rows in batches, and after a restart
starts again from the oldest row (what was in flight may then arrive twice; consumers
store by message id). While the broker is away, nothing new is handed to paho; paho
itself re-sends what was in flight when the connection returns.
"""

from __future__ import annotations

import fcntl
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from adapters.mqtt.connection import Delivery, MqttConnection, PublishRefused

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    topic    TEXT    NOT NULL,
    payload  BLOB    NOT NULL,
    qos      INTEGER NOT NULL,
    retain   INTEGER NOT NULL,
    queued_at REAL   NOT NULL
);
CREATE TABLE IF NOT EXISTS refused (
    seq      INTEGER PRIMARY KEY,
    topic    TEXT    NOT NULL,
    payload  BLOB    NOT NULL,
    reason   TEXT    NOT NULL,
    refused_at REAL  NOT NULL
);
"""


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


@dataclass(frozen=True)
class OutboxMessage:
    seq: int
    topic: str
    payload: bytes
    qos: int
    retain: bool


class Outbox:
    """A bounded, durable FIFO of MQTT messages in one SQLite file (one process at a time)."""

    def __init__(
        self, path: Path, *, max_messages: int, max_bytes: int, fsync: bool = False
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
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        count, size = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM outbox"
        ).fetchone()
        self._count = int(count)
        self._bytes = int(size)
        self._closed = False
        if self._count:
            log.info(
                "outbox %s: %d messages (%d bytes) waiting from before",
                path,
                self._count,
                self._bytes,
            )

    # ------------------------------------------------------------------ writing

    def put(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        """Store one message durably; returns its sequence number. Raises `OutboxFull`."""
        return self.put_many([(topic, payload, qos, retain)])[0]

    def put_many(self, messages: Iterable[tuple[str, bytes, int, bool]]) -> list[int]:
        """Store several messages in one transaction (all or none)."""
        batch = list(messages)
        added_bytes = sum(len(payload) for _topic, payload, _qos, _retain in batch)
        now = time.time()
        with self._lock:
            self._check_open()
            if (
                self._count + len(batch) > self.max_messages
                or self._bytes + added_bytes > self.max_bytes
            ):
                error = OutboxFull(self._count, self._bytes, self.max_messages, self.max_bytes)
                log.error("%s", error)
                raise error
            seqs = []
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for topic, payload, qos, retain in batch:
                    cursor = self._db.execute(
                        "INSERT INTO outbox (topic, payload, qos, retain, queued_at) VALUES (?, ?, ?, ?, ?)",
                        (topic, payload, qos, int(retain), now),
                    )
                    seqs.append(int(cursor.lastrowid or 0))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._count += len(batch)
            self._bytes += added_bytes
            return seqs

    # ------------------------------------------------------------------ draining

    def after(self, seq: int, limit: int) -> list[OutboxMessage]:
        """The oldest messages with a sequence number above ``seq``, in order."""
        with self._lock:
            self._check_open()
            rows = self._db.execute(
                "SELECT seq, topic, payload, qos, retain FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (seq, limit),
            ).fetchall()
        return [OutboxMessage(int(s), t, bytes(p), int(q), bool(r)) for s, t, p, q, r in rows]

    def delete(self, seqs: Iterable[int]) -> int:
        """Remove delivered messages; returns how many were removed."""
        batch = list(seqs)
        if not batch:
            return 0
        with self._lock:
            self._check_open()
            removed = 0
            removed_bytes = 0
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for start in range(0, len(batch), 500):
                    chunk = batch[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    n, size = self._db.execute(
                        f"SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM outbox WHERE seq IN ({marks})",
                        chunk,
                    ).fetchone()
                    self._db.execute(f"DELETE FROM outbox WHERE seq IN ({marks})", chunk)
                    removed += int(n)
                    removed_bytes += int(size)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._count -= removed
            self._bytes -= removed_bytes
            return removed

    def set_aside(self, message: OutboxMessage, reason: str) -> None:
        """Move a message paho can never send (e.g. over the size limit) out of the queue, kept for people."""
        with self._lock:
            self._check_open()
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT OR REPLACE INTO refused (seq, topic, payload, reason, refused_at) VALUES (?, ?, ?, ?, ?)",
                (message.seq, message.topic, message.payload, reason, time.time()),
            )
            self._db.execute("DELETE FROM outbox WHERE seq = ?", (message.seq,))
            self._db.execute("COMMIT")
            self._count -= 1
            self._bytes -= len(message.payload)

    # ------------------------------------------------------------------ facts

    @property
    def queued_messages(self) -> int:
        return self._count

    @property
    def queued_bytes(self) -> int:
        return self._bytes

    def refused_count(self) -> int:
        with self._lock:
            self._check_open()
            return int(self._db.execute("SELECT COUNT(*) FROM refused").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._db.close()
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"outbox {self.path} is closed")


class PublisherState(StrEnum):
    NEW = "new"
    RUNNING = "running"
    STOPPED = "stopped"


class OutboxPublisher:
    """Publishes through an `Outbox`: durable on `publish()`, deleted on PUBACK, in order."""

    def __init__(
        self,
        outbox: Outbox,
        connection: MqttConnection,
        *,
        inflight_window: int = 200,
        name: str = "outbox",
    ) -> None:
        self.outbox = outbox
        self._connection = connection
        self._window = inflight_window
        self._name = name
        self._state = PublisherState.NEW
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._inflight: dict[int, Delivery] = {}
        self._last_handed_seq = 0
        self._thread: threading.Thread | None = None
        self.published_total = 0
        self.acked_total = 0
        connection.on_publish = self._on_puback
        connection.add_connection_listener(lambda _up: self._wake.set())

    def _set_state(self, state: PublisherState) -> None:
        if state != self._state:
            log.info("%s %s -> %s", self._name, self._state, state)
            self._state = state

    def start(self) -> None:
        if self._state != PublisherState.NEW:
            return
        self._thread = threading.Thread(target=self._run, name=f"{self._name}.drain", daemon=True)
        self._set_state(PublisherState.RUNNING)
        self._thread.start()
        self._connection.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop draining (what is not acked stays on disk for next time)."""
        if self._state != PublisherState.RUNNING:
            self._set_state(PublisherState.STOPPED)
            return
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._set_state(PublisherState.STOPPED)

    # ------------------------------------------------------------------ API

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        """Store durably, then let the drain thread send it. Raises `OutboxFull`."""
        seq = self.outbox.put(topic, payload, qos=qos, retain=retain)
        self._wake.set()
        return seq

    def publish_many(self, messages: Iterable[tuple[str, bytes]]) -> list[int]:
        seqs = self.outbox.put_many((topic, payload, 1, False) for topic, payload in messages)
        self._wake.set()
        return seqs

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    def wait_drained(self, timeout: float) -> bool:
        """True once the outbox is empty (every message acked by the broker)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.outbox.queued_messages == 0:
                return True
            time.sleep(0.01)
        return self.outbox.queued_messages == 0

    # ------------------------------------------------------------------ drain loop

    def _on_puback(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        was_connected = False
        while not self._stopping.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            try:
                self._settle_acks()
                connected = self._connection.connected
                if connected and not was_connected:
                    log.info(
                        "%s: broker reachable, %d queued", self._name, self.outbox.queued_messages
                    )
                was_connected = connected
                if connected:
                    self._hand_over()
            except sqlite3.Error:
                log.exception("%s: outbox database error; retrying", self._name)
                time.sleep(1.0)
        self._settle_acks()

    def _settle_acks(self) -> None:
        done = [seq for seq, delivery in self._inflight.items() if delivery.is_published()]
        for seq in done:
            del self._inflight[seq]
        if done:
            self.outbox.delete(done)
            self.acked_total += len(done)

    def _hand_over(self) -> None:
        room = self._window - len(self._inflight)
        while room > 0 and not self._stopping.is_set() and self._connection.connected:
            batch = self.outbox.after(self._last_handed_seq, room)
            if not batch:
                return
            for message in batch:
                try:
                    delivery = self._connection.publish(
                        message.topic, message.payload, qos=message.qos, retain=message.retain
                    )
                except PublishRefused as exc:
                    log.error(
                        "%s: message %d can never be sent, set aside: %s",
                        self._name,
                        message.seq,
                        exc.reason,
                    )
                    self.outbox.set_aside(message, exc.reason)
                    self._last_handed_seq = message.seq
                    continue
                self._last_handed_seq = message.seq
                self.published_total += 1
                if message.qos == 0:
                    self.outbox.delete([message.seq])
                    continue
                self._inflight[message.seq] = delivery
            room = self._window - len(self._inflight)
            self._settle_acks()
