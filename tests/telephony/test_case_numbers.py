"""Case numbers assigned on the edge: digits only, unique across restarts and instances."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.clock import FakeClock
from gateway.telephony.case_numbers import (
    BLOCK_SIZE,
    CaseNumberAllocator,
    format_case_number,
)


def allocator(path: Path, clock: FakeClock, prefix: str = "01") -> CaseNumberAllocator:
    return CaseNumberAllocator(path, prefix=prefix, timezone="Asia/Shanghai", clock=clock)


def test_a_number_is_prefix_local_date_and_serial() -> None:
    assert format_case_number("07", datetime(2026, 11, 28), 42) == "0726112800042"
    assert format_case_number("07", datetime(2026, 11, 28), 123456) == "07261128123456"
    with pytest.raises(ValueError, match="2 digits"):
        format_case_number("A1", datetime(2026, 11, 28), 1)


def test_the_date_is_the_centres_local_date(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 11, 28, 16, 30, tzinfo=UTC))  # 00:30 on the 29th in Beijing
    assert allocator(tmp_path / "n.sqlite3", clock).next() == "0126112900001"


def test_numbers_stay_unique_across_a_restart(tmp_path: Path) -> None:
    clock = FakeClock()
    first = allocator(tmp_path / "n.sqlite3", clock)
    before = [first.next() for _ in range(3)]
    assert before == ["0126010500001", "0126010500002", "0126010500003"]
    first.close()  # the rest of the reserved block is skipped: a gap, never a repeat
    again = allocator(tmp_path / "n.sqlite3", clock)
    after = [again.next() for _ in range(BLOCK_SIZE + 2)]
    assert after[0] == f"01260105{BLOCK_SIZE + 1:05d}"
    assert len(set(before + after)) == len(before + after) and after == sorted(after)


def test_the_serial_starts_again_on_a_new_day(tmp_path: Path) -> None:
    clock = FakeClock()
    numbers = allocator(tmp_path / "n.sqlite3", clock)
    numbers.next()
    clock.advance(hours=24)
    assert numbers.next() == "0126010600001"


def test_two_instances_never_hand_out_the_same_number(tmp_path: Path) -> None:
    clock = FakeClock()
    a = allocator(tmp_path / "a.sqlite3", clock, prefix="01")
    b = allocator(tmp_path / "b.sqlite3", clock, prefix="02")
    assert not {a.next() for _ in range(20)} & {b.next() for _ in range(20)}


def test_concurrent_calls_get_distinct_numbers(tmp_path: Path) -> None:
    numbers = allocator(tmp_path / "n.sqlite3", FakeClock())
    got: list[str] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(25):
            number = numbers.next()
            with lock:
                got.append(number)

    threads = [threading.Thread(target=take, name=f"test.take[{i}]") for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 200 and len(set(got)) == 200


def test_the_next_block_is_reserved_ahead_so_numbers_run_on_without_a_gap(
    tmp_path: Path,
) -> None:
    numbers = allocator(tmp_path / "n.sqlite3", FakeClock())
    first = [numbers.next() for _ in range(BLOCK_SIZE // 2 + 1)]
    numbers.settle()  # the helper thread has reserved the next block by now
    with sqlite3.connect(tmp_path / "n.sqlite3") as db:
        assert db.execute("SELECT last FROM case_serials").fetchone() == (2 * BLOCK_SIZE,)
    rest = [numbers.next() for _ in range(BLOCK_SIZE)]
    serials = [int(n[-5:]) for n in first + rest]
    assert serials == list(range(1, len(serials) + 1))
    numbers.close()
