"""Core test harness: the database (SQLite file, or a real PostgreSQL the harness starts).

``db_url`` is parametrised: every test that uses it runs on SQLite and on PostgreSQL
(a fresh database per test, copied from a migrated template).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from adapters.storage.database import migrate, open_engine
from adapters.storage.postgres_server import PostgresServer

_counter = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    admin = sa.create_engine(server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql("CREATE DATABASE citygw_template")
    engine = open_engine(server.url("citygw_template"), timeout_s=30)
    migrate(engine)
    engine.dispose()
    admin.dispose()
    yield server
    server.stop()


def fresh_postgres_db(server: PostgresServer) -> str:
    name = f"t{next(_counter)}"
    admin = sa.create_engine(server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE DATABASE {name} TEMPLATE citygw_template")
    admin.dispose()
    return server.url(name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'core.sqlite3'}"
    server = request.getfixturevalue("postgres")
    return fresh_postgres_db(server)
