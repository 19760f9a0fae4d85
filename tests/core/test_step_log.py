"""The in-memory step log: incremental reads that still see a step committed out of order."""

from __future__ import annotations

from gateway.core.ports import StoredStep
from gateway.core.step_log import StepLog
from gateway.core.workflow import SYSTEM_ACTOR, Action, CaseState, Step
from tests.core.helpers import MONDAY_10


def _step(seq: int) -> StoredStep:
    return StoredStep(
        seq,
        Step(
            case_id=f"case-{seq}",
            at=MONDAY_10,
            action=Action.CREATE,
            from_state=None,
            to_state=CaseState.CANDIDATE,
            actor=SYSTEM_ACTOR.name,
            role=SYSTEM_ACTOR.role,
        ),
    )


class FakeSource:
    """Committed steps by seq; records the bound of each read."""

    def __init__(self, *seqs: int) -> None:
        self.committed = {seq: _step(seq) for seq in seqs}
        self.asked: list[int] = []

    def all_steps(self, since_seq: int = 0, limit: int = 100_000) -> list[StoredStep]:
        self.asked.append(since_seq)
        return [self.committed[s] for s in sorted(self.committed) if s > since_seq][:limit]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _seqs(log: StepLog) -> list[str]:
    return [step.case_id for step in log.steps()]


def test_a_refresh_reads_only_above_the_last_settled_number() -> None:
    source, clock = FakeSource(1, 2, 3), Clock()
    log = StepLog(source, clock, settle_s=60)
    assert _seqs(log) == ["case-1", "case-2", "case-3"]
    clock.now = 61
    source.committed[4] = _step(4)
    assert _seqs(log) == ["case-1", "case-2", "case-3", "case-4"]
    clock.now = 62
    source.committed[5] = _step(5)
    assert _seqs(log)[-1] == "case-5"
    assert source.asked == [0, 0, 3]  # the third read starts above what the first saw
    assert log.final_seq == 3


def test_a_step_committed_after_a_higher_number_is_still_read() -> None:
    source, clock = FakeSource(1, 2, 4), Clock()  # 3 is taken but not yet committed
    log = StepLog(source, clock, settle_s=60)
    assert _seqs(log) == ["case-1", "case-2", "case-4"]
    clock.now = 30
    source.committed[3] = _step(3)
    assert _seqs(log) == ["case-1", "case-2", "case-3", "case-4"]
    clock.now = 100
    assert len(log.steps()) == 4  # each seq once however often it is re-read
    assert log.final_seq == 4


def test_a_long_log_is_read_in_pages() -> None:
    source = FakeSource(*range(1, 8))
    log = StepLog(source, Clock(), page=3)
    assert len(log.steps()) == 7
    assert source.asked == [0, 3, 6]


def test_the_list_handed_out_does_not_change_later() -> None:
    source = FakeSource(1)
    log = StepLog(source, Clock())
    first = log.steps()
    source.committed[2] = _step(2)
    assert len(log.steps()) == 2 and len(first) == 1
