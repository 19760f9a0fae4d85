"""`SqlLoginFailures`: failed logins and login locks (`gateway.core.login_limits`'s
`LoginFailureStore`) in the core's database, tables ``login_failures`` and ``login_locks``
(migration 0018), so that every core on the database counts the same failures and a lock
outlives a restart.

A failure is one row; counting it and forgetting what has left the window happen in one
transaction. Two cores counting at the same moment may each see the other's row or not:
a lock may start one failure late, never without its failures.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from adapters.storage import schema as t

_f = t.login_failures.c
_l = t.login_locks.c
#: a key as stored (names are at most 64 characters, addresses 45)
KEY_LENGTH = 200
#: ``login_locks`` also keeps when an address stops being familiar to an account (a row
#: per account and address, its end in ``locked_until``): gone past that end as locks go
_FAMILIAR = "familiar"


def _familiar_key(account: str, address: str) -> str:
    return f"{account} {address}"


class SqlLoginFailures:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @classmethod
    def for_store(cls, store: object) -> SqlLoginFailures:
        """On a `SqlCaseStore`'s database (same engine, same pool)."""
        engine = getattr(store, "engine", None)
        if not isinstance(engine, Engine):
            raise TypeError(f"{type(store).__name__} has no SQLAlchemy engine to use")
        return cls(engine)

    def locked_until(self, scope: str, key: str) -> float | None:
        query = sa.select(_l.locked_until).where(_l.scope == scope, _l.key == key[:KEY_LENGTH])
        with self._engine.connect() as c:
            found = c.execute(query).scalar()
        return None if found is None else float(found)

    def count_failure(self, scope: str, key: str, at: float, since: float) -> int:
        key = key[:KEY_LENGTH]
        with self._engine.begin() as c:
            # what has left the window, of every key (a flood of names leaves no rows)
            c.execute(sa.delete(t.login_failures).where(_f.at <= since))
            c.execute(sa.delete(t.login_locks).where(_l.locked_until <= at))
            c.execute(sa.insert(t.login_failures).values(scope=scope, key=key, at=at))
            count = c.execute(
                sa.select(sa.func.count())
                .select_from(t.login_failures)
                .where(_f.scope == scope, _f.key == key, _f.at > since)
            ).scalar_one()
        return int(count)

    def lock(self, scope: str, key: str, until: float) -> None:
        key = key[:KEY_LENGTH]
        postgres = self._engine.dialect.name == "postgresql"
        insert: Any = (postgresql.insert if postgres else sqlite.insert)(t.login_locks)
        statement = insert.values(scope=scope, key=key, locked_until=until)
        statement = statement.on_conflict_do_update(
            index_elements=[_l.scope, _l.key], set_={"locked_until": until}
        )
        with self._engine.begin() as c:
            c.execute(statement)
            c.execute(sa.delete(t.login_failures).where(_f.scope == scope, _f.key == key))

    def familiar_until(self, account: str, address: str) -> float | None:
        return self.locked_until(_FAMILIAR, _familiar_key(account, address))

    def mark_familiar(self, account: str, address: str, until: float) -> None:
        self.lock(_FAMILIAR, _familiar_key(account, address), until)

    def clear(self, scope: str, key: str) -> None:
        key = key[:KEY_LENGTH]
        with self._engine.begin() as c:
            c.execute(sa.delete(t.login_failures).where(_f.scope == scope, _f.key == key))
            c.execute(sa.delete(t.login_locks).where(_l.scope == scope, _l.key == key))
