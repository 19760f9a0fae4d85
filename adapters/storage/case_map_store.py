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
from adapters.storage.case_rows import case_from_row
from gateway.core.workflow import OPEN_STATES, Case

_OPEN = sorted(str(s) for s in OPEN_STATES)


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
        first, at most ``limit``; only a department's, or only those on the grid prefixes
        (an inspector's reach), when given."""
        min_lon, min_lat, max_lon, max_lat = bbox
        col = t.cases.c
        query = (
            sa.select(t.cases)
            .where(col.lat.between(min_lat, max_lat), col.lon.between(min_lon, max_lon))
            .order_by(col.created_at.desc(), col.id)
            .limit(limit)
        )
        if open_only:
            query = query.where(col.state.in_(_OPEN))
        if department is not None:
            query = query.where(col.department == department)
        if grid_prefixes is not None:
            query = query.where(
                sa.or_(
                    sa.false(),
                    *(col.grid_code.startswith(g, autoescape=True) for g in grid_prefixes),
                )
            )
        with self._engine.connect() as c:
            return [case_from_row(row) for row in c.execute(query).mappings()]

    def open_cases_by_grid(
        self, grid_codes: Sequence[str], department: str | None = None
    ) -> dict[str, int]:
        """How many open cases each of the grids has (grids without any are left out)."""
        col = t.cases.c
        counts: dict[str, int] = {}
        with self._engine.connect() as c:
            for start in range(0, len(grid_codes), 500):
                query = (
                    sa.select(col.grid_code, sa.func.count())
                    .where(col.grid_code.in_(list(grid_codes[start : start + 500])))
                    .where(col.state.in_(_OPEN))
                    .group_by(col.grid_code)
                )
                if department is not None:
                    query = query.where(col.department == department)
                counts.update({str(g): int(n) for g, n in c.execute(query)})
        return counts
