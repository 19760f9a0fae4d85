"""The emergency hand-off queue (`gateway.core.handoff`) in the core's database.

One row per urgent case, keyed by its id: queued from the cases table itself (a case
registered and urgent, without a row yet), so nothing is lost between the commit that
registered it and the relay; two cores queueing at once insert the row once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from adapters.storage import schema as t
from adapters.storage.case_rows import case_from_row
from gateway.core.handoff import Handoff, delivery_id
from gateway.core.workflow import Case, CaseState

_NOT_HANDED = [
    str(s) for s in (CaseState.CANDIDATE, CaseState.REJECTED, CaseState.MERGED, CaseState.VOIDED)
]


class SqlHandoffs:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._postgres = engine.dialect.name == "postgresql"

    @classmethod
    def for_store(cls, store: object) -> SqlHandoffs:
        engine = getattr(store, "engine", None)
        if not isinstance(engine, Engine):
            raise TypeError(f"{type(store).__name__} has no SQLAlchemy engine")
        return cls(engine)

    def queue_urgent(
        self,
        prefixes: Sequence[str],
        payload: Callable[[Case], bytes],
        now: datetime,
        since: datetime,
    ) -> int:
        urgent = sa.or_(
            t.cases.c.urgent.is_(True), *(t.cases.c.event_code.startswith(p) for p in prefixes)
        )
        query = (
            sa.select(t.cases)
            .outerjoin(t.handoffs, t.handoffs.c.case_id == t.cases.c.id)
            .where(
                t.handoffs.c.case_id.is_(None),
                t.cases.c.created_at >= since,
                t.cases.c.state.not_in(_NOT_HANDED),
                urgent,
            )
            .order_by(t.cases.c.created_at)
            .limit(200)
        )
        with self.engine.begin() as conn:
            cases = [case_from_row(row) for row in conn.execute(query).mappings()]
            if not cases:
                return 0
            insert: Any = (postgresql.insert if self._postgres else sqlite.insert)(t.handoffs)
            rows = [
                {
                    "case_id": c.id,
                    "delivery_id": delivery_id(c.id),
                    "payload": payload(c),
                    "queued_at": now,
                    "attempts": 0,
                }
                for c in cases
            ]
            conn.execute(insert.on_conflict_do_nothing(index_elements=["case_id"]), rows)
        return len(cases)

    def due(self, now: datetime, limit: int) -> list[Handoff]:
        query = (
            sa.select(t.handoffs)
            .where(
                t.handoffs.c.acked_at.is_(None),
                sa.or_(t.handoffs.c.next_attempt_at.is_(None), t.handoffs.c.next_attempt_at <= now),
            )
            .order_by(t.handoffs.c.queued_at)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_handoff(row) for row in conn.execute(query).mappings()]

    def of_case(self, case_id: str) -> Handoff | None:
        query = sa.select(t.handoffs).where(t.handoffs.c.case_id == case_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return _handoff(row) if row else None

    def acknowledged(self, case_id: str, at: datetime, ack_ref: str | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(t.handoffs)
                .where(t.handoffs.c.case_id == case_id, t.handoffs.c.acked_at.is_(None))
                .values(
                    acked_at=at,
                    ack_ref=(ack_ref or "")[:200] or None,
                    attempts=t.handoffs.c.attempts + 1,
                    last_error=None,
                )
            )

    def failed(self, case_id: str, attempts: int, retry_at: datetime, error: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(t.handoffs)
                .where(t.handoffs.c.case_id == case_id, t.handoffs.c.acked_at.is_(None))
                .values(attempts=attempts, next_attempt_at=retry_at, last_error=error)
            )


def _handoff(row: Any) -> Handoff:
    return Handoff(
        case_id=row["case_id"],
        delivery_id=row["delivery_id"],
        payload=bytes(row["payload"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        acked_at=row["acked_at"],
        ack_ref=row["ack_ref"],
        last_error=row["last_error"],
    )
