"""PostgreSQL crashes and comes back while the core ingests: every candidate is stored once,
and /healthz says intake is stalled while it is down."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from adapters.storage.case_store import SqlCaseStore
from adapters.storage.postgres_server import PostgresServer, find_pg_bin
from gateway.config import Config
from tests.core.core_process import (
    core_config,
    send_candidates,
    start_core,
    status_watch,
    stop_core,
    stop_producer,
    wait_online,
    write_config,
)
from tests.core.mqtt_helpers import wait_until

TOTAL = 2000


def _postgres_available() -> bool:
    try:
        find_pg_bin()
    except Exception:
        return False
    return True


pytestmark = pytest.mark.skipif(
    not _postgres_available(), reason="PostgreSQL binaries (Debian postgresql) not installed"
)


@pytest.fixture
def crashable_postgres() -> Iterator[PostgresServer]:
    """A server of its own (the shared one must not go down under other tests), with
    commits in the WAL when they return, as production runs it."""
    server = PostgresServer(durable_commits=True)
    server.start()
    yield server
    server.stop()


def _count(store: SqlCaseStore) -> int:
    try:
        return store.count_cases()
    except Exception:
        return -1  # the database is down: nothing to read now


def _health(base: str) -> int | None:
    try:
        return httpx.get(f"{base}/healthz", timeout=5).status_code
    except httpx.HTTPError:
        return None


def test_a_postgres_crash_mid_ingest_loses_nothing_and_duplicates_nothing(
    make_config: Callable[..., Config], crashable_postgres: PostgresServer, tmp_path: Path
) -> None:
    db_url = crashable_postgres.url()
    config = core_config(make_config, db_url, intake={"stall_after_s": 2})
    base = f"http://{config.core.http_host}:{config.core.http_port}"
    config_file = write_config(config, tmp_path / "core.yaml")
    status = status_watch(config)
    log_path = tmp_path / "core.log"
    core = start_core(config_file, log_path)
    producer = None
    store: SqlCaseStore | None = None
    try:
        wait_online(status)
        store = SqlCaseStore.open(db_url, run_migrations=False)
        producer = send_candidates(config, TOTAL)
        wait_until(lambda: _count(store) >= 200, 60, "the first cases")  # type: ignore[arg-type]

        crashable_postgres.halt("immediate")  # a crash: recovery on the next start
        # the core's ingest meets the outage and backs off; messages wait, none is stored
        wait_until(lambda: _health(base) == 503, 30, "/healthz to say intake is stalled")
        stalled = httpx.get(f"{base}/healthz", timeout=5).json()
        assert stalled["error"] == "intake_stalled", stalled
        assert "no progress" in stalled["detail"] and "last failure" in stalled["detail"]
        assert core.poll() is None, "the core exited while its database was down"
        crashable_postgres.start()

        wait_until(lambda: _count(store) >= TOTAL, 240, f"{TOTAL} cases")  # type: ignore[arg-type]
        time.sleep(1.0)  # a duplicate would show now
        assert store.count_cases() == TOTAL
        assert store.candidate_count() == TOTAL
        assert producer.wait_drained(90), "the producer never got every receipt"
        assert core.poll() is None
        assert _health(base) == 200
        log_text = log_path.read_text(errors="replace")
        assert "retrying" in log_text, "the outage was never noticed: the test proved nothing"
    finally:
        stop_core(core)
        status.close()
        stop_producer(producer)
        if store is not None:
            store.close()
