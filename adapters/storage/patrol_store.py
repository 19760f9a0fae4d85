"""`SqlPatrols`: inspectors' patrol points (`gateway.core.patrols.PatrolStore`) in the
core's database, table ``patrol_points`` (migration 0014).

A batch is inserted in one transaction, skipping the (inspector, point id) pairs already
kept: a resent batch stores nothing twice, a batch sent twice at once at most once (the
loser's insert fails on the primary key and is retried row by row, skipping).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, RowMapping
from sqlalchemy.exc import IntegrityError

from adapters.storage import schema as t
from gateway.core.patrols import LastPosition, PatrolPoint

_p = t.patrol_points.c
_d = t.patrol_day_figures.c


def _point(row: RowMapping) -> PatrolPoint:
    return PatrolPoint(
        point_id=row["point_id"],
        patrol_id=row["patrol_id"],
        at=row["at"],
        lat=row["lat"],
        lon=row["lon"],
        accuracy_m=row["accuracy_m"],
        grid_code=row["grid_code"],
    )


class SqlPatrols:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @classmethod
    def for_store(cls, store: object) -> SqlPatrols:
        """On a `SqlCaseStore`'s database (same engine, same pool)."""
        engine = getattr(store, "engine", None)
        if not isinstance(engine, Engine):
            raise TypeError(f"{type(store).__name__} has no SQLAlchemy engine to use")
        return cls(engine)

    def add_points(self, inspector: str, points: Sequence[PatrolPoint], now: datetime) -> int:
        if not points:
            return 0
        rows = {
            p.point_id: {
                "inspector": inspector,
                "point_id": p.point_id,
                "patrol_id": p.patrol_id,
                "at": p.at,
                "lat": p.lat,
                "lon": p.lon,
                "accuracy_m": p.accuracy_m,
                "grid_code": p.grid_code,
                "received_at": now,
            }
            for p in points
        }
        try:
            with self._engine.begin() as c:
                return self._insert_new(c, inspector, rows)
        except IntegrityError:  # the same batch stored meanwhile by another request
            with self._engine.begin() as c:
                return self._insert_new(c, inspector, rows)

    @staticmethod
    def _insert_new(c: sa.Connection, inspector: str, rows: dict[str, dict[str, Any]]) -> int:
        kept: set[str] = set()
        ids = list(rows)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            kept |= set(
                c.execute(
                    sa.select(_p.point_id).where(_p.inspector == inspector, _p.point_id.in_(chunk))
                ).scalars()
            )
        new = [row for point_id, row in rows.items() if point_id not in kept]
        if new:
            c.execute(sa.insert(t.patrol_points), new)
        return len(new)

    def track(self, inspector: str, start: datetime, end: datetime) -> list[PatrolPoint]:
        query = (
            sa.select(t.patrol_points)
            .where(_p.inspector == inspector, _p.at >= start, _p.at < end)
            .order_by(_p.at, _p.point_id)
        )
        with self._engine.connect() as c:
            return [_point(row) for row in c.execute(query).mappings()]

    def points_between(self, start: datetime, end: datetime) -> dict[str, list[PatrolPoint]]:
        query = (
            sa.select(t.patrol_points)
            .where(_p.at >= start, _p.at < end)
            .order_by(_p.inspector, _p.at, _p.point_id)
        )
        out: dict[str, list[PatrolPoint]] = {}
        with self._engine.connect() as c:
            for row in c.execute(query).mappings():
                out.setdefault(row["inspector"], []).append(_point(row))
        return out

    def count_between(self, start: datetime, end: datetime) -> int:
        query = sa.select(sa.func.count()).select_from(t.patrol_points)
        query = query.where(_p.at >= start, _p.at < end)
        with self._engine.connect() as c:
            return int(c.execute(query).scalar_one())

    def kept_day(self, start: datetime, end: datetime) -> tuple[int, str] | None:
        query = sa.select(_d.points, _d.figures).where(_d.day_start == start, _d.day_end == end)
        with self._engine.connect() as c:
            row = c.execute(query).first()
        return None if row is None else (int(row[0]), str(row[1]))

    def keep_day(
        self, start: datetime, end: datetime, points: int, figures: str, now: datetime
    ) -> None:
        postgres = self._engine.dialect.name == "postgresql"
        insert: Any = (postgresql.insert if postgres else sqlite.insert)(t.patrol_day_figures)
        statement = insert.values(
            day_start=start, day_end=end, points=points, figures=figures, made_at=now
        )
        statement = statement.on_conflict_do_update(
            index_elements=[_d.day_start, _d.day_end],
            set_={"points": points, "figures": figures, "made_at": now},
        )
        with self._engine.begin() as c:
            c.execute(statement)

    def last_positions(self, since: datetime) -> list[LastPosition]:
        newest = (
            sa.select(_p.inspector, sa.func.max(_p.at).label("at"))
            .where(_p.at >= since)
            .group_by(_p.inspector)
            .subquery()
        )
        query = (
            sa.select(t.patrol_points)
            .join(newest, sa.and_(_p.inspector == newest.c.inspector, _p.at == newest.c.at))
            .order_by(_p.inspector, _p.point_id)
        )
        out: dict[str, LastPosition] = {}
        with self._engine.connect() as c:
            for row in c.execute(query).mappings():
                out.setdefault(row["inspector"], LastPosition(row["inspector"], _point(row)))
        return list(out.values())
