"""The FastAGI server: routing, bounded concurrency, timeouts, misbehaving peers, shutdown."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from adapters.asterisk.agi_session import FastAgiSession
from adapters.asterisk.fake_asterisk import (
    CallInBackground,
    CallOptions,
    Press,
    place_call,
)
from adapters.asterisk.fastagi_server import FastAgiServer, ServerState


class Recorder:
    """A route that records what it saw and runs a small script on the session."""

    def __init__(self, script: Callable[[FastAgiSession], None] | None = None) -> None:
        self.sessions: list[dict[str, object]] = []
        self.after: list[str] = []
        self.script = script
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def __call__(self, session: FastAgiSession) -> Callable[[], None]:
        self.entered.set()
        self.sessions.append(
            {"script": session.environment.script, "query": session.environment.query}
        )
        self.release.wait(30)
        if self.script is not None:
            self.script(session)
        return lambda: self.after.append(session.environment.uniqueid)


@pytest.fixture
def servers() -> Iterator[Callable[..., FastAgiServer]]:
    started: list[FastAgiServer] = []

    def start(routes: dict, **options: object) -> FastAgiServer:
        server = FastAgiServer("127.0.0.1", 0, routes, **options)  # type: ignore[arg-type]
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop(drain_timeout_s=1)


def answer_and_wait(session: FastAgiSession) -> None:
    session.answer()
    session.wait_for_digit(1000)


def test_calls_are_routed_by_script_name_with_their_query(servers) -> None:
    ivr, other = Recorder(answer_and_wait), Recorder(answer_and_wait)
    server = servers({"ivr12319": ivr, "other": other})
    result = place_call(
        [Press("1")],
        CallOptions(script="ivr12319", query="lang=zh&x=1", port=server.port, uniqueid="7.1"),
    )
    assert server.wait_idle(10)
    assert ivr.sessions == [{"script": "ivr12319", "query": {"lang": "zh", "x": "1"}}]
    assert other.sessions == []
    assert result.commands == ["ANSWER", "WAIT FOR DIGIT 1000"]
    assert result.closed_by_gateway
    assert ivr.after == ["7.1"]  # the follow-up ran after the socket closed
    [(command, seconds)] = server.turnarounds  # from ANSWER's reply to WAIT FOR DIGIT
    assert command == "WAIT FOR DIGIT" and 0 <= seconds < 5


def test_an_unknown_script_is_named_in_asterisks_log_and_closed(servers) -> None:
    server = servers({"ivr12319": Recorder()})
    result = place_call([], CallOptions(script="nosuch", port=server.port))
    assert result.commands == ["VERBOSE \"citygw: no FastAGI route for 'nosuch'\" 1"]
    assert result.closed_by_gateway


def test_a_call_beyond_the_limit_is_closed_at_once_and_the_others_go_on(servers) -> None:
    held = Recorder(answer_and_wait)
    held.release.clear()
    server = servers({"ivr": held}, max_calls=1)
    first = CallInBackground([Press("1")], CallOptions(script="ivr", port=server.port))
    assert held.entered.wait(10)
    refused = place_call([], CallOptions(script="ivr", port=server.port, uniqueid="2.2"))
    assert refused.commands == [] and refused.closed_by_gateway
    assert server.calls_refused == 1
    held.release.set()
    assert first.join().commands == ["ANSWER", "WAIT FOR DIGIT 1000"]
    assert server.wait_idle(10)
    again = place_call([Press("1")], CallOptions(script="ivr", port=server.port))
    assert again.commands == ["ANSWER", "WAIT FOR DIGIT 1000"]  # the slot came back


def test_a_silent_asterisk_frees_the_thread_after_the_read_timeout(servers) -> None:
    server = servers({"ivr": Recorder(answer_and_wait)}, read_timeout_s=0.3)
    result = place_call([], CallOptions(script="ivr", port=server.port, reply_delay_s=1.0))
    assert result.commands == ["ANSWER"]
    assert server.wait_idle(10)
    assert server.calls_failed == 1


def test_slow_replies_within_the_timeout_are_waited_for(servers) -> None:
    server = servers({"ivr": Recorder(answer_and_wait)}, read_timeout_s=2)
    result = place_call(
        [Press("1")], CallOptions(script="ivr", port=server.port, reply_delay_s=0.2)
    )
    assert result.commands == ["ANSWER", "WAIT FOR DIGIT 1000"]
    assert server.calls_failed == 0


def test_a_connection_that_never_sends_the_environment_times_out(servers) -> None:
    server = servers({"ivr": Recorder()}, env_timeout_s=0.3)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.settimeout(10)
        assert sock.recv(10) == b""  # the server gave up and closed
    assert server.wait_idle(10) and server.calls_failed == 1


@pytest.mark.parametrize(
    "options",
    [{"close_after_env": True}, {"close_at_command": 2}],
    ids=["after-env", "mid-command"],
)
def test_asterisk_closing_early_ends_the_call_quietly(servers, options: dict) -> None:
    route = Recorder(answer_and_wait)
    server = servers({"ivr": route})
    place_call([], CallOptions(script="ivr", port=server.port, **options))
    deadline = time.monotonic() + 10
    while server.calls_total < 1 and time.monotonic() < deadline:
        time.sleep(0.01)  # the server may not have accepted it yet
    assert server.wait_idle(10)
    assert server.calls_total == 1
    assert server.calls_failed == 1  # the handler saw the closed channel, and it was logged
    assert server.active_calls == 0


def test_stop_lets_a_call_in_progress_finish(servers) -> None:
    route = Recorder(answer_and_wait)
    route.release.clear()
    server = servers({"ivr": route}, drain_timeout_s=10)
    running = CallInBackground(
        [Press("1")], CallOptions(script="ivr", port=server.port, uniqueid="7.2")
    )
    assert route.entered.wait(10)
    stopper = threading.Thread(target=server.stop, name="test.stop")
    stopper.start()
    deadline = time.monotonic() + 10
    while server.state != ServerState.DRAINING and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1)
    route.release.set()
    assert running.join().commands == ["ANSWER", "WAIT FOR DIGIT 1000"]
    stopper.join(10)
    assert server.state == ServerState.STOPPED
    assert route.after == ["7.2"]


def test_stop_cuts_a_call_that_outlives_the_drain_timeout(servers) -> None:
    def forever(session: FastAgiSession) -> None:
        while True:
            session.wait_for_digit(100)

    route = Recorder(forever)
    server = servers({"ivr": route}, drain_timeout_s=0.3)
    running = CallInBackground([], CallOptions(script="ivr", port=server.port))
    assert route.entered.wait(10)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 10
    assert server.active_calls == 0
    assert running.join().closed_by_gateway


def test_start_and_stop_are_idempotent(servers) -> None:
    server = servers({"ivr": Recorder()})
    port = server.port
    server.start()
    assert server.port == port
    assert server.healthy()
    server.stop()
    server.stop()
    assert server.state == ServerState.STOPPED
    assert not server.healthy()


def test_follow_ups_run_one_at_a_time_on_one_thread_after_the_calls_let_go(servers) -> None:
    running: list[str] = []
    overlaps: list[int] = []
    threads: set[str] = set()
    gate = threading.Event()
    lock = threading.Lock()

    def follow_up(uniqueid: str) -> None:
        with lock:
            running.append(uniqueid)
            overlaps.append(len(running))
        threads.add(threading.current_thread().name)
        gate.wait(30)
        with lock:
            running.remove(uniqueid)

    def route(session: FastAgiSession) -> Callable[[], None]:
        session.answer()
        uniqueid = session.environment.uniqueid
        return lambda: follow_up(uniqueid)

    server = servers({"ivr12319": route}, max_calls=1)
    first = place_call([], CallOptions(script="ivr12319", port=server.port, uniqueid="8.1"))
    deadline = time.monotonic() + 10
    while server.active_calls and time.monotonic() < deadline:  # the server notices the end
        time.sleep(0.01)
    # the first call's follow-up is held, yet its slot is free: a second call is served
    second = place_call([], CallOptions(script="ivr12319", port=server.port, uniqueid="8.2"))
    assert first.closed_by_gateway and second.commands == ["ANSWER"]
    assert server.calls_refused == 0
    assert not server.wait_idle(0.2)  # idle means the follow-ups have run too
    gate.set()
    assert server.wait_idle(10)
    assert overlaps == [1, 1] and threads == {"fastagi.after-calls"}
    assert server.healthy()
