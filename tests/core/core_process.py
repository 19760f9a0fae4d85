"""`citygw core` as its own process, for the tests that kill or starve it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adapters.mqtt import OutboxPublisher
from adapters.mqtt.broker import free_port
from gateway import bootstrap
from gateway.config import Config
from tests.core.helpers import CORE_SETTINGS, candidate
from tests.core.mqtt_helpers import Collector

REPO = Path(__file__).resolve().parents[2]


def write_config(config: Config, path: Path) -> Path:
    path.write_text(json.dumps(config.model_dump(mode="json")))
    return path


def start_core(config_file: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "gateway", "-c", str(config_file), "core", "--quiet"],
            cwd=REPO,
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
        )


def stop_core(core: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a clean stop), SIGKILL if it has not ended within 20 s."""
    if core.poll() is not None:
        return
    core.send_signal(signal.SIGTERM)
    try:
        core.wait(20)
    except subprocess.TimeoutExpired:
        core.kill()


def core_config(make_config: Callable[..., Config], db_url: str, **core: Any) -> Config:
    """A core on ``db_url`` whose producers resend an unconfirmed candidate after 5 s;
    ``core``: more settings of the core section."""
    return make_config(  # type: ignore[no-any-return]
        core={**CORE_SETTINGS, "database_url": db_url, "http_port": free_port(), **core},
        outbox={"receipt_timeout_s": 5, "receipt_backoff_max_s": 10},
    )


def status_watch(config: Config) -> Collector:
    topics = bootstrap.topics(config)
    return Collector(config, topics.all_daemon_status, topics.daemon_status("probe", "x"))


def wait_online(status: Collector) -> None:
    """Until the core says it is online (its retained status)."""
    status.wait_until(
        lambda ms: any(b'"core"' in m.payload and b'"online"' in m.payload for m in ms), 60
    )


def send_candidates(config: Config, total: int) -> OutboxPublisher:
    """``total`` candidates as an edge gateway sends them: through its durable outbox, kept
    there until the core's receipt says they are committed. Stop with `stop_producer`."""
    connection = bootstrap.mqtt_connection(config, "inspector-sim")
    producer = bootstrap.edge_publisher(config, "inspector-sim", connection)
    contract = bootstrap.contract_publisher(config, producer)
    producer.start()
    for n in range(total):
        contract.candidate(candidate(n))
    return producer


def send_candidates_in_two(
    config: Config, total: int, first: int
) -> tuple[OutboxPublisher, Callable[[], None]]:
    """`send_candidates` of the first ``first`` of ``total`` now, and a function that sends
    the rest through the same outbox (a test acts between the two)."""
    connection = bootstrap.mqtt_connection(config, "inspector-sim")
    producer = bootstrap.edge_publisher(config, "inspector-sim", connection)
    contract = bootstrap.contract_publisher(config, producer)
    producer.start()
    for n in range(first):
        contract.candidate(candidate(n))

    def send_rest() -> None:
        for n in range(first, total):
            contract.candidate(candidate(n))

    return producer, send_rest


def stop_producer(producer: OutboxPublisher | None) -> None:
    if producer is not None:
        producer.stop()
        producer.outbox.close()
