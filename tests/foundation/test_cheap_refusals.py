"""Refusing poison stays cheap: refused messages gathered into one write while more wait,
and a log that names the first few refusals and sums up the rest, with nothing lost."""

from __future__ import annotations

import gc
import logging
import weakref
from collections.abc import Sequence

import pytest

from gateway.contract import CandidateCase, Source, SourceKind, Topics, parse_message
from gateway.dead_letters import DeadLetterRecord, RefusalLog
from gateway.ingest import CandidateIngest
from gateway.publishing import ContractPublisher
from tests.foundation.poison_corpus import corpus, pathological
from tests.foundation.test_ingest import (
    BatchRecordingPublisher,
    FakeMessage,
    FlakyStore,
    RecordingReceipts,
    a_batch_at_once,
    candidate_message,
)

TOPIC = "citygw/v1/candidates/camera/c1"


class CountingKept:
    """A dead-letter sink that records each write."""

    def __init__(self) -> None:
        self.writes: list[list[DeadLetterRecord]] = []

    def store_dead_letters(self, records: Sequence[DeadLetterRecord]) -> None:
        self.writes.append(list(records))

    @property
    def records(self) -> list[DeadLetterRecord]:
        return [record for write in self.writes for record in write]


def valid(n: int) -> list[CandidateCase]:
    return [
        CandidateCase.create(source=Source(kind=SourceKind.CAMERA, id="c1"), event_code="0505")
        for _ in range(n)
    ]


def make(
    **options: object,
) -> tuple[CandidateIngest, FlakyStore, CountingKept, BatchRecordingPublisher, RecordingReceipts]:
    store, kept = FlakyStore(failures=0), CountingKept()
    publisher, receipts = BatchRecordingPublisher(), RecordingReceipts()
    ingest = CandidateIngest(
        store,
        ContractPublisher(publisher, Topics()),
        Source(kind=SourceKind.CORE, id="core-t"),
        kept=kept,
        receipts=receipts,
        **options,  # type: ignore[arg-type]
    )
    return ingest, store, kept, publisher, receipts


def poison(n: int, start: int = 0) -> list[FakeMessage]:
    return [FakeMessage(TOPIC, b"{broken %d" % i) for i in range(start, start + n)]


def test_refused_messages_wait_while_more_queue_and_are_kept_in_one_write_when_it_runs_dry() -> (
    None
):
    ingest, store, kept, publisher, _receipts = make()
    good = valid(6)
    first = [candidate_message(good[0]), *poison(2), candidate_message(good[1])]
    second = [*poison(3, start=2), candidate_message(good[2])]
    last = [candidate_message(good[3]), *poison(1, start=5), *map(candidate_message, good[4:])]
    waiting = FakeMessage(TOPIC, b"stands for the rest of the queue")
    ingest.submit(waiting)  # the worker is not started: it waits in the queue
    a_batch_at_once(ingest, first)
    a_batch_at_once(ingest, second)
    # the valid ones are stored and acknowledged at once; the refused ones wait, unacked
    assert set(store.rows) == {c.id for c in good[:3]}
    assert all(m.acked.is_set() for m in first + second if not m.payload.startswith(b"{broken"))
    assert not any(m.acked.is_set() for m in first[1:3] + second[:3])
    assert kept.writes == [] and publisher.batches == [] and ingest.stats.dead_lettered == 0
    assert ingest._inbound._queue.take(10, timeout=0) == [waiting]  # the queue runs dry
    a_batch_at_once(ingest, last)
    refused = first[1:3] + second[:3] + last[1:2]
    assert all(m.acked.is_set() for m in first + second + last)
    assert len(kept.writes) == 1 and [r.head for r in kept.records] == [m.payload for m in refused]
    assert len(publisher.batches) == 1 and len(publisher.batches[0]) == 6
    assert set(store.rows) == {c.id for c in good}
    assert ingest.stats.dead_lettered == 6 and ingest.stats.stored == 6


def test_gathered_refusals_are_written_once_enough_are_gathered_even_while_the_queue_is_full() -> (
    None
):
    ingest, _store, kept, _publisher, _receipts = make(refused_batch=5)
    ingest.submit(FakeMessage(TOPIC, b"waiting"))
    a_batch_at_once(ingest, poison(3))
    assert kept.writes == []
    a_batch_at_once(ingest, poison(2, start=3))
    assert [len(write) for write in kept.writes] == [5]
    assert ingest.stats.dead_lettered == 5


def test_gathered_refusals_are_written_once_the_oldest_has_waited_long_enough() -> None:
    ingest, _store, kept, _publisher, _receipts = make(refused_wait_s=0.0)
    ingest.submit(FakeMessage(TOPIC, b"waiting"))
    bad = poison(2)
    a_batch_at_once(ingest, bad)
    assert [len(write) for write in kept.writes] == [2] and all(m.acked.is_set() for m in bad)


