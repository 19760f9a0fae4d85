"""Users and API tokens in the core's database (`gateway.core.ports.UserStore`).

Only a token's SHA-256 is stored. A change that must end a user's sessions (a new
password, another role, deactivation) deletes their tokens in the same transaction, and
every change to a user or their tokens is announced to the other cores in it
(`session_changes.announce`), so none of them answers from what it kept in memory.
An update that would leave no active admin is undone in its transaction, so two admins
demoting each other at once cannot both succeed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from adapters.storage import schema as t
from adapters.storage.session_changes import announce
from gateway.core.ports import UserUpdate

_ADMIN = "admin"


class _Undo(Exception):
    """Rolls back the transaction it leaves."""


class SqlUsers:
    """`UserStore` on the core's engine."""

    def __init__(self, engine: Engine, *, writing: Any = None) -> None:
        self.engine = engine
        # the case store's writer lock (SQLite: one writer at a time in this process)
        self._writing = writing or contextlib.nullcontext

    @classmethod
    def for_store(cls, store: object) -> SqlUsers:
        """The users beside a `SqlCaseStore` (same engine, same writer lock)."""
        engine = getattr(store, "engine", None)
        if not isinstance(engine, Engine):
            raise TypeError(f"{type(store).__name__} has no SQLAlchemy engine to write to")
        return cls(engine, writing=getattr(store, "writing", None))

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._writing(), self.engine.begin() as connection:
            yield connection

    @contextlib.contextmanager
    def _read(self) -> Iterator[Connection]:
        connection = self.engine.connect().execution_options(citygw_readonly=True)
        with connection, connection.begin():
            yield connection

    # ------------------------------------------------------------------ users

    def insert_user(
        self,
        name: str,
        role: str,
        department: str | None,
        grids: list[str],
        password_hash: str,
        at: datetime,
        *,
        org_node: str | None = None,
    ) -> bool:
        """A new user; False (nothing written) when the name is taken."""
        with self._write() as c:
            if c.execute(sa.select(t.users.c.name).where(t.users.c.name == name)).first():
                return False
            c.execute(
                sa.insert(t.users).values(
                    name=name,
                    role=role,
                    department=department,
                    grids=grids,
                    password_hash=password_hash,
                    active=True,
                    created_at=at,
                    org_node=org_node,
                )
            )
            return True

    def replace_user(
        self,
        name: str,
        role: str,
        department: str | None,
        grids: list[str],
        password_hash: str,
        at: datetime,
        *,
        org_node: str | None = None,
    ) -> bool:
        """Create the user, or set all of an existing one's fields (active again) and end
        their sessions. True: the user existed."""
        values = {
            "role": role,
            "department": department,
            "grids": grids,
            "password_hash": password_hash,
            "active": True,
            "org_node": org_node,
        }
        with self._write() as c:
            exists = c.execute(sa.select(t.users.c.name).where(t.users.c.name == name)).first()
            if exists:
                c.execute(sa.update(t.users).where(t.users.c.name == name).values(**values))
                c.execute(sa.delete(t.tokens).where(t.tokens.c.user_name == name))
                announce(c)
            else:
                c.execute(sa.insert(t.users).values(name=name, created_at=at, **values))
            return exists is not None

    def update_user(
        self, name: str, values: Mapping[str, Any], *, end_sessions: bool
    ) -> UserUpdate:
        """Set some of a user's fields (role, department, grids, org_node, active,
        password_hash)."""
        try:
            with self._write() as c:
                # PostgreSQL: lock the admins' rows first, so that two updates demoting
                # each other's admin run one after the other and the second one counts
                # what the first committed (SQLite has one writer at a time anyway)
                c.execute(
                    sa.select(t.users.c.name).where(t.users.c.role == _ADMIN).with_for_update()
                )
                done = c.execute(sa.update(t.users).where(t.users.c.name == name).values(**values))
                if done.rowcount != 1:
                    return UserUpdate.NOT_FOUND
                admins = c.execute(
                    sa.select(sa.func.count())
                    .select_from(t.users)
                    .where(t.users.c.role == _ADMIN, t.users.c.active.is_(True))
                ).scalar_one()
                if admins == 0:
                    raise _Undo
                if end_sessions:
                    c.execute(sa.delete(t.tokens).where(t.tokens.c.user_name == name))
                announce(c)  # grids too: what a kept token's user may see changes
        except _Undo:
            return UserUpdate.LAST_ADMIN
        return UserUpdate.UPDATED

    def user(self, name: str) -> dict[str, Any] | None:
        with self._read() as c:
            row = c.execute(sa.select(t.users).where(t.users.c.name == name)).mappings().first()
        return dict(row) if row else None

    def users(self) -> list[dict[str, Any]]:
        with self._read() as c:
            return [
                dict(r) for r in c.execute(sa.select(t.users).order_by(t.users.c.name)).mappings()
            ]

    # ------------------------------------------------------------------ tokens

    def add_token(self, token_hash: str, user_name: str, expires_at: datetime) -> None:
        with self._write() as c:
            c.execute(
                sa.insert(t.tokens).values(
                    token_hash=token_hash, user_name=user_name, expires_at=expires_at
                )
            )

    def token_user(self, token_hash: str, now: datetime) -> dict[str, Any] | None:
        with self._read() as c:
            row = (
                c.execute(
                    sa.select(t.users)
                    .join(t.tokens, t.tokens.c.user_name == t.users.c.name)
                    .where(
                        t.tokens.c.token_hash == token_hash,
                        t.tokens.c.expires_at > now,
                        t.users.c.active.is_(True),
                    )
                )
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def delete_token(self, token_hash: str) -> None:
        with self._write() as c:
            c.execute(sa.delete(t.tokens).where(t.tokens.c.token_hash == token_hash))
            announce(c)
