"""A local Mosquitto broker process: for the demo, the tests and the benchmarks.

Production runs a broker of its own (see docs/deploy.md); this starts Debian's
``mosquitto`` on a loopback port with persistence in a folder of ours.
"""

from __future__ import annotations

import os
import pwd
import random
import shutil
import socket
import subprocess
import time
from pathlib import Path

MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto")


def find_mosquitto() -> str:
    for candidate in MOSQUITTO_PATHS:
        if Path(candidate).exists():
            return candidate
    found = shutil.which("mosquitto")
    if found is None:
        raise FileNotFoundError(
            "mosquitto not found: apt-get install mosquitto (the README's setup does)"
        )
    return found


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port(host: str = "127.0.0.1") -> int:
    """A free TCP port *below* the ephemeral range.

    A client that keeps reconnecting to a stopped server on an ephemeral-range port can
    connect to itself (TCP simultaneous open: its source port happens to be the target);
    paho then reads its own CONNECT back and the port stays taken. Ports outside the range
    are never picked as source ports, so a restarted test broker always gets its port back.
    """
    low, _high = _ephemeral_range()
    ceiling = max(low - 1, 2000)
    for _attempt in range(200):
        port = random.randint(max(1025, ceiling - 20000), ceiling)
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:  # a crowded machine: any free port will do
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class MosquittoBroker:
    """One mosquitto process; `start()` waits until it accepts connections."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        max_inflight: int = 1000,
        listener_options: list[str] | None = None,
        password_file: Path | None = None,
        acl_file: Path | None = None,
        message_size_limit: int = 0,
    ) -> None:
        """``listener_options``: extra lines for the listener (e.g. TLS ``cafile``/``certfile``/
        ``keyfile``); ``password_file``: a ``mosquitto_passwd`` file, which turns anonymous access off;
        ``acl_file``: who may publish and read what; ``message_size_limit``: payloads over this
        many bytes are dropped by the broker (0: no limit). `broker_security.secured_broker`
        sets all of them.
        """
        self.listener_options = listener_options or []
        self.password_file = password_file
        self.acl_file = acl_file
        self.message_size_limit = message_size_limit
        self.data_dir = data_dir
        self.host = host
        self.port = port or free_port(host)
        self.max_inflight = max_inflight
        self._process: subprocess.Popen[bytes] | None = None
        data_dir.mkdir(parents=True, exist_ok=True)
        self.config_file = data_dir / "mosquitto.conf"
        self.log_file = data_dir / "mosquitto.log"

    def _write_config(self) -> None:
        self.config_file.write_text(
            "\n".join(
                [
                    # stay the user who started it (as root, mosquitto would switch to the
                    # `mosquitto` user and could not write our data dir or read our files)
                    f"user {pwd.getpwuid(os.getuid()).pw_name}",
                    "per_listener_settings false",
                    f"listener {self.port} {self.host}",
                    *self.listener_options,
                    *(
                        [f"password_file {self.password_file}", "allow_anonymous false"]
                        if self.password_file
                        else ["allow_anonymous true"]
                    ),
                    *([f"acl_file {self.acl_file}"] if self.acl_file else []),
                    "persistence true",
                    f"persistence_location {self.data_dir}/",
                    "autosave_interval 1",
                    # a manual-ack consumer may hold many unacked messages (it acks per batch)
                    f"max_inflight_messages {self.max_inflight}",
                    "max_queued_messages 1000000",
                    f"message_size_limit {self.message_size_limit}",
                    "log_dest stderr",
                    "log_type error",
                    "log_type warning",
                    "log_type notice",
                    "",
                ]
            )
        )

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        if self.running:
            return
        self._write_config()
        log = open(self.log_file, "ab")  # noqa: SIM115 - handed to the child
        self._process = subprocess.Popen(
            [find_mosquitto(), "-c", str(self.config_file)],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"mosquitto exited with {self._process.returncode}; see {self.log_file}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"mosquitto did not listen on {self.host}:{self.port} within {timeout}s")

    def kill(self) -> None:
        """``kill -9``: no chance to save anything."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(10)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)

    def wait(self) -> int:
        return self._process.wait() if self._process is not None else 0
