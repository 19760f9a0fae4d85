"""`SqlCaseCounts`: the workflow's aggregate counts for metrics (`gateway.core.core_metrics`).

Two statements on indexed columns (``cases.state``; processing cases by deadline), run
on a read connection of the store's engine.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adapters.storage import schema as t
from gateway.core.workflow import CaseState

_BY_STATE = sa.select(t.cases.c.state, sa.func.count()).group_by(t.cases.c.state)
_OVERDUE = (
    sa.select(sa.func.count())
    .select_from(t.cases)
    .where(t.cases.c.state == str(CaseState.PROCESSING), t.cases.c.deadline < sa.bindparam("now"))
)


class SqlCaseCounts:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @classmethod
    def for_store(cls, store: object) -> SqlCaseCounts:
        """The counts of a `SqlCaseStore`'s database (same engine, same pool)."""
        engine = getattr(store, "engine", None)
        if not isinstance(engine, Engine):
            raise TypeError(f"{type(store).__name__} has no SQLAlchemy engine to read")
        return cls(engine)

    def cases_by_state(self) -> dict[str, int]:
        with self._engine.connect() as c:
            return {str(state): int(count) for state, count in c.execute(_BY_STATE)}

    def overdue_cases(self, now: datetime) -> int:
        with self._engine.connect() as c:
            return int(c.execute(_OVERDUE, {"now": now}).scalar_one())
