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
