"""Candidate ingest with fakes at its ports: ack only after commit, retry a failing store."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from gateway.contract import (
    CONTRACT_VERSION,
    CandidateCase,
    Source,
    SourceKind,
    Topics,
    parse_message,
)
from gateway.dead_letters import DeadLetterRecord
from gateway.ingest import CandidateIngest
from gateway.publishing import ContractPublisher


@dataclass
class FakeMessage:
    topic: str
    payload: bytes
    acked: threading.Event = field(default_factory=threading.Event)

    def ack(self) -> bool:
        self.acked.set()
        return True


class FlakyStore:
    """Fails the first ``failures`` commits (a database restarting), then stores by id."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.rows: dict[str, CandidateCase] = {}
        self.payloads: dict[str, bytes] = {}
        self.attempts = 0

    def store_candidates(
        self, candidates: Sequence[CandidateCase], received: Mapping[str, bytes] | None = None
    ) -> list[bool]:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise ConnectionError("database is restarting")
        result = []
        for candidate in candidates:
            result.append(candidate.id not in self.rows)
            self.rows.setdefault(candidate.id, candidate)
            self.payloads.setdefault(candidate.id, (received or {})[candidate.id])
        return result


class RecordingPublisher:
    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        confirm_id: str | None = None,
    ) -> int:
        self.published.append((topic, payload))
        return len(self.published)


class RecordingReceipts:
    def __init__(self) -> None:
        self.receipts: list[tuple[list[str], list[str]]] = []

    def send_receipt(self, ids: list[str], rejected: list[str]) -> None:
        self.receipts.append((ids, rejected))


def candidate_message(candidate: CandidateCase) -> FakeMessage:
    return FakeMessage("citygw/v1/candidates/camera/c1", candidate.to_json())


def make_ingest(store: FlakyStore) -> tuple[CandidateIngest, RecordingPublisher, RecordingReceipts]:
    publisher = RecordingPublisher()
    receipts = RecordingReceipts()
    ingest = CandidateIngest(
        store,
        ContractPublisher(publisher, Topics()),
        Source(kind=SourceKind.CORE, id="core-t"),
        receipts=receipts,
        retry_max_s=0.2,
    )
    return ingest, publisher, receipts


def test_nothing_is_acknowledged_until_the_store_commits_after_a_database_outage() -> None:
    store = FlakyStore(failures=3)
    ingest, _publisher, receipts = make_ingest(store)
    candidates = [
        CandidateCase.create(source=Source(kind=SourceKind.CAMERA, id="c1"), event_code="0505")
        for _ in range(5)
    ]
    messages = [candidate_message(c) for c in candidates]
    ingest.start()
    try:
        for message in messages:
            ingest.submit(message)
        assert all(m.acked.wait(20) for m in messages)
        assert store.attempts >= 4
        assert set(store.rows) == {c.id for c in candidates}
        assert store.payloads == {c.id: c.to_json() for c in candidates}  # kept as received
        assert ingest.stats.store_failures >= 3
        assert sorted(id_ for ids, _rej in receipts.receipts for id_ in ids) == sorted(
            c.id for c in candidates
        )
    finally:
        ingest.stop()


def test_a_stopped_ingest_leaves_an_uncommitted_batch_unacknowledged() -> None:
    store = FlakyStore(failures=10_000)
    ingest, _publisher, receipts = make_ingest(store)
    message = candidate_message(
        CandidateCase.create(source=Source(kind=SourceKind.CAMERA, id="c1"), event_code="0505")
    )
    ingest.start()
    ingest.submit(message)
    deadline = time.monotonic() + 10
    while store.attempts < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    ingest.stop()
    assert not message.acked.is_set()
    assert receipts.receipts == []


def test_a_redelivered_id_is_stored_once_and_still_confirmed() -> None:
    store = FlakyStore(failures=0)
    ingest, _publisher, receipts = make_ingest(store)
    candidate = CandidateCase.create(
        source=Source(kind=SourceKind.CAMERA, id="c1"), event_code="0505"
    )
    first, again = candidate_message(candidate), candidate_message(candidate)
    ingest.start()
    try:
        ingest.submit(first)
        assert first.acked.wait(10)
        ingest.submit(again)
        assert again.acked.wait(10)
        assert len(store.rows) == 1
        assert ingest.stats.stored == 1 and ingest.stats.duplicates == 1
        assert [ids for ids, _ in receipts.receipts] == [[candidate.id], [candidate.id]]
    finally:
        ingest.stop()


