"""The event relay (the core's transactional outbox) against a fake connection."""

from __future__ import annotations

from pathlib import Path

from gateway.clock import FakeClock
from gateway.core.outgoing import EventRelay
from gateway.core.ports import CaseFilter
from gateway.core.workflow import Action, Actor, Command, Role
from tests.core.helpers import MONDAY_10, candidate, make_service


class FakeDelivery:
    def __init__(self) -> None:
        self.acked = False

    def is_published(self) -> bool:
        return self.acked


class FakeConnection:
    def __init__(self) -> None:
        self.connected = True
        self.sent: list[tuple[str, bytes, FakeDelivery]] = []

    def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> FakeDelivery:
        delivery = FakeDelivery()
        self.sent.append((topic, payload, delivery))
        return delivery

    def add_publish_listener(self, listener: object) -> None:
        pass  # the tests tick the relay themselves

    def ack_all(self) -> None:
        for _topic, _payload, delivery in self.sent:
            delivery.acked = True


def test_events_leave_in_order_and_are_deleted_only_after_the_puback(tmp_path: Path) -> None:
    service = make_service(
        f"sqlite:///{tmp_path / 'c.sqlite3'}", tmp_path / "ev", FakeClock(MONDAY_10)
    )
    connection = FakeConnection()
    relay = EventRelay(service, connection, window=2)
    service.store_candidates([candidate(i) for i in range(3)])
    relay._tick()
    assert len(connection.sent) == 2  # the window
    assert len(service.store.pending_events(10)) == 3  # nothing acknowledged yet
    connection.ack_all()
    relay._tick()
    assert len(connection.sent) == 3
    connection.ack_all()
    relay._tick()
    assert service.store.pending_events(10) == []
    # the table is empty: SQLite may hand out a used sequence number again; still sent
    case = service.store.list_cases(CaseFilter(limit=1))[0][0]
    service.transition(case.id, Command(Action.REGISTER), Actor("o", Role.OPERATOR))
    relay._tick()
    assert b'"register"' in connection.sent[-1][1]
    topics = [topic for topic, _payload, _delivery in connection.sent]
    assert topics[0].endswith("/events") and len(topics) == 4
    service.store.close()  # type: ignore[attr-defined]


def test_nothing_is_sent_while_the_broker_is_away(tmp_path: Path) -> None:
    service = make_service(
        f"sqlite:///{tmp_path / 'c.sqlite3'}", tmp_path / "ev", FakeClock(MONDAY_10)
    )
    connection = FakeConnection()
    connection.connected = False
    relay = EventRelay(service, connection)
    service.store_candidates([candidate(1)])
    relay._tick()
    assert connection.sent == [] and len(service.store.pending_events(10)) == 1
    connection.connected = True
    relay._tick()
    assert len(connection.sent) == 1
    service.store.close()  # type: ignore[attr-defined]


class LostDelivery:
    def is_published(self) -> bool:
        raise RuntimeError("Message publish failed: The client is not currently connected.")


def test_an_event_handed_over_as_the_connection_dropped_is_sent_again(tmp_path: Path) -> None:
    service = make_service(
        f"sqlite:///{tmp_path / 'c.sqlite3'}", tmp_path / "ev", FakeClock(MONDAY_10)
    )
    connection = FakeConnection()
    relay = EventRelay(service, connection)
    service.store_candidates([candidate(1)])
    original = connection.publish
    connection.publish = lambda *a, **k: LostDelivery()  # type: ignore[method-assign]
    relay._tick()
    connection.publish = original  # type: ignore[method-assign]
    relay._tick()
    assert len(connection.sent) == 1 and len(service.store.pending_events(10)) == 1
    connection.ack_all()
    relay._tick()
    assert service.store.pending_events(10) == []
    service.store.close()  # type: ignore[attr-defined]
