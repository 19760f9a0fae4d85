"""Base data in the core's database, on SQLite (R*Tree) and PostgreSQL (PostGIS): imports
are all or nothing, viewport queries go through the spatial index."""

from __future__ import annotations

import copy

import pytest
import sqlalchemy as sa

from adapters.storage.database import migrate, open_engine
from adapters.storage.gis_store import SqlBaseData
from gateway.gis.codes import load_component_types
from gateway.gis.crs import InputCrs
from gateway.gis.demo_data import DemoData
from gateway.gis.features import AreaLevel, ComponentFeature, ComponentState, RawFeature
from gateway.gis.importer import BaseDataImporter
from gateway.gis.validation import ProblemKind
from tests.gis.conftest import raws


@pytest.fixture
def store(db_url: str) -> SqlBaseData:
    engine = open_engine(db_url)
    migrate(engine)
    return SqlBaseData(engine)


@pytest.fixture
def importer(store: SqlBaseData) -> BaseDataImporter:
    return BaseDataImporter(store, load_component_types())


def test_grids_import_with_their_streets_and_communities(
    importer: BaseDataImporter, store: SqlBaseData, demo: DemoData
) -> None:
    report = importer.import_grids(raws(demo.grids), InputCrs.WGS84)
    assert report.accepted and (report.stored, report.derived_areas) == (400, 20)
    assert store.counts() == {
        "gis_grids": 400,
        "gis_areas": 20,
        "gis_components": 0,
        "gis_addresses": 0,
    }
    grids = store.grids()
    assert grids[0].code == "32070600100101" and grids[0].street == "海州街道"
    assert 7_000 < grids[0].area_m2 < 13_000
    assert grids[0].geometry.equals_exact(
        raws(demo.grids)[0].geometry and importer.index().grids[0].geometry, 1e-9
    )
    streets = store.areas(AreaLevel.STREET)
    assert [a.code for a in streets] == ["320706001", "320706002", "320706003", "320706004"]


def test_a_bad_file_changes_nothing(
    importer: BaseDataImporter, store: SqlBaseData, demo: DemoData
) -> None:
    assert importer.import_grids(raws(demo.grids), InputCrs.WGS84).accepted
    assert importer.import_components(raws(demo.components), InputCrs.WGS84).accepted
    before = store.counts()
    grids = copy.deepcopy(demo.grids[:399])
    ring = grids[5]["geometry"]["coordinates"][0]
    ring[1], ring[2] = ring[2], ring[1]
    grids[7]["properties"]["code"] = "320706"
    report = importer.import_grids(raws(grids), InputCrs.WGS84)
    assert not report.accepted and report.stored == 0
    assert [(p.kind, p.feature) for p in report.errors] == [
        (ProblemKind.SELF_INTERSECTION, 6),
        (ProblemKind.MALFORMED_CODE, 8),
    ]
    components = copy.deepcopy(demo.components)
    components[-1]["geometry"]["coordinates"] = [118.9, 34.6]
    refused = importer.import_components(raws(components), InputCrs.WGS84)
    assert [(p.kind, p.feature) for p in refused.errors] == [
        (ProblemKind.OUTSIDE_GRIDS, len(components))
    ]
    assert store.counts() == before


def test_a_failure_while_writing_rolls_the_import_back(
    importer: BaseDataImporter, store: SqlBaseData, demo: DemoData
) -> None:
    assert importer.import_grids(raws(demo.grids), InputCrs.WGS84).accepted
    assert importer.import_components(raws(demo.components[:100]), InputCrs.WGS84).accepted
    before = store.counts()
    fresh = _components(importer, demo)
    clash = [*fresh, fresh[0]]  # the database refuses the last row: a duplicate id
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        store.replace_components(clash)
    assert store.counts() == before


def _components(importer: BaseDataImporter, demo: DemoData) -> list[ComponentFeature]:
    from gateway.gis.validation import build_components

    return build_components(
        raws(demo.components[100:3_000]), importer.component_types, importer.index()
    ).records


