"""The durable outbox store: durable on put, ordered, bounded, one process at a time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from adapters.mqtt.outbox import Outbox, OutboxFull, OutboxLocked


def open_outbox(path: Path, **limits: int) -> Outbox:
    return Outbox(
        path,
        max_messages=limits.get("max_messages", 1000),
        max_bytes=limits.get("max_bytes", 10**7),
    )


def test_messages_come_out_in_the_order_they_went_in(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path / "o.sqlite3")
    seqs = [outbox.put("t/a", f"m{i}".encode()) for i in range(50)]
    assert seqs == sorted(seqs)
    batch = outbox.after(0, 100)
    assert [m.payload for m in batch] == [f"m{i}".encode() for i in range(50)]
    assert [m.payload for m in outbox.after(seqs[9], 5)] == [b"m10", b"m11", b"m12", b"m13", b"m14"]


def test_a_message_is_on_disk_when_put_returns_even_if_the_process_is_killed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "o.sqlite3"
    script = (
        "import os, sys; from pathlib import Path; from adapters.mqtt.outbox import Outbox;"
        f"o = Outbox(Path({str(path)!r}), max_messages=100, max_bytes=10**6);"
        "o.put('t', b'kept-1'); o.put('t', b'kept-2'); print('put', flush=True);"
        "os.kill(os.getpid(), 9)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == -9
    assert "put" in result.stdout
    outbox = open_outbox(path)
    assert [m.payload for m in outbox.after(0, 10)] == [b"kept-1", b"kept-2"]
    assert outbox.queued_messages == 2


def test_delivered_messages_are_deleted_and_counts_follow(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path / "o.sqlite3")
    seqs = [outbox.put("t", b"x" * 10) for _ in range(5)]
    assert outbox.delete(seqs[:3]) == 3
    assert outbox.queued_messages == 2
    assert outbox.queued_bytes == 20
    assert [m.seq for m in outbox.after(0, 10)] == seqs[3:]
    assert outbox.delete(seqs[:3]) == 0


def test_a_full_outbox_refuses_new_messages_and_keeps_the_old_ones(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path / "o.sqlite3", max_messages=10)
    for i in range(10):
        outbox.put("t", f"old{i}".encode())
    with pytest.raises(OutboxFull) as caught:
        outbox.put("t", b"new")
    assert caught.value.queued_messages == 10
    assert "outbox full" in str(caught.value)
    assert [m.payload for m in outbox.after(0, 100)] == [f"old{i}".encode() for i in range(10)]


def test_the_byte_bound_is_enforced_too(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path / "o.sqlite3", max_bytes=1024 * 1024)
    outbox.put("t", b"a" * (1024 * 1024 - 10))
    with pytest.raises(OutboxFull):
        outbox.put("t", b"b" * 100)
    assert outbox.queued_messages == 1


def test_a_batch_is_stored_all_or_nothing(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path / "o.sqlite3", max_messages=5)
    outbox.put_many([("t", b"1", 1, False, None), ("t", b"2", 1, False, None)])
    with pytest.raises(OutboxFull):
        outbox.put_many([("t", bytes([i]), 1, False, None) for i in range(4)])
    assert outbox.queued_messages == 2


def test_counts_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    outbox = open_outbox(path)
    for _ in range(7):
        outbox.put("t", b"abc")
    outbox.close()
    again = open_outbox(path)
    assert again.queued_messages == 7
    assert again.queued_bytes == 21


def test_two_processes_cannot_share_one_outbox(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    first = open_outbox(path)
    with pytest.raises(OutboxLocked):
        open_outbox(path)
    first.close()
    open_outbox(path).close()


def test_a_reopened_outbox_drains_the_old_rows_then_the_new_ones(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    outbox = open_outbox(path)
    old = [outbox.put("t", f"old{i}".encode()) for i in range(3)]
    outbox.close()
    again = open_outbox(path)
    new = [again.put("t", f"new{i}".encode()) for i in range(2)]
    assert [m.payload for m in again.after(0, 10)] == [b"old0", b"old1", b"old2", b"new0", b"new1"]
    assert again.delete(old) == 3  # the old rows were sent and acked: the drain moves on
    assert [m.seq for m in again.after(old[-1], 10)] == new


def test_rows_beyond_the_memory_cache_are_read_from_disk_in_order(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3", max_messages=1000, max_bytes=10**7, memory_messages=4)
    seqs = [outbox.put("t", f"m{i}".encode()) for i in range(10)]
    assert [m.seq for m in outbox.after(0, 100)] == seqs
    assert [m.seq for m in outbox.after(seqs[2], 3)] == seqs[3:6]
    outbox.delete(seqs[:8])
    assert [m.payload for m in outbox.after(seqs[7], 100)] == [b"m8", b"m9"]


def test_a_receipt_before_the_puback_is_settled_still_confirms_the_message(
    tmp_path: Path,
) -> None:
    outbox = open_outbox(tmp_path / "o.sqlite3")
    early = outbox.put("t", b"early", confirm_id="cand-1")
    late = outbox.put("t", b"late", confirm_id="cand-2")
    assert outbox.confirm(["cand-1"]) == 0  # not acked yet: remembered
    outbox.await_receipt([(early, "cand-1"), (late, "cand-2")], timeout_s=30, backoff_max_s=60)
    assert outbox.queued_messages == 1
    assert outbox.awaiting_receipt() == 1
    assert outbox.confirm(["cand-2"]) == 1
    assert outbox.queued_messages == 0
    assert outbox.after(0, 10) == []


def test_an_unconfirmed_message_goes_again_to_the_tail(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path / "o.sqlite3")
    first = outbox.put("t", b"a", confirm_id="cand-a")
    outbox.put("t", b"b")
    outbox.await_receipt([(first, "cand-a")], timeout_s=0, backoff_max_s=0)
    assert outbox.requeue_unconfirmed(10) == 1
    again = outbox.after(first, 10)
    assert [(m.payload, m.attempts) for m in again] == [(b"b", 0), (b"a", 1)]
    assert outbox.awaiting_receipt() == 0
    assert outbox.queued_messages == 2


def test_an_outbox_of_the_first_schema_is_migrated_without_losing_a_message(
    tmp_path: Path,
) -> None:
    import sqlite3

    path = tmp_path / "o.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL,
            payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL,
            queued_at REAL NOT NULL, confirm_id TEXT, awaiting INTEGER NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0, resend_at REAL);
        CREATE INDEX outbox_confirm_id ON outbox (confirm_id) WHERE confirm_id IS NOT NULL;
        CREATE INDEX outbox_awaiting ON outbox (awaiting, resend_at);
        INSERT INTO outbox (topic, payload, qos, retain, queued_at) VALUES ('t', CAST('queued' AS BLOB), 1, 0, 0);
        INSERT INTO outbox (topic, payload, qos, retain, queued_at, confirm_id, awaiting,
            resend_at) VALUES ('t', CAST('acked' AS BLOB), 1, 0, 0, 'cand-9', 1, 0);
        """
    )
    db.commit()
    db.close()
    outbox = open_outbox(path)
    assert outbox.queued_messages == 2
    assert outbox.awaiting_receipt() == 1
    assert [m.payload for m in outbox.after(0, 10)] == [b"queued"]
    assert outbox.confirm(["cand-9"]) == 1
    assert outbox.queued_messages == 1
