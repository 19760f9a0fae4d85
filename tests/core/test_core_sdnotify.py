"""`citygw core` tells systemd it is ready, pings the watchdog while healthy, and says when it stops."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from adapters.mqtt.broker import free_port
from gateway.config import Config
from gateway.core.daemon import run_core


def test_systemd_hears_ready_watchdog_pings_and_stopping_from_the_core(
    make_config: Callable[..., Config], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(tmp_path / "notify.sock"))
    listener.settimeout(30)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify.sock"))
    monkeypatch.setenv("WATCHDOG_USEC", "400000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    config = make_config(
        core={"database_url": f"sqlite:///{tmp_path}/core.sqlite3", "http_port": free_port()}
    )
    stop = threading.Event()
    core = threading.Thread(target=run_core, args=(config, stop), name="test.core")
    core.start()
    try:
        first = listener.recv(4096).decode()
        assert first.startswith("READY=1\nSTATUS=")
        assert "candidates stored" in first
        assert listener.recv(4096) == b"WATCHDOG=1"
        assert listener.recv(4096) == b"WATCHDOG=1"
    finally:
        stop.set()
        core.join(60)
    seen = []
    while b"STOPPING=1" not in seen:
        seen.append(listener.recv(4096))
    listener.close()
    assert not core.is_alive()
