"""Several cores on one database: they start together, split the candidate stream, and a
core killed mid-stream loses and doubles nothing."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from adapters.storage.database import migrate, open_engine
from adapters.storage.postgres_server import PostgresServer
from adapters.storage.schema import metadata

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
