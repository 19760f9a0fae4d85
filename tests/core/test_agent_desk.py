"""The agent's desk, core side, and agent-call recordings, on a real database (SQLite and
PostgreSQL): an AgentCall pops for the user who answers on its interface, with the
caller's earlier cases; recordings are served with auth, path-safe, and linked from the
case started from the pop and from the call record."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event as sa_event

from adapters.storage.caller_history_store import SqlCallerHistory
from gateway.contract import AgentCall, Reporter, Source, SourceKind
from gateway.core.agent_desk import AGENT_CALL, AgentDesk
from gateway.core.desk_settings import AgentDeskConfig, RecordingsConfig
from gateway.core.intake import case_id_for
from gateway.core.recordings import RecordingFolder, valid_uniqueid
from gateway.core.workflow import Action, Actor, Command, Role
from tests.core.api_harness import Api, make_api
from tests.core.helpers import MONDAY_10, candidate
from tests.core.test_call_records import call

CALLER = "13800138000"
UNIQUEID = "1796393504.9"
AGENT_INTERFACE = "Local/agent1@citygw-agent-sim/n"
DESK = {"agents": [{"user": "olga", "interfaces": [AGENT_INTERFACE, "PJSIP/8001"]}]}
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(28)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "monitor"
    path.mkdir()
    return path


@pytest.fixture
def api(db_url: str, tmp_path: Path, folder: Path) -> Iterator[Api]:
    harness = make_api(db_url, tmp_path, agent_desk=DESK, recordings={"folder": str(folder)})
    yield harness
    harness.close()


def agent_call(interface: str = AGENT_INTERFACE, **fields: Any) -> AgentCall:
    values: dict[str, Any] = {
        "id": f"agent-{UNIQUEID}",
        "ts": MONDAY_10,
        "uniqueid": UNIQUEID,
        "caller_number": CALLER,
        "caller_name": "Test Citizen",
        "queue": "citygw-12319-agents",
        "interface": interface,
        "member_name": "Agent One",
        "hold_s": 7,
        "ivr": {"title": "12319 来电：转人工", "facts": {"keys": ["main_menu:0"]}},
    }
    values.update(fields)
    return AgentCall.create(source=Source(kind=SourceKind.CALL, id="agi-1"), **values)


class Published:
    def __init__(self) -> None:
        self.events: list[tuple[str, Mapping[str, Any], str]] = []

    def __call__(self, kind: str, data: Mapping[str, Any], user: str) -> object:
        self.events.append((kind, data, user))
        return None


def desk_on(api: Api, published: Published, **config: Any) -> AgentDesk:
    return AgentDesk(
        AgentDeskConfig.model_validate({**DESK, **config}),
        SqlCallerHistory.for_store(api.service.store),
        published,
        api.clock,
    )


def caller_cases(api: Api) -> list[str]:
    """Three earlier cases of the caller (one of them rejected) and one of someone else."""
    stored = [
        candidate(1, reporter=Reporter(callback_number=CALLER), ts=MONDAY_10 - timedelta(days=3)),
        candidate(2, reporter=Reporter(callback_number=CALLER), ts=MONDAY_10 - timedelta(days=2)),
        candidate(3, reporter=Reporter(callback_number=CALLER), ts=MONDAY_10 - timedelta(days=1)),
        candidate(4, reporter=Reporter(callback_number="13900139000")),
    ]
    api.clock.advance(days=-3)
    for item in stored:
        api.service.store_candidates([item])
        api.clock.advance(days=1)
    api.clock.advance(days=-1)  # MONDAY_10 again
    rejected = case_id_for(stored[0].id)
    api.service.transition(
        rejected, Command(Action.REJECT, opinion="不属于城管"), Actor("olga", Role.OPERATOR)
    )
    return [case_id_for(c.id) for c in stored]


def test_an_agent_call_pops_for_its_agent_with_the_callers_cases(api: Api) -> None:
    ids = caller_cases(api)
    published = Published()
    desk = desk_on(api, published)
    pops = desk.on_payload(agent_call().to_json())
    assert [(kind, user) for kind, _data, user in published.events] == [(AGENT_CALL, "olga")]
    pop = pops[0]
    assert pop["agent"] == "olga" and pop["caller_number"] == CALLER and pop["hold_s"] == 7
    assert pop["ivr"]["title"] == "12319 来电：转人工"
    # newest first; the other caller's case is not there; the rejected one is not open
    assert [c["id"] for c in pop["cases"]] == [ids[2], ids[1], ids[0]]
    assert [c["open"] for c in pop["cases"]] == [True, True, False]
    assert pop["cases"][2]["state"] == "rejected"
    assert (pop["cases_total"], pop["cases_open"]) == (3, 2)
    assert desk.recent("olga")[0]["uniqueid"] == UNIQUEID and desk.recent("lena") == []


def test_late_unassigned_and_malformed_agent_calls_pop_nothing(api: Api) -> None:
    published = Published()
    desk = desk_on(api, published, max_age_s=60)
    api.clock.advance(61)
    assert desk.on_payload(agent_call().to_json()) == []
    api.clock.advance(-61)
    assert desk.on_payload(agent_call("PJSIP/9999").to_json()) == []
    assert desk.on_payload(b'{"schema": "citygw.agent_call"}') == []
    assert published.events == []
    assert desk.health() == {"popped": 0, "unassigned": 1, "late": 1, "rejected": 1}


def test_the_pop_of_a_caller_without_a_number_lists_no_cases(api: Api) -> None:
    caller_cases(api)
    desk = desk_on(api, Published())
    pop = desk.on_payload(agent_call(caller_number="").to_json())[0]
    assert pop["cases"] == [] and pop["cases_total"] == 0


def test_an_interface_given_to_two_users_is_refused() -> None:
    with pytest.raises(ValueError, match="PJSIP/8001"):
        AgentDeskConfig.model_validate(
            {
                "agents": [
                    {"user": "olga", "interfaces": ["PJSIP/8001"]},
                    {"user": "lena", "interfaces": ["PJSIP/8001"]},
                ]
            }
        )


# --------------------------------------------------------------------------- the routes


def test_the_desk_route_shows_an_agent_their_pops_and_others_none(api: Api) -> None:
    published = Published()
    api.client.app.state.ctx.desk = desk = desk_on(api, published)  # type: ignore[attr-defined]
    desk.on_payload(agent_call().to_json())
    mine = api.client.get("/api/v1/desk/calls", headers=api.headers("operator"))
    assert mine.status_code == 200
    body = mine.json()
    assert body["agent"] is True and [p["uniqueid"] for p in body["items"]] == [UNIQUEID]
    assert body["items"][0]["recording"] is None
    lead = api.client.get("/api/v1/desk/calls", headers=api.headers("shift_lead")).json()
    assert lead == {"agent": False, "items": []}
    for role in ("dispatcher", "department", "inspector"):
        got = api.client.get("/api/v1/desk/calls", headers=api.headers(role))
        assert got.status_code == 403, role


def test_a_recording_is_served_to_the_desk_roles_only(api: Api, folder: Path) -> None:
    (folder / f"{UNIQUEID}.wav").write_bytes(WAV)
    got = api.client.get(f"/api/v1/recordings/{UNIQUEID}", headers=api.headers("operator"))
    assert got.status_code == 200 and got.content == WAV
    assert got.headers["content-type"] == "audio/wav"
    assert "no-store" in got.headers["cache-control"]
    for role in ("dispatcher", "department", "inspector"):
        refused = api.client.get(f"/api/v1/recordings/{UNIQUEID}", headers=api.headers(role))
        assert refused.status_code == 403, role
    assert api.client.get(f"/api/v1/recordings/{UNIQUEID}").status_code == 401
    missing = api.client.get("/api/v1/recordings/1796393504.10", headers=api.headers("operator"))
    assert missing.status_code == 404 and missing.json()["error"] == "recording_not_found"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/recordings/..%2Fcore.sqlite3",
        "/api/v1/recordings/%2E%2E",
        "/api/v1/recordings/..",
        "/api/v1/recordings/.hidden",
        "/api/v1/recordings/a%00b",
        "/api/v1/recordings/secret",  # a symlink out of the folder
        "/api/v1/recordings/" + "1" * 65,
    ],
)
def test_no_path_leaves_the_recordings_folder(api: Api, folder: Path, path: str) -> None:
    outside = folder.parent / "secret.wav"
    outside.write_bytes(b"not for the console")
    (folder / "secret.wav").symlink_to(outside)
    got = api.client.get(path, headers=api.headers("operator"))
    assert got.status_code in (404, 422), got.text
    assert b"not for the console" not in got.content


def test_a_case_started_from_a_pop_and_the_call_record_link_the_recording(
    api: Api, folder: Path
) -> None:
    (folder / f"{UNIQUEID}.wav").write_bytes(WAV)
    created = api.client.post(
        "/api/v1/cases",
        json={
            "event_code": "0507",
            "title": "来电反映乱堆物堆料",
            "callback_number": CALLER,
            "reporter_name": "Test Citizen",
            "call_uniqueid": UNIQUEID,
            "request_id": "web-desk-test-0001",
        },
        headers=api.headers("operator"),
    )
    assert created.status_code == 201, created.text
    case = created.json()
    assert case["facts"]["call_uniqueid"] == UNIQUEID
    assert case["recording"]["url"] == f"/api/v1/recordings/{UNIQUEID}"
    assert case["recording"]["size"] == len(WAV)
    # a dispatcher sees the case, not the caller's voice
    seen = api.client.get(f"/api/v1/cases/{case['id']}", headers=api.headers("dispatcher"))
    assert seen.status_code == 200 and seen.json()["recording"] is None
    # the IVR's record of the same call (a transfer) links it too
    api.service.store_candidates([call(UNIQUEID, "transfer")])
    records = api.client.get("/api/v1/call-records", headers=api.headers("operator")).json()
    assert [r["recording"]["uniqueid"] for r in records["items"]] == [UNIQUEID]
    # a case without a call has none
    other = api.client.post(
        "/api/v1/cases", json={"event_code": "0507"}, headers=api.headers("operator")
    ).json()
    assert other["recording"] is None


def test_the_sweep_deletes_recordings_past_their_retention_only(tmp_path: Path) -> None:
    folder = tmp_path / "monitor"
    (folder / "sub").mkdir(parents=True)
    now = time.time()
    old, new = folder / "1.1.wav", folder / "2.2.wav"
    stray, below = folder / "notes.txt", folder / "sub" / "3.3.wav"
    for path in (old, new, stray, below):
        path.write_bytes(WAV)
    for path in (old, stray, below):
        os.utime(path, (now - 40 * 86400, now - 40 * 86400))
    recordings = RecordingFolder(RecordingsConfig(folder=folder, retention_days=30))
    from datetime import UTC, datetime

    assert recordings.sweep(datetime.fromtimestamp(now, UTC)) == 1
    assert not old.exists() and new.exists() and stray.exists() and below.exists()
    kept = RecordingFolder(RecordingsConfig(folder=folder))
    os.utime(new, (now - 400 * 86400, now - 400 * 86400))
    assert kept.sweep(datetime.fromtimestamp(now, UTC)) == 0 and new.exists()


def test_uniqueids_that_could_name_another_file_are_not_valid() -> None:
    assert valid_uniqueid("1796393504.9") and valid_uniqueid("cb-0003-leg1")
    for bad in ("", "..", "../x", "a/b", ".x", "a..b", "a\x00", "x" * 65, "a b"):
        assert not valid_uniqueid(bad), bad


def test_queue_figures_are_kept_per_gateway_and_told_to_every_console(api: Api) -> None:
    from gateway.contract import AgentQueues, QueueFigure
    from gateway.core.agent_desk import QUEUES

    published = Published()
    api.client.app.state.ctx.desk = desk = desk_on(api, published)  # type: ignore[attr-defined]
    figures = AgentQueues.create(
        source=Source(kind=SourceKind.CALL, id="agi-1"),
        ts=MONDAY_10,
        ami="ready",
        figures_age_s=1.0,
        queues=[QueueFigure(queue="citygw-12319-agents", waiting=2, longest_wait_s=35)],
    )
    desk.on_queues_payload(figures.to_json())
    paused = AgentQueues.create(
        source=Source(kind=SourceKind.CALL, id="agi-2"),
        ts=MONDAY_10,
        ami="refused",
        callbacks_paused=True,
        paused_reason="Authentication failed",
        callbacks_state="paused",
    )
    desk.on_queues_payload(paused.to_json())
    assert desk.on_queues_payload(b"") is None and desk.on_queues_payload(b"{}") is None
    assert desk.rejected == 1
    assert [(kind, user) for kind, _data, user in published.events] == [(QUEUES, None)] * 2
    assert [g["gateway"] for g in published.events[-1][1]["gateways"]] == ["agi-1", "agi-2"]
    got = api.client.get("/api/v1/desk/queues", headers=api.headers("shift_lead")).json()
    first, second = got["gateways"]
    assert first["queues"][0]["waiting"] == 2 and first["queues"][0]["longest_wait_s"] == 35
    assert second["callbacks_paused"] is True and second["ami"] == "refused"
    assert (first["callbacks_state"], second["callbacks_state"]) == ("", "paused")
    refused = api.client.get("/api/v1/desk/queues", headers=api.headers("department"))
    assert refused.status_code == 403


def test_the_callers_cases_are_read_through_the_callback_number_index(api: Api) -> None:
    """Both reads of a pop (the count and the newest cases) search
    ``ix_cases_callback_number`` (migration 0015) instead of scanning the cases table."""
    caller_cases(api)
    engine = api.service.store.engine  # type: ignore[attr-defined]
    issued: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        if "callback_number" in statement:
            issued.append((statement, parameters))

    sa_event.listen(engine, "before_cursor_execute", capture)
    try:
        cases, total, _open = SqlCallerHistory(engine).cases_of_caller(CALLER, 5)
    finally:
        sa_event.remove(engine, "before_cursor_execute", capture)
    assert total == len(cases) == 3 and len(issued) == 2
    postgres = engine.dialect.name == "postgresql"
    with engine.connect() as connection:
        if postgres:  # four rows: without this the planner rightly prefers a scan
            connection.exec_driver_sql("SET enable_seqscan = off")
        for statement, parameters in issued:
            explain = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
            plan = " ".join(
                str(row[-1]) for row in connection.exec_driver_sql(explain + statement, parameters)
            )
            assert "ix_cases_callback_number" in plan, plan
