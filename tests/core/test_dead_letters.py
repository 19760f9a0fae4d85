"""Dead letters in the core's database (newest first, bounded) and for admins in the API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.storage.database import is_outage, migrate, open_engine
from adapters.storage.dead_letter_store import SqlDeadLetters
from gateway.clock import FakeClock
from gateway.contract import CaseFeedback, ContractError, Source, SourceKind, Topics
from gateway.core.feedback import FeedbackConsumer
from gateway.dead_letters import HEAD_BYTES, DeadLetterRecord
from gateway.ingest import CandidateIngest
from gateway.publishing import ContractPublisher
from tests.core.api_harness import Api, make_api
from tests.core.helpers import MONDAY_10, candidate, make_service


def record(n: int, payload: bytes = b"{nope", code: str = "bad_json") -> DeadLetterRecord:
    return DeadLetterRecord.of(
        topic=f"citygw/v1/candidates/camera/cam-{n}",
        payload=payload,
        error=ContractError(code, f"reason {n}"),
        at=MONDAY_10 + timedelta(seconds=n),
        message_id=f"msg-{n:08d}",
    )


@pytest.fixture
def letters(db_url: str) -> Iterator[SqlDeadLetters]:
    engine = open_engine(db_url)
    migrate(engine)
    yield SqlDeadLetters(engine, keep=100)
    engine.dispose()


def test_dead_letters_come_back_newest_first_with_their_first_bytes(
    letters: SqlDeadLetters,
) -> None:
    big = bytes(range(256)) * 40  # 10 KiB, not UTF-8
    letters.store_dead_letters([record(1), record(2, big, "bad_encoding")])
    items, total = letters.dead_letters(0, 10)
    assert total == 2
    assert [item.record.message_id for item in items] == ["msg-00000002", "msg-00000001"]
    newest = items[0].record
    assert newest.head == big[:HEAD_BYTES] and newest.size == len(big)
    assert newest.code == "bad_encoding" and newest.reason == "reason 2"
    assert newest.received_at == MONDAY_10 + timedelta(seconds=2)
    assert newest.topic == "citygw/v1/candidates/camera/cam-2"
    shown = items[0].to_dict()
    assert shown["head_bytes"] == HEAD_BYTES and shown["head_hex"] == big[:256].hex()


def test_only_the_newest_are_kept(letters: SqlDeadLetters) -> None:
    for start in range(0, 250, 50):
        letters.store_dead_letters([record(n) for n in range(start, start + 50)])
    items, total = letters.dead_letters(0, 1000)
    assert total == 100
    assert [item.record.message_id for item in items] == [
        f"msg-{n:08d}" for n in range(249, 149, -1)
    ]
    page, _ = letters.dead_letters(90, 20)
    assert [item.record.message_id for item in page] == [
        f"msg-{n:08d}" for n in range(159, 149, -1)
    ]


def test_a_reason_with_nul_characters_is_kept_on_either_database(letters: SqlDeadLetters) -> None:
    nul = DeadLetterRecord.of(
        topic="citygw/v1/candidates/api/x",
        payload=b"\x00\x00",
        error=ContractError("unreadable", "ValueError: bad \x00 byte"),
        at=MONDAY_10,
    )
    letters.store_dead_letters([nul])
    [item], _ = letters.dead_letters(0, 1)
    assert item.record.reason == "ValueError: bad \\x00 byte"
    assert item.record.head == b"\x00\x00" and item.record.message_id is None


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    harness = make_api(f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path)
    yield harness
    harness.close()


def test_admins_page_through_the_dead_letters_and_no_other_role_sees_them(api: Api) -> None:
    store = SqlDeadLetters.for_store(api.service.store)
    store.store_dead_letters([record(n, "描述".encode() + bytes([n])) for n in range(5)])
    response = api.client.get(
        "/api/v1/dead-letters", params={"limit": 2, "offset": 1}, headers=api.headers("admin")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 5 and body["offset"] == 1 and body["limit"] == 2
    assert [item["message_id"] for item in body["items"]] == ["msg-00000003", "msg-00000002"]
    item = body["items"][0]
    assert item["code"] == "bad_json" and item["head_text"] == "描述\x03"
    assert item["topic"] == "citygw/v1/candidates/camera/cam-3" and item["size"] == 7
    for role in ("operator", "shift_lead", "dispatcher", "department", "inspector"):
        refused = api.client.get("/api/v1/dead-letters", headers=api.headers(role))
        assert refused.status_code == 403 and refused.json()["error"] == "forbidden_role"
    assert api.client.get("/api/v1/dead-letters").status_code == 401
    too_many = api.client.get(
        "/api/v1/dead-letters", params={"limit": 1000}, headers=api.headers("admin")
    )
    assert too_many.status_code == 422


def test_healthz_says_503_with_the_reason_while_intake_is_stalled(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ctx = api.client.app.state.ctx  # type: ignore[attr-defined]
    ctx.intake_health = lambda: "intake has made no progress for 61 s while messages wait"
    response = api.client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "error": "intake_stalled",
        "detail": "intake has made no progress for 61 s while messages wait",
    }
    ctx.intake_health = lambda: None
    assert api.client.get("/healthz").status_code == 200


class FakeMessage:
    def __init__(self, topic: str, payload: bytes) -> None:
        self.topic = topic
        self.payload = payload
        self.acked = False

    def ack(self) -> bool:
        self.acked = True
        return True


class NoPublisher:
    def publish(self, topic: str, payload: bytes, **_options: object) -> int:
        return 0


def test_a_nul_in_one_candidate_is_refused_alone_and_its_neighbours_stored_on_either_store(
    db_url: str, tmp_path: Path
) -> None:
    """PostgreSQL's text refuses NUL, and a title holding one used to fail the whole batch
    there (stored one at a time after, the NUL one dead-lettered as store_failed) while
    SQLite kept it. The contract now refuses it (nul_character) before any store sees it, so
    both databases keep the same four neighbours and the same dead letter."""
    service = make_service(db_url, tmp_path / "evidence", FakeClock(MONDAY_10))
    kept = SqlDeadLetters.for_store(service.store)
    ingest = CandidateIngest(
        service,
        ContractPublisher(NoPublisher(), Topics()),
        Source(kind=SourceKind.CORE, id="core-t"),
        kept=kept,
        is_outage=is_outage,
    )
    batch = [candidate(n) for n in range(5)]
    batch[2] = candidate(2, title="a\x00b")
    messages = [FakeMessage(Topics().candidate("inspector", "insp-1"), c.to_json()) for c in batch]
    try:
        ingest._handle_batch(messages)  # type: ignore[arg-type]
        assert all(m.acked for m in messages)
        letters, total = kept.dead_letters(0, 10)
        assert service.store.candidate_count() == 4
        assert total == 1 and letters[0].record.code == "nul_character"
        assert "NUL" in letters[0].record.reason
    finally:
        service.store.close()


def test_feedback_on_another_sources_topic_is_kept_as_a_dead_letter_and_not_applied(
    tmp_path: Path,
) -> None:
    service = make_service(
        f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path / "e", FakeClock(MONDAY_10)
    )
    kept = SqlDeadLetters.for_store(service.store)
    consumer = FeedbackConsumer(
        service,
        ContractPublisher(NoPublisher(), Topics()),
        Source(kind=SourceKind.CORE, id="c"),
        kept=kept,
    )
    feedback = CaseFeedback.create(
        source=Source(kind=SourceKind.CALL, id="agi-1"),
        case_number="C00000001",
        satisfaction="dissatisfied",
    )
    forged = FakeMessage(Topics().feedback("call", "agi-2"), feedback.to_json())
    try:
        consumer._handle(forged)  # type: ignore[arg-type]
        assert forged.acked and consumer.applied == 0 and consumer.ignored == 0
        [letter], total = kept.dead_letters(0, 5)
        assert total == 1 and letter.record.code == "source_mismatch"
        assert "belongs on citygw/v1/feedback/call/agi-1" in letter.record.reason
        assert letter.record.message_id == feedback.id
    finally:
        service.store.close()
