"""The step log in memory, for the evaluation routes: read once, then only what is new.

The step log is append-only and numbered (``seq``), so a refresh asks only for steps
above a bound instead of reading the whole log on every metrics request. The bound is
not simply the highest ``seq`` seen: on PostgreSQL a transaction may take its number
before another and commit after it, so a lower number can appear later. A number is
taken as final once a read has started at least ``settle_s`` after the read that first
saw a higher one (a write transaction of the core lives far shorter than that: its
statements time out before); each refresh re-reads everything above the last final
number and keeps each ``seq`` once. On SQLite (one writer) numbers appear in order
anyway, so the re-read is only the last few seconds of steps.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Protocol

from gateway.core.metrics import CaseHistories
from gateway.core.ports import StoredStep
from gateway.core.workflow import Step

#: longer than any write transaction of the core (PostgreSQL: lock 10 s, statements 30 s)
SETTLE_SECONDS = 60.0


class StepSource(Protocol):
    def all_steps(self, since_seq: int = 0, limit: int = 100_000) -> list[StoredStep]: ...


class StepLog:
    """All steps, in ``seq`` order, refreshed incrementally on each `steps()` call."""

    def __init__(
        self,
        source: StepSource,
        monotonic: Callable[[], float],
        *,
        settle_s: float = SETTLE_SECONDS,
        page: int = 50_000,
    ) -> None:
        self._source = source
        self._monotonic = monotonic
        self._settle_s = settle_s
        self._page = page
        self._lock = threading.Lock()
        self._by_seq: dict[int, Step] = {}
        self._ordered: list[Step] = []
        self._final = 0  # every step numbered at or below this has been read
        self._reads: deque[tuple[float, int]] = deque()  # (read started, highest seq then)
        self._histories: CaseHistories | None = None

    def steps(self) -> list[Step]:
        """The whole log as of now (a list the caller may keep; it is not changed later)."""
        with self._lock:
            self._refresh()
            return self._ordered

    def histories(self) -> CaseHistories:
        """The whole log cut by case, as of now (the caller may keep it: steps added later
        go to a new one). Kept from one call to the next, so a report does not cut the
        whole log again: only the new steps are added."""
        with self._lock:
            self._refresh()
            if self._histories is None:
                self._histories = CaseHistories(self._ordered)
            return self._histories

    def _refresh(self) -> None:
        started = self._monotonic()
        highest_before = max(self._by_seq, default=0)
        added = self._read_above(self._final)
        highest = max(self._by_seq, default=0)
        self._reads.append((started, highest))
        while self._reads and self._reads[0][0] <= started - self._settle_s:
            self._final = max(self._final, self._reads.popleft()[1])
        if not added:
            return
        self._ordered = [self._by_seq[seq] for seq in sorted(self._by_seq)]
        if self._histories is None:
            return
        if min(added) > highest_before:  # all after what was kept: add them in order
            self._histories = self._histories.extended(self._by_seq[seq] for seq in added)
        else:  # a late commit numbered below a step already kept: cut the log again
            self._histories = CaseHistories(self._ordered)

    @property
    def final_seq(self) -> int:
        return self._final

    def _read_above(self, bound: int) -> list[int]:
        """The numbers of the steps read that were not kept yet, in ascending order."""
        added: list[int] = []
        while True:
            page = self._source.all_steps(since_seq=bound, limit=self._page)
            for stored in page:
                if stored.seq not in self._by_seq:
                    self._by_seq[stored.seq] = stored.step
                    added.append(stored.seq)
            if len(page) < self._page:
                return sorted(added)
            bound = page[-1].seq
