"""`SqlCaseMap`: the cases the console's map shows (`gateway.core.gis_routes.CaseMap`).

Two read statements on indexed columns: the cases with a point inside a viewport
(``ix_cases_position``, migration 0012: lat, lon of the cases that have a point) and the
open cases per unit grid (``cases.grid_code``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adapters.storage import schema as t
from gateway.core.workflow import OPEN_STATES, Case, CaseState

_OPEN = sorted(str(s) for s in OPEN_STATES)
#: past this many cases in a viewport, they are read newest first by time, not by position
DENSE_ROWS = 5_000
#: what the map shows of a case and what its light needs (`Workflow.light`); no JSON columns
_MAP_FIELDS = (
    "id", "number", "state", "event_code", "created_at", "grid_code", "lat", "lon", "urgent",
    "deadline", "dispatched_at", "closed_at", "suspended_at", "suspended_minutes",
)  # fmt: skip


def _held_by(unit: str) -> sa.ColumnElement[bool]:
    """A unit's cases: those dispatched to it, or, a community's, those its street office
    passed to it (四级联动; community ids never name a department, nor the reverse)."""
    col = t.cases.c
    return sa.or_(col.department == unit, col.community == unit)


class SqlCaseMap:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @classmethod
    def for_store(cls, store: object) -> SqlCaseMap:
        """The map's reads on a `SqlCaseStore`'s database (same engine, same pool)."""
        engine = getattr(store, "engine", None)
        if not isinstance(engine, Engine):
            raise TypeError(f"{type(store).__name__} has no SQLAlchemy engine to read")
        return cls(engine)

    def cases_in_bbox(
        self,
        bbox: tuple[float, float, float, float],
        *,
        open_only: bool,
        limit: int,
        department: str | None = None,
        grid_prefixes: Sequence[str] | None = None,
    ) -> list[Case]:
        """Cases whose point lies in ``bbox`` (min lon, min lat, max lon, max lat), newest
        first, at most ``limit``; only a unit's (`_held_by`), or only those on the grid prefixes
        (an inspector's reach), when given. The cases carry the map's fields only
        (`_MAP_FIELDS`: enough for their light); the rest keep their defaults."""
        min_lon, min_lat, max_lon, max_lat = bbox
        col = t.cases.c
        conditions: list[sa.ColumnElement[bool]] = []
        if open_only:
            conditions.append(col.state.in_(_OPEN))
        if department is not None:
            conditions.append(_held_by(department))
        if grid_prefixes is not None:
            conditions.append(
                sa.or_(
                    sa.false(),
                    *(col.grid_code.startswith(g, autoescape=True) for g in grid_prefixes),
                )
            )
        inside = (col.lat.between(min_lat, max_lat), col.lon.between(min_lon, max_lon))
        # a viewport holding many cases: walk the cases newest first (created_at's index)
        # and stop at the limit, rather than sort all of them (the position index's way)
        probe = sa.select(col.id).where(*inside, *conditions).limit(DENSE_ROWS)
        dense_inside = (
            (col.lat + 0).between(min_lat, max_lat),  # "+ 0": not through ix_cases_position
            col.lon.between(min_lon, max_lon),
        )
        with self._engine.connect() as c:
            dense = limit < DENSE_ROWS and len(c.execute(probe).all()) >= DENSE_ROWS
            query = (
                sa.select(*(col[name] for name in _MAP_FIELDS))
                .where(*(dense_inside if dense else inside), *conditions)
                .order_by(col.created_at.desc(), col.id)
                .limit(limit)
            )
            rows = c.execute(query).all()
        # plain tuples zipped with the field names: a third cheaper than row mappings
        states = {str(state): state for state in CaseState}
        cases = []
        for row in rows:
            fields = dict(zip(_MAP_FIELDS, row, strict=True))
            fields["state"] = states[fields["state"]]
            cases.append(Case(**fields, source_kind="", facts={}))
        return cases

    def open_cases_by_grid(
        self, grid_codes: Sequence[str] | None = None, department: str | None = None
    ) -> dict[str, int]:
        """How many open cases each grid has (grids without any are left out); None: every
        grid, in one grouped query over the open cases."""
        col = t.cases.c
        base = (
            sa.select(col.grid_code, sa.func.count())
            .where(col.state.in_(_OPEN), col.grid_code.is_not(None))
            .group_by(col.grid_code)
        )
        if department is not None:
            base = base.where(_held_by(department))
        counts: dict[str, int] = {}
        with self._engine.connect() as c:
            if grid_codes is None:
                return {str(g): int(n) for g, n in c.execute(base)}
            for start in range(0, len(grid_codes), 500):
                chunk = list(grid_codes[start : start + 500])
                counts.update(
                    {str(g): int(n) for g, n in c.execute(base.where(col.grid_code.in_(chunk)))}
                )
        return counts
