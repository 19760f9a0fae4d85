"""Candidate ingest with fakes at its ports: ack only after commit, retry a failing store."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from gateway.contract import CandidateCase, Source, SourceKind, Topics, parse_message
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
