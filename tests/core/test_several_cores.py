"""Several cores on one database: they start together, split the candidate stream, and a
core killed mid-stream loses and doubles nothing."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.mqtt import ReceivedMessage
from adapters.mqtt.broker import free_port
from adapters.storage.case_store import SqlCaseStore
from adapters.storage.database import migrate, open_engine
from adapters.storage.postgres_server import PostgresServer
from adapters.storage.schema import metadata
from gateway.clock import FakeClock
from gateway.config import Config
from gateway.contract import SourceKind
from gateway.core.ports import CaseFilter
from tests.core.conftest import fresh_postgres_db
from tests.core.core_process import (
    REPO,
    send_candidates_in_two,
    status_watch,
    stop_core,
    stop_producer,
    write_config,
)
from tests.core.helpers import CORE_SETTINGS, MONDAY_10, candidate, make_service
from tests.core.mqtt_helpers import wait_until

_empty = iter(range(1_000_000))


def empty_postgres_db(server: PostgresServer) -> str:
    """A database with nothing in it (not the harness's migrated template)."""
    name = f"empty{next(_empty)}"
    admin = sa.create_engine(server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    return server.url(name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'core.sqlite3'}"
    return empty_postgres_db(request.getfixturevalue("postgres"))


def test_cores_migrating_an_empty_database_at_the_same_moment_migrate_it_once(
    empty_db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="alembic")
    start = threading.Barrier(3)
    failures: list[BaseException] = []

    def core_start() -> None:
        engine = open_engine(empty_db_url, timeout_s=30)
        try:
            start.wait(10)
            migrate(engine)
        except BaseException as exc:  # reported below
            failures.append(exc)
        finally:
            engine.dispose()

    cores = [threading.Thread(target=core_start, name=f"core-{n}") for n in range(3)]
    for core in cores:
        core.start()
    for core in cores:
        core.join(120)
    assert failures == []
    first_steps = [r for r in caplog.records if "Running upgrade  -> 0001" in r.getMessage()]
    assert len(first_steps) == 1  # one process built the schema; the others found it built
    engine = open_engine(empty_db_url)
    try:
        with engine.connect() as connection:
            versions = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
            assert len(versions.all()) == 1
            assert set(sa.inspect(connection).get_table_names()) >= set(metadata.tables)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_second_core_s_candidate_of_the_same_camera_track_waits_and_becomes_a_redetection(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    """Core A is storing a track's first candidate (its transaction paused before the
    commit); core B's candidate of the same track waits for it, then finds A's case."""
    url = fresh_postgres_db(postgres)
    clock = FakeClock(MONDAY_10)
    core_a = make_service(url, tmp_path / "evidence-a", clock)
    core_b = make_service(url, tmp_path / "evidence-b", clock)
    inside, release = threading.Event(), threading.Event()
    unpaused = core_a.store.transaction

    @contextlib.contextmanager
    def paused() -> Iterator[Any]:
        with unpaused() as tx:
            yield tx
            inside.set()
            release.wait(30)

    core_a.store.transaction = paused  # type: ignore[method-assign]
    seen = {"kind": SourceKind.CAMERA, "source_id": "cam-1", "facts": {"track_id": 7}}
    outcomes: dict[str, Any] = {}

    def store(name: str, service: Any, n: int) -> None:
        outcomes[name] = service.store_candidates([candidate(n, **seen)])

    a = threading.Thread(target=store, args=("a", core_a, 1))
    b = threading.Thread(target=store, args=("b", core_b, 2))
    try:
        a.start()
        assert inside.wait(30)
        b.start()
        b.join(1.0)
        assert b.is_alive(), "core B did not wait for core A's transaction on the same track"
        release.set()
        a.join(30)
        b.join(30)
        assert outcomes == {"a": [True], "b": [True]}
        assert core_b.store.count_cases() == 1  # one object, one case
        assert core_b.store.candidate_count() == 2
    finally:
        release.set()
        core_a.store.close()
        core_b.store.close()


TOTAL = 10_000


def _stored_by(log: Path) -> set[str]:
    """The candidate ids a core said it stored as new (``citygw core`` prints a line each)."""
    return set(re.findall(r"候选 (\S+) \[新\]", log.read_text(errors="replace")))


@pytest.mark.postgres
@pytest.mark.slow
def test_two_cores_killing_one_mid_stream_end_with_exactly_one_case_per_candidate(
    make_config: Callable[..., Config], postgres: PostgresServer, tmp_path: Path
) -> None:
    """Both start at once on an empty database (one migrates it), split the stream through
    the share group; one is killed (SIGKILL) with thousands still to come and never comes
    back: the other takes the whole stream over, and what the killed one held unconfirmed
    comes back from the producer's outbox."""
    db_url = empty_postgres_db(postgres)
    configs = {
        name: make_config(
            instance=f"core-{name}",
            state_dir=str(tmp_path / name),
            core={
                **CORE_SETTINGS,
                "database_url": db_url,
                "http_port": free_port(),
                "intake": {"share_group": "cores"},
            },
            outbox={"receipt_timeout_s": 5, "receipt_backoff_max_s": 10},
        )
        for name in ("a", "b")
    }
    files = {name: write_config(c, tmp_path / f"{name}.json") for name, c in configs.items()}
    logs = {name: tmp_path / f"core-{name}.log" for name in configs}
    status = status_watch(configs["a"])
    cores = {name: _start_printing_core(files[name], logs[name]) for name in configs}
    store: SqlCaseStore | None = None
    producer = None
    try:
        status.wait_until(lambda ms: _online(ms) >= {"core-a", "core-b"}, 90)
        store = SqlCaseStore.open(db_url, run_migrations=False)
        # half now; the other half only after the kill, so that however slowly core b
        # starts taking its share (a loaded machine), most of the stream is still to come
        producer, send_rest = send_candidates_in_two(configs["a"], TOTAL, TOTAL // 2)
        wait_until(
            lambda: (
                store.count_cases() >= TOTAL // 5 and all(_stored_by(log) for log in logs.values())
            ),
            120,
            "both cores storing",
        )
        os.kill(cores["b"].pid, signal.SIGKILL)
        cores["b"].wait(15)
        at_kill = store.count_cases()
        send_rest()
        assert at_kill <= TOTAL // 2, "more cases than candidates sent"

        try:
            wait_until(lambda: store.count_cases() >= TOTAL, 180, f"{TOTAL} cases")
        except AssertionError as exc:
            tail = logs["a"].read_text(errors="replace")[-3000:]
            raise AssertionError(
                f"{exc}; {at_kill} at the kill, {store.count_cases()} now\ncore a:\n{tail}"
            ) from exc
        assert producer.wait_drained(60), "the producer never got every receipt"
        time.sleep(1.0)  # nothing more may come: a duplicate would show now
        assert store.count_cases() == TOTAL
        assert store.candidate_count() == TOTAL
        cases = store.list_cases(CaseFilter(limit=TOTAL))[0]
        assert len({c.number for c in cases}) == TOTAL
        by_a, by_b = _stored_by(logs["a"]), _stored_by(logs["b"])
        assert by_a and by_b and not by_a & by_b  # both took a share, none was stored twice
        assert cores["a"].poll() is None  # the survivor is still running
    finally:
        for core in cores.values():
            stop_core(core)
        status.close()
        stop_producer(producer)
        if store is not None:
            store.close()


def _start_printing_core(config_file: Path, log: Path) -> subprocess.Popen[bytes]:
    """`citygw core` printing a line per candidate stored (`start_core` runs it quiet)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "gateway", "-c", str(config_file), "core"],
            cwd=REPO,
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
        )


def _online(messages: list[ReceivedMessage]) -> set[str]:
    """Instances whose latest retained core status says online."""
    latest: dict[str, bytes] = {}
    for message in messages:
        if message.topic.split("/")[-2:-1] == ["core"]:
            latest[message.topic.rsplit("/", 1)[-1]] = message.payload
    return {instance for instance, payload in latest.items() if b'"online"' in payload}
