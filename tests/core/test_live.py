"""The console's live stream: the hub's bounded fan-out, the relay's commit listener, tickets,
and the Server-Sent Events route on a real HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.mqtt.broker import free_port
from gateway.clock import FakeClock
from gateway.contract import CaseEvent, Source, SourceKind
from gateway.core.api import ApiContext, create_app
from gateway.core.codes import load_event_names
from gateway.core.http_server import ApiServer
from gateway.core.live import (
    CAMERAS,
    CASE,
    MAX_SUMMARIES,
    HubClosed,
    HubFull,
    LiveHub,
    LiveParts,
    StreamTickets,
    case_changes,
)
from gateway.core.organisation import Organisation
from gateway.core.outgoing import EventRelay
from gateway.core.ports import CaseFilter
from gateway.core.workflow import Action, Actor, Command, Role
from tests.core.api_harness import PASSWORD, Api, make_api
from tests.core.helpers import MONDAY_10, candidate, core_config, make_service
from tests.core.test_outgoing import FakeConnection


class Wakes:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


# --------------------------------------------------------------------------- the hub


def test_every_subscriber_receives_each_event_in_order() -> None:
    hub = LiveHub(queue_size=10)
    wakes = [Wakes(), Wakes()]
    subs = [hub.subscribe(f"c{i}", wake)[0] for i, wake in enumerate(wakes)]
    first = hub.publish(CASE, {"n": 1})
    hub.publish(CAMERAS, {"n": 2})
    for sub, wake in zip(subs, wakes, strict=True):
        assert [(e.kind, e.data["n"]) for e in sub.drain()] == [(CASE, 1), (CAMERAS, 2)]
        assert wake.count == 2 and sub.drain() == []
    assert first.id == f"{hub.epoch}.1"


def test_a_slow_client_is_dropped_and_the_others_keep_receiving() -> None:
    hub = LiveHub(queue_size=3)
    slow, _ = hub.subscribe("slow", Wakes())
    fast, _ = hub.subscribe("fast", Wakes())
    received = []
    for n in range(10):
        hub.publish(CASE, {"n": n})
        received += [e.data["n"] for e in fast.drain()]
    assert received == list(range(10))
    assert slow.dropped and slow.drain() == []  # its backlog is gone: it must reload
    assert not fast.ended
    assert hub.subscribers == 1 and hub.dropped_clients == 1


def test_a_wake_that_fails_does_not_stop_publishing() -> None:
    hub = LiveHub(queue_size=5)

    def broken() -> None:
        raise RuntimeError("event loop is closed")

    gone, _ = hub.subscribe("gone", broken)
    alive, _ = hub.subscribe("alive", Wakes())
    hub.publish(CASE, {"n": 1})
    assert [e.data["n"] for e in alive.drain()] == [1]
    assert [e.data["n"] for e in gone.drain()] == [1]


def test_a_department_subscriber_gets_its_own_cases_only() -> None:
    hub = LiveHub()
    sub, _ = hub.subscribe(
        "dept", Wakes(), wants=lambda e: e.kind == CASE and e.department == "sanitation"
    )
    hub.publish(CASE, {"n": 1}, department="traffic")
    hub.publish(CASE, {"n": 2}, department="sanitation")
    hub.publish(CAMERAS, {"n": 3})
    assert [e.data["n"] for e in sub.drain()] == [2]


def test_a_reconnecting_client_resumes_from_its_last_event_id_or_is_told_to_reload() -> None:
    hub = LiveHub(history=3)
    ids = [hub.publish(CASE, {"n": n}).id for n in range(5)]
    _, missed = hub.subscribe("again", Wakes(), last_event_id=ids[2])
    assert missed is not None and [e.data["n"] for e in missed] == [3, 4]
    _, up_to_date = hub.subscribe("current", Wakes(), last_event_id=ids[4])
    assert up_to_date == []
    _, too_old = hub.subscribe("old", Wakes(), last_event_id=ids[0])
    assert too_old is None  # events 1 .. were forgotten: reload
    _, other_epoch = hub.subscribe("restart", Wakes(), last_event_id="beefbeef.3")
    assert other_epoch is None
    _, future = hub.subscribe("future", Wakes(), last_event_id=f"{hub.epoch}.99")
    assert future is None
    _, fresh = hub.subscribe("new", Wakes())
    assert fresh == []


def test_closing_the_hub_ends_every_stream_and_refuses_new_ones() -> None:
    hub = LiveHub(max_clients=2)
    a, _ = hub.subscribe("a", Wakes())
    hub.subscribe("b", Wakes())
    with pytest.raises(HubFull):
        hub.subscribe("c", Wakes())
    hub.close()
    assert a.closed and not a.dropped and hub.subscribers == 0
    with pytest.raises(HubClosed):
        hub.subscribe("d", Wakes())


def test_publishing_from_many_threads_loses_nothing_for_a_keeping_up_client() -> None:
    hub = LiveHub(queue_size=100_000)
    sub, _ = hub.subscribe("c", Wakes())

    def publish(base: int) -> None:
        for n in range(500):
            hub.publish(CASE, {"n": base + n})

    threads = [threading.Thread(target=publish, args=(k * 1000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = [e.data["n"] for e in sub.drain()]
    assert sorted(got) == sorted(k * 1000 + n for k in range(4) for n in range(500))
    numbers = [int(e.partition(".")[2]) for e in (x.id for x in hub._history)]
    assert numbers == sorted(numbers)


def test_case_events_carry_the_case_while_someone_listens_and_batches_are_small() -> None:
    parts = LiveParts.create(core_config())
    asked: list[str] = []

    def summarize(case_id: str) -> dict[str, Any] | None:
        asked.append(case_id)
        return {"id": case_id, "state": "candidate"}

    parts.summarize = summarize
    before = parts.hub.publish(CAMERAS, {"cameras": []})
    event = _case_event_row(1, "case-1")
    parts.cases_committed([event])  # nobody listens: not even read, only the gap is noted
    assert asked == [] and list(parts.hub._history) == []
    _, resumed = parts.hub.subscribe("back", Wakes(), last_event_id=before.id)
    assert resumed is None  # it missed a case change: it must reload
    sub, _ = parts.hub.subscribe("c", Wakes())
    parts.cases_committed([event, _case_event_row(2, "case-1")])
    assert asked == ["case-1"]  # once per case in a batch
    assert [e.data["case"] for e in sub.drain()] == [{"id": "case-1", "state": "candidate"}] * 2
    bulk = [_case_event_row(n, f"case-{n}") for n in range(3, 3 + MAX_SUMMARIES + 1)]
    parts.cases_committed(bulk)
    assert asked == ["case-1"] and all("case" not in e.data for e in sub.drain())


def _case_event_row(seq: int, case_id: str) -> tuple[int, str, bytes]:
    event = CaseEvent.create(
        source=Source(kind=SourceKind.CORE, id="core-test"),
        case_id=case_id,
        action="create",
        to_state="candidate",
        department="sanitation",
    )
    return seq, f"citygw/v1/cases/{case_id}/events", event.to_json()


# --------------------------------------------------------------------------- tickets


def test_a_stream_ticket_works_once_and_only_until_it_expires() -> None:
    tickets = StreamTickets(timedelta(seconds=60))
    ticket, expires_at = tickets.issue("bearer-1", MONDAY_10)
    assert expires_at == MONDAY_10 + timedelta(seconds=60)
    assert "bearer-1" not in ticket
    assert tickets.redeem(ticket, MONDAY_10) == "bearer-1"
    assert tickets.redeem(ticket, MONDAY_10) is None
    late, _ = tickets.issue("bearer-2", MONDAY_10)
    assert tickets.redeem(late, MONDAY_10 + timedelta(seconds=61)) is None
    assert tickets.redeem("made-up", MONDAY_10) is None


def test_outstanding_tickets_are_bounded() -> None:
    tickets = StreamTickets(timedelta(seconds=60), max_outstanding=3)
    issued = [tickets.issue(f"b{n}", MONDAY_10)[0] for n in range(5)]
    assert tickets.redeem(issued[0], MONDAY_10) is None  # the oldest made room
    assert tickets.redeem(issued[4], MONDAY_10) == "b4"


# --------------------------------------------------------------------------- the relay


def test_the_relay_tells_each_committed_event_once_even_while_the_broker_is_away(
    db_url: str, tmp_path: Path
) -> None:
    service = make_service(db_url, tmp_path / "ev", FakeClock(MONDAY_10))
    service.store_candidates([candidate(0)])  # committed before the relay ran: not told
    told: list[tuple[int, str, bytes]] = []
    connection = FakeConnection()
    connection.connected = False
    relay = EventRelay(service, connection, on_committed=told.extend)
    relay._tick()
    assert told == []
    service.store_candidates([candidate(1), candidate(2)])
    relay._tick()
    relay._tick()
    assert len(told) == 2 and connection.sent == []
    changes = case_changes(told)
    assert [c["action"] for c, _dept in changes] == ["create", "create"]
    assert all(c["to_state"] == "candidate" for c, _dept in changes)

    connection.connected = True
    relay._tick()
    assert len(connection.sent) == 3 and len(told) == 2  # published, not told again
    connection.ack_all()
    relay._tick()
    assert service.store.pending_events(10) == []
    # the table is empty: SQLite numbers the next row 1 again; it is still told
    case = service.store.list_cases(CaseFilter(limit=1))[0][0]
    service.transition(case.id, Command(Action.REGISTER), Actor("o", Role.OPERATOR))
    relay._tick()
    assert len(told) == 3
    if db_url.startswith("sqlite"):
        assert told[-1][0] == 1
    assert case_changes(told[-1:])[0][0]["action"] == "register"
    assert "from_community" not in case_changes(told[-1:])[0][0]
    service.store.close()  # type: ignore[attr-defined]


def test_a_failing_listener_does_not_stop_the_relay(tmp_path: Path) -> None:
    service = make_service(
        f"sqlite:///{tmp_path / 'c.sqlite3'}", tmp_path / "ev", FakeClock(MONDAY_10)
    )
    connection = FakeConnection()

    def broken(_events: Any) -> None:
        raise RuntimeError("boom")

    relay = EventRelay(service, connection, on_committed=broken)
    relay._tick()
    service.store_candidates([candidate(1)])
    relay._tick()
    assert len(connection.sent) == 1
    service.store.close()  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- over HTTP


class Stream:
    """Reads one SSE response on a thread; ``next(kind)`` waits for the next event of a kind."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.events: list[tuple[str, str | None, dict[str, Any]]] = []
        self.comments = 0
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        kind, event_id, data = "message", None, ""
        try:
            for line in self.response.iter_lines():
                if line.startswith(":"):
                    with self._cond:
                        self.comments += 1
                        self._cond.notify_all()
                elif line.startswith("id: "):
                    event_id = line[4:]
                elif line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    data = line[6:]
                elif line == "" and data:
                    with self._cond:
                        self.events.append((kind, event_id, json.loads(data)))
                        self._cond.notify_all()
                    kind, event_id, data = "message", None, ""
        except httpx.HTTPError:
            pass

    def wait(self, predicate: Any, timeout: float = 15) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: predicate(self), timeout), self.events

    def kinds(self) -> list[str]:
        return [kind for kind, _id, _data in self.events]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Api, LiveParts, str]]:
    api = make_api(f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path)
    config = core_config(events_stream={"heartbeat_s": 1, "client_queue": 8})
    live = LiveParts.create(config)
    app = create_app(ApiContext(api.service, api.auth, config, api.clock, load_event_names(), live))
    port = free_port()
    server = ApiServer(app, "127.0.0.1", port)
    server.start()
    try:
        yield api, live, f"http://127.0.0.1:{port}"
    finally:
        live.hub.close()
        server.stop()
        api.close()