def test_viewport_queries_use_the_spatial_index(
    importer: BaseDataImporter, store: SqlBaseData, demo: DemoData
) -> None:
    importer.import_grids(raws(demo.grids), InputCrs.WGS84)
    importer.import_components(raws(demo.components), InputCrs.WGS84)
    first = store.grids()[0].geometry
    minx, miny, maxx, maxy = first.bounds
    box = (minx + 0.0002, miny + 0.0002, maxx - 0.0002, maxy - 0.0002)  # inside grid 01
    assert [g.code for g in store.grids_in_bbox(box)] == ["32070600100101"]
    whole = store.grids_in_bbox((119.0, 34.0, 119.5, 35.0))
    assert len(whole) == 400
    assert store.grids_in_bbox((118.0, 34.0, 118.1, 34.1)) == []
    lamps = store.components_in_bbox((119.0, 34.0, 119.5, 35.0), type_codes=["0118"])
    assert lamps and all(c.type_code == "0118" for c in lamps)
    assert all(c.state in ComponentState for c in lamps)
    near = store.components_in_bbox(box)
    assert all(minx < c.lon < maxx and miny < c.lat < maxy for c in near)
    assert len(store.components_in_bbox((119.0, 34.0, 119.5, 35.0), limit=7)) == 7
    communities = store.areas_in_bbox(box, AreaLevel.COMMUNITY)
    assert [a.code for a in communities] == ["320706001001"]
    plan = _plan(store, box)
    assert ("rtree" in plan) if store.engine.dialect.name == "sqlite" else ("geom" in plan)


def _plan(store: SqlBaseData, box: tuple[float, float, float, float]) -> str:
    query = store._in_bbox(store_table(), box)
    compiled = query.compile(store.engine, compile_kwargs={"literal_binds": True})
    explain = "EXPLAIN QUERY PLAN " if store.engine.dialect.name == "sqlite" else "EXPLAIN "
    with store.engine.connect() as c:
        rows = c.exec_driver_sql(explain + str(compiled)).all()
    return " ".join(str(r) for r in rows).lower()


def store_table() -> sa.Table:
    from adapters.storage import schema

    return schema.gis_grids


def test_reimporting_grids_places_stored_components_again(
    importer: BaseDataImporter, store: SqlBaseData, demo: DemoData
) -> None:
    importer.import_grids(raws(demo.grids), InputCrs.WGS84)
    importer.import_components(raws(demo.components), InputCrs.WGS84)
    half = [f for f in demo.grids if f["properties"]["code"][6:9] in ("001", "002")]
    renumbered = [RawFeature(i + 1, f["properties"], f["geometry"]) for i, f in enumerate(half)]
    report = importer.import_grids(renumbered, InputCrs.WGS84)
    assert report.accepted, report.problems
    assert 1_000 < report.components_outside < 3_000
    everywhere = store.components_in_bbox((119.0, 34.0, 119.5, 35.0), limit=100_000)
    outside = [c for c in everywhere if c.grid_code is None]
    assert len(outside) == report.components_outside
    assert store.counts()["gis_areas"] == 10  # 2 streets + 8 communities


def test_addresses_import_placed_in_their_grids_or_not_at_all(
    importer: BaseDataImporter, store: SqlBaseData, demo: DemoData
) -> None:
    addresses = [
        RawFeature(i + 1, {k: v for k, v in row.items() if k not in ("lon", "lat")},
                   {"type": "Point", "coordinates": [row["lon"], row["lat"]]})
        for i, row in enumerate(demo.addresses)
    ]  # fmt: skip
    refused_early = importer.import_addresses(addresses[:5], InputCrs.WGS84)
    assert [p.kind for p in refused_early.errors] == [ProblemKind.NO_GRIDS]
    importer.import_grids(raws(demo.grids), InputCrs.WGS84)
    report = importer.import_addresses(addresses, InputCrs.WGS84)
    assert report.accepted and report.stored == len(demo.addresses)
    stored = store.addresses()
    assert stored[0].text == "海州区解放东路1号" and stored[0].grid_code is not None
    index = importer.index()
    assert [a.grid_code for a in stored] == index.locate(
        [a.lon for a in stored], [a.lat for a in stored]
    ).tolist()
    bad = list(addresses)
    bad[2] = RawFeature(3, {"district": "海州区", "road": "解放东路"}, bad[2].geometry)
    bad[4] = RawFeature(5, bad[4].properties, {"type": "Point", "coordinates": [118.9, 34.6]})
    refused = importer.import_addresses(bad, InputCrs.WGS84)
    # one reading names every refused row: the missing number and the point outside
    assert [(p.kind, p.feature, p.field) for p in refused.errors] == [
        (ProblemKind.MISSING_FIELD, 3, "number"),
        (ProblemKind.OUTSIDE_GRIDS, 5, "geometry"),
    ]
    assert refused.stored == 0 and store.counts()["gis_addresses"] == len(demo.addresses)
    bad[2] = addresses[2]
    outside = importer.import_addresses(bad, InputCrs.WGS84)
    assert [(p.kind, p.feature) for p in outside.errors] == [(ProblemKind.OUTSIDE_GRIDS, 5)]
    assert store.counts()["gis_addresses"] == len(demo.addresses)
    box = (
        stored[0].lon - 0.0001,
        stored[0].lat - 0.0001,
        stored[0].lon + 0.0001,
        stored[0].lat + 0.0001,
    )
    assert stored[0] in store.addresses_in_bbox(box)
