"""The agent's screen pop in the console (issue 20 §2), end to end: the recorded queue call
of a real Asterisk 22.10.1 replayed by the fake AMI server, the gateway's AgentDesk (which
saw the caller's IVR transfer) publishing over the real Mosquitto, the real core, and
Chromium signed in as the agent. The pop shows the number, the IVR path and the caller's
earlier cases; its button opens 上报问题 pre-filled; the case made from it plays the call's
recording. Another agent signed in at the same time sees no pop. The queue bar says the
switch is away, and 回访暂停 only when the centre makes callbacks (not when they are off)."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.asterisk.ami_protocol import AmiFrame
from adapters.mqtt.broker import free_port
from gateway import bootstrap
from gateway.clock import SYSTEM_CLOCK
from gateway.config import Config
from gateway.contract import Reporter, Source, SourceKind
from gateway.core.daemon import build_core
from gateway.core.intake import case_id_for
from gateway.core.workflow import Action, Actor, Command, Role
from gateway.telephony.agent_desk import AgentDesk, QueueReport
from tests.console.conftest import CORE_SETTINGS, PASSWORD, USERS, RunningCore, grids_of, screenshot
from tests.core.helpers import candidate
from tests.telephony.test_agent_desk import (
    AGENT_INTERFACE,
    CALLER,
    CALLER_UNIQUEID,
    FIGURES,
    ivr_transfer,
    replay_queue_call,
)

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(28)
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    folder = tmp_path / "monitor"
    folder.mkdir()
    return folder


@pytest.fixture
def core(
    make_config: Callable[..., Config], tmp_path: Path, recordings: Path
) -> Iterator[RunningCore]:
    """The console's core with the operator ``oper`` answering on the recorded agent's
    interface, the shift lead ``lead`` on another one, and a recordings folder."""
    port = free_port()
    config = make_config(
        core={
            **CORE_SETTINGS,
            "database_url": f"sqlite:///{tmp_path / 'core.sqlite3'}",
            "http_port": port,
            "agent_desk": {
                "agents": [
                    {"user": "oper", "interfaces": [AGENT_INTERFACE]},
                    {"user": "lead", "interfaces": ["PJSIP/8002"]},  # listening, not called
                ]
            },
            "recordings": {"folder": str(recordings)},
        }
    )
    daemon = build_core(config)
    for role, (name, department) in USERS.items():
        daemon.auth.add_user(name, role, PASSWORD, department, grids_of(role))
    daemon.start()
    try:
        yield RunningCore(config, daemon, f"http://127.0.0.1:{port}")
    finally:
        daemon.stop()


def earlier_cases(core: RunningCore) -> list[str]:
    """Two earlier cases of the caller: one still open, one rejected (not open)."""
    stored = [
        candidate(1, reporter=Reporter(callback_number=CALLER), title="上周反映的乱堆物"),
        candidate(2, reporter=Reporter(callback_number=CALLER), title="重复反映"),
    ]
    service = core.daemon.service
    service.store_candidates(stored)
    ids = [case_id_for(c.id) for c in stored]
    service.transition(ids[1], Command(Action.REJECT, opinion="重复"), Actor("oper", Role.OPERATOR))
    return ids


def gateway_answers_the_queue_call(core: RunningCore) -> None:
    """The telephony gateway's side: the IVR transfer remembered, the recorded AgentConnect
    replayed through the AMI client, the pop published over MQTT as `citygw agi` does."""
    connection = bootstrap.mqtt_connection(core.config, "agi")
    publisher = bootstrap.edge_publisher(core.config, "agi", connection)
    contract = bootstrap.contract_publisher(core.config, publisher)
    desk = AgentDesk(contract, source=Source(kind=SourceKind.CALL, id="agi-1"), clock=SYSTEM_CLOCK)
    desk.remember(ivr_transfer())
    publisher.start()
    connection.start()
    try:

        def on_frame(frame: AmiFrame) -> None:
            desk.on_event(dict(frame.fields))

        # in a thread of its own: Playwright's sync API holds this thread's event loop
        result: list[list[str]] = []
        thread = threading.Thread(
            target=lambda: result.append(
                asyncio.run(asyncio.wait_for(replay_queue_call(on_frame), 20))
            )
        )
        thread.start()
        thread.join(30)
        assert result == [[]], "the recorded queue call was not replayed as recorded"
        assert desk.popped == 1
        assert publisher.wait_drained(30), "the broker did not take the agent call"
    finally:
        publisher.stop()
        connection.stop()
        publisher.outbox.close()


#: the callbacks' health as the gateway's AMI side gives its queue report: AMI just lost
PAUSED = {"state": "paused", "reason": "connection lost"}
OFF = {"state": "off", "reason": None}  # telephony.callbacks.originate: false


def gateway_reports_queues(core: RunningCore, health: dict[str, Any] = PAUSED) -> None:
    """The gateway's queue report as `citygw agi` sends it: a caller waiting before a
    paused agent, and the AMI connection just lost (callbacks paused, or off)."""
    connection = bootstrap.mqtt_connection(core.config, "agi")
    publisher = bootstrap.edge_publisher(core.config, "agi", connection)
    contract = bootstrap.contract_publisher(core.config, publisher)
    report = QueueReport(
        contract, source=Source(kind=SourceKind.CALL, id="agi-1"), clock=SYSTEM_CLOCK
    )
    publisher.start()
    connection.start()
    try:
        assert report.tick(ami="backoff", health=health, figures=FIGURES)
        assert publisher.wait_drained(30), "the broker did not take the queue figures"
    finally:
        publisher.stop()
        connection.stop()
        publisher.outbox.close()


def pop_reads_chinese(page: Any) -> None:
    text = page.inner_text("#agent-pop")
    for data in ("citygw-12319-agents", "Test Citizen"):  # the queue's and caller's names
        text = text.replace(data, " ")
    english = sorted(set(LATIN_WORD.findall(text)))
    assert not english, f"English in the pop: {english}\n{text}"


def test_the_agent_gets_the_pop_starts_a_case_from_it_and_hears_the_recording(
    core: RunningCore, login: Callable[[str], Any], recordings: Path
) -> None:
    ids = earlier_cases(core)
    agent = login("operator")
    other = login("shift_lead")
    for page in (agent, other):  # both desks listening on the event stream
        page.wait_for_selector("#agent-pop[data-live=up]", state="attached")

    # the queue figures in the header of both: those who answer the hotline
    gateway_reports_queues(core)
    for page in (agent, other):
        page.wait_for_selector("#queue-bar:not([hidden])")
        bar = page.inner_text("#queue-bar")
        assert "人工队列 等待 1 · 最长 5 秒 · 已接 1 · 放弃 0 · 空闲坐席 0/1" in bar, bar
        assert "交换机连接中断，回访暂停" in bar

    gateway_answers_the_queue_call(core)

    agent.wait_for_selector("#agent-pop:not([hidden])")
    assert agent.inner_text("#pop-caller") == CALLER
    ivr = agent.inner_text("#pop-ivr")
    assert "乱堆物堆料" in ivr and "海州区" in ivr
    assert "主菜单 1 → 选择类别 3 → 选择区域 0" in ivr
    assert "来电人按 0 转人工" in ivr and "反映问题（未完成）" in ivr
    assert agent.inner_text("#pop-cases-summary") == "共 2 件，其中未结 1 件"
    listed = agent.eval_on_selector_all("#pop-cases li", "els => els.map(e => e.dataset.caseId)")
    assert sorted(listed) == sorted(ids)
    assert agent.inner_text(f"#pop-cases li[data-case-id='{ids[1]}'] .pill") == "已结"
    pop_reads_chinese(agent)
    screenshot(agent, "agent-pop")
    assert not agent.console_errors

    # the other agent, listening all along, got nothing: the stream carries a pop to its agent only
    other.wait_for_timeout(1000)
    assert other.locator("#agent-pop:not([hidden])").count() == 0

    # the agent takes the report from the call: the form comes pre-filled
    (recordings / f"{CALLER_UNIQUEID}.wav").write_bytes(WAV)  # MixMonitor's file
    agent.click("#pop-start-case")
    agent.wait_for_selector("#report-prefilled")
    assert agent.input_value("#report-form input[name=callback_number]") == CALLER
    assert agent.input_value("#report-form select[name=event_code]") == "0507"
    assert agent.input_value("#report-form input[name=district]") == "海州区"
    agent.fill("#report-form textarea[name=description]", "来电反映小区门口乱堆建筑垃圾")
    agent.click("#report-form button[type=submit]")
    agent.wait_for_selector("#report-case")
    agent.click("#report-case")
    agent.wait_for_selector("#case-recording-box audio[src^='blob:']")
    case_id = agent.url.rsplit("/", 1)[-1]
    case = core.case(case_id)
    assert case.callback_number == CALLER and case.facts["call_uniqueid"] == CALLER_UNIQUEID
    assert case.event_code == "0507"
    # after a reload the pop is offered again, now with the recording
    agent.reload()
    agent.wait_for_selector("#agent-pop:not([hidden]) #pop-recording audio[src^='blob:']")
    assert not agent.console_errors


def test_the_queue_bar_says_callbacks_pause_only_where_the_centre_makes_them(
    core: RunningCore, login: Callable[[str], Any]
) -> None:
    page = login("operator")
    page.wait_for_selector("#agent-pop[data-live=up]", state="attached")
    # callbacks switched off at the centre: the switch is away, no callback to pause
    gateway_reports_queues(core, OFF)
    down = page.wait_for_selector("#queue-bar:not([hidden]) .queue-down")
    assert down.inner_text() == "交换机连接中断"
    assert "回访" not in page.inner_text("#queue-bar")
    page.reload()  # the core's kept report (GET /api/v1/desk/queues) says the same
    down = page.wait_for_selector("#queue-bar:not([hidden]) .queue-down")
    assert down.inner_text() == "交换机连接中断"
    page.wait_for_selector("#agent-pop[data-live=up]", state="attached")
    # the gateway again with callbacks on: they wait for the switch
    gateway_reports_queues(core, PAUSED)
    page.wait_for_selector("#queue-bar .queue-down:text-is('交换机连接中断，回访暂停')")
    assert not page.console_errors


def test_the_case_page_says_why_its_callback_waits(
    core: RunningCore, login: Callable[[str], Any]
) -> None:
    """A closed hotline case whose reporter is on the do-not-call list: the gateway's
    waiting record (as `callback_report` words it) shows on the case's 回访与来电 for the
    desk, and a dispatcher's case page has no such section."""
    from datetime import UTC, datetime

    from gateway.telephony.callback_policy import Callback, WaitReason
    from gateway.telephony.callback_report import waiting_record

    ids = earlier_cases(core)
    case = core.case(ids[0])
    callback = Callback(
        case_id=case.id,
        case_number=case.number,
        number=CALLER,
        closed_at=datetime.now(UTC),
        next_at=datetime.now(UTC),
        wait_reason=WaitReason.DO_NOT_CALL,
    )
    record = waiting_record(
        callback,
        datetime.now(UTC),
        local_until="",
        fallback_event_code="0199",
        source=Source(kind=SourceKind.CALL, id="agi-1"),
    )
    core.daemon.service.store_candidates([record])
    page = login("operator")
    page.goto(f"{core.url}/console/#/case/{case.id}")
    page.wait_for_selector("#case-calls li[data-purpose=callback]")
    assert "回访等待：该号码在免打扰名单中" in page.inner_text("#case-calls")
    assert "回访" in page.inner_text("#case-calls li[data-purpose=callback] .muted")
    other = login("dispatcher")
    other.goto(f"{core.url}/console/#/case/{case.id}")
    other.wait_for_selector(".case-side")
    assert other.locator("#case-calls-box").count() == 0
    assert not page.console_errors and not other.console_errors
