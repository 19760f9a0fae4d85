"""Kill -9 the core in the middle of ingesting 5 000 candidates, restart it: exactly 5 000 cases."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from adapters.storage.case_store import SqlCaseStore
from gateway.config import Config
from gateway.core.ports import CaseFilter
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

TOTAL = 5000


def _log_progress(store: SqlCaseStore, path: Path, stop: threading.Event) -> None:
    """Diagnostics for a failure: the case count once a second until the test ends."""
    with path.open("a") as out:
        while not stop.wait(1.0):
            out.write(f"{time.monotonic():.1f} {store.count_cases()}\n")
            out.flush()


@pytest.mark.slow
def test_a_core_killed_mid_ingest_ends_with_exactly_one_case_per_candidate(
    make_config: Callable[..., Config], db_url: str, tmp_path: Path
) -> None:
    config = core_config(make_config, db_url)
    config_file = write_config(config, tmp_path / "core.yaml")
    status = status_watch(config)
    store = SqlCaseStore.open(db_url, run_migrations=False) if "postgresql" in db_url else None
    core = start_core(config_file, tmp_path / "core-1.log")
    producer = None
    progress: threading.Thread | None = None
    progress_stop = threading.Event()
    try:
        wait_online(status)
        store = store or SqlCaseStore.open(db_url, run_migrations=False)
        producer = send_candidates(config, TOTAL)
        wait_until(lambda: store.count_cases() >= 300, 60, "the first cases")
        os.kill(core.pid, signal.SIGKILL)
        core.wait(15)
        at_kill = store.count_cases()
        assert at_kill < TOTAL, "the core finished before it was killed: the test proves nothing"

        core = start_core(config_file, tmp_path / "core-2.log")
        progress = threading.Thread(
            target=_log_progress,
            args=(store, tmp_path / "progress.log", progress_stop),
            daemon=True,
        )
        progress.start()
        try:
            wait_until(lambda: store.count_cases() >= TOTAL, 180, f"{TOTAL} cases")
        except AssertionError as exc:
            log_tail = (tmp_path / "core-2.log").read_text(errors="replace")[-3000:]
            progress_log = (tmp_path / "progress.log").read_text()[-1500:]
            raise AssertionError(
                f"{exc}; {at_kill} at the kill, {store.count_cases()} now\n"
                f"progress (monotonic s, cases):\n{progress_log}\ncore log tail:\n{log_tail}"
            ) from exc
        time.sleep(1.0)  # nothing more may come: a duplicate would show now
        assert store.count_cases() == TOTAL
        assert store.candidate_count() == TOTAL
        assert producer.wait_drained(60), "the producer never got every receipt"
        numbers = {c.number for c in store.list_cases(CaseFilter(limit=TOTAL))[0]}
        assert len(numbers) == TOTAL
    finally:
        progress_stop.set()
        if progress is not None:
            progress.join(5)
        stop_core(core)
        status.close()
        stop_producer(producer)
        if store is not None:
            store.close()
