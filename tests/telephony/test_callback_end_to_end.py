"""Callbacks end to end: a real Mosquitto, the real daemons of one telephony host (`citygw
agi` answering the call, `citygw ami` hearing of its report over MQTT and calling the
reporter back), the fake Asterisk on both sides (a FastAGI caller, and an AMI server
replaying the recorded Originates)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from adapters.asterisk.fake_asterisk import place_call
from adapters.mqtt.broker import free_port
from gateway.config import Config
from gateway.contract import (
    CandidateCase,
    CaseEvent,
    CaseFeedback,
    Source,
    SourceKind,
    parse_message,
)
from tests.conftest import FIXTURES_DIR
from tests.core.mqtt_helpers import wait_until
from tests.foundation.test_mqtt_delivery import Collector
from tests.observability.scrape import scrape, value
from tests.telephony.ami_rig import FakeAsteriskManager, RunningAmi, callbacks_settings
from tests.telephony.conftest import placeholder_prompts
from tests.telephony.test_agi_end_to_end import REPORT, RunningAgi

AMI = FIXTURES_DIR / "asterisk-ami"


@pytest.fixture
def manager() -> Iterator[FakeAsteriskManager]:
    fake = FakeAsteriskManager()
    yield fake
    fake.close()


class Hotline:
    """The two daemons of one telephony host, on one configuration."""

    def __init__(
        self,
        make_config: Callable[..., Config],
        tmp_path: Path,
        port: int,
        secret: str,
        *,
        metrics_port: int | None = None,
    ) -> None:
        config = make_config(
            telephony={
                "listen_port": 0,
                "sounds_dir": str(tmp_path / "sounds"),
                "recordings_dir": str(tmp_path / "spool"),
                "callbacks": callbacks_settings(port, secret),
            },
            metrics={"ami_port": metrics_port},
        )
        placeholder_prompts(config.telephony)
        self.agi = RunningAgi(config)
        self.ami = RunningAmi(config)
        assert self.ami.runtime is not None, self.ami.error
        self.side = self.ami.runtime.side

    def close(self) -> None:
        self.ami.close()
        self.agi.close()
        assert self.ami.error is None and self.agi.error is None


def test_a_closed_hotline_case_calls_its_reporter_back_and_the_survey_reaches_the_core(
    make_config: Callable[..., Config], tmp_path: Path, manager: FakeAsteriskManager
) -> None:
    hotline = Hotline(make_config, tmp_path, manager.server.port, "citygw-ami-secret")
    core = Collector(make_config(), "citygw/v1/#", "core")
    try:
        place_call(REPORT, hotline.agi.options(), timeout_s=20)
        wait_until(lambda: any("/candidates/" in m.topic for m in core.messages), 20, "report")
        [report] = [
            parse_message(m.payload, expect=CandidateCase)
            for m in core.messages
            if "/candidates/" in m.topic
        ]
        assert isinstance(report, CandidateCase) and report.case_number
        assert report.reporter is not None and report.reporter.callback_number
        number = report.reporter.callback_number
        wait_until(  # the AMI side heard the IVR's report over MQTT too
            lambda: hotline.side.store.reporter_number(str(report.case_number)) == number,
            10,
            "the reporter's number kept by citygw ami",
        )
        closed = CaseEvent.create(
            source=Source(kind=SourceKind.CORE, id="core"),
            case_id="case-e2e",
            case_number=report.case_number,
            action="verify_pass",
            from_state="reported",
            to_state="closed",
        )
        for _ in range(2):  # a redelivery calls nobody twice
            assert core.connection.publish_and_wait(
                "citygw/v1/cases/case-e2e/events", closed.to_json()
            )
        wait_until(
            lambda: any("/feedback/" in m.topic for m in core.messages), 20, "callback feedback"
        )
        [originate] = manager.server.originates
        assert (
            originate.get("Channel") == f"Local/{report.reporter.callback_number}@citygw-outbound"
        )
        [feedback] = [
            parse_message(m.payload, expect=CaseFeedback)
            for m in core.messages
            if "/feedback/" in m.topic
        ]
        assert isinstance(feedback, CaseFeedback)
        assert feedback.case_number == report.case_number
        assert feedback.satisfaction == "dissatisfied" and feedback.reopen_requested
        records = [
            parse_message(m.payload, expect=CandidateCase)
            for m in core.messages
            if "/candidates/" in m.topic
        ]
        assert any(
            isinstance(r, CandidateCase) and r.facts.get("call_purpose") == "callback"
            for r in records
        )
        assert hotline.side.health()["callbacks"] == {"done": 1, "done:answered": 1}
    finally:
        core.close()
        hotline.close()


@pytest.mark.parametrize("ami", ["login_refused", "unreachable"])
def test_an_ami_refusing_the_login_or_unreachable_leaves_the_ivr_answering_and_callbacks_paused(
    make_config: Callable[..., Config], tmp_path: Path, manager: FakeAsteriskManager, ami: str
) -> None:
    """Bad input of issue 20: the IVR takes the call, the callback of its case waits and
    is never dialled, health and /metrics say callbacks are paused and why."""
    if ami == "login_refused":
        port, secret, reason = manager.server.port, "not-the-secret", "Authentication failed"
    else:  # nothing listens there
        port, secret, reason = free_port(), "citygw-ami-secret", "Connection"
    metrics_port = free_port()
    hotline = Hotline(make_config, tmp_path, port, secret, metrics_port=metrics_port)
    core = Collector(make_config(), "citygw/v1/candidates/#", "core")
    try:
        callbacks = hotline.side
        if ami == "login_refused":
            wait_until(lambda: manager.server.refused_logins >= 1, 10, "a refused login")
        else:
            wait_until(lambda: callbacks.health()["ami"] == "backoff", 10, "an AMI backoff")
        result = place_call(REPORT, hotline.agi.options(), timeout_s=20)
        case_number = result.variables["CITYGW_CASE_NUMBER"]
        assert case_number
        assert len(core.wait_for(1)) == 1
        wait_until(
            lambda: callbacks.store.reporter_number(case_number) is not None, 10, "the number"
        )
        closed = CaseEvent.create(
            source=Source(kind=SourceKind.CORE, id="core"),
            case_id="case-paused",
            case_number=case_number,
            action="verify_pass",
            from_state="reported",
            to_state="closed",
        )
        assert core.connection.publish_and_wait(
            "citygw/v1/cases/case-paused/events", closed.to_json()
        )
        wait_until(lambda: callbacks.health()["callbacks"].get("waiting") == 1, 10, "a callback")
        health = callbacks.health()
        assert health["state"] == "paused" and reason in health["reason"]
        assert "callbacks paused" in callbacks.describe()
        samples = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
        assert value(samples, "citygw_callbacks_paused") == 1
        assert value(samples, "citygw_callbacks", state="waiting") == 1
        assert value(samples, "citygw_callback_dials_total") == 0
        assert manager.server.originates == []
    finally:
        core.close()
        hotline.close()
