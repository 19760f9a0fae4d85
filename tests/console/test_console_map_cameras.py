"""Cameras on the console's map (issue 17 §3): each configured camera with a position is
drawn as an icon coloured by its health, with the ground it sees; a click tells where its
cases go (the grid its footprint covers most, or outside the managed area) and offers the
live view; a zone with its own ground is drawn lightly, its name on hover. Under the
console's own CSP, Chinese only, no browser error."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import shapely

from adapters.mqtt.broker import free_port
from gateway.config import Config
from gateway.contract import CameraState, CameraStatus, Location, Source, SourceKind
from gateway.core.daemon import build_core
from gateway.gis.demo_data import generate
from gateway.gis.features import GridFeature
from tests.console.conftest import CORE_SETTINGS, USERS, RunningCore, grids_of
from tests.console.test_console_map import _import_demo, _open_page
from tests.console.test_roles import assert_reads_chinese
from tests.core.helpers import candidate


def _square(grid: GridFeature, half: float = 0.0002) -> list[list[float]]:
    c = shapely.centroid(grid.geometry)
    return [
        [c.x - half, c.y - half],
        [c.x + half, c.y - half],
        [c.x + half, c.y + half],
        [c.x - half, c.y + half],
    ]


def _view(grids: list[GridFeature]) -> list[list[float]]:
    """gate-3's ground: mostly grid 11, reaching east over the kerb zone in grid 12 (a
    zone's ground must lie mostly in what its camera sees)."""
    west, east = shapely.centroid(grids[11].geometry), shapely.centroid(grids[12].geometry)
    x0, x1, y0, y1 = west.x - 0.0005, east.x + 0.0003, west.y - 0.0003, west.y + 0.0003
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


@pytest.fixture
def core(make_config: Callable[..., Config], tmp_path: Path) -> Iterator[RunningCore]:
    """The demo area's base data and three cameras: one standing in grid 10 and looking into
    grid 11, one standing in grid 200 (no footprint), one looking outside the area."""
    port = free_port()
    url = f"sqlite:///{tmp_path / 'core.sqlite3'}"
    _import_demo(url)
    grids = _demo_grids()
    pole = shapely.centroid(grids[10].geometry)
    tower = shapely.centroid(grids[200].geometry)
    west, south, _, _ = shapely.total_bounds([g.geometry for g in grids])
    cameras = [
        {
            "id": "gate-3",
            "name": "朝阳路口",
            "rtsp_url": "rtsp://127.0.0.1:8554/gate-3",
            "lon": pole.x,
            "lat": pole.y,
            "footprint": _view(grids),
        },
        {
            "id": "park-1",
            "name": "公园东门",
            "rtsp_url": "rtsp://127.0.0.1:8554/park-1",
            "lon": tower.x,
            "lat": tower.y,
        },
        {
            "id": "river-9",
            "name": "河堤",
            "rtsp_url": "rtsp://127.0.0.1:8554/river-9",
            "lon": west - 0.002,
            "lat": south - 0.002,
            "footprint": [
                [west - 0.003, south - 0.003],
                [west - 0.001, south - 0.003],
                [west - 0.001, south - 0.001],
            ],
        },
        {"id": "lobby", "rtsp_url": "rtsp://127.0.0.1:8554/lobby"},  # no position: not drawn
    ]
    polygon = [[0, 0.5], [0.5, 0.5], [0.5, 1]]
    kerb = {"polygon": polygon, "name": "北侧路边", "footprint": _square(grids[12], 0.0003)}
    zones = {"kerb": kerb, "lawn": {"polygon": polygon, "name": "草坪"}}  # the lawn: no ground
    config = make_config(
        core={**CORE_SETTINGS, "database_url": url, "http_port": port},
        video={"cameras": cameras, "analysis": {"cameras": {"gate-3": {"zones": zones}}}},
    )
    daemon = build_core(config)
    for role, (name, department) in USERS.items():
        daemon.auth.add_user(name, role, "console-pass-1", department, grids_of(role))
    daemon.start()
    try:
        yield RunningCore(config, daemon, f"http://127.0.0.1:{port}")
    finally:
        daemon.stop()


_GRIDS: list[GridFeature] = []