def open_stream(client: httpx.Client, url: str, **kw: Any) -> Stream:
    request = client.build_request("GET", url, **kw)
    response = client.send(request, stream=True)
    assert response.status_code == 200, response.read()
    assert response.headers["content-type"].startswith("text/event-stream")
    return Stream(response)


def test_the_stream_pushes_case_changes_to_a_ticket_holder(
    served: tuple[Api, LiveParts, str],
) -> None:
    api, live, base = served
    with httpx.Client(base_url=base, timeout=10) as client:
        issued = client.post("/api/v1/events/stream-ticket", headers=api.headers("operator"))
        assert issued.status_code == 200, issued.text
        ticket = issued.json()["ticket"]
        assert api.tokens["operator"] not in issued.json()["url"]
        stream = open_stream(client, issued.json()["url"])
        stream.wait(lambda s: "hello" in s.kinds())
        assert stream.events[0][2]["resumed"] is False

        api.service.store_candidates([candidate(7)])
        live.cases_committed(api.service.store.pending_events(10))
        stream.wait(lambda s: CASE in s.kinds())
        kind, event_id, data = stream.events[-1]
        assert kind == CASE
        assert data["action"] == "create" and data["to_state"] == "candidate"
        assert data["case"]["state"] == "candidate" and data["case"]["number"]  # as listed
        assert event_id == f"{live.hub.epoch}.1"
        stream.wait(lambda s: s.comments >= 1)  # the heartbeat

        again = client.get("/api/v1/events/stream", params={"ticket": ticket})
        assert again.status_code == 401 and again.json()["error"] == "unauthenticated"
        stream.response.close()


