"""Reading call records (`gateway.core.call_records`) from the core's database.

A call record is a row of the ``candidates`` table with no case (``case_id`` empty,
outcome ``call_record``): the indexed ``case_id`` column narrows a listing to the
records, the purpose is read from the stored message's facts (JSON on SQLite and
PostgreSQL alike). Reads only; the records are written by the service's transaction.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adapters.storage import schema as t
from gateway.core.call_records import (
    CALL_RECORD_OUTCOME,
    NO_CASE,
    CallRecordFilter,
    StoredCallRecord,
)

_col = t.candidates.c
_purpose = _col.body[("facts", "call_purpose")].as_string()
_case_number = _col.body[("facts", "status_case_number")].as_string()


class SqlCallRecords:
    """`CallRecordReader` on the core's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def for_store(cls, store: object) -> SqlCallRecords:
        """The reader beside a `SqlCaseStore` (same engine, same pool)."""
        engine = getattr(store, "engine", None)
        if not isinstance(engine, Engine):
            raise TypeError(f"{type(store).__name__} has no SQLAlchemy engine to read from")
        return cls(engine)

    def call_records(self, query: CallRecordFilter) -> tuple[list[StoredCallRecord], int]:
        conditions: list[sa.ColumnElement[bool]] = [
            _col.case_id == NO_CASE,
            _col.outcome == CALL_RECORD_OUTCOME,
        ]
        if query.purpose:
            conditions.append(_purpose == query.purpose)
        if query.case_number:  # read from the JSON: no index (the records of one case are few)
            conditions.append(_case_number == query.case_number)
        if query.received_from:
            conditions.append(_col.received_at >= query.received_from)
        if query.received_to:
            conditions.append(_col.received_at < query.received_to)
        connection = self.engine.connect().execution_options(citygw_readonly=True)
        with connection, connection.begin():
            total = connection.execute(
                sa.select(sa.func.count()).select_from(t.candidates).where(*conditions)
            ).scalar_one()
            rows = connection.execute(
                sa.select(_col.id, _col.received_at, _col.body)
                .where(*conditions)
                .order_by(_col.received_at.desc(), _col.id)
                .offset(query.offset)
                .limit(query.limit)
            ).mappings()
            records = [
                StoredCallRecord(id=row["id"], received_at=row["received_at"], body=row["body"])
                for row in rows
            ]
        return records, int(total)