def test_a_malformed_message_is_dead_lettered_acknowledged_and_its_id_refused() -> None:
    store = FlakyStore(failures=0)
    ingest, publisher, receipts = make_ingest(store)
    bad = FakeMessage(
        "citygw/v1/candidates/call/a1",
        b'{"schema": "citygw.candidate_case", "version": "1.0", "id": "call-a1-0000001"}',
    )
    ingest.start()
    try:
        ingest.submit(bad)
        assert bad.acked.wait(10)
        topic, payload = publisher.published[0]
        assert topic == "citygw/v1/deadletter/core-t"
        letter = parse_message(payload)
        assert letter.error_code == "invalid" and "event_code" in letter.reason
        assert receipts.receipts == [([], ["call-a1-0000001"])]
        assert store.rows == {}
    finally:
        ingest.stop()


class PickyStore(FlakyStore):
    """Stores by id, but refuses any batch holding one of ``poison`` (bad data, not an outage)."""

    def __init__(self, poison: set[str]) -> None:
        super().__init__(failures=0)
        self.poison = poison
        self.batches: list[list[str]] = []

    def store_candidates(
        self, candidates: Sequence[CandidateCase], received: Mapping[str, bytes] | None = None
    ) -> list[bool]:
        self.batches.append([c.id for c in candidates])
        if any(c.id in self.poison for c in candidates):
            raise ValueError("Exceeds the limit (4300 digits) for integer string conversion")
        return super().store_candidates(candidates, received)


class KeptLetters:
    def __init__(self) -> None:
        self.records: list[DeadLetterRecord] = []

    def store_dead_letters(self, records: Sequence[DeadLetterRecord]) -> None:
        self.records.extend(records)


def a_batch_at_once(ingest: CandidateIngest, messages: list[FakeMessage]) -> None:
    """Hand ``messages`` to the worker as one batch (as the queue would, without timing)."""
    ingest._handle_batch(list(messages))  # type: ignore[arg-type]


def test_a_candidate_that_fails_alone_in_the_store_is_refused_and_its_neighbours_stored() -> None:
    candidates = [
        CandidateCase.create(source=Source(kind=SourceKind.CAMERA, id="c1"), event_code="0505")
        for _ in range(7)
    ]
    poison = candidates[3].id
    store = PickyStore({poison})
    kept = KeptLetters()
    receipts = RecordingReceipts()
    ingest = CandidateIngest(
        store,
        ContractPublisher(RecordingPublisher(), Topics()),
        Source(kind=SourceKind.CORE, id="core-t"),
        receipts=receipts,
        kept=kept,
    )
    messages = [candidate_message(c) for c in candidates]
    a_batch_at_once(ingest, messages)
    assert all(m.acked.is_set() for m in messages)  # the poison one too: never redelivered
    assert set(store.rows) == {c.id for c in candidates} - {poison}
    assert store.batches[0] == [c.id for c in candidates]  # the whole batch first
    assert [b for b in store.batches[1:] if len(b) != 1] == []  # then one at a time
    [record] = kept.records
    assert record.code == "store_failed" and record.message_id == poison
    assert "4300 digits" in record.reason and record.head == messages[3].payload[:2048]
    assert receipts.receipts == [([c.id for c in candidates if c.id != poison], [poison])]
    assert ingest.stats.stored == 6 and ingest.stats.dead_lettered == 1


def test_an_outage_is_retried_as_a_batch_and_never_refuses_anything() -> None:
    store = FlakyStore(failures=2)  # ConnectionError: the database is restarting
    kept = KeptLetters()
    ingest = CandidateIngest(
        store,
        ContractPublisher(RecordingPublisher(), Topics()),
        Source(kind=SourceKind.CORE, id="core-t"),
        kept=kept,
        retry_max_s=0.05,
    )
    candidates = [
        CandidateCase.create(source=Source(kind=SourceKind.CAMERA, id="c1"), event_code="0505")
        for _ in range(3)
    ]
    ingest.start()
    try:
        messages = [candidate_message(c) for c in candidates]
        for message in messages:
            ingest.submit(message)
        assert all(m.acked.wait(10) for m in messages)
    finally:
        ingest.stop()
    assert set(store.rows) == {c.id for c in candidates}
    assert kept.records == [] and ingest.stats.dead_lettered == 0


