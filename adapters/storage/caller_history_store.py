"""A hotline caller's earlier cases (the agent's screen pop), from the core's database.

Cases by their ``callback_number``, newest first, with the counts of all and of the
open ones. Both reads go through ``ix_cases_callback_number`` (callback_number,
created_at; migration 0015): a pop reads the caller's rows, never the whole table.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adapters.storage import schema as t
from gateway.core.agent_desk import CallerCase
from gateway.core.workflow import OPEN_STATES

_c = t.cases.c
_OPEN = sorted(str(s) for s in OPEN_STATES)


class SqlCallerHistory:
    """`CallerHistory` on the core's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def for_store(cls, store: object) -> SqlCallerHistory:
        engine = getattr(store, "engine", None)
        if not isinstance(engine, Engine):
            raise TypeError(f"{type(store).__name__} has no SQLAlchemy engine to read from")
        return cls(engine)

    def cases_of_caller(self, number: str, limit: int) -> tuple[list[CallerCase], int, int]:
        mine = _c.callback_number == number
        connection = self.engine.connect().execution_options(citygw_readonly=True)
        with connection, connection.begin():
            total, open_total = connection.execute(
                sa.select(
                    sa.func.count(),
                    sa.func.count().filter(_c.state.in_(_OPEN)),
                ).where(mine)
            ).one()
            rows = connection.execute(
                sa.select(
                    _c.id,
                    _c.number,
                    _c.state,
                    _c.event_code,
                    _c.title,
                    _c.created_at,
                    _c.closed_at,
                )
                .where(mine)
                .order_by(_c.created_at.desc(), _c.id)
                .limit(limit)
            ).all()
        cases = [
            CallerCase(
                id=row.id,
                number=row.number,
                state=row.state,
                event_code=row.event_code,
                title=row.title or "",
                created_at=row.created_at,
                closed_at=row.closed_at,
            )
            for row in rows
        ]
        return cases, int(total or 0), int(open_total or 0)
