"""``GET /api/v1/gis/cameras``: the configured cameras with a position or footprint, their
health from the video gateways' statuses, and the grid their cases go to; their zones with
a ground footprint and the grid each zone's cases go to."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import shapely
from fastapi.testclient import TestClient

from adapters.storage.case_map_store import SqlCaseMap
from adapters.storage.gis_store import SqlBaseData
from gateway.contract import CameraState, CameraStatus, Source, SourceKind
from gateway.core.api import create_app
from gateway.core.gis_routes import camera_places, load_map_data
from gateway.core.live import LiveParts
from gateway.gis.codes import load_component_types
from gateway.gis.crs import InputCrs
from gateway.gis.demo_data import DemoData
from gateway.gis.features import GridFeature
from gateway.gis.importer import BaseDataImporter
from gateway.video.analysis.settings import CameraAnalysisConfig
from gateway.video.settings import CameraConfig
from tests.core.api_harness import Api, make_api
from tests.gis.conftest import raws


def _square(grid: GridFeature, half: float = 0.0002) -> list[tuple[float, float]]:
    c = shapely.centroid(grid.geometry)
    return [(c.x - half, c.y - half), (c.x + half, c.y - half), (c.x + half, c.y + half)]


@pytest.fixture
def api(tmp_path: Path, demo: DemoData, demo_grids: list[GridFeature]) -> Iterator[Any]:
    api = make_api(f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path)
    base = SqlBaseData.for_store(api.service.store)
    report = BaseDataImporter(base, load_component_types()).import_grids(
        raws(demo.grids), InputCrs.WGS84
    )
    assert report.accepted
    grids = sorted(demo_grids, key=lambda g: g.code)
    pole, tower = shapely.centroid(grids[10].geometry), shapely.centroid(grids[200].geometry)
    west, south, _, _ = shapely.total_bounds([g.geometry for g in grids])
    stream = "rtsp://127.0.0.1:8554/x"
    cameras = [
        CameraConfig(id="gate-3", name="朝阳路口", rtsp_url=stream, lon=pole.x, lat=pole.y,
                     footprint=_square(grids[11])),
        CameraConfig(id="park-1", rtsp_url=stream, lon=tower.x, lat=tower.y),
        CameraConfig(id="river-9", name="河堤", rtsp_url=stream, lon=west - 0.002,
                     lat=south - 0.002),
        CameraConfig(id="lobby", rtsp_url=stream),  # no position: not on the map
        CameraConfig(id="pole-7", rtsp_url=stream),  # no position, but a zone's ground
    ]  # fmt: skip
    polygon = [[0, 0.5], [0.5, 0.5], [0.5, 1]]
    far = [
        (west - 0.003, south - 0.003),
        (west - 0.001, south - 0.003),
        (west - 0.001, south - 0.001),
    ]
    analysis = {
        "gate-3": CameraAnalysisConfig.model_validate({"zones": {
            "kerb": {"polygon": polygon, "name": "北侧路边", "footprint": _square(grids[12], 0.0001)},
            "bay": {"polygon": polygon, "name": "装卸区", "footprint": _square(grids[11], 0.0001),
                    "grid_code": grids[13].code},
            "lawn": {"polygon": polygon, "name": "草坪"},  # no footprint: not drawn
            "ditch": {"polygon": polygon, "name": "河沟", "footprint": far},
        }}),
        "pole-7": CameraAnalysisConfig.model_validate({"zones": {
            "stall": {"polygon": polygon, "footprint": _square(grids[300], 0.0001)},
        }}),
    }  # fmt: skip
    data = load_map_data(
        base, SqlCaseMap.for_store(api.service.store), None, camera_places(cameras, analysis)
    )
    live = LiveParts.create(api.client.app.state.ctx.config)  # type: ignore[attr-defined]
    live.cameras.update(
        CameraStatus.create(
            source=Source(kind=SourceKind.CAMERA, id="gate-3"),
            ts=api.clock.now(),
            camera_id="gate-3",
            state=CameraState.ONLINE,
        )
    )
    ctx = dataclasses.replace(api.client.app.state.ctx, gis=data, live=live)  # type: ignore[attr-defined]
    client = TestClient(create_app(ctx))
    yield api, client, grids
    client.close()
    api.close()


def test_each_camera_comes_with_its_health_and_the_grid_its_cases_go_to(api: Any) -> None:
    harness, client, grids = api
    assert isinstance(harness, Api)
    response = client.get("/api/v1/gis/cameras", headers=harness.headers("operator"))
    assert response.status_code == 200, response.text
    by_id = {f["properties"]["id"]: f for f in response.json()["features"]}
    assert set(by_id) == {"gate-3", "park-1", "river-9", "pole-7"}
    gate = by_id["gate-3"]["properties"]
    assert gate["grid"]["code"] == grids[11].code != grids[10].code  # what it sees
    assert (gate["placed_by"], gate["health"], gate["health_label"]) == (
        "camera_footprint",
        "online",
        "在线",
    )
    assert len(gate["footprint"]) == 3
    park = by_id["park-1"]["properties"]
    assert (park["grid"]["code"], park["placed_by"]) == (grids[200].code, "point")
    assert (park["health"], park["health_label"], park["name"]) == ("unknown", "未知", "park-1")
    river = by_id["river-9"]["properties"]
    assert river["grid"] is None and river["outside_managed_area"] is True
    assert by_id["river-9"]["geometry"]["type"] == "Point"
    assert park["zones"] == [] and river["zones"] == []


def test_each_zone_with_a_footprint_comes_with_the_grid_its_cases_go_to(api: Any) -> None:
    harness, client, grids = api
    response = client.get("/api/v1/gis/cameras", headers=harness.headers("operator"))
    by_id = {f["properties"]["id"]: f for f in response.json()["features"]}
    zones = {z["id"]: z for z in by_id["gate-3"]["properties"]["zones"]}
    assert set(zones) == {"kerb", "bay", "ditch"}  # the lawn has no ground of its own
    kerb = zones["kerb"]
    assert kerb["name"] == "北侧路边" and len(kerb["footprint"]) == 3
    assert (kerb["grid"]["code"], kerb["placed_by"]) == (grids[12].code, "zone_footprint")
    assert kerb["grid"]["community"] and kerb["outside_managed_area"] is False
    bay = zones["bay"]  # its own grid code wins over its ground (in grid 11)
    assert (bay["grid"]["code"], bay["placed_by"]) == (grids[13].code, "grid_code")
    ditch = zones["ditch"]
    assert ditch["grid"] is None and ditch["outside_managed_area"] is True
    # the camera itself still goes by its own footprint
    assert by_id["gate-3"]["properties"]["grid"]["code"] == grids[11].code
    # a camera placed only by its zones stands at their centre, its zone named by its id
    pole = by_id["pole-7"]
    spot = shapely.Point(*pole["geometry"]["coordinates"])
    assert grids[300].geometry.contains(spot)
    assert pole["properties"]["grid"] is None
    [stall] = pole["properties"]["zones"]
    assert (stall["name"], stall["grid"]["code"]) == ("stall", grids[300].code)


def test_the_cameras_need_a_login(api: Any) -> None:
    _harness, client, _ = api
    assert client.get("/api/v1/gis/cameras").status_code == 401
