"""Dead letters (`gateway.dead_letters`) in the core's database, the newest ``keep`` of them.

Writes are rare (a refused message) and small (the payload's first bytes): each batch is
one transaction that inserts the records and deletes what falls beyond the newest
``keep`` rows, so the table stays bounded however many poison messages arrive. Reads
page through them newest first by ``seq`` (the primary key), for admins.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adapters.storage import schema as t
from gateway.dead_letters import DeadLetterRecord, StoredDeadLetter

_col = t.dead_letters.c
DEFAULT_KEEP = 10_000


class SqlDeadLetters:
    """`DeadLetterSink` and `DeadLetterReader` on the core's engine."""

    def __init__(self, engine: Engine, *, keep: int = DEFAULT_KEEP) -> None:
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self.engine = engine
        self.keep = keep

    @classmethod
    def for_store(cls, store: object, *, keep: int = DEFAULT_KEEP) -> SqlDeadLetters:
        """The dead letters beside a `SqlCaseStore` (same engine, same pool)."""
        engine = getattr(store, "engine", None)
        if not isinstance(engine, Engine):
            raise TypeError(f"{type(store).__name__} has no SQLAlchemy engine to write to")
        return cls(engine, keep=keep)

    def store_dead_letters(self, records: Sequence[DeadLetterRecord]) -> None:
        if not records:
            return
        rows = [
            {
                "received_at": r.received_at,
                "topic": r.topic,
                "code": r.code,
                "reason": r.reason,
                "size": r.size,
                "head": r.head,
                "message_id": r.message_id,
            }
            for r in records
        ]
        with self.engine.begin() as connection:
            connection.execute(sa.insert(t.dead_letters), rows)
            # the oldest seq still kept; everything before it goes
            oldest_kept = connection.execute(
                sa.select(_col.seq).order_by(_col.seq.desc()).offset(self.keep - 1).limit(1)
            ).scalar()
            if oldest_kept is not None:
                connection.execute(sa.delete(t.dead_letters).where(_col.seq < oldest_kept))

    def dead_letters(self, offset: int, limit: int) -> tuple[list[StoredDeadLetter], int]:
        connection = self.engine.connect().execution_options(citygw_readonly=True)
        with connection, connection.begin():
            total = connection.execute(
                sa.select(sa.func.count()).select_from(t.dead_letters)
            ).scalar_one()
            rows = connection.execute(
                sa.select(t.dead_letters).order_by(_col.seq.desc()).offset(offset).limit(limit)
            ).mappings()
            items = [
                StoredDeadLetter(
                    seq=row["seq"],
                    record=DeadLetterRecord(
                        received_at=row["received_at"],
                        topic=row["topic"],
                        code=row["code"],
                        reason=row["reason"],
                        size=row["size"],
                        head=bytes(row["head"]),
                        message_id=row["message_id"],
                    ),
                )
                for row in rows
            ]
        return items, int(total)
