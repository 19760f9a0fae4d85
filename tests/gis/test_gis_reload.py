"""A running core picks up a new GIS import without a restart: every import bumps the
base data's version, and the reload swaps in the intake's grids and the map's data."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import shapely
from fastapi.testclient import TestClient

from adapters.storage.case_map_store import SqlCaseMap
from adapters.storage.gis_store import SqlBaseData
from gateway.contract import Location
from gateway.core.api import create_app
from gateway.core.gis_reload import BaseDataReload, ReloadState
from gateway.core.gis_routes import MapSource, load_map_data
from gateway.core.intake import case_id_for
from gateway.gis.codes import load_component_types
from gateway.gis.crs import InputCrs
from gateway.gis.demo_data import DemoData
from gateway.gis.features import GridFeature
from gateway.gis.importer import BaseDataImporter
from tests.core.api_harness import make_api
from tests.core.helpers import candidate
from tests.gis.conftest import raws


def test_every_import_bumps_the_version_and_a_refused_one_does_not(
    db_url: str, tmp_path: Path, demo: DemoData
) -> None:
    api = make_api(db_url, tmp_path)  # SQLite and PostgreSQL
    try:
        base = SqlBaseData.for_store(api.service.store)
        importer = BaseDataImporter(base, load_component_types())
        assert base.version() == 0
        assert importer.import_grids(raws(demo.grids), InputCrs.WGS84).accepted
        assert base.version() == 1
        assert importer.import_components(raws(demo.components), InputCrs.WGS84).accepted
        assert base.version() == 2
        broken = raws(demo.grids[:3] + demo.grids[:1])  # a duplicate code: refused
        assert not importer.import_grids(broken, InputCrs.WGS84).accepted
        assert base.version() == 2
    finally:
        api.close()


def test_the_core_uses_a_new_import_without_a_restart(
    tmp_path: Path, demo: DemoData, demo_grids: list[GridFeature]
) -> None:
    api = make_api(f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path)
    service = api.service
    base = SqlBaseData.for_store(service.store)
    cases = SqlCaseMap.for_store(service.store)
    source = MapSource(load_map_data(base, cases))  # nothing imported yet
    ctx = dataclasses.replace(api.client.app.state.ctx, gis=source)  # type: ignore[attr-defined]
    client = TestClient(create_app(ctx))
    reload = BaseDataReload(
        base,
        set_grids=lambda grids: setattr(service, "grids", grids),
        map_source=source,
        cases=cases,
        interval_s=0.05,
    )
    grid = sorted(demo_grids, key=lambda g: g.code)[123]
    centre = shapely.centroid(grid.geometry)
    try:
        reload.start()
        assert reload.state is ReloadState.WATCHING
        before = candidate(1, location=Location(lon=centre.x, lat=centre.y))
        service.store_candidates([before])
        case = service.store.get_case(case_id_for(before.id))
        assert case is not None and case.grid_code is None  # no grids yet
        headers = api.headers("operator")
        assert client.get("/api/v1/gis/map", headers=headers).json()["bbox"] is None

        # another process imports (here: another importer on the same database)
        importer = BaseDataImporter(SqlBaseData.for_store(service.store), load_component_types())
        assert importer.import_grids(raws(demo.grids), InputCrs.WGS84).accepted
        deadline = time.monotonic() + 10
        while reload.reloads == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert reload.reloads == 1 and reload.version == base.version() == 1

        after = candidate(2, location=Location(lon=centre.x, lat=centre.y))
        service.store_candidates([after])
        case = service.store.get_case(case_id_for(after.id))
        assert case is not None and case.grid_code == grid.code
        assert client.get("/api/v1/gis/map", headers=headers).json()["bbox"] is not None
        found = client.get(
            "/api/v1/gis/reverse", params={"lon": centre.x, "lat": centre.y}, headers=headers
        ).json()
        assert found["grid"]["code"] == grid.code
        assert not reload.check_now()  # nothing new: no second reload
    finally:
        reload.stop()
        client.close()
        api.close()
    assert reload.state is ReloadState.STOPPED