def test_a_reconnecting_stream_gets_what_it_missed(served: tuple[Api, LiveParts, str]) -> None:
    api, live, base = served
    first = live.hub.publish(CASE, {"n": 1})
    live.hub.publish(CASE, {"n": 2})
    with httpx.Client(base_url=base, timeout=10) as client:
        stream = open_stream(
            client,
            "/api/v1/events/stream",
            headers={**api.headers("dispatcher"), "Last-Event-ID": first.id},
        )
        stream.wait(lambda s: CASE in s.kinds())
        assert stream.events[0][2]["resumed"] is True
        assert [d["n"] for k, _i, d in stream.events if k == CASE] == [2]
        stream.response.close()


def test_a_department_stream_carries_only_its_own_cases(served: tuple[Api, LiveParts, str]) -> None:
    api, live, base = served
    with httpx.Client(base_url=base, timeout=10) as client:
        stream = open_stream(client, "/api/v1/events/stream", headers=api.headers("department"))
        stream.wait(lambda s: "hello" in s.kinds())
        live.hub.publish(CASE, {"n": 1}, department="traffic")
        live.hub.publish(CAMERAS, {"n": 2})
        live.hub.publish(CASE, {"n": 3}, department="sanitation")  # the harness's department
        stream.wait(lambda s: CASE in s.kinds())
        assert [d.get("n") for k, _i, d in stream.events if k != "hello"] == [3]
        stream.response.close()


