"""The feedback consumer tells the producer what it handled, so the producer's outbox can
forget it (and resends what a stopped core of a share group held unacknowledged)."""

from __future__ import annotations

from pathlib import Path

from gateway.clock import FakeClock
from gateway.contract import CaseFeedback, Source, SourceKind, Topics
from gateway.core.feedback import FeedbackConsumer
from gateway.publishing import ContractPublisher
from tests.core.helpers import MONDAY_10, make_service
from tests.core.test_dead_letters import FakeMessage, NoPublisher


class Receipts:
    def __init__(self) -> None:
        self.sent: list[tuple[list[str], list[str]]] = []

    def send_receipt(self, ids: list[str], rejected: list[str]) -> None:
        self.sent.append((ids, rejected))


def test_handled_and_refused_feedback_are_named_in_one_receipt_per_batch(tmp_path: Path) -> None:
    service = make_service(
        f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path / "e", FakeClock(MONDAY_10)
    )
    receipts = Receipts()
    consumer = FeedbackConsumer(
        service,
        ContractPublisher(NoPublisher(), Topics()),
        Source(kind=SourceKind.CORE, id="c"),
        receipts=receipts,
    )
    source = Source(kind=SourceKind.CALL, id="agi-1")
    unknown_case = CaseFeedback.create(
        source=source, case_number="C99999999", satisfaction="satisfied"
    )
    forged = CaseFeedback.create(source=source, case_number="C00000001", satisfaction="satisfied")
    messages = [
        FakeMessage(Topics().feedback("call", "agi-1"), unknown_case.to_json()),
        FakeMessage(Topics().feedback("call", "agi-2"), forged.to_json()),  # another's topic
        FakeMessage(Topics().feedback("call", "agi-1"), b"{not json"),  # no id to name
    ]
    try:
        consumer._handle_batch(messages)  # type: ignore[arg-type]
        assert all(m.acked for m in messages)
        assert consumer.ignored == 1
        assert receipts.sent == [([unknown_case.id], [forged.id])]
    finally:
        service.store.close()
