"""End to end: fake Asterisk -> `citygw agi` (real outbox) -> real Mosquitto -> a subscriber or the core."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from adapters.asterisk.fake_asterisk import CallOptions, Press, Speak, Type, place_call
from adapters.mqtt.broker import MosquittoBroker, free_port
from adapters.storage.call_record_store import SqlCallRecords
from gateway.config import Config
from gateway.contract import (
    CandidateCase,
    CaseEvent,
    CaseFeedback,
    Source,
    SourceKind,
    parse_message,
    stable_message_id,
)
from gateway.core import auth as auth_module
from gateway.core.call_records import CallRecordFilter
from gateway.core.daemon import build_core
from gateway.core.ports import CaseFilter
from gateway.telephony.daemon import AgiRuntime, run_agi
from tests.core.helpers import CORE_SETTINGS
from tests.core.mqtt_helpers import wait_until
from tests.foundation.test_mqtt_delivery import Collector
from tests.telephony.conftest import placeholder_prompts

REPORT = [Press("1"), Press("2"), Press("1"), Speak(1.0), Speak(2.0), Press("1"), Press("1")]


class RunningAgi:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.stop = threading.Event()
        self._ready = threading.Event()
        self.runtime: AgiRuntime | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="test.agi", daemon=True)
        self.thread.start()
        assert self._ready.wait(20), f"agi did not start: {self.error}"

    def _run(self) -> None:
        def ready(runtime: AgiRuntime) -> None:
            self.runtime = runtime
            self._ready.set()

        try:
            run_agi(self.config, self.stop, ready=ready)
        except BaseException as exc:
            self.error = exc
            self._ready.set()

    def options(self, **fields: object) -> CallOptions:
        assert self.runtime is not None
        return CallOptions(
            script=self.config.telephony.script, port=self.runtime.server.port, **fields
        )

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)


@pytest.fixture
def agi(make_config: Callable[..., Config], tmp_path: Path) -> Iterator[RunningAgi]:
    config = make_config(
        telephony={
            "listen_port": 0,
            "sounds_dir": str(tmp_path / "sounds"),
            "recordings_dir": str(tmp_path / "spool"),
            "status_wait_s": 3,
        }
    )
    placeholder_prompts(config.telephony)
    running = RunningAgi(config)
    yield running
    running.close()


def test_a_reported_call_reaches_a_subscriber_with_its_recordings(
    agi: RunningAgi, make_config: Callable[..., Config]
) -> None:
    collector = Collector(make_config(), "citygw/v1/candidates/#", "e2e")
    try:
        place_call(REPORT, agi.options(), timeout_s=20)
        [message] = collector.wait_for(1)
        assert message.topic == "citygw/v1/candidates/call/test"
        candidate = parse_message(message.payload, expect=CandidateCase)
        assert isinstance(candidate, CandidateCase)
        assert candidate.event_code == "0599" and candidate.location.district == "海州区"
        assert candidate.case_number and candidate.case_number.startswith("01")
        assert [(e.name, e.size) for e in candidate.evidence] == [
            ("location.wav", 44 + 16000),
            ("description.wav", 44 + 32000),
        ]
        assert candidate.facts["recording_audio"]["description"]["seconds"] == 2.0
    finally:
        collector.close()


def test_a_call_while_the_broker_is_down_is_delivered_when_it_returns(
    agi: RunningAgi, mosquitto: MosquittoBroker, make_config: Callable[..., Config]
) -> None:
    mosquitto.kill()
    result = place_call(REPORT, agi.options(), timeout_s=20)
    assert result.variables["CITYGW_CASE_NUMBER"]  # the number is given without the core
    assert agi.runtime is not None
    assert agi.runtime.server.wait_idle(10)  # the candidate is stored after the hangup
    assert agi.runtime.publisher.outbox.queued_messages == 1
    mosquitto.start()
    collector = Collector(make_config(), "citygw/v1/candidates/#", "late")
    try:
        [message] = collector.wait_for(1, timeout=30)
        candidate = parse_message(message.payload, expect=CandidateCase)
        assert candidate.case_number == result.variables["CITYGW_CASE_NUMBER"]
    finally:
        collector.close()


def test_a_status_query_answers_from_core_events_and_publishes_the_survey(
    agi: RunningAgi, make_config: Callable[..., Config]
) -> None:
    core = Collector(make_config(), "citygw/v1/feedback/#", "core")
    try:
        event = CaseEvent.create(
            source=Source(kind=SourceKind.CORE, id="core"),
            case_id="case-7",
            case_number="0126010500007",
            action="close",
            from_state="reported",
            to_state="closed",
        )
        assert core.connection.publish_and_wait("citygw/v1/cases/case-7/events", event.to_json())
        result = place_call(
            [Press("3"), Type("0126010500007#"), Press("3")], agi.options(), timeout_s=20
        )
        assert any(name.endswith("/status-closed") for name in result.played)
        [message] = core.wait_for(1)
        feedback = parse_message(message.payload, expect=CaseFeedback)
        assert isinstance(feedback, CaseFeedback)
        assert feedback.case_number == "0126010500007"
        assert feedback.satisfaction == "dissatisfied" and feedback.reopen_requested
    finally:
        core.close()


# one call per purpose: (uniqueid, caller's actions, options, purpose, partial)
EVERY_PURPOSE = [
    ("1795878200.1", REPORT, {}, "report", False),
    ("1795878200.2", [Press("2")], {}, "consultation", False),
    ("1795878200.3", [Press("3"), Type("0126010500008#")], {}, "status_query", False),
    ("1795878200.4", [Press("0")], {}, "transfer", False),
    ("1795878200.5", [Press("1")], {"hangup_at_command": 3}, "none", True),  # at the main menu
    ("1795878200.6", [Press("4"), Speak(0.5)], {}, "suggestion", False),
]


def test_every_call_ends_in_exactly_one_candidate_with_its_purpose_and_call_facts(
    agi: RunningAgi, make_config: Callable[..., Config]
) -> None:
    collector = Collector(make_config(), "citygw/v1/candidates/#", "purposes")
    try:
        event = CaseEvent.create(
            source=Source(kind=SourceKind.CORE, id="core"),
            case_id="case-8",
            case_number="0126010500008",
            action="dispatch",
            from_state="registered",
            to_state="dispatched",
        )
        assert collector.connection.publish_and_wait(
            "citygw/v1/cases/case-8/events", event.to_json()
        )
        for uniqueid, actions, options, _purpose, _partial in EVERY_PURPOSE:
            place_call(actions, agi.options(uniqueid=uniqueid, **options), timeout_s=20)
        assert agi.runtime is not None
        assert agi.runtime.server.wait_idle(10)
        assert agi.runtime.service.candidates_published == len(EVERY_PURPOSE)
        messages = collector.wait_for(len(EVERY_PURPOSE))
        received = [parse_message(m.payload, expect=CandidateCase) for m in messages]
        # QoS 1 may deliver a message again (the outbox resends until the core's receipt):
        # "exactly one" is one candidate id per call, which the core stores once
        ids_by_call: dict[str, set[str]] = {}
        by_call: dict[str, CandidateCase] = {}
        for candidate in received:
            assert isinstance(candidate, CandidateCase)
            ids_by_call.setdefault(candidate.facts["uniqueid"], set()).add(candidate.id)
            by_call[candidate.facts["uniqueid"]] = candidate
        assert sorted(ids_by_call) == sorted(u for u, *_ in EVERY_PURPOSE)
        assert all(len(ids) == 1 for ids in ids_by_call.values())
        for uniqueid, _actions, _options, purpose, partial in EVERY_PURPOSE:
            candidate = by_call[uniqueid]
            facts = candidate.facts
            assert facts["call_purpose"] == purpose, uniqueid
            assert candidate.partial is partial, uniqueid
            assert facts["caller"] == "13800138000"
            assert facts["asterisk_channel"].startswith("Local/")
            assert facts["started_at"] <= facts["ended_at"]
            assert candidate.id == stable_message_id("call", "test", uniqueid)
        assert by_call["1795878200.3"].title == "12319 查询来电 0126010500008"
        assert by_call["1795878200.3"].facts["state_heard"] == "dispatched"
        assert by_call["1795878200.2"].event_code == "0199"
        assert [e.name for e in by_call["1795878200.6"].evidence] == ["suggestion.wav"]
    finally:
        collector.close()


def test_through_the_core_only_the_report_opens_a_case_and_the_rest_are_call_records(
    make_config: Callable[..., Config], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(
        telephony={
            "listen_port": 0,
            "sounds_dir": str(tmp_path / "sounds"),
            "recordings_dir": str(tmp_path / "spool"),
        },
        core={
            **CORE_SETTINGS,
            "database_url": f"sqlite:///{tmp_path / 'core.sqlite3'}",
            "http_port": free_port(),
        },
    )
    placeholder_prompts(config.telephony)
    monkeypatch.setattr(auth_module, "_SCRYPT_N", 2**4)  # fast password hashes
    core = build_core(config)
    core.auth.add_user("olga", "operator", "correct horse battery", None)
    core.start()
    agi = RunningAgi(config)
    try:
        assert core.connection.wait_connected(15)
        calls = [(u, a, o) for u, a, o, purpose, _ in EVERY_PURPOSE if purpose != "status_query"]
        for uniqueid, actions, options in calls:
            place_call(actions, agi.options(uniqueid=uniqueid, **options), timeout_s=20)
        # the consultation again: Asterisk's uniqueid is the same, so is the candidate's id
        place_call([Press("2")], agi.options(uniqueid="1795878200.2"), timeout_s=20)
        store = core.service.store
        records = SqlCallRecords.for_store(store)
        wait_until(
            lambda: records.call_records(CallRecordFilter())[1] == 3 and store.count_cases() == 2,
            30,
            "3 call records and 2 cases",
        )
        assert agi.runtime is not None and agi.runtime.publisher.wait_drained(30)  # receipts
        cases, _ = store.list_cases(CaseFilter())
        assert sorted(c.facts["call_purpose"] for c in cases) == ["report", "suggestion"]
        base = f"http://127.0.0.1:{config.core.http_port}"
        token = httpx.post(
            f"{base}/api/v1/auth/login",
            json={"name": "olga", "password": "correct horse battery"},
            timeout=10,
        ).json()["token"]
        page = httpx.get(
            f"{base}/api/v1/call-records",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        assert page["total"] == 3
        assert sorted(i["call_purpose"] for i in page["items"]) == [
            "consultation",
            "none",
            "transfer",
        ]
        assert {i["uniqueid"] for i in page["items"]} == {
            "1795878200.2",
            "1795878200.4",
            "1795878200.5",
        }
    finally:
        agi.close()
        core.stop()


def test_systemd_hears_ready_watchdog_pings_and_stopping(
    make_config: Callable[..., Config], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(tmp_path / "notify.sock"))
    listener.settimeout(20)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify.sock"))
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    config = make_config(
        telephony={
            "listen_port": 0,
            "sounds_dir": str(tmp_path / "sounds"),
            "recordings_dir": str(tmp_path / "spool"),
        }
    )
    placeholder_prompts(config.telephony)
    running = RunningAgi(config)
    try:
        first = listener.recv(4096).decode()
        assert first.startswith("READY=1\nSTATUS=agi://127.0.0.1:")
        assert "0 calls now" in first
        assert listener.recv(4096) == b"WATCHDOG=1"
    finally:
        running.close()
    seen = []
    while b"STOPPING=1" not in seen:
        seen.append(listener.recv(4096))
    listener.close()
