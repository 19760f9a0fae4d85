"""Callbacks through the real AMI client and dialer, against the fake Asterisk replaying
the recorded originate-* scenarios; and the AMI side that hosts them in `citygw ami`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from adapters.asterisk.ami_client import AmiClient
from adapters.asterisk.ami_dialer import AmiCallbackDialer
from adapters.asterisk.ami_fake import Behaviour, ScriptedAmiServer
from gateway.clock import FakeClock
from gateway.contract import CaseEvent, Source, SourceKind
from gateway.telephony.ami_side import AmiSide
from gateway.telephony.callback_dnc import DoNotCall
from gateway.telephony.callback_policy import CallbackResult, DialOutcome, DialRequest
from gateway.telephony.callback_service import CallbackService
from gateway.telephony.callback_settings import CallbackConfig
from gateway.telephony.callback_store import CallbackStore
from gateway.telephony.settings import TelephonyConfig
from tests.conftest import FIXTURES_DIR
from tests.telephony.conftest import MemoryPublisher
from tests.telephony.test_callback_service import GATEWAY, MONDAY_5PM, eventually, run

AMI = FIXTURES_DIR / "asterisk-ami"
SECRET = "citygw-ami-secret"


def closed_event(case_number: str, clock: FakeClock) -> CaseEvent:
    return CaseEvent.create(
        source=Source(kind=SourceKind.CORE, id="core"),
        ts=clock.now(),
        case_id=f"case-{case_number}",
        case_number=case_number,
        action="verify_pass",
        to_state="closed",
    )


@dataclass
class Rig:
    service: CallbackService
    server: ScriptedAmiServer
    clock: FakeClock
    publisher: MemoryPublisher


async def with_callbacks(
    tmp_path: Path,
    behaviour: Callable[[str], Behaviour],
    body: Callable[[Rig], Awaitable[None]],
    *,
    secret: str = SECRET,
    time_scale: float = 0.0,
    **overrides: Any,
) -> MemoryPublisher:
    server = ScriptedAmiServer(AMI, behaviour=behaviour, time_scale=time_scale)
    await server.start()
    config = CallbackConfig.model_validate(
        {
            "enabled": True,
            "ami": {
                "port": server.port,
                "secret": secret,
                "reconnect_min_s": 0.05,
                "reconnect_max_s": 0.2,
                "action_timeout_s": 3,
            },
            "delay_after_close_s": 0,
            "rate_per_s": 50,
            "max_call_s": 5,
            **overrides,
        }
    )
    ami = config.ami
    client = AmiClient(
        ami.host,
        ami.port,
        ami.username,
        secret,
        action_timeout_s=3,
        reconnect_min_s=0.05,
        reconnect_max_s=0.2,
        ping_interval_s=3600,
    )
    store = CallbackStore(tmp_path / "callbacks.sqlite3")
    clock = FakeClock(MONDAY_5PM)
    publisher = MemoryPublisher()
    service = CallbackService(
        config,
        store=store,
        dialer=AmiCallbackDialer(client, config),
        publisher=publisher,
        clock=clock,
        source=GATEWAY,
        timezone="Asia/Shanghai",
        fallback_event_code="0199",
        do_not_call=DoNotCall([]),
        poll_s=0.02,
    )
    async with client:
        task = asyncio.create_task(service.run())
        try:
            await body(Rig(service, server, clock, publisher))
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    await server.close()
    store.close()
    return publisher


def remember(service: CallbackService, case_number: str, number: str) -> None:
    service.store.remember_reporter(case_number, number, f"cand-{case_number}", MONDAY_5PM)


def test_an_answered_callback_reads_the_survey_key_from_the_recorded_events(tmp_path: Path) -> None:
    servers: list[ScriptedAmiServer] = []

    async def body(rig: Rig) -> None:
        servers.append(rig.server)
        remember(rig.service, "0126010500001", "13800000001")
        rig.service.case_event(closed_event("0126010500001", rig.clock))
        await eventually(lambda: len(rig.publisher.feedback_messages) == 1)

    publisher = run(with_callbacks(tmp_path, lambda n: ("answered", "3"), body))
    server = servers[0]
    [originate] = server.originates
    assert originate.get("Channel") == "Local/13800000001@citygw-outbound"
    assert originate.get("Context") == "citygw-callback" and originate.get("Async") == "true"
    assert "CITYGW_CASE=0126010500001" in originate.all("Variable")
    assert originate.get("ChannelId") == f"{originate.action_id}-1"
    [feedback] = publisher.feedback_messages
    assert feedback.satisfaction == "dissatisfied" and feedback.reopen_requested
    [record] = publisher.candidates
    assert record.facts["outcome"] == "answered" and record.facts["survey_key"] == "3"
    assert record.facts["hangup_cause"] == "16"  # the recorded Normal Clearing of the leg


@pytest.mark.parametrize(
    ("first", "outcome"),
    [("busy", "busy"), ("noanswer", "no_answer"), ("congestion", "congestion")],
)
def test_a_failed_call_is_recorded_with_its_outcome_and_retried(
    tmp_path: Path, first: str, outcome: str
) -> None:
    tries: dict[str, int] = {}

    def behaviour(number: str) -> Behaviour:
        tries[number] = tries.get(number, 0) + 1
        return (first, None) if tries[number] == 1 else ("answered", "1")

    holder: list[Any] = []

    async def body(rig: Rig) -> None:
        service, server, clock = rig.service, rig.server, rig.clock
        remember(service, "0126010500001", "13800000001")
        service.case_event(closed_event("0126010500001", clock))
        await eventually(lambda: len(server.originates) == 1)
        await eventually(lambda: len(rig.publisher.candidates) == 1)
        clock.advance(service.config.retry_after_s + 1)
        service.wake()
        await eventually(lambda: len(rig.publisher.feedback_messages) == 1)
        holder.append(service.store.get("case-0126010500001"))

    publisher = run(with_callbacks(tmp_path, behaviour, body))
    assert [c.facts["outcome"] for c in publisher.candidates] == [outcome, "answered"]
    assert publisher.feedback_messages[0].satisfaction == "satisfied"
    done = holder[0]
    assert done is not None and done.attempts == 2 and done.result is CallbackResult.ANSWERED


def test_a_refused_login_pauses_callbacks_and_says_why(tmp_path: Path) -> None:
    health: dict[str, Any] = {}

    async def body(rig: Rig) -> None:
        service, server, clock = rig.service, rig.server, rig.clock
        remember(service, "0126010500001", "13800000001")
        service.case_event(closed_event("0126010500001", clock))
        await eventually(lambda: server.refused_logins >= 1)
        await asyncio.sleep(0.1)
        health.update(service.health())
        assert server.originates == []

    run(with_callbacks(tmp_path, lambda n: ("answered", "1"), body, secret="wrong-secret-xx"))
    assert health["state"] == "paused"
    assert "Authentication failed" in health["reason"]
    assert health["callbacks"]["waiting"] == 1


def test_a_connection_lost_mid_call_ends_the_callback_as_unknown_never_redialled(
    tmp_path: Path,
) -> None:
    holder: list[Any] = []

    async def body(rig: Rig) -> None:
        service, server, clock = rig.service, rig.server, rig.clock
        remember(service, "0126010500001", "13800000001")
        service.case_event(closed_event("0126010500001", clock))
        await eventually(lambda: len(server.originates) == 1)
        await asyncio.sleep(0.05)
        await server.drop_connections()
        await eventually(lambda: len(rig.publisher.candidates) == 1)
        await eventually(lambda: server.logins == 2)
        clock.advance(86400)
        service.wake()
        await asyncio.sleep(0.2)
        assert len(server.originates) == 1
        holder.append(service.store.get("case-0126010500001"))

    publisher = run(with_callbacks(tmp_path, lambda n: ("noanswer", None), body, time_scale=0.5))
    assert publisher.candidates[0].facts["outcome"] == "lost"
    done = holder[0]
    assert done is not None and done.result is CallbackResult.OUTCOME_UNKNOWN


def test_the_runner_keeps_going_when_nothing_listens_and_stops_cleanly(tmp_path: Path) -> None:
    settings = TelephonyConfig.model_validate(
        {
            "callbacks": {
                "enabled": True,
                "ami": {
                    "port": 1,
                    "secret": "x" * 12,
                    "reconnect_min_s": 0.05,
                    "reconnect_max_s": 0.1,
                },
            }
        }
    )
    runner = AmiSide(
        settings,
        instance="agi-1",
        state_dir=tmp_path,
        publisher=MemoryPublisher(),
        clock=FakeClock(MONDAY_5PM),
    )
    runner.start()
    try:
        deadline = time.monotonic() + 5
        while runner.health()["ami"] not in ("backoff",) and time.monotonic() < deadline:
            time.sleep(0.02)
        health = runner.health()
        assert health["state"] == "paused" and "Connection" in (health["reason"] or "")
        assert "callbacks paused" in runner.describe()
        assert not runner.case_event(b"not json")
    finally:
        started = time.monotonic()
        runner.stop()
    assert time.monotonic() - started < 5


def test_an_answered_call_whose_connection_drops_is_not_followed_to_max_call_s(
    tmp_path: Path,
) -> None:
    async def scenario() -> tuple[Any, float]:
        server = ScriptedAmiServer(AMI, behaviour=lambda n: ("answered", "1"), time_scale=1.0)
        await server.start()
        config = CallbackConfig.model_validate(
            {"ami": {"port": server.port}, "max_call_s": 30, "ring_timeout_s": 30}
        )
        client = AmiClient("127.0.0.1", server.port, "citygw", SECRET, reconnect_min_s=5)
        dialer = AmiCallbackDialer(client, config)
        seen: list[str | None] = []
        client.add_listener(lambda f: seen.append(f.event))
        async with client:
            assert await client.wait_ready(5)
            request = DialRequest("cb-drop-1", "case-1", "0126010500001", "13800000001")
            call = asyncio.create_task(dialer.dial(request))
            await eventually(lambda: "OriginateResponse" in seen)
            await server.drop_connections()  # before the Hangup, recorded ~2.9 s later
            started = asyncio.get_running_loop().time()
            result = await call
            waited = asyncio.get_running_loop().time() - started
        await server.close()
        return result, waited

    result, waited = run(scenario())
    assert result.outcome is DialOutcome.ANSWERED and result.survey_key is None
    assert waited < 2.0