def test_poison_between_valid_candidates_is_kept_as_dead_letters_and_the_rest_stored() -> None:
    store = FlakyStore(failures=0)
    kept = KeptLetters()
    publisher = RecordingPublisher()
    ingest = CandidateIngest(
        store,
        ContractPublisher(publisher, Topics()),
        Source(kind=SourceKind.CORE, id="core-t"),
        kept=kept,
    )
    good = [
        CandidateCase.create(source=Source(kind=SourceKind.CAMERA, id="c1"), event_code="0505")
        for _ in range(4)
    ]
    wrong_source = CandidateCase.create(
        source=Source(kind=SourceKind.CAMERA, id="fuzzcam"), event_code="0505"
    )
    poison = [
        FakeMessage("citygw/v1/candidates/camera/c1", b"[" * 10_000 + b"]" * 10_000),
        FakeMessage("citygw/v1/candidates/camera/c1", b"\xff\xfe not utf-8"),
        FakeMessage(
            "citygw/v1/candidates/camera/c1",
            good[0]
            .to_json()
            .replace(
                f'"version":"{CONTRACT_VERSION}"'.encode(), b'"version":"' + b"9" * 5000 + b'.1"'
            ),
        ),
        FakeMessage("citygw/v1/candidates/call/a1", wrong_source.to_json()),
    ]
    messages = [candidate_message(good[0]), *poison[:2], candidate_message(good[1])]
    messages += [poison[2], candidate_message(good[2]), poison[3], candidate_message(good[3])]
    a_batch_at_once(ingest, messages)
    assert all(m.acked.is_set() for m in messages)
    assert set(store.rows) == {c.id for c in good}
    assert [r.code for r in kept.records] == [
        "too_deep",
        "bad_encoding",
        "bad_version",
        "source_mismatch",
    ]
    assert kept.records[3].message_id == wrong_source.id
    assert kept.records[0].size == 20_000 and len(kept.records[0].head) == 2048
    assert len(publisher.published) == 4  # and each on the dead-letter topic


class FullOutbox:
    def publish(self, topic: str, payload: bytes, **_options: object) -> int:
        raise RuntimeError("outbox full")


def test_a_dead_letter_that_cannot_be_published_is_still_kept_and_acknowledged() -> None:
    kept = KeptLetters()
    ingest = CandidateIngest(
        FlakyStore(failures=0),
        ContractPublisher(FullOutbox(), Topics()),
        Source(kind=SourceKind.CORE, id="core-t"),
        kept=kept,
    )
    bad = FakeMessage("citygw/v1/candidates/camera/c1", b"{broken")
    a_batch_at_once(ingest, [bad])
    assert bad.acked.is_set()
    assert [r.code for r in kept.records] == ["bad_json"]


class BatchRecordingPublisher(RecordingPublisher):
    """Takes several messages at once, like `OutboxPublisher` (one durable write)."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[tuple[str, bytes]]] = []

    def publish_many(self, messages: Sequence[tuple[str, bytes]], *, qos: int = 1) -> list[int]:
        self.batches.append(list(messages))
        return list(range(len(messages)))


def test_the_dead_letters_of_a_batch_are_published_in_one_write() -> None:
    publisher = BatchRecordingPublisher()
    ingest = CandidateIngest(
        FlakyStore(failures=0),
        ContractPublisher(publisher, Topics()),
        Source(kind=SourceKind.CORE, id="core-t"),
        kept=KeptLetters(),
    )
    bad = [FakeMessage("citygw/v1/candidates/camera/c1", b"{broken %d" % n) for n in range(30)]
    a_batch_at_once(ingest, bad)
    assert all(m.acked.is_set() for m in bad)
    assert publisher.published == []  # none one at a time
    assert len(publisher.batches) == 1 and len(publisher.batches[0]) == 30
    assert {topic for topic, _payload in publisher.batches[0]} == {Topics().dead_letter("core-t")}
    letters = [parse_message(payload) for _topic, payload in publisher.batches[0]]
    assert [letter.payload_size for letter in letters] == [len(m.payload) for m in bad]
