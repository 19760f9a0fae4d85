"""The agent's screen pop, gateway side: the recorded queue call (a real Asterisk 22.10.1)
replayed by the fake AMI server; its AgentConnect becomes one AgentCall carrying what
the caller did in the IVR before the transfer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from adapters.asterisk.ami_client import AmiClient
from adapters.asterisk.ami_fake import ReplayAmiServer
from adapters.asterisk.ami_protocol import AmiFrame
from adapters.asterisk.ami_queues import QueuePoller
from gateway.clock import FakeClock
from gateway.contract import (
    AgentCall,
    AgentQueues,
    CandidateCase,
    Location,
    Reporter,
    Source,
    SourceKind,
    parse_message,
)
from gateway.telephony.agent_desk import QUEUE_EVENTS, AgentDesk, QueueReport
from tests.conftest import FIXTURES_DIR

AMI = FIXTURES_DIR / "asterisk-ami"
#: what the recording's AgentConnect names
CALLER_UNIQUEID = "1796393504.9"
CALLER = "13800138000"
AGENT_INTERFACE = "Local/agent1@citygw-agent-sim/n"
GATEWAY = Source(kind=SourceKind.CALL, id="agi-1")
NOW = datetime(2026, 12, 4, 6, 11, 45, tzinfo=UTC)


class Pops:
    def __init__(self) -> None:
        self.calls: list[AgentCall] = []

    def agent_call(self, call: AgentCall) -> int:
        self.calls.append(call)
        return len(self.calls)


def ivr_transfer(uniqueid: str = CALLER_UNIQUEID) -> CandidateCase:
    """The IVR's candidate of a caller who chose 1 (report), 2 (a category) and then 0."""
    return CandidateCase.create(
        source=GATEWAY,
        id=f"call-{uniqueid.replace('.', '-')}-test",
        ts=NOW,
        event_code="0507",
        title="12319 来电：乱堆物堆料（来电未完成）",
        description="来电人在选择区域时转人工",
        location=Location(district="海州区"),
        reporter=Reporter(callback_number=CALLER),
        partial=True,
        facts={
            "channel": "phone",
            "uniqueid": uniqueid,
            "caller": CALLER,
            "call_purpose": "report",
            "service": "report",
            "stage": "district",
            "outcome": "transferred",
            "keys": ["main_menu:1", "category:3", "district:0"],
            "transfer_reason": "the caller pressed 0 at district",
            "category": {"key": "3", "name": "乱堆物堆料"},
        },
    )


async def replay_queue_call(on_frame: Callable[[AmiFrame], None]) -> list[str]:
    """Drive the recorded queue-call session: the client's actions in the recorded order;
    every frame the client reads goes to ``on_frame``. Returns the replay's mismatches."""
    server = ReplayAmiServer(AMI / "queue-call.ami.txt")
    await server.start()
    client = AmiClient(
        "127.0.0.1", server.port, "citygw", "citygw-ami-secret", ping_interval_s=3600
    )
    client.add_listener(on_frame)
    try:
        async with client:
            assert await client.wait_ready(5)
            await client.action("QueueSummary", {"Queue": "citygw-12319-agents"})
            await client.action("QueueStatus", {"Queue": "citygw-12319-agents"})
            await client.action(
                "Originate",
                {
                    "Channel": "Local/s@citygw-agents",
                    "Application": "Wait",
                    "Data": "30",
                    "CallerID": f'"Test Citizen" <{CALLER}>',
                    "Timeout": "30000",
                    "Async": "true",
                },
            )
            for _ in range(2):
                await client.action("QueueSummary", {"Queue": "citygw-12319-agents"})
                await client.action("QueueStatus", {"Queue": "citygw-12319-agents"})
    finally:
        await server.close()
    return server.mismatches


def run_desk(desk: AgentDesk) -> list[str]:
    def on_frame(frame: AmiFrame) -> None:
        desk.on_event(dict(frame.fields))

    return asyncio.run(asyncio.wait_for(replay_queue_call(on_frame), 20))


