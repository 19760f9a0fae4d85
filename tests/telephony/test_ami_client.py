"""The AMI client against fake servers replaying what a real Asterisk 22.10.1 sent."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from adapters.asterisk.ami_client import AmiClient, AmiDisconnected, AmiError, AmiState
from adapters.asterisk.ami_fake import (
    ReplayAmiServer,
    ScriptedAmiServer,
    connections,
    read_ami_transcript,
)
from adapters.asterisk.ami_protocol import AmiFrame, OriginateOutcome, originate_outcome
from tests.conftest import FIXTURES_DIR

AMI = FIXTURES_DIR / "asterisk-ami"
SECRET = "citygw-ami-secret"
T = TypeVar("T")


def run(coro: Awaitable[T], timeout_s: float = 20.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout_s)

    return asyncio.run(bounded())


def client(port: int, secret: str = SECRET, **overrides: Any) -> AmiClient:
    options: dict[str, Any] = {
        "connect_timeout_s": 2.0,
        "action_timeout_s": 3.0,
        "boot_timeout_s": 2.0,
        "reconnect_min_s": 0.05,
        "reconnect_max_s": 0.2,
        "ping_interval_s": 3600.0,
    }
    options.update(overrides)
    return AmiClient("127.0.0.1", port, "citygw", secret, **options)


async def eventually(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def originate_fields(number: str, case: str = "0726120400001") -> dict[str, Any]:
    return {
        "Channel": f"Local/{number}@citygw-outbound",
        "Context": "citygw-callback",
        "Exten": "s",
        "Priority": "1",
        "CallerID": '"12319 Hotline" <12319>',
        "Timeout": "30000",
        "Variable": [f"CITYGW_CASE={case}"],
        "ChannelId": f"cb-{number}-1",
        "OtherChannelId": f"cb-{number}-2",
    }


# --------------------------------------------------------------------------- replayed sessions


def test_the_replay_server_gives_a_client_with_the_recorded_ids_exactly_the_recorded_bytes() -> (
    None
):
    async def scenario() -> bytes:
        server = ReplayAmiServer(AMI / "originate-busy.ami.txt")
        await server.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        for chunk in connections(read_ami_transcript(AMI / "originate-busy.ami.txt"))[0]:
            if chunk.kind == "SEND":
                writer.write(chunk.data)
        received = await reader.read()  # to Asterisk's EOF after the Logoff
        writer.close()
        await server.close()
        assert server.mismatches == []
        return received

    assert run(scenario()) == (AMI / "originate-busy.ami.bin").read_bytes()


def test_login_accepted_then_logoff_on_stop() -> None:
    async def scenario() -> tuple[ReplayAmiServer, AmiClient]:
        server = ReplayAmiServer(AMI / "login-ok.ami.txt")
        await server.start()
        ami = client(server.port)
        async with ami:
            assert await ami.wait_ready(5)
        await server.close()
        return server, ami

    server, ami = run(scenario())
    assert server.mismatches == []
    assert [a.get("Action") for a in server.served[0].actions] == ["Login", "Logoff"]
    assert server.served[0].actions[0].get("Secret") == SECRET
    assert ami.logins == 1 and ami.state is AmiState.STOPPED


def test_a_refused_login_is_a_state_not_a_crash_and_originates_are_refused() -> None:
    async def scenario() -> tuple[AmiClient, str]:
        server = ReplayAmiServer(AMI / "login-bad.ami.txt")
        await server.start()
        ami = client(server.port, secret="wrong-secret", reconnect_max_s=30)
        async with ami:
            await eventually(lambda: ami.state is AmiState.REFUSED)
            with pytest.raises(AmiDisconnected) as refused:
                await ami.originate(originate_fields("13800000001"), timeout_s=1)
        await server.close()
        return ami, refused.value.message

    ami, message = run(scenario())
    assert ami.logins == 0
    assert ami.last_error == "login refused: Authentication failed"
    assert "refused" in message


def test_an_action_refused_while_asterisk_shuts_down_and_the_reconnect_waits_for_fully_booted() -> (
    None
):
    async def scenario() -> dict[str, Any]:
        server = ReplayAmiServer(AMI / "core-restart.ami.txt")
        await server.start()
        ami = client(server.port)
        seen: list[AmiFrame] = []
        at_ready: list[str | None] = []
        ami.add_listener(seen.append)
        ami.add_state_listener(
            lambda s: (
                at_ready.append(seen[-1].event if seen else None) if s is AmiState.READY else None
            )
        )
        out: dict[str, Any] = {}
        async with ami:
            assert await ami.wait_ready(5)
            answered = await ami.originate(
                {"Channel": "Local/s@callee-long", "Context": "citygw-callback", "Exten": "s"},
                timeout_s=5,
            )
            out["first"] = originate_outcome(answered)
            with pytest.raises(AmiError) as refused:
                await ami.originate({"Channel": "Local/s@callee-answer"}, timeout_s=5)
            out["refused"] = refused.value.message
            with pytest.raises(AmiError) as ping:
                await ami.action("Ping")
            out["ping"] = ping.value.message
            await eventually(lambda: ami.logins == 2 and ami.ready)
        out["at_ready"] = at_ready
        out["mismatches"] = server.mismatches
        out["lost"] = ami.connections_lost
        out["hangups"] = sum(1 for f in seen if f.event == "Hangup")
        await server.close()
        return out

    out = run(scenario())
    assert out["first"] is OriginateOutcome.ANSWERED
    assert out["refused"] == out["ping"] == "Asterisk is shutting down"
    assert out["hangups"] == 2  # the call's events still came before the close
    assert out["lost"] == 1
    assert out["at_ready"] == ["FullyBooted", "FullyBooted"]  # never READY before boot ends
    assert out["mismatches"] == []


# --------------------------------------------------------------------------- originate outcomes


@pytest.mark.parametrize(
    ("behaviour", "outcome", "reason"),
    [
        ("answered", OriginateOutcome.ANSWERED, "4"),
        ("noanswer", OriginateOutcome.NO_ANSWER, "3"),
        ("busy", OriginateOutcome.BUSY, "5"),
        ("congestion", OriginateOutcome.CONGESTION, "8"),
    ],
)
def test_an_async_originate_is_queued_then_answered_by_its_originate_response(
    behaviour: str, outcome: OriginateOutcome, reason: str
) -> None:
    async def scenario() -> tuple[AmiFrame, list[AmiFrame], ScriptedAmiServer]:
        server = ScriptedAmiServer(AMI, behaviour=lambda number: (behaviour, "1"))
        await server.start()
        ami = client(server.port)
        events: list[AmiFrame] = []
        ami.add_listener(events.append)
        async with ami:
            assert await ami.wait_ready(5)
            result = await ami.originate(originate_fields("13800000002"), timeout_s=5)
            await eventually(lambda: any(f.event == "Hangup" for f in events))
        await server.close()
        return result, events, server

    result, events, server = run(scenario())
    assert result.get("Reason") == reason
    assert originate_outcome(result) is outcome
    assert server.originates[0].get("Async") == "true"
    leg = {f.uniqueid for f in events if f.event == "Newchannel"}
    assert leg == {"cb-13800000002-1", "cb-13800000002-2"}  # our ChannelIds name the legs
    channels = {f.get("Channel") for f in events if f.event == "Newchannel"}
    assert all(c and c.startswith("Local/13800000002@citygw-outbound-") for c in channels)


def test_two_originates_at_once_each_get_their_own_response() -> None:
    async def scenario() -> list[OriginateOutcome]:
        server = ScriptedAmiServer(
            AMI,
            behaviour=lambda n: ("busy", None) if n.endswith("1") else ("answered", "3"),
            time_scale=0.02,
        )
        await server.start()
        ami = client(server.port)
        async with ami:
            assert await ami.wait_ready(5)
            results = await asyncio.gather(
                ami.originate(originate_fields("13800000011"), timeout_s=5),
                ami.originate(originate_fields("13800000012"), timeout_s=5),
            )
        await server.close()
        return [originate_outcome(r) for r in results]

    assert run(scenario()) == [OriginateOutcome.BUSY, OriginateOutcome.ANSWERED]


# --------------------------------------------------------------------------- losing the connection


def test_a_dropped_connection_fails_the_call_in_flight_and_the_client_logs_in_again() -> None:
    async def scenario() -> tuple[AmiDisconnected, AmiClient, ScriptedAmiServer]:
        # noanswer rings ~10 s recorded; at 0.5x it is still ringing when the line drops
        server = ScriptedAmiServer(AMI, behaviour=lambda n: ("noanswer", None), time_scale=0.5)
        await server.start()
        ami = client(server.port)
        async with ami:
            assert await ami.wait_ready(5)
            call = asyncio.create_task(ami.originate(originate_fields("13800000003"), timeout_s=30))
            await eventually(lambda: len(server.originates) == 1)
            await asyncio.sleep(0.05)
            await server.drop_connections()
            with pytest.raises(AmiDisconnected) as lost:
                await call
            await eventually(lambda: ami.logins == 2 and ami.ready)
            pong = await ami.action("Ping")
            assert pong.get("Ping") == "Pong"
        await server.close()
        return lost.value, ami, server

    lost, ami, server = run(scenario())
    assert lost.queued  # Asterisk had queued it: the call may exist, its outcome is unknown
    assert ami.connections_lost == 1 and server.logins == 2


def test_nothing_listening_is_backoff_and_requests_fail_at_once() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def scenario() -> AmiClient:
        ami = client(port)
        async with ami:
            await eventually(lambda: ami.state is AmiState.BACKOFF)
            started = asyncio.get_running_loop().time()
            with pytest.raises(AmiDisconnected):
                await ami.action("Ping")
            assert asyncio.get_running_loop().time() - started < 0.5
        return ami

    ami = run(scenario())
    assert ami.last_error and "ConnectionRefused" in ami.last_error


def test_a_half_open_connection_is_found_by_the_ping_timeout() -> None:
    async def scenario() -> AmiClient:
        silent: list[asyncio.StreamWriter] = []

        async def accept_and_stall(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> None:
            silent.append(writer)
            writer.write(b"Asterisk Call Manager/11.0.0\r\n")
            data = await reader.readuntil(b"\r\n\r\n")  # the Login
            aid = next(x for x in data.split(b"\r\n") if x.startswith(b"ActionID: "))[10:]
            writer.write(
                b"Response: Success\r\nActionID: "
                + aid
                + b"\r\nMessage: Authentication accepted\r\n\r\n"
                b"Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n"
            )
            await asyncio.sleep(30)  # then never answers again

        server = await asyncio.start_server(accept_and_stall, "127.0.0.1", 0)
        ami = client(server.sockets[0].getsockname()[1], ping_interval_s=0.1, action_timeout_s=0.2)
        async with ami:
            await eventually(lambda: ami.logins >= 2)
        server.close()
        for writer in silent:
            writer.close()
        return ami

    ami = run(scenario())
    assert ami.connections_lost >= 1
