"""gateway.sdnotify against a real Unix datagram socket standing in for systemd's."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway import sdnotify


@pytest.fixture
def systemd_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


def received(sock: socket.socket) -> str:
    return sock.recv(4096).decode("utf-8")


def test_ready_sends_ready_and_a_one_line_status(systemd_socket: socket.socket) -> None:
    assert sdnotify.ready("core serving\non :8080")
    assert received(systemd_socket) == "READY=1\nSTATUS=core serving on :8080"


def test_stopping_and_watchdog_pings_arrive_as_their_own_datagrams(
    systemd_socket: socket.socket,
) -> None:
    assert sdnotify.stopping()
    assert sdnotify.watchdog_ping()
    assert received(systemd_socket) == "STOPPING=1"
    assert received(systemd_socket) == "WATCHDOG=1"


def test_an_abstract_socket_name_is_supported(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"citygw-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sdnotify.status("draining outbox")
        assert received(sock) == "STATUS=draining outbox"


def test_outside_systemd_every_call_is_a_harmless_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.ready() is False
    assert sdnotify.watchdog_ping() is False


def test_a_vanished_socket_is_reported_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone.sock"))
    assert sdnotify.ready() is False


def test_the_watchdog_interval_comes_from_systemd_and_only_for_this_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert sdnotify.watchdog_interval() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert sdnotify.watchdog_interval() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert sdnotify.watchdog_interval() is None
    monkeypatch.delenv("WATCHDOG_USEC")
    assert sdnotify.watchdog_interval() is None


def test_the_watchdog_pings_while_healthy_and_stops_pinging_when_not(
    systemd_socket: socket.socket,
) -> None:
    healthy = True
    dog = sdnotify.Watchdog(lambda: healthy, interval_s=0.2)
    dog.start()
    try:
        assert received(systemd_socket) == "WATCHDOG=1"
        assert received(systemd_socket) == "WATCHDOG=1"
        healthy = False
        deadline = time.monotonic() + 5
        while dog.state is not sdnotify.WatchdogState.UNHEALTHY:
            assert time.monotonic() < deadline, "the watchdog never noticed"
            time.sleep(0.02)
        while True:  # drain pings sent before it noticed
            systemd_socket.settimeout(0.3)
            try:
                received(systemd_socket)
            except TimeoutError:
                break
        pings = dog.pings
        time.sleep(0.5)
        assert dog.pings == pings, "an unhealthy daemon must not feed the watchdog"
        healthy = True
        systemd_socket.settimeout(5)
        assert received(systemd_socket) == "WATCHDOG=1"
    finally:
        dog.stop()
    assert dog.state is sdnotify.WatchdogState.STOPPED


def test_a_health_check_that_raises_counts_as_unhealthy(systemd_socket: socket.socket) -> None:
    def broken() -> bool:
        raise RuntimeError("ingest thread died")

    dog = sdnotify.Watchdog(broken, interval_s=0.1)
    dog.start()
    try:
        deadline = time.monotonic() + 5
        while dog.state is not sdnotify.WatchdogState.UNHEALTHY:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert dog.pings == 0
    finally:
        dog.stop()


def test_without_a_watchdog_request_start_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    dog = sdnotify.Watchdog()
    dog.start()
    assert dog.state is sdnotify.WatchdogState.NEW and dog.interval_s is None
    dog.stop()
