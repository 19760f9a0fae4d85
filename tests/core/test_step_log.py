"""The in-memory step log: incremental reads that still see a step committed out of order."""

from __future__ import annotations

from datetime import timedelta

from gateway.core.metrics import CaseHistories
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


def _case_step(seq: int, case: str, action: Action) -> StoredStep:
    return StoredStep(
        seq,
        Step(
            case_id=case,
            at=MONDAY_10 + timedelta(minutes=seq),
            action=action,
            from_state=None,
            to_state=CaseState.CANDIDATE,
            actor=SYSTEM_ACTOR.name,
            role=SYSTEM_ACTOR.role,
        ),
    )


def _cut(histories: CaseHistories) -> dict[str, list[str]]:
    return {case: [s.at.isoformat() for s in steps] for case, steps in histories.by_case.items()}


def test_the_log_cut_by_case_is_kept_and_only_new_steps_are_added() -> None:
    source = FakeSource()
    source.committed = {
        1: _case_step(1, "a", Action.CREATE),
        2: _case_step(2, "b", Action.CREATE),
        3: _case_step(3, "a", Action.REGISTER),
    }
    log = StepLog(source, Clock())
    first = log.histories()
    assert log.histories() is first  # nothing new: the same one
    source.committed[4] = _case_step(4, "b", Action.REGISTER)
    source.committed[5] = _case_step(5, "a", Action.REGISTER)  # a second 立案 of a
    second = log.histories()
    fresh = CaseHistories(log.steps())
    assert second is not first
    assert _cut(second) == _cut(fresh) and second.registered_at == fresh.registered_at
    assert second.registered_at["a"] == MONDAY_10 + timedelta(minutes=3)  # the first 立案
    assert len(first.by_case["a"]) == 2 and "b" not in first.registered_at  # left alone


def test_a_step_committed_late_below_a_kept_one_cuts_the_log_again_in_order() -> None:
    source, clock = FakeSource(), Clock()
    source.committed = {
        1: _case_step(1, "a", Action.CREATE),
        3: _case_step(3, "a", Action.DISPATCH),
    }
    log = StepLog(source, clock, settle_s=60)
    log.histories()
    clock.now = 10
    source.committed[2] = _case_step(2, "a", Action.REGISTER)  # took 2 before 3, committed after
    histories = log.histories()
    assert [s.action for s in histories.by_case["a"]] == [
        Action.CREATE,
        Action.REGISTER,
        Action.DISPATCH,
    ]
    assert histories.registered_at["a"] == MONDAY_10 + timedelta(minutes=2)