def _demo_grids() -> list[GridFeature]:
    if not _GRIDS:
        from gateway.gis.validation import build_grids
        from tests.gis.conftest import raws

        _GRIDS.extend(sorted(build_grids(raws(generate().grids)).records, key=lambda g: g.code))
    return _GRIDS


def _online(core: RunningCore, camera_id: str) -> None:
    status = CameraStatus.create(
        source=Source(kind=SourceKind.CAMERA, id=camera_id),
        camera_id=camera_id,
        state=CameraState.ONLINE,
        fps_in=25.0,
        fps_analysed=5.0,
    )
    assert core.daemon.live.cameras.update(status)


def test_the_map_draws_cameras_and_a_click_shows_where_their_cases_go(
    core: RunningCore, browser: Any
) -> None:
    _online(core, "gate-3")
    grids = _demo_grids()
    # a car on the kerb zone: its case lies in the zone's grid, drawn on the zone
    pole = shapely.centroid(grids[10].geometry)
    parked = candidate(
        1,
        kind=SourceKind.CAMERA,
        source_id="gate-3",
        event_code="0505",
        title="北侧路边违停",
        location=Location(camera_id="gate-3", zone_id="kerb", lon=pole.x, lat=pole.y),
        facts={
            "track_id": 1,
            "camera_footprint": _view(grids),
            "zone_footprint": _square(grids[12], 0.0003),
        },
    )
    core.daemon.service.store_candidates([parked])
    page, watched = _open_page(browser, core, "operator")
    try:
        page.click("#nav a[data-view=map]")
        page.wait_for_selector("#map[data-cameras='3']")
        assert page.locator(".camera-icon").count() == 3
        assert page.locator(".camera-icon.health-online").count() == 1
        assert page.locator(".camera-icon.health-unknown").count() == 2
        assert page.locator("path.camera-footprint").count() == 2
        assert page.locator("path.zone-footprint").count() == 1
        page.wait_for_selector("#map[data-cases='1']")
        # the case dot sits on the zone: hover the zone beside it
        page.locator("path.zone-footprint").hover(position={"x": 3, "y": 3})
        tip = page.locator(".leaflet-tooltip", has_text="北侧路边")
        tip.wait_for()
        assert tip.inner_text() == f"北侧路边（朝阳路口）· {grids[12].code}"
        # the grids below the zones still answer a click
        page.locator(f"path.grid-{grids[300].code}").click()
        page.wait_for_selector(f"#map-grid-title:has-text('{grids[300].name or grids[300].code}')")
        page.locator(".camera-icon.health-online").click()
        page.wait_for_selector("#map-camera-title")
        assert page.inner_text("#map-camera-title") == "摄像头 朝阳路口"
        assert page.inner_text("#map-camera-health") == "在线"
        placed = page.inner_text("#map-camera-grid")
        assert grids[11].code in placed and "按视野范围" in placed
        assert page.locator("#map-camera-live").is_visible()
        page.locator("[title^='河堤']").click()
        page.wait_for_selector("#map-camera-title:has-text('河堤')")
        assert "不在管理区域内" in page.inner_text("#map-camera-grid")
        assert_reads_chinese(watched, "map with cameras", frozenset({"gate-3", "river-9"}))
        # the zone's case, drawn on the zone, is above it: a click opens the case
        page.locator("path.case-dot").click()
        page.wait_for_url("**#/case/*")
    finally:
        page.context.close()


def test_the_running_core_watches_for_new_imports(core: RunningCore) -> None:
    from adapters.storage.gis_store import SqlBaseData
    from gateway.gis.codes import load_component_types
    from gateway.gis.crs import InputCrs
    from gateway.gis.importer import BaseDataImporter
    from tests.gis.conftest import raws

    reload = core.daemon.gis_reload
    assert reload is not None and reload.version == 2  # the demo's grids and components
    base = SqlBaseData.for_store(core.daemon.service.store)
    importer = BaseDataImporter(base, load_component_types())
    assert importer.import_grids(raws(generate().grids), InputCrs.WGS84).accepted
    assert reload.check_now() and reload.version == 3
    grids = core.daemon.service.grids
    assert grids is not None and len(grids) == 400
