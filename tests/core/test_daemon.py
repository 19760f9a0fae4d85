"""`citygw core` end to end through a real Mosquitto: MQTT in, HTTP API, case events out."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from adapters.mqtt import MqttConnection
from adapters.mqtt.broker import free_port
from adapters.storage.dead_letter_store import SqlDeadLetters
from gateway import bootstrap
from gateway.config import Config
from gateway.contract import (
    CaseEvent,
    CaseFeedback,
    Location,
    Source,
    SourceKind,
    parse_message,
)
from gateway.core import auth as auth_module
from gateway.core.daemon import CoreDaemon, build_core, run_core
from gateway.core.ports import CaseFilter
from tests.core.helpers import CORE_SETTINGS, candidate
from tests.core.mqtt_helpers import Collector, wait_until

PASSWORD = "correct horse battery"


@pytest.fixture
def core_config(make_config: Callable[..., Config], tmp_path: Path) -> Config:
    return make_config(
        core={
            **CORE_SETTINGS,
            "database_url": f"sqlite:///{tmp_path / 'core.sqlite3'}",
            "http_port": free_port(),
        }
    )


@pytest.fixture
def daemon(core_config: Config) -> Iterator[CoreDaemon]:
    auth_module._SCRYPT_N = 2**4
    lines: list[str] = []
    core = build_core(core_config, echo=lines.append)
    core.echoed = lines  # type: ignore[attr-defined]
    for name, role, department in (("olga", "operator", None), ("dan", "dispatcher", None)):
        core.auth.add_user(name, role, PASSWORD, department)
    core.start()
    assert core.connection.wait_connected(15)
    yield core
    core.stop()


def producer(config: Config) -> MqttConnection:
    connection = MqttConnection(config.mqtt, "test-producer", clean_session=True)
    connection.start()
    assert connection.wait_connected(15)
    return connection


def login(base: str, name: str) -> dict[str, str]:
    response = httpx.post(
        f"{base}/api/v1/auth/login", json={"name": name, "password": PASSWORD}, timeout=10
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['token']}"}


def test_a_candidate_from_mqtt_becomes_a_case_worked_over_http_with_events_on_mqtt(
    core_config: Config, daemon: CoreDaemon
) -> None:
    topics = bootstrap.topics(core_config)
    events = Collector(core_config, topics.all_case_events, topics.case_events("probe"))
    send = producer(core_config)
    try:
        cam = candidate(
            1,
            kind=SourceKind.CAMERA,
            source_id="cam-1",
            event_code="0505",
            location=Location(camera_id="cam-1", zone_id="gate"),
            facts={"track_id": 3, "class": "car", "box": [5, 6, 7, 8]},
        )
        for _ in range(2):  # a redelivery is stored once
            assert send.publish_and_wait(topics.candidate("camera", "cam-1"), cam.to_json())
        created = events.wait_until(lambda ms: len(ms) >= 1)
        event = parse_message(created[0].payload, expect=CaseEvent)
        assert isinstance(event, CaseEvent) and event.action == "create" and event.case_number
        wait_until(lambda: daemon.ingest.stats.duplicates >= 1, 15, "the redelivery")
        assert daemon.service.store.count_cases() == 1
        assert any("cand-000001" in line and "case" in line for line in daemon.echoed)  # type: ignore[attr-defined]

        base = f"http://{core_config.core.http_host}:{core_config.core.http_port}"
        headers = login(base, "olga")
        listing = httpx.get(f"{base}/api/v1/cases", headers=headers, timeout=10).json()
        assert listing["total"] == 1 and listing["items"][0]["grid_code"] == "32070690100101"
        reject = httpx.post(
            f"{base}/api/v1/cases/{event.case_id}/transitions",
            headers=headers,
            json={"action": "reject", "opinion": "误报", "reason": "false_detection"},
            timeout=10,
        )
        assert reject.status_code == 200, reject.text
        rejected = events.wait_until(lambda ms: any(b'"reject"' in m.payload for m in ms))
        reject_event = next(
            e
            for e in (parse_message(m.payload, expect=CaseEvent) for m in rejected)
            if e.action == "reject"
        )
        assert reject_event.facts["reason"] == "false_detection"
        assert reject_event.facts["camera_id"] == "cam-1" and reject_event.facts["box"] == [
            5,
            6,
            7,
            8,
        ]
        assert reject_event.case_number == event.case_number
        assert httpx.get(f"{base}/openapi.json", timeout=10).status_code == 200
        assert httpx.get(f"{base}/api/v1/cases", timeout=10).status_code == 401
    finally:
        send.stop(publish_offline=False)
        events.close()


def test_a_dissatisfied_survey_from_mqtt_asks_for_a_reopen(
    core_config: Config, daemon: CoreDaemon
) -> None:
    from gateway.core.workflow import Action, Actor, CaseState, Command, Role

    topics = bootstrap.topics(core_config)
    daemon.service.store_candidates([candidate(1, event_code="0102")])
    case = daemon.service.store.list_cases(CaseFilter())[0][0]
    svc = daemon.service
    svc.transition(case.id, Command(Action.REGISTER), Actor("o", Role.OPERATOR))
    svc.transition(case.id, Command(Action.DISPATCH), Actor("d", Role.DISPATCHER))
    svc.transition(case.id, Command(Action.REPORT), Actor("s", Role.DEPARTMENT, "sanitation"))
    svc.transition(case.id, Command(Action.VERIFY_PASS), Actor("i", Role.INSPECTOR))
    svc.transition(case.id, Command(Action.CLOSE), Actor("o", Role.OPERATOR))
    feedback = CaseFeedback.create(
        source=Source(kind=SourceKind.CALL, id="agi-1"),
        case_number=case.number,
        satisfaction="dissatisfied",
    )
    send = producer(core_config)
    try:
        for _ in range(2):  # redelivered: applied once
            assert send.publish_and_wait(topics.feedback("call", "agi-1"), feedback.to_json())
        assert send.publish_and_wait(topics.feedback("call", "agi-1"), b"{not json")
        wait_until(lambda: daemon.feedback.applied + daemon.feedback.ignored >= 2, 15, "feedback")
        assert daemon.service.store.get_case(case.id).state is CaseState.REOPEN_REQUESTED  # type: ignore[union-attr]
        assert daemon.feedback.applied == 1
        actions = [s.step.action for s in daemon.service.store.steps(case.id)]
        assert actions.count(Action.FEEDBACK) == 1
        # the broken one is kept for admins, as refused candidates are
        kept = SqlDeadLetters.for_store(daemon.service.store)
        wait_until(lambda: kept.dead_letters(0, 5)[1] >= 1, 15, "the kept dead letter")
        [letter], _ = kept.dead_letters(0, 5)
        assert letter.record.topic == topics.feedback("call", "agi-1")
        assert letter.record.code == "bad_json" and letter.record.head == b"{not json"
    finally:
        send.stop(publish_offline=False)


def test_run_core_keeps_the_demos_signature_and_stops_on_the_event(core_config: Config) -> None:
    stop = threading.Event()
    lines: list[str] = []
    worker = threading.Thread(
        target=run_core, args=(core_config, stop), kwargs={"echo": lines.append}
    )
    worker.start()
    topics = bootstrap.topics(core_config)
    send = producer(core_config)
    try:
        base = f"http://{core_config.core.http_host}:{core_config.core.http_port}"
        wait_until(lambda: _healthy(base), 20, "the API")
        status = Collector(
            core_config, topics.all_daemon_status, topics.daemon_status("probe", "x")
        )
        status.wait_until(
            lambda ms: any(b'"core"' in m.payload and b'"online"' in m.payload for m in ms)
        )
        status.close()
        assert send.publish_and_wait(
            topics.candidate("inspector", "insp-1"), candidate(7).to_json()
        )
        wait_until(lambda: any("cand-000007" in line for line in lines), 20, "the echo line")
    finally:
        send.stop(publish_offline=False)
        stop.set()
        worker.join(30)
    assert not worker.is_alive()


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