def test_gathered_refusals_are_written_when_nothing_comes_and_their_ids_refused() -> None:
    ingest, _store, kept, _publisher, receipts = make()
    wrong = CandidateCase.create(source=Source(kind=SourceKind.CALL, id="a1"), event_code="0505")
    refused = FakeMessage(TOPIC, wrong.to_json())  # a call's candidate on a camera's topic
    ingest.submit(FakeMessage(TOPIC, b"waiting"))
    a_batch_at_once(ingest, [refused])
    assert receipts.receipts == [] and not refused.acked.is_set()
    ingest._inbound._queue.take(10, timeout=0)
    ingest._idle()  # what the worker calls after 0.2 s with nothing to take
    assert refused.acked.is_set() and [r.code for r in kept.records] == ["source_mismatch"]
    assert receipts.receipts == [([], [wrong.id])]


def test_a_stop_leaves_gathered_refusals_unacknowledged_for_the_broker_to_redeliver() -> None:
    ingest, _store, kept, _publisher, _receipts = make()
    ingest.submit(FakeMessage(TOPIC, b"waiting"))
    bad = poison(3)
    a_batch_at_once(ingest, bad)
    ingest.stop()
    assert kept.writes == [] and not any(m.acked.is_set() for m in bad)


def test_the_whole_fuzz_corpus_through_a_running_worker_is_counted_and_kept() -> None:
    ingest, store, kept, publisher, _receipts = make()
    items = corpus(300)
    good = valid(200)
    messages = [FakeMessage(item.topic(), item.payload) for item in items]
    messages += [candidate_message(c) for c in good]
    ingest.start()
    try:
        for message in messages:
            ingest.submit(message)
        assert all(m.acked.wait(20) for m in messages)
        assert ingest.wait_idle(10)
    finally:
        ingest.stop()
    assert set(store.rows) == {c.id for c in good}
    assert ingest.stats.dead_lettered == len(items) == len(kept.records)
    assert sum(len(batch) for batch in publisher.batches) == len(items)
    codes = [r.code for r in kept.records]
    assert all(code in item.codes for code, item in zip(codes, items, strict=True))


def test_a_batch_with_refusals_is_freed_once_they_are_kept_without_the_garbage_collector() -> None:
    """A refusal is kept as its code and reason, not as the raised exception, whose
    traceback held the frame that caught it and with it the whole batch (payloads of
    megabytes) in a reference cycle only the collector's rare full passes freed."""
    ingest, store, kept, publisher, receipts = make()
    good = valid(2)
    bad = [FakeMessage(TOPIC, item.payload) for item in pathological()]
    batch = [candidate_message(good[0]), *bad, candidate_message(good[1])]
    alive = [weakref.ref(message) for message in batch]
    codes = [item.codes for item in pathological()]
    gc.disable()
    try:
        a_batch_at_once(ingest, batch)  # nothing else waits: the refusals are kept at once
        assert all(message.acked.is_set() for message in batch)
        del batch, bad
        assert [ref() for ref in alive if ref() is not None] == []
    finally:
        gc.enable()
    assert set(store.rows) == {c.id for c in good} and ingest.stats.stored == 2
    assert [r.code in c for r, c in zip(kept.records, codes, strict=True)] == [True] * len(codes)
    assert sum(map(len, publisher.batches)) == len(codes) == ingest.stats.dead_lettered
    assert receipts.receipts and set(receipts.receipts[-1][0]) == {c.id for c in good}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_log_names_the_first_refusals_and_sums_up_the_rest_by_code(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    refusals = RefusalLog(logging.getLogger("test.refusals"), burst=2, window_s=60, clock=clock)
    with caplog.at_level(logging.WARNING, logger="test.refusals"):
        for n in range(5):
            refusals.refused(TOPIC, 10 + n, "bad_json" if n % 2 else "too_deep", "why")
        assert [r.getMessage() for r in caplog.records] == [
            f"rejected message on {TOPIC} (10 bytes): too_deep: why",
            f"rejected message on {TOPIC} (11 bytes): bad_json: why",
        ]
        assert refusals.held == 3
        clock.now += 59
        refusals.tick()
        assert len(caplog.records) == 2  # the window is not over
        clock.now += 1
        refusals.tick()
        assert caplog.records[-1].getMessage() == (
            "rejected 3 more messages (39 bytes) not logged one by one: too_deep 2, bad_json 1"
        )
        assert refusals.held == 0
        refusals.refused(TOPIC, 7, "invalid", "again")  # a new window: named again
        assert caplog.records[-1].getMessage().endswith("(7 bytes): invalid: again")


def test_a_stopping_ingest_logs_the_summary_of_what_it_held_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    refusals = RefusalLog(logging.getLogger("test.ingest-refusals"), burst=1)
    ingest, *_ = make(refusal_log=refusals)
    with caplog.at_level(logging.WARNING, logger="test.ingest-refusals"):
        a_batch_at_once(ingest, poison(4))
        assert len(caplog.records) == 1 and refusals.held == 3
        ingest.stop()
    assert caplog.records[-1].getMessage().startswith("rejected 3 more messages")
    assert ingest.stats.dead_lettered == 4


def test_a_dead_letter_on_the_topic_still_says_what_was_refused() -> None:
    ingest, _store, _kept, publisher, _receipts = make()
    bad = poison(1)
    a_batch_at_once(ingest, bad)
    [[(_topic, payload)]] = publisher.batches
    letter = parse_message(payload)
    assert letter.error_code == "bad_json" and letter.payload_size == len(bad[0].payload)
