"""Camera checks (`gateway.core.verification`) in the core's database: the ``camera_checks`` table.

Written only inside the case store's transactions (`SqlVerificationStore.joined`), on the
same connection: a check, its command in the event table and the case event that shows
it commit together, or not at all. Reads use short read transactions of their own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping

from adapters.storage import schema as t
from adapters.storage.case_transaction import SqlCaseTransaction
from gateway.core.ports import CaseTransaction
from gateway.core.verification import Trigger, Verification, VerificationStatus

_c = t.camera_checks.c


def _to_row(verification: Verification) -> dict[str, Any]:
    return {
        "id": verification.id,
        "case_id": verification.case_id,
        "seq": verification.seq,
        "camera_id": verification.camera_id,
        "trigger": str(verification.trigger),
        "requested_at": verification.requested_at,
        "requested_by": verification.requested_by[:100],
        "reply_by": verification.reply_by,
        "status": str(verification.status),
        "verdict": verification.verdict,
        "result_id": verification.result_id,
        "answered_at": verification.answered_at,
        "timed_out_at": verification.timed_out_at,
        "detail": verification.detail[:500],
        "before_sha256": verification.before_sha256,
        "after_sha256": verification.after_sha256,
        "facts": verification.facts,
    }


def _from_row(row: RowMapping) -> Verification:
    return Verification(
        id=row["id"],
        case_id=row["case_id"],
        seq=row["seq"],
        camera_id=row["camera_id"],
        trigger=Trigger(row["trigger"]),
        requested_at=row["requested_at"],
        requested_by=row["requested_by"],
        reply_by=row["reply_by"],
        status=VerificationStatus(row["status"]),
        verdict=row["verdict"],
        result_id=row["result_id"],
        answered_at=row["answered_at"],
        timed_out_at=row["timed_out_at"],
        detail=row["detail"],
        before_sha256=row["before_sha256"],
        after_sha256=row["after_sha256"],
        facts=dict(row["facts"] or {}),
    )


def _of_case(connection: Connection, case_id: str) -> list[Verification]:
    rows = connection.execute(
        sa.select(t.camera_checks).where(_c.case_id == case_id).order_by(_c.seq)
    ).mappings()
    return [_from_row(row) for row in rows]


class SqlVerificationRecords:
    """`VerificationRecords` on the connection of one open case-store transaction."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def of_case(self, case_id: str) -> list[Verification]:
        return _of_case(self._connection, case_id)

    def get(self, request_id: str) -> Verification | None:
        row = (
            self._connection.execute(sa.select(t.camera_checks).where(_c.id == request_id))
            .mappings()
            .first()
        )
        return _from_row(row) if row else None

    def add(self, verification: Verification) -> None:
        self._connection.execute(sa.insert(t.camera_checks).values(**_to_row(verification)))

    def update(self, verification: Verification) -> None:
        values = _to_row(verification)
        del values["id"]
        self._connection.execute(
            sa.update(t.camera_checks).where(_c.id == verification.id).values(**values)
        )

    def due(self, now: datetime, limit: int) -> list[Verification]:
        rows = self._connection.execute(
            sa.select(t.camera_checks)
            .where(_c.status == str(VerificationStatus.PENDING), _c.reply_by < now)
            .order_by(_c.reply_by)
            .limit(limit)
        ).mappings()
        return [_from_row(row) for row in rows]


class SqlVerificationStore:
    """`VerificationStore` beside a `SqlCaseStore` (same engine, same transactions)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def for_store(cls, store: object) -> SqlVerificationStore:
        engine = getattr(store, "engine", None)
        if not isinstance(engine, Engine):
            raise TypeError(f"{type(store).__name__} has no SQLAlchemy engine")
        return cls(engine)

    def joined(self, tx: CaseTransaction) -> SqlVerificationRecords:
        if not isinstance(tx, SqlCaseTransaction):
            raise TypeError(f"camera checks are kept in SQL transactions, not {type(tx).__name__}")
        return SqlVerificationRecords(tx._c)  # the same package: its open connection

    def of_case(self, case_id: str) -> list[Verification]:
        connection = self.engine.connect().execution_options(citygw_readonly=True)
        with connection, connection.begin():
            return _of_case(connection, case_id)