def test_the_recorded_agent_connect_pops_the_ivr_path_of_the_transferred_call() -> None:
    pops = Pops()
    desk = AgentDesk(pops, source=GATEWAY, clock=FakeClock(NOW))
    desk.remember(ivr_transfer("1796390000.1"))  # another caller's call
    desk.remember(ivr_transfer())
    assert run_desk(desk) == []
    assert len(pops.calls) == 1, "one AgentConnect in the recording, one pop"
    call = pops.calls[0]
    assert call.uniqueid == CALLER_UNIQUEID and call.linkedid == "1796393504.8"
    assert call.caller_number == CALLER and call.caller_name == "Test Citizen"
    assert call.interface == AGENT_INTERFACE and call.member_name == "Agent One"
    assert call.queue == "citygw-12319-agents" and call.hold_s == 0
    assert call.ivr is not None
    assert call.ivr["title"] == "12319 来电：乱堆物堆料（来电未完成）"
    assert call.ivr["partial"] is True and call.ivr["district"] == "海州区"
    assert call.ivr["facts"]["keys"] == ["main_menu:1", "category:3", "district:0"]
    assert call.ivr["facts"]["stage"] == "district"
    assert "channel" not in call.ivr["facts"]  # only what the pop shows
    # what goes on the wire parses back as the same message
    assert parse_message(call.to_json(), expect=AgentCall) == call


def test_a_caller_the_ivr_never_saw_still_pops_with_the_number_only() -> None:
    pops = Pops()
    desk = AgentDesk(pops, source=GATEWAY, clock=FakeClock(NOW))
    assert run_desk(desk) == []
    assert [(c.caller_number, c.ivr) for c in pops.calls] == [(CALLER, None)]


def test_the_same_agent_connect_twice_is_one_message_id() -> None:
    pops = Pops()
    desk = AgentDesk(pops, source=GATEWAY, clock=FakeClock(NOW))
    fields = {"Event": "AgentConnect", "Uniqueid": "1.2", "Interface": "PJSIP/8001"}
    first, second = desk.on_event(fields), desk.on_event(fields)
    assert first is not None and second is not None and first.id == second.id
    assert desk.on_event({"Event": "AgentConnect", "Uniqueid": "1.3"}) is None  # no interface
    assert desk.on_event({"Event": "AgentCalled", "Uniqueid": "1.3", "Interface": "x"}) is None


def test_old_ivr_calls_are_forgotten_by_count_and_age() -> None:
    clock = FakeClock(NOW)
    desk = AgentDesk(Pops(), source=GATEWAY, clock=clock, keep=2)
    for n in range(3):
        desk.remember(ivr_transfer(f"17963900{n:02d}.1"))
    fields = {"Event": "AgentConnect", "Interface": "PJSIP/8001"}
    assert desk.agent_call({**fields, "Uniqueid": "1796390000.1"}).ivr is None  # type: ignore[union-attr]
    assert desk.agent_call({**fields, "Uniqueid": "1796390002.1"}).ivr is not None  # type: ignore[union-attr]
    clock.advance(3 * 3600)
    desk.remember(ivr_transfer("1796399999.1"))
    assert desk.agent_call({**fields, "Uniqueid": "1796390002.1"}).ivr is None  # type: ignore[union-attr]


def test_a_failing_publisher_is_counted_never_raised() -> None:
    class Broken:
        def agent_call(self, call: AgentCall) -> int:
            raise RuntimeError("outbox full")

    desk = AgentDesk(Broken(), source=GATEWAY, clock=FakeClock(NOW))
    desk.on_event({"Event": "AgentConnect", "Uniqueid": "1.2", "Interface": "PJSIP/8001"})
    assert desk.failed == 1 and desk.popped == 0


# --------------------------------------------------------------------------- queue figures


class Queues:
    def __init__(self) -> None:
        self.sent: list[AgentQueues] = []

    def agent_queues(self, figures: AgentQueues) -> int:
        self.sent.append(figures)
        return len(self.sent)


