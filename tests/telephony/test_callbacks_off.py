"""The AMI side with outbound calls switched off (``callbacks.originate: false``, issue 20):
the runner against the fake Asterisk, which is sent the recorded Cdr events of a call
abandoned in the queue and the recorded AgentConnect of an answered one. Nobody is
called back; the call record, the screen pop and the queue figures go on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.asterisk.ami_protocol import AmiFrame, iter_frames
from adapters.prometheus import PrometheusMetrics
from gateway.clock import FakeClock
from gateway.config import ConfigError, parse_config
from gateway.contract import CaseEvent, Source, SourceKind
from gateway.telephony.ami_side import AmiSide
from gateway.telephony.callback_metrics import export_callbacks
from gateway.telephony.settings import TelephonyConfig
from tests.conftest import FIXTURES_DIR
from tests.core.mqtt_helpers import wait_until
from tests.telephony.ami_rig import FakeAsteriskManager
from tests.telephony.conftest import MemoryPublisher
from tests.telephony.test_agent_desk import CALLER, CALLER_UNIQUEID, NOW, Pops, Queues, ivr_transfer

AMI = FIXTURES_DIR / "asterisk-ami"
CASE_NUMBER = "0126120400001"
ABANDONED = "1796393513.13"  # the caller's leg in the recorded queue-abandon


class Core(MemoryPublisher, Queues, Pops):
    """What the runner publishes: candidates, feedback, queue figures, screen pops."""

    def __init__(self) -> None:
        MemoryPublisher.__init__(self)
        Queues.__init__(self)
        Pops.__init__(self)


def recorded(scenario: str, event: str) -> list[AmiFrame]:
    return [f for f in iter_frames((AMI / f"{scenario}.ami.bin").read_bytes()) if f.event == event]


@pytest.fixture
def manager() -> Iterator[FakeAsteriskManager]:
    fake = FakeAsteriskManager()
    yield fake
    fake.close()


@pytest.fixture
def rig(
    tmp_path: Path, manager: FakeAsteriskManager, request: pytest.FixtureRequest
) -> Iterator[tuple[AmiSide, Core, PrometheusMetrics]]:
    settings = TelephonyConfig.model_validate(
        {
            "callbacks": {
                "enabled": True,
                "originate": request.param,
                "ami": {
                    "port": manager.server.port,
                    "secret": "citygw-ami-secret",
                    "reconnect_min_s": 0.05,
                },
                "delay_after_close_s": 0,
                "days": [1, 2, 3, 4, 5, 6, 7],
                "hours": ["00:00-23:59"],
            }
        }
    )
    core = Core()
    runner = AmiSide(
        settings, instance="agi-1", state_dir=tmp_path, publisher=core, clock=FakeClock(NOW)
    )
    metrics = PrometheusMetrics()
    export_callbacks(metrics, runner)
    runner.start()
    try:
        wait_until(lambda: runner.health()["ami"] == "ready", 10, "the AMI login")
        yield runner, core, metrics
    finally:
        runner.stop()


def report_then_close(runner: AmiSide, core: Core) -> bool:
    """The IVR publishes the transferred caller's report; the core then closes its case.
    Returns whether a callback was queued."""
    report = ivr_transfer().model_copy(update={"case_number": CASE_NUMBER})
    assert runner.ivr_call(report)
    closed = CaseEvent.create(
        source=Source(kind=SourceKind.CORE, id="core"),
        ts=NOW,
        case_id="case-off",
        case_number=CASE_NUMBER,
        action="verify_pass",
        from_state="reported",
        to_state="closed",
    )
    return runner.case_event(closed.to_json())


def send(manager: FakeAsteriskManager, frames: list[AmiFrame]) -> None:
    sent = asyncio.run_coroutine_threadsafe(manager.server.send_events(frames), manager.loop)
    assert sent.result(5) == 1


@pytest.mark.parametrize("rig", [False], indirect=True)
def test_with_dialling_off_a_closed_case_calls_nobody_while_call_records_and_pops_go_on(
    rig: tuple[AmiSide, Core, PrometheusMetrics], manager: FakeAsteriskManager
) -> None:
    runner, core, metrics = rig
    assert not report_then_close(runner, core)
    send(manager, recorded("queue-abandon", "Cdr") + recorded("queue-call", "AgentConnect"))

    wait_until(lambda: len(core.calls) == 1, 10, "the screen pop")
    [pop] = core.calls
    assert pop.uniqueid == CALLER_UNIQUEID and pop.caller_number == CALLER
    assert pop.ivr is not None and pop.ivr["facts"]["stage"] == "district"
    # the call record comes after the unhandled calls' grace (5 s): time enough to dial
    wait_until(
        lambda: any(c.facts.get("uniqueid") == ABANDONED for c in core.candidates), 15, "the record"
    )
    [record] = [c for c in core.candidates if c.facts.get("uniqueid") == ABANDONED]
    assert record.facts["gateway_reached"] is False and record.facts["last_application"] == "Queue"
    wait_until(lambda: any(q.ami == "ready" for q in core.sent), 5, "the queue figures")

    assert manager.server.originates == [], "an Originate with dialling off"
    assert runner.store.reporter_number(CASE_NUMBER) is None, "a number kept for nobody"
    health = runner.health()
    assert health["state"] == "off" and "callbacks off" in health["reason"]
    assert health["callbacks"] == {} and health["events_ignored"] == 1
    assert health["screen_pops"] == 1
    assert runner.describe().startswith("callbacks off; AMI ready, 1 calls recorded")
    last = core.sent[-1]
    assert not last.callbacks_paused and last.paused_reason == ""
    text = metrics.render()[0].decode()
    for line in (
        "citygw_callbacks_off 1.0",
        "citygw_callbacks_paused 0.0",
        "citygw_callback_events_ignored_total 1.0",
        "citygw_ami_ready 1.0",
        "citygw_agent_screen_pops_total 1.0",
    ):
        assert line in text, line


@pytest.mark.parametrize("rig", [True], indirect=True)
def test_with_dialling_on_the_same_closed_case_is_called_back(
    rig: tuple[AmiSide, Core, PrometheusMetrics], manager: FakeAsteriskManager
) -> None:
    """The rig of the test above does see an Originate when there is one."""
    runner, core, metrics = rig
    assert report_then_close(runner, core)
    wait_until(lambda: len(manager.server.originates) == 1, 10, "the callback's Originate")
    assert runner.health()["state"] == "running"
    text = metrics.render()[0].decode()
    assert "citygw_callbacks_off 0.0" in text


def test_the_config_check_takes_the_cdr_file_with_dialling_off_and_refuses_it_without_ami() -> None:
    master = "/var/log/asterisk/cdr-csv/Master.csv"
    config = parse_config(
        "telephony:\n  callbacks:\n    enabled: true\n    originate: false\n"
        f"    ami: {{secret: s}}\n    cdr_csv: {{path: {master}}}\n"
    )
    callbacks = config.telephony.callbacks
    assert callbacks.enabled and not callbacks.originate and str(callbacks.cdr_csv.path) == master
    with pytest.raises(ConfigError) as caught:
        parse_config(
            f"telephony:\n  callbacks:\n    originate: false\n    cdr_csv: {{path: {master}}}\n"
        )
    assert any(
        i.path == "telephony.callbacks"
        and "needs callbacks.enabled, the AMI connection" in i.message
        and "callbacks.originate: false" in i.message
        for i in caught.value.issues
    ), caught.value
