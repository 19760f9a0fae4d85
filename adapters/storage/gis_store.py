"""Base data in the core's database (`gateway.gis.ports.BaseDataStore`).

Tables ``gis_grids``, ``gis_areas``, ``gis_components`` (see `adapters.storage.schema`).
Geometry is WKB plus its bounding box; viewport queries go through the dialect's spatial
index: SQLite's R*Tree tables (``gis_*_rtree``, refilled in each replace's transaction), PostGIS's GiST index on
the generated ``geom`` column. Each ``replace_*`` is one transaction: an import that
fails anywhere leaves the tables as they were, and bumps the base data's version (the
``counters`` row ``gis_base_data``) in the same transaction: a running core that sees the
version change loads the base data again (`gateway.core.gis_reload`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from adapters.storage import schema as t
from adapters.storage.bulk_insert import insert_many
from gateway.gis.addresses import Address
from gateway.gis.features import (
    AreaFeature,
    AreaLevel,
    ComponentFeature,
    ComponentState,
    GridFeature,
)
from gateway.gis.ports import BBox, Locate

_CHUNK = 20_000  # rows a bulk insert is handed at once
#: the ``counters`` row counting the imports that changed the base data
VERSION_COUNTER = "gis_base_data"


def _bump_version(c: Connection) -> None:
    counter = t.counters.c
    done = c.execute(
        sa.update(t.counters).where(counter.name == VERSION_COUNTER).values(value=counter.value + 1)
    )
    if done.rowcount == 0:
        c.execute(sa.insert(t.counters).values(name=VERSION_COUNTER, value=1))


class SqlBaseData:
    """`BaseDataStore` on the core's engine."""

    def __init__(self, engine: Engine, *, writing: Any = None) -> None:
        self.engine = engine
        self._writing = writing or contextlib.nullcontext
        self._postgres = engine.dialect.name == "postgresql"

    @classmethod
    def for_store(cls, store: object) -> SqlBaseData:
        """The base data beside a `SqlCaseStore` (same engine, same writer lock)."""
        engine = getattr(store, "engine", None)
        if not isinstance(engine, Engine):
            raise TypeError(f"{type(store).__name__} has no SQLAlchemy engine to write to")
        return cls(engine, writing=getattr(store, "writing", None))

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._writing(), self.engine.begin() as connection:
            yield connection
            _bump_version(connection)

    def version(self) -> int:
        """How many imports changed the base data (0: none yet); one indexed read."""
        with self._read() as c:
            value = c.execute(
                sa.select(t.counters.c.value).where(t.counters.c.name == VERSION_COUNTER)
            ).scalar()
        return int(value or 0)

    @contextlib.contextmanager
    def _read(self) -> Iterator[Connection]:
        connection = self.engine.connect().execution_options(citygw_readonly=True)
        with connection, connection.begin():
            yield connection

    # ------------------------------------------------------------------ writing

    def replace_grids(
        self, grids: Sequence[GridFeature], derived: Sequence[AreaFeature], locate: Locate
    ) -> int:
        with self._write() as c:
            c.execute(t.gis_grids.delete())
            wkbs = shapely.to_wkb([g.geometry for g in grids]) if grids else []
            _insert(c, t.gis_grids, [_grid_row(g, w) for g, w in zip(grids, wkbs, strict=True)])
            given = set(c.execute(sa.select(t.gis_areas.c.code)).scalars()) - set(
                c.execute(
                    sa.select(t.gis_areas.c.code).where(t.gis_areas.c.derived.is_(True))
                ).scalars()
            )
            c.execute(t.gis_areas.delete().where(t.gis_areas.c.derived.is_(True)))
            _insert(c, t.gis_areas, [_area_row(a) for a in derived if a.code not in given])
            outside = _place_components(c, locate)
            self._refill_rtree(c, t.gis_grids)
            self._refill_rtree(c, t.gis_areas)
            return outside

    def replace_areas(self, areas: Sequence[AreaFeature]) -> None:
        codes = [a.code for a in areas]
        with self._write() as c:
            c.execute(t.gis_areas.delete().where(t.gis_areas.c.derived.is_(False)))
            for start in range(0, len(codes), 500):
                c.execute(
                    t.gis_areas.delete().where(t.gis_areas.c.code.in_(codes[start : start + 500]))
                )
            _insert(c, t.gis_areas, [_area_row(a) for a in areas])
            self._refill_rtree(c, t.gis_areas)

    def replace_components(self, components: Sequence[ComponentFeature]) -> None:
        with self._write() as c:
            c.execute(t.gis_components.delete())
            ordered = sorted(components, key=lambda x: x.id)  # the unique index grows at its end
            for start in range(0, len(ordered), _CHUNK):
                chunk = ordered[start : start + _CHUNK]
                _insert(c, t.gis_components, [_component_row(x) for x in chunk])
            self._refill_rtree(c, t.gis_components)

    def _refill_rtree(self, c: Connection, table: sa.Table) -> None:
        """SQLite: the layer's R*Tree from its rows, in one statement (PostGIS keeps its
        GiST index itself)."""
        if self._postgres:
            return
        box = (
            "lon, lon, lat, lat"
            if table is t.gis_components or table is t.gis_addresses
            else "min_lon, max_lon, min_lat, max_lat"
        )
        c.exec_driver_sql(f"DELETE FROM {table.name}_rtree")
        c.exec_driver_sql(f"INSERT INTO {table.name}_rtree SELECT id, {box} FROM {table.name}")

    def replace_addresses(self, addresses: Sequence[Address]) -> None:
        with self._write() as c:
            c.execute(t.gis_addresses.delete())
            for start in range(0, len(addresses), _CHUNK):
                chunk = addresses[start : start + _CHUNK]
                _insert(c, t.gis_addresses, [_address_row(a) for a in chunk])
            self._refill_rtree(c, t.gis_addresses)

    # ------------------------------------------------------------------ reading

    def grids(self) -> list[GridFeature]:
        with self._read() as c:
            rows = c.execute(sa.select(t.gis_grids).order_by(t.gis_grids.c.code)).all()
        return _grids(rows)

    def grids_in_bbox(self, bbox: BBox, limit: int = 10_000) -> list[GridFeature]:
        """Grids whose bounding box meets ``bbox``, by code, at most ``limit``."""
        query = self._in_bbox(t.gis_grids, bbox).order_by(t.gis_grids.c.code).limit(limit)
        with self._read() as c:
            return _grids(c.execute(query).all())

    def areas(self, level: AreaLevel | None = None) -> list[AreaFeature]:
        query = sa.select(t.gis_areas).order_by(t.gis_areas.c.code)
        if level is not None:
            query = query.where(t.gis_areas.c.level == str(level))
        with self._read() as c:
            return _areas(c.execute(query).all())

    def areas_in_bbox(
        self, bbox: BBox, level: AreaLevel | None = None, limit: int = 10_000
    ) -> list[AreaFeature]:
        query = self._in_bbox(t.gis_areas, bbox).order_by(t.gis_areas.c.code).limit(limit)
        if level is not None:
            query = query.where(t.gis_areas.c.level == str(level))
        with self._read() as c:
            return _areas(c.execute(query).all())

    def components_in_bbox(
        self, bbox: BBox, type_codes: Sequence[str] = (), limit: int = 10_000
    ) -> list[ComponentFeature]:
        """Components inside ``bbox`` (of the given types when any), by id, at most ``limit``."""
        table = t.gis_components
        query = self._in_bbox(table, bbox).order_by(table.c.component_id).limit(limit)
        if type_codes:
            query = query.where(table.c.type_code.in_(list(type_codes)))
        with self._read() as c:
            rows = c.execute(query).all()
        return [
            ComponentFeature(
                r.component_id,
                r.type_code,
                r.name,
                r.owner,
                ComponentState(r.state),
                r.lon,
                r.lat,
                r.grid_code,
            )
            for r in rows
        ]

    def addresses(self) -> list[Address]:
        """The whole gazetteer (what `gateway.gis.geocoder.Geocoder` is built on)."""
        with self._read() as c:
            return _addresses(
                c.execute(sa.select(t.gis_addresses).order_by(t.gis_addresses.c.id)).all()
            )

    def addresses_in_bbox(self, bbox: BBox, limit: int = 10_000) -> list[Address]:
        table = t.gis_addresses
        query = self._in_bbox(table, bbox).order_by(table.c.id).limit(limit)
        with self._read() as c:
            return _addresses(c.execute(query).all())

    def counts(self) -> dict[str, int]:
        with self._read() as c:
            return {
                table.name: int(
                    c.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                )
                for table in (t.gis_grids, t.gis_areas, t.gis_components, t.gis_addresses)
            }

    def _in_bbox(self, table: sa.Table, bbox: BBox) -> sa.Select[Any]:
        min_lon, min_lat, max_lon, max_lat = bbox
        if self._postgres:
            envelope = sa.func.ST_MakeEnvelope(min_lon, min_lat, max_lon, max_lat, 4490)
            return sa.select(table).where(sa.literal_column("geom").op("&&")(envelope))
        rtree = sa.table(
            f"{table.name}_rtree",
            sa.column("id"), sa.column("min_lon"), sa.column("max_lon"),
            sa.column("min_lat"), sa.column("max_lat"),
        )  # fmt: skip
        return (
            sa.select(table)
            .join(rtree, rtree.c.id == table.c.id)
            .where(
                rtree.c.max_lon >= min_lon,
                rtree.c.min_lon <= max_lon,
                rtree.c.max_lat >= min_lat,
                rtree.c.min_lat <= max_lat,
            )
        )


