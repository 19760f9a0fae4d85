"""Two cores on one PostgreSQL: a session change made through one holds on the other at
once, not after the few seconds a verified token is kept in memory.

Each "core" here is what answers a request's token: an `Authenticator` on its own engine,
with the `SessionChangeListener` the daemon gives it. Their clock never moves, so a token
kept in memory would be answered from there for ever: only the notification can end it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
import sqlalchemy as sa

from adapters.storage.database import open_engine
from adapters.storage.postgres_server import PostgresServer
from adapters.storage.session_changes import APPLICATION_NAME, SessionChangeListener
from adapters.storage.user_store import SqlUsers
from gateway.clock import FakeClock
from gateway.core.auth import Authenticator, AuthError
from gateway.core.workflow import Actor
from tests.core.conftest import fresh_postgres_db

pytestmark = pytest.mark.postgres

PASSWORD = "session-pass-1"


@dataclass
class Core:
    auth: Authenticator
    users: SqlUsers
    sessions: SessionChangeListener


@pytest.fixture
def two_cores(postgres: PostgresServer) -> Iterator[tuple[Core, Core]]:
    url = fresh_postgres_db(postgres)
    clock = FakeClock()
    cores, engines = [], []
    for _ in range(2):
        engine = open_engine(url, timeout_s=10)
        engines.append(engine)
        users = SqlUsers(engine)
        auth = Authenticator(
            users, clock, token_ttl=timedelta(hours=8), departments={"city-management"}
        )
        sessions = SessionChangeListener(engine, auth.forget_cached, poll_s=0.2)
        auth.cache_while = sessions.listening
        sessions.start()
        assert sessions.wait_listening(10), "the listener did not connect"
        cores.append(Core(auth, users, sessions))
    first, second = cores
    first.auth.add_user("root", "admin", PASSWORD)
    first.auth.add_user("insp", "inspector", PASSWORD, grids=("32070600100101",))
    first.auth.add_user("oper", "operator", PASSWORD)
    try:
        yield first, second
    finally:
        for core in cores:
            core.sessions.stop()
        for engine in engines:
            engine.dispose()


def _until(condition: Callable[[], bool], timeout_s: float = 3.0) -> float:
    """Seconds until ``condition()`` held; fails after ``timeout_s``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            pytest.fail(f"not within {timeout_s} s")
        time.sleep(0.02)
    return time.monotonic() - started


def _kept(core: Core, token: str) -> Actor | None:
    return core.auth.cached_actor(token)


def _refused(core: Core, token: str) -> bool:
    try:
        core.auth.actor_for(token)
    except AuthError:
        return True
    return False


def test_a_password_reset_on_one_core_ends_the_session_on_the_other_at_once(
    two_cores: tuple[Core, Core],
) -> None:
    first, second = two_cores
    token, _ = second.auth.login("oper", PASSWORD)
    assert second.auth.actor_for(token).name == "oper"
    assert _kept(second, token) is not None  # kept in memory: no query for the next request
    admin = first.auth.actor_for(first.auth.login("root", PASSWORD)[0])
    first.auth.update_user("oper", admin, password="another-pass-2")
    took = _until(lambda: _kept(second, token) is None)
    assert took < 1.0  # the cache would have kept it for ever on this clock
    assert _refused(second, token)
    assert second.sessions.notifications >= 1


def test_logout_on_one_core_and_new_grids_hold_on_the_other(
    two_cores: tuple[Core, Core],
) -> None:
    first, second = two_cores
    token, _ = first.auth.login("oper", PASSWORD)
    assert second.auth.actor_for(token).name == "oper"
    first.auth.logout(token)
    _until(lambda: _kept(second, token) is None)
    assert _refused(second, token)

    # a change that keeps the session but changes what the user sees (an inspector's grids)
    inspector, _ = second.auth.login("insp", PASSWORD)
    assert second.auth.actor_for(inspector).grids == ("32070600100101",)
    admin = first.auth.actor_for(first.auth.login("root", PASSWORD)[0])
    first.auth.update_user("insp", admin, grids=("32070300100101",))
    _until(lambda: _kept(second, inspector) is None)
    assert second.auth.actor_for(inspector).grids == ("32070300100101",)


def test_a_change_written_by_another_process_is_heard_too(two_cores: tuple[Core, Core]) -> None:
    """`citygw users` beside running cores writes through its own SqlUsers: no Authenticator
    of any core is told, the announcement in its transaction is."""
    first = two_cores[0]
    token, _ = first.auth.login("oper", PASSWORD)
    for core in two_cores:
        assert core.auth.actor_for(token).name == "oper"
    url = first.users.engine.url.render_as_string(hide_password=False)
    cli = SqlUsers(open_engine(url, timeout_s=10))
    try:
        cli.update_user("oper", {"active": False}, end_sessions=True)
    finally:
        cli.engine.dispose()
    _until(lambda: all(_kept(core, token) is None for core in two_cores))
    assert all(_refused(core, token) for core in two_cores)


def test_a_core_that_cannot_hear_the_others_keeps_no_token_in_memory(
    two_cores: tuple[Core, Core], postgres: PostgresServer
) -> None:
    first, second = two_cores
    token, _ = first.auth.login("oper", PASSWORD)
    assert second.auth.actor_for(token).name == "oper"
    assert _kept(second, token) is not None
    # the listening connection is cut (a database restart, a network fault)
    admin_engine = sa.create_engine(postgres.url(), isolation_level="AUTOCOMMIT")
    try:
        with admin_engine.connect() as c:
            cut = c.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = :name"
                ),
                {"name": APPLICATION_NAME},
            ).scalar_one()
    finally:
        admin_engine.dispose()
    assert cut == 2  # one listener a core
    # it connects again, and forgot all it had kept: what was announced meanwhile is lost
    _until(lambda: second.sessions.listening() and second.sessions.connections == 2, 10)
    assert _kept(second, token) is None
    assert second.auth.actor_for(token).name == "oper"
    assert _kept(second, token) is not None
    # and hears again
    first.auth.logout(token)
    _until(lambda: _kept(second, token) is None)


def test_while_not_listening_every_token_is_checked_in_the_database(
    two_cores: tuple[Core, Core],
) -> None:
    first, second = two_cores
    second.sessions.stop()
    assert not second.sessions.listening()
    token, _ = first.auth.login("oper", PASSWORD)
    assert second.auth.actor_for(token).name == "oper"
    assert _kept(second, token) is None
    # a revocation nobody announces to it (its listener is gone) still holds at once
    first.users.delete_token(hashlib.sha256(token.encode()).hexdigest())
    assert _refused(second, token)
