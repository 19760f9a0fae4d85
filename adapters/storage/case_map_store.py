"""`SqlCaseMap`: the cases the console's map shows (`gateway.core.gis_routes.CaseMap`).

Two read statements on indexes: the cases with a point inside a viewport (migration
0020: the R*Tree ``cases_rtree`` on SQLite, kept in step with the cases' lat/lon by
triggers; the GiST index ``ix_cases_point`` on PostGIS, on the point built from lon/lat)
and the open cases per unit grid (``cases.grid_code``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles

from adapters.storage import schema as t
from gateway.core.workflow import OPEN_STATES, Case, CaseState

_OPEN = sorted(str(s) for s in OPEN_STATES)
#: migration 0020's R*Tree (SQLite): one zero-size box per case with a point, id = its rowid
_RTREE = sa.table(
    "cases_rtree",
    sa.column("id"), sa.column("min_lon"), sa.column("max_lon"),
    sa.column("min_lat"), sa.column("max_lat"),
)  # fmt: skip


class _RTreeFirst(sa.Join):
    """``cases_rtree CROSS JOIN cases ON ...``: SQLite keeps a CROSS JOIN's order (its
    documented way to fix a plan), so the R*Tree's box search drives and each case is read
    by rowid, streaming (a plain join let the planner start from ``ix_cases_near_position``
    and probe the R*Tree by id; ``rowid IN (SELECT ...)`` reads every box before the limit,
    which only the sparse query, sorting them all anyway, can afford)."""

    inherit_cache = True


@compiles(_RTreeFirst, "sqlite")
def _cross_join(join: _RTreeFirst, compiler: Any, **kw: Any) -> str:
    # the compiler's own join ("cases_rtree JOIN cases ON ..."), as the extension's examples
    # do with INSERT: it also tells the cartesian-product linter the two tables are joined
    return str(compiler.visit_join(join, **kw)).replace(" JOIN ", " CROSS JOIN ", 1)


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
        # the exact test on the stored floats: the index narrows, this decides (an R*Tree
        # keeps 32-bit floats rounded outward, PostGIS boxes too)
        inside = (col.lat.between(min_lat, max_lat), col.lon.between(min_lon, max_lon))
        columns = [col[name] for name in _MAP_FIELDS]
        # a viewport holding many cases: walk the cases newest first (created_at's index)
        # and stop at the limit, rather than sort all of them (the spatial index's way)
        probe = self._through_index(sa.select(col.id), bbox, stream=True).where(
            *inside, *conditions
        )
        # "+ 0": no skip-scan of ix_cases_near_position (event code, lat, lon) either
        dense_inside = ((col.lat + 0).between(min_lat, max_lat), col.lon.between(min_lon, max_lon))
        with self._engine.connect() as c:
            dense = (
                limit < DENSE_ROWS and len(c.execute(probe.limit(DENSE_ROWS)).all()) >= DENSE_ROWS
            )
            if dense:
                query = sa.select(*columns).where(*dense_inside, *conditions)
            else:
                query = self._through_index(sa.select(*columns), bbox, stream=False)
                query = query.where(*inside, *conditions)
            query = query.order_by(col.created_at.desc(), col.id).limit(limit)
            rows = c.execute(query).all()
        # plain tuples zipped with the field names: a third cheaper than row mappings
        states = {str(state): state for state in CaseState}
        cases = []
        for row in rows:
            fields = dict(zip(_MAP_FIELDS, row, strict=True))
            fields["state"] = states[fields["state"]]
            cases.append(Case(**fields, source_kind="", facts={}))
        return cases

    def _through_index(
        self, select: sa.Select[Any], bbox: tuple[float, float, float, float], *, stream: bool
    ) -> sa.Select[Any]:
        """``select`` narrowed to the cases whose point's box meets ``bbox`` through the
        spatial index (migration 0020). SQLite: the R*Tree ``cases_rtree``'s boxes in
        ``bbox``, each case then read by rowid; ``stream`` (the probe, stopped at a limit):
        joined first (`_RTreeFirst`), else ``rowid IN (...)``, which reads the boxes first
        and the cases in rowid order (the sparse query sorts all of them anyway).
        PostgreSQL: ``&&`` on the expression ``ix_cases_point`` indexes (the SRID inlined,
        so that a prepared statement's generic plan matches the index's expression too)."""
        min_lon, min_lat, max_lon, max_lat = bbox
        col = t.cases.c
        if self._engine.dialect.name == "postgresql":
            srid: sa.ColumnClause[Any] = sa.literal_column("4490")
            point = sa.func.ST_SetSRID(sa.func.ST_MakePoint(col.lon, col.lat), srid)
            envelope = sa.func.ST_MakeEnvelope(min_lon, min_lat, max_lon, max_lat, srid)
            return select.where(
                col.lat.is_not(None), col.lon.is_not(None), point.op("&&")(envelope)
            )
        rowid: sa.ColumnClause[Any] = sa.literal_column("cases.rowid")
        in_box = (
            _RTREE.c.max_lon >= min_lon,
            _RTREE.c.min_lon <= max_lon,
            _RTREE.c.max_lat >= min_lat,
            _RTREE.c.min_lat <= max_lat,
        )
        if stream:
            return select.select_from(_RTreeFirst(_RTREE, t.cases, _RTREE.c.id == rowid)).where(
                *in_box
            )
        return select.where(rowid.in_(sa.select(_RTREE.c.id).where(*in_box)))

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