def test_a_community_stream_carries_its_streets_events_about_the_cases_passed_to_it(
    served: tuple[Api, LiveParts, str],
) -> None:
    """四级联动: a community's events come under its street office's department; only
    those whose case summary says the case is with this community reach it."""
    api, live, base = served
    config = core_config()
    org = Organisation.from_config(config.organisation, {d.id: d.name for d in config.departments})
    api.service.workflow.organisation = org
    api.auth.organisation = org
    api.auth._departments |= set(config.organisation.department_ids())
    gulou, street = "community-320706001001", "street-320706001"
    api.auth.add_user("gulou", "department", PASSWORD, gulou)
    token = api.auth.login("gulou", PASSWORD)[0]
    with httpx.Client(base_url=base, timeout=10) as client:
        headers = {"Authorization": f"Bearer {token}"}
        stream = open_stream(client, "/api/v1/events/stream", headers=headers)
        stream.wait(lambda s: "hello" in s.kinds())
        live.hub.publish(CASE, {"n": 1, "case": {"community": None}}, department=street)
        live.hub.publish(CASE, {"n": 2}, department=street)  # no summary: not told
        other = {"community": "community-320706001002"}
        live.hub.publish(CASE, {"n": 3, "case": other}, department=street)
        live.hub.publish(CASE, {"n": 4, "case": {"community": gulou}}, department="traffic")
        live.hub.publish(CASE, {"n": 5, "case": {"community": gulou}}, department=street)
        # 收回: the case is no longer with it, yet the community is told to drop it
        taken = {"n": 6, "case": {"community": None}, "from_community": gulou}
        live.hub.publish(CASE, taken, department=street)
        stream.wait(lambda s: len([k for k in s.kinds() if k == CASE]) >= 2)
        assert [d.get("n") for k, _i, d in stream.events if k != "hello"] == [5, 6]
        stream.response.close()


