"""`citygw ami`, the hotline's AMI side as a daemon of its own (issue 20): the real daemon,
a real Mosquitto, the fake Asterisk Manager replaying what a real Asterisk 22.10.1 sent.

With `citygw agi` not running at all (down or restarting: when callers fall back to the
agents), an agent still gets a screen pop and a caller who abandoned the queue still
leaves a call record. What the IVR did comes over MQTT only, so the IVR's candidate of a
call may come after that call's Cdr: the call is still taken as handled by the IVR."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from adapters.asterisk.ami_protocol import AmiFrame, iter_frames
from adapters.mqtt.broker import free_port
from gateway.config import Config
from gateway.contract import AgentCall, AgentQueues, CandidateCase, parse_message
from gateway.telephony.ami_daemon import AmiOff, run_ami
from tests.conftest import FIXTURES_DIR
from tests.core.mqtt_helpers import wait_until
from tests.foundation.test_mqtt_delivery import Collector
from tests.observability.scrape import exported_names, referenced_by, scrape, value
from tests.telephony.ami_rig import FakeAsteriskManager, RunningAmi, ami_config
from tests.telephony.test_agent_desk import CALLER, CALLER_UNIQUEID, ivr_transfer

AMI = FIXTURES_DIR / "asterisk-ami"
ABANDONED = "1796393513.13"  # the caller's leg in the recorded queue-abandon
QUEUE = "citygw-12319-agents"


def recorded(scenario: str, event: str) -> list[AmiFrame]:
    return [f for f in iter_frames((AMI / f"{scenario}.ami.bin").read_bytes()) if f.event == event]


def send(manager: FakeAsteriskManager, frames: list[AmiFrame]) -> None:
    sent = asyncio.run_coroutine_threadsafe(manager.server.send_events(frames), manager.loop)
    assert sent.result(5) == 1


def candidates(core: Collector) -> list[CandidateCase]:
    out = []
    for message in list(core.messages):
        if "/candidates/" in message.topic:
            candidate = parse_message(message.payload, expect=CandidateCase)
            assert isinstance(candidate, CandidateCase)
            out.append(candidate)
    return out


def recorded_calls(core: Collector) -> set[str]:
    """The uniqueids of the call records made from CDRs."""
    return {
        str(c.facts["uniqueid"]) for c in candidates(core) if c.facts.get("recorded_from") == "cdr"
    }


@pytest.fixture
def manager() -> Iterator[FakeAsteriskManager]:
    fake = FakeAsteriskManager()
    yield fake
    fake.close()


@pytest.fixture
def core(make_config: Callable[..., Config]) -> Iterator[Collector]:
    """Everything on the broker, as the core (and an operator) would see it."""
    collector = Collector(make_config(), "citygw/v1/#", "core")
    yield collector
    collector.close()


def test_with_the_ivr_daemon_not_running_agents_get_their_screen_pop_and_queue_figures_and_an_abandoned_call_is_recorded(
    make_config: Callable[..., Config], manager: FakeAsteriskManager, core: Collector
) -> None:
    metrics_port = free_port()
    manager.server.queue_abandoned = 2  # the recordings' lists all say 0
    ami = RunningAmi(
        ami_config(make_config, manager.server.port, metrics_port=metrics_port, queues=[QUEUE])
    )
    try:
        wait_until(lambda: ami.health["ami"] == "ready", 10, "the AMI login")
        send(manager, recorded("queue-call", "AgentConnect") + recorded("queue-abandon", "Cdr"))

        wait_until(lambda: any("/agent-calls/" in m.topic for m in core.messages), 10, "a pop")
        [pop] = [
            parse_message(m.payload, expect=AgentCall)
            for m in core.messages
            if "/agent-calls/" in m.topic
        ]
        assert isinstance(pop, AgentCall)
        assert pop.uniqueid == CALLER_UNIQUEID and pop.caller_number == CALLER
        assert pop.ivr is None  # the IVR published nothing of this call: the number only
        wait_until(lambda: ABANDONED in recorded_calls(core), 15, "the abandoned call's record")
        record = next(c for c in candidates(core) if c.facts.get("uniqueid") == ABANDONED)
        assert record.facts["gateway_reached"] is False
        assert record.facts["last_application"] == "Queue"
        assert record.reporter is not None and record.reporter.callback_number == "13800138001"
        wait_until(
            lambda: any("/agent-queues/" in m.topic for m in core.messages), 5, "queue figures"
        )
        figures = parse_message(
            [m for m in core.messages if "/agent-queues/" in m.topic][-1].payload,
            expect=AgentQueues,
        )
        assert isinstance(figures, AgentQueues) and figures.ami == "ready"
        assert manager.server.queue_status_asked >= 1
        assert not any("/status/agi/" in m.topic for m in core.messages), "an IVR daemon ran"

        samples = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
        assert value(samples, "citygw_ami_ready") == 1
        assert value(samples, "citygw_agent_screen_pops_total") == 1
        assert value(samples, "citygw_unhandled_calls_recorded_total") == 1
        # the recorded QueueStatus: one caller waiting 1 s, the one agent paused
        assert value(samples, "citygw_queue_calls_waiting", queue=QUEUE) == 1
        assert value(samples, "citygw_queue_longest_wait_seconds", queue=QUEUE) == 1
        assert value(samples, "citygw_queue_agents_logged_in", queue=QUEUE) == 1
        assert value(samples, "citygw_queue_agents_paused", queue=QUEUE) == 1
        assert value(samples, "citygw_queue_agents_available", queue=QUEUE) == 0
        assert value(samples, "citygw_queue_answered", queue=QUEUE) == 1  # Completed: 1
        assert value(samples, "citygw_queue_abandoned", queue=QUEUE) == 2
        # with test_ami_metrics (the Master.csv reading, not set up here): every name the
        # dashboard and the alerts use
        missing = {
            n
            for n in referenced_by("ami") - exported_names(samples)
            if not n.startswith("citygw_cdr_csv_")
        }
        assert not missing, f"the dashboard or alerts name metrics citygw ami lacks: {missing}"
    finally:
        ami.close()
    assert ami.error is None


def test_an_ivr_candidate_arriving_after_the_calls_cdr_still_marks_the_call_handled(
    make_config: Callable[..., Config], manager: FakeAsteriskManager, core: Collector
) -> None:
    """The Cdrs of two queued callers come; the IVR's candidate of one of them comes over
    MQTT a second later (well inside the grace): only the other becomes a call record."""
    ami = RunningAmi(ami_config(make_config, manager.server.port, unhandled_grace_s=3))
    try:
        wait_until(lambda: ami.health["ami"] == "ready", 10, "the AMI login")
        cdrs = recorded("queue-abandon", "Cdr") + recorded("queue-call", "Cdr")
        send(manager, cdrs)
        sent_at = time.monotonic()
        time.sleep(1.0)
        late = ivr_transfer(ABANDONED).model_copy(
            update={"source": ivr_transfer().source.model_copy(update={"id": "test"})}
        )
        assert core.connection.publish_and_wait("citygw/v1/candidates/call/test", late.to_json())

        wait_until(lambda: CALLER_UNIQUEID in recorded_calls(core), 15, "the other call's record")
        assert time.monotonic() - sent_at >= 3  # not before the grace
        time.sleep(1.0)  # both were looked at together; give a wrong record time to show
        assert recorded_calls(core) == {CALLER_UNIQUEID}
        assert ami.runtime is not None and ami.runtime.side.store.ivr_handled(ABANDONED)
        assert ami.health["late_ivr_calls"] == 0 and ami.health["calls_recorded"] == 1
    finally:
        ami.close()
    assert ami.error is None


def test_the_ami_daemon_refuses_to_start_when_callbacks_are_not_enabled(
    make_config: Callable[..., Config],
) -> None:
    with pytest.raises(AmiOff):
        run_ami(make_config(), threading.Event())


def test_systemd_hears_ready_watchdog_pings_and_stopping(
    make_config: Callable[..., Config], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AMI unreachable: the daemon is still ready (callbacks paused) and feeds the watchdog."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(tmp_path / "notify.sock"))
    listener.settimeout(20)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify.sock"))
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    running = RunningAmi(ami_config(make_config, free_port()))
    try:
        first = listener.recv(4096).decode()
        assert first.startswith("READY=1\nSTATUS=callbacks "), first
        assert "in the outbox" in first
        assert listener.recv(4096) == b"WATCHDOG=1"
    finally:
        running.close()
    seen = []
    while b"STOPPING=1" not in seen:
        seen.append(listener.recv(4096))
    listener.close()
