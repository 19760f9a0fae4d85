"""Cores on one PostgreSQL hear of each other's session changes at once.

Each core keeps the users behind the tokens it verified in memory for a few seconds
(`gateway.core.auth`). A change that ends sessions or changes what a user may do (a new
password, another role or grids, deactivation, logout) is written by one core, or by the
`citygw users` command, but must hold on every core at once. So every such write also
sends ``NOTIFY citygw_sessions`` in its transaction (`announce`): PostgreSQL delivers it
on commit to every core that listens (`SessionChangeListener`), and each forgets what it
kept. A listener that is not connected says so (`listening`), and the core then keeps
nothing in memory until it is back: a lost notification can never leave a revoked token
working.

SQLite has no notifications: `announce` does nothing there, and a change made by another
process (the CLI beside a running core) holds on the core within the cache's few seconds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

CHANNEL = "citygw_sessions"
#: how the listening connection shows in pg_stat_activity
APPLICATION_NAME = "citygw core: session changes"


def announce(connection: Connection) -> None:
    """Tell every listening core, when this transaction commits, that sessions changed."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


def listens(engine: Engine) -> bool:
    """Whether the engine's database can notify (PostgreSQL)."""
    return engine.dialect.name == "postgresql"


class SessionChangeListener:
    """A thread holding one connection that LISTENs on `CHANNEL`.

    ``on_change`` is called for every notification, and also whenever the connection is
    made or lost (whatever was announced meanwhile went unheard).
    """

    def __init__(
        self,
        engine: Engine,
        on_change: Callable[[], None],
        *,
        connect_timeout_s: float = 5.0,
        poll_s: float = 1.0,
        retry_max_s: float = 10.0,
        name: str = "core.sessions",
    ) -> None:
        # psycopg speaks the URL without SQLAlchemy's "+psycopg"
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        self._on_change = on_change
        self._connect_timeout_s = connect_timeout_s
        self._poll_s = poll_s
        self._retry_max_s = retry_max_s
        self._name = name
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._thread: threading.Thread | None = None
        self.notifications = 0
        self.connections = 0

    def listening(self) -> bool:
        return self._listening.is_set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None:
            thread.join(timeout_s)

    def wait_listening(self, timeout_s: float) -> bool:
        return self._listening.wait(timeout_s)

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                self._listen()
                delay = 0.5
            except psycopg.Error as exc:
                log.warning(
                    "session changes: not listening (%s); tokens are checked in the "
                    "database on every request until it is back",
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                )
            finally:
                if self._listening.is_set():
                    self._listening.clear()
                    self._on_change()
            if self._stop.wait(delay):
                return
            delay = min(delay * 2, self._retry_max_s)

    def _listen(self) -> None:
        with psycopg.connect(
            self._conninfo,
            autocommit=True,
            connect_timeout=max(1, round(self._connect_timeout_s)),
            # a server that vanishes without closing the socket is noticed within seconds
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=2,
            application_name=APPLICATION_NAME,
        ) as connection:
            connection.execute(f"LISTEN {CHANNEL}")
            self.connections += 1
            self._on_change()  # what was announced before now went unheard here
            self._listening.set()
            log.info("session changes: listening on %s", CHANNEL)
            while not self._stop.is_set():
                for _ in connection.notifies(timeout=self._poll_s):
                    self.notifications += 1
                    self._on_change()
                # a connection closed under the generator ends it quietly: ask the server
                connection.execute("SELECT 1")