def _insert(c: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    if rows:
        insert_many(c, table, rows)


def _bbox(geometry: Any) -> dict[str, float]:
    min_lon, min_lat, max_lon, max_lat = geometry.bounds
    return {"min_lon": min_lon, "min_lat": min_lat, "max_lon": max_lon, "max_lat": max_lat}


def _grid_row(g: GridFeature, wkb: bytes) -> dict[str, Any]:
    return {
        "code": g.code, "name": g.name, "district": g.district, "street": g.street,
        "community": g.community, "area_m2": g.area_m2,
        "wkb": wkb, **_bbox(g.geometry),
    }  # fmt: skip


def _area_row(a: AreaFeature) -> dict[str, Any]:
    return {
        "code": a.code, "level": str(a.level), "name": a.name, "district": a.district,
        "derived": a.derived, "wkb": shapely.to_wkb(a.geometry), **_bbox(a.geometry),
    }  # fmt: skip


def _component_row(x: ComponentFeature) -> dict[str, Any]:
    return {
        "component_id": x.id, "type_code": x.type_code, "name": x.name, "owner": x.owner,
        "state": x.state.value, "lon": x.lon, "lat": x.lat, "grid_code": x.grid_code,
    }  # fmt: skip


def _address_row(a: Address) -> dict[str, Any]:
    return {
        "district": a.district, "road": a.road, "number": a.number, "building": a.building,
        "unit": a.unit, "text": a.text, "lon": a.lon, "lat": a.lat, "grid_code": a.grid_code,
    }  # fmt: skip


def _addresses(rows: Sequence[Any]) -> list[Address]:
    return [
        Address(
            district=r.district,
            road=r.road,
            number=r.number,
            lon=r.lon,
            lat=r.lat,
            building=r.building,
            unit=r.unit,
            grid_code=r.grid_code,
            text=r.text,
        )
        for r in rows
    ]


def _grids(rows: Sequence[Any]) -> list[GridFeature]:
    shapes = shapely.from_wkb([bytes(r.wkb) for r in rows]) if rows else []
    return [
        GridFeature(r.code, r.district, r.street, r.community, s, r.name, r.area_m2)
        for r, s in zip(rows, shapes, strict=True)
    ]


def _areas(rows: Sequence[Any]) -> list[AreaFeature]:
    shapes = shapely.from_wkb([bytes(r.wkb) for r in rows]) if rows else []
    return [
        AreaFeature(r.code, AreaLevel(r.level), r.name, r.district, s, bool(r.derived))
        for r, s in zip(rows, shapes, strict=True)
    ]


def _place_components(c: Connection, locate: Locate) -> int:
    """Each stored component's grid again, after the grids changed; how many are outside."""
    table = t.gis_components
    rows = c.execute(sa.select(table.c.id, table.c.lon, table.c.lat, table.c.grid_code)).all()
    if not rows:
        return 0
    ids = [r.id for r in rows]
    codes = locate(
        np.array([r.lon for r in rows], dtype=np.float64),
        np.array([r.lat for r in rows], dtype=np.float64),
    ).tolist()
    changed = [
        {"row_id": i, "new_grid": code}
        for i, code, r in zip(ids, codes, rows, strict=True)
        if code != r.grid_code
    ]
    if changed:
        c.execute(
            table.update()
            .where(table.c.id == sa.bindparam("row_id"))
            .values(grid_code=sa.bindparam("new_grid")),
            changed,
        )
    return sum(1 for code in codes if code is None)