def test_an_inspector_stream_carries_case_summaries_in_their_reach_only(
    served: tuple[Api, LiveParts, str],
) -> None:
    api, live, base = served  # the harness's inspector covers 320706901 (海州区 新海街道)
    with httpx.Client(base_url=base, timeout=10) as client:
        stream = open_stream(client, "/api/v1/events/stream", headers=api.headers("inspector"))
        stream.wait(lambda s: "hello" in s.kinds())
        elsewhere = {"grid_code": "32070390100100", "facts": {}}
        mine = {"grid_code": "32070690100101", "facts": {}}
        reported = {"grid_code": "32070390100100", "facts": {"reported_by": "ivan"}}
        live.hub.publish(CASE, {"n": 1, "case": elsewhere})
        live.hub.publish(CASE, {"n": 2, "case": mine})
        live.hub.publish(CASE, {"n": 3, "case": reported})
        live.hub.publish(CASE, {"n": 4, "case": None})  # bare: the client reloads its list
        stream.wait(lambda s: len([k for k in s.kinds() if k == CASE]) >= 3)
        assert [d.get("n") for k, _i, d in stream.events if k == CASE] == [2, 3, 4]
        stream.response.close()


def test_a_stream_ends_when_its_session_ends(served: tuple[Api, LiveParts, str]) -> None:
    api, _live, base = served
    with httpx.Client(base_url=base, timeout=10) as client:
        stream = open_stream(client, "/api/v1/events/stream", headers=api.headers("shift_lead"))
        stream.wait(lambda s: "hello" in s.kinds())
        api.auth.logout(api.tokens["shift_lead"])
        stream.wait(lambda s: "expired" in s.kinds())


def test_a_client_that_does_not_read_is_dropped_and_the_core_goes_on(
    served: tuple[Api, LiveParts, str],
) -> None:
    api, live, base = served
    woken = threading.Event()
    slow, _ = live.hub.subscribe("never-reads", woken.set)
    with httpx.Client(base_url=base, timeout=10) as client:
        stream = open_stream(client, "/api/v1/events/stream", headers=api.headers("operator"))
        stream.wait(lambda s: "hello" in s.kinds())
        for n in range(30):  # the queue holds 8: the one that never drains is dropped
            live.hub.publish(CASE, {"n": n, "pad": "x" * 100})
        assert slow.dropped and woken.is_set()
        stream.wait(lambda s: sum(k == CASE for k in s.kinds()) == 30 or "dropped" in s.kinds())
        assert live.hub.dropped_clients >= 1
        stream.response.close()


def test_the_stream_refuses_requests_without_a_valid_ticket_or_token(
    served: tuple[Api, LiveParts, str],
) -> None:
    _api, _live, base = served
    with httpx.Client(base_url=base, timeout=10) as client:
        for params, headers in (
            ({}, {}),
            ({"ticket": "made-up"}, {}),
            ({}, {"Authorization": "Bearer not-a-token"}),
        ):
            response = client.get("/api/v1/events/stream", params=params, headers=headers)
            assert response.status_code == 401, (params, headers)
            assert response.json()["error"] == "unauthenticated"
        ticket = client.post("/api/v1/events/stream-ticket")
        assert ticket.status_code == 401


def test_a_stopping_core_refuses_new_streams_with_the_reason(
    served: tuple[Api, LiveParts, str],
) -> None:
    api, live, base = served
    live.hub.close()
    with httpx.Client(base_url=base, timeout=10) as client:
        response = client.get("/api/v1/events/stream", headers=api.headers("operator"))
        assert response.status_code == 503 and response.json()["error"] == "stopping"
