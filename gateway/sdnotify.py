"""systemd's notification protocol (sd_notify), in pure Python with no dependency.

A daemon started by a ``Type=notify`` unit tells systemd it is ready (``READY=1``), what it
is doing (``STATUS=...``), that it is stopping (``STOPPING=1``), and that it is alive
(``WATCHDOG=1``, at least every ``WatchdogSec``). Messages are datagrams to the Unix
socket named by ``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace).
Outside systemd (no ``$NOTIFY_SOCKET``) every call is a no-op returning ``False``, so the
daemons call it unconditionally.

`Watchdog` pings from a named thread while the daemon's own health check passes; when
the check fails (a stuck ingest loop, a dead API thread) it stops pinging and systemd
restarts the unit (``Restart=on-failure`` with ``WatchdogSec``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from enum import StrEnum

log = logging.getLogger(__name__)

_SEND_TIMEOUT_S = 2.0


def _address() -> str | None:
    path = os.environ.get("NOTIFY_SOCKET")
    if not path or not (path.startswith("/") or path.startswith("@")):
        return None
    return "\0" + path[1:] if path.startswith("@") else path


def notify(*fields: str) -> bool:
    """Send ``KEY=value`` fields in one datagram; True when systemd's socket took it."""
    address = _address()
    if address is None:
        return False
    message = "\n".join(fields).encode("utf-8")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.settimeout(_SEND_TIMEOUT_S)
            sock.connect(address)
            sock.sendall(message)
    except OSError as exc:
        log.warning("sd_notify to %s failed: %s", os.environ.get("NOTIFY_SOCKET"), exc)
        return False
    return True


def ready(status: str | None = None) -> bool:
    """``READY=1`` (and a status line): call once the daemon serves."""
    return notify("READY=1", *([f"STATUS={_one_line(status)}"] if status else []))


def status(text: str) -> bool:
    return notify(f"STATUS={_one_line(text)}")


def stopping() -> bool:
    return notify("STOPPING=1")


def watchdog_ping() -> bool:
    return notify("WATCHDOG=1")


def watchdog_interval() -> float | None:
    """Seconds between the pings systemd expects (``WatchdogSec``), or None if not asked for."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid.isdigit() and int(pid) != os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 1_000_000 if value > 0 else None


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


class WatchdogState(StrEnum):
    NEW = "new"
    RUNNING = "running"
    UNHEALTHY = "unhealthy"
    STOPPED = "stopped"


class Watchdog:
    """Pings ``WATCHDOG=1`` at half the interval while ``healthy()`` is true.

    ``interval_s`` defaults to what systemd asked for (`watchdog_interval`); without one,
    `start` does nothing. ``healthy`` must be quick and must not raise (an exception counts
    as unhealthy).
    """

    def __init__(
        self,
        healthy: Callable[[], bool] = lambda: True,
        *,
        interval_s: float | None = None,
        name: str = "sdnotify.watchdog",
    ) -> None:
        self._healthy = healthy
        self._interval = interval_s if interval_s is not None else watchdog_interval()
        self._name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.state = WatchdogState.NEW
        self.pings = 0

    def _set_state(self, state: WatchdogState, why: str = "") -> None:
        if state != self.state:
            log.info("%s %s -> %s%s", self._name, self.state, state, f" ({why})" if why else "")
            self.state = state

    @property
    def interval_s(self) -> float | None:
        return self._interval

    def start(self) -> None:
        if self._thread is not None or self._interval is None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._set_state(WatchdogState.RUNNING)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._set_state(WatchdogState.STOPPED)

    def _run(self) -> None:
        assert self._interval is not None
        period = max(self._interval / 2, 0.05)
        while True:
            try:
                ok = bool(self._healthy())
            except Exception:
                log.exception("%s: the health check raised", self._name)
                ok = False
            if ok:
                if self.state is WatchdogState.UNHEALTHY:
                    self._set_state(WatchdogState.RUNNING, "healthy again")
                if watchdog_ping():
                    self.pings += 1
            else:
                self._set_state(WatchdogState.UNHEALTHY, "not pinging: systemd will restart us")
            if self._stop.wait(period):
                return