FIGURES = {
    "age_s": 1.5,
    "queues": {
        "citygw-12319-agents": {
            "queue": "citygw-12319-agents",
            "waiting": 1,
            "longest_wait_s": 5,
            "answered": 1,
            "abandoned": 0,
            "agents_logged_in": 1,
            "agents_available": 0,
            "agents_paused": 1,
        }
    },
}


def test_queue_figures_go_out_when_they_change_and_every_minute() -> None:
    clock = FakeClock(NOW)
    sent = Queues()
    report = QueueReport(sent, source=GATEWAY, clock=clock, refresh_s=60)
    running = {"state": "running", "reason": None}
    assert report.tick(ami="ready", health=running, figures=FIGURES)
    clock.advance(1)
    assert not report.tick(ami="ready", health=running, figures={**FIGURES, "age_s": 2.5})
    clock.advance(59)
    assert report.tick(ami="ready", health=running, figures=FIGURES)  # the refresh
    paused = {"state": "paused", "reason": "Authentication failed"}
    assert report.tick(ami="refused", health=paused, figures=FIGURES)  # a change
    last = sent.sent[-1]
    assert (last.ami, last.callbacks_paused, last.paused_reason) == (
        "refused",
        True,
        "Authentication failed",
    )
    assert last.queues[0].waiting == 1 and last.queues[0].agents_paused == 1
    assert parse_message(last.to_json(), expect=AgentQueues) == last
    assert len(sent.sent) == 3


def test_a_queue_event_makes_the_poller_ask_at_once() -> None:
    """Polled every 60 s; the AMI events of a queue change (a caller joining, an agent
    answering) poke it, and it asks again within a second."""

    class Client:
        ready = True

        def __init__(self) -> None:
            self.asked: list[float] = []

        async def action_list(self, action: str, fields: dict[str, str]) -> list[AmiFrame]:
            self.asked.append(asyncio.get_running_loop().time())
            return []

    async def scenario() -> tuple[int, int]:
        client = Client()
        poller = QueuePoller(client, ["citygw-12319-agents"], interval_s=60)  # type: ignore[arg-type]
        task = asyncio.create_task(poller.run())
        await asyncio.sleep(0.3)
        at_start = len(client.asked)
        for event in ("QueueCallerJoin", "AgentConnect", "Newexten"):
            if event in QUEUE_EVENTS:
                poller.poke()
        await asyncio.sleep(0.8)
        task.cancel()
        return at_start, len(client.asked)

    at_start, after_poke = asyncio.run(scenario())
    assert (at_start, after_poke) == (1, 2)


def test_an_unreachable_ami_is_told_to_the_core_and_in_the_metrics(tmp_path: Path) -> None:
    from adapters.prometheus import PrometheusMetrics
    from gateway.telephony.ami_side import AmiSide
    from gateway.telephony.callback_metrics import export_callbacks
    from gateway.telephony.settings import TelephonyConfig
    from tests.telephony.conftest import MemoryPublisher

    class Gateway(MemoryPublisher, Queues, Pops):  # candidates, feedback, pops, queues
        def __init__(self) -> None:
            MemoryPublisher.__init__(self)
            Queues.__init__(self)
            Pops.__init__(self)

    settings = TelephonyConfig.model_validate(
        {
            "callbacks": {
                "enabled": True,
                "ami": {"port": 1, "secret": "x" * 12, "reconnect_min_s": 0.05},
            }
        }
    )
    publisher = Gateway()
    runner = AmiSide(
        settings, instance="agi-1", state_dir=tmp_path, publisher=publisher, clock=FakeClock(NOW)
    )
    metrics = PrometheusMetrics()
    export_callbacks(metrics, runner)
    runner.start()
    try:
        deadline = time.monotonic() + 5
        while not publisher.sent and time.monotonic() < deadline:
            time.sleep(0.05)
        text = metrics.render()[0].decode()
    finally:
        runner.stop()
    assert publisher.sent, "no queue report while AMI is away"
    report = publisher.sent[-1]
    assert report.callbacks_paused and report.ami in ("connecting", "backoff")
    assert report.queues == []
    assert "citygw_callbacks_paused 1.0" in text
    assert "citygw_agent_screen_pops_total 0.0" in text
