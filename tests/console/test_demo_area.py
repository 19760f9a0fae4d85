"""The demo's place (`gateway.demo_area`, `gateway.demo_users`, `gateway.demo_history`),
without starting the demo: the GIS demo area of 海州区 and 连云区 lands in the core's
database once, the demo cameras stand in 海州区 and see the grids their zones name, the
no-parking zone's ground lies in its grid (so the van's 0505 case goes there by the zone),
the 连云区 piece is the organisation's 墟沟街道 apart from 海州区, the samples and the
hotline's districts lie in it, the district centres' users sit at 320706 and 320703, and
yesterday's cases give both districts figures."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import shapely
from shapely.geometry import Point

from gateway.config import Config
from gateway.core.daemon import build_service
from gateway.core.dispatch import load_grid_table
from gateway.core.intake import case_id_for
from gateway.core.metrics import CaseHistories
from gateway.core.org_evaluation import evaluate_level
from gateway.core.organisation import CITY_ID, Organisation
from gateway.core.ports import CaseFilter
from gateway.core.publication import build_ranking, daily_ranking_period
from gateway.demo import (
    CALL_DISTRICTS,
    CAMERA_ID,
    DEMO_CORE,
    FALL_CAMERA_ID,
    GRASS,
    LAWN,
    NO_PARKING,
    SCRIPTED_CALLS,
    WALKWAY,
    video_settings,
)
from gateway.demo_area import (
    CALL_GRID,
    LY_CALL_GRID,
    LY_SAMPLE_COMMUNITY,
    MAIN_CORNER,
    DemoArea,
    import_area,
)
from gateway.demo_history import PAST_CASES, replay_yesterday
from gateway.demo_samples import SAMPLE_SITES
from gateway.demo_users import DEMO_PASSWORD, DEMO_USERS
from gateway.gis.camera_places import CameraPlace, ZonePlace, footprint_polygon, place, place_zone
from gateway.gis.index import GridIndex
from gateway.gis.validation import build_grids
from gateway.video.analysis.candidate import build_candidate
from gateway.video.analysis.rules import Firing
from gateway.video.frame import Frame
from tests.gis.conftest import raws


@pytest.fixture(scope="module")
def area(tmp_path_factory: pytest.TempPathFactory) -> DemoArea:
    return DemoArea.prepare(tmp_path_factory.mktemp("demo") / "gis-demo")


@pytest.fixture(scope="module")
def index(area: DemoArea) -> GridIndex:
    return GridIndex(build_grids(raws(area.data.grids)).records)


def _config(tmp_path: Path, area: DemoArea, **sections: Any) -> Config:
    return Config.model_validate(
        {
            "instance": "demo",
            "state_dir": str(tmp_path / "state"),
            "core": {**DEMO_CORE, "grid_table": str(area.grid_table)},
            **sections,
        }
    )


def test_the_demo_area_is_imported_once_quickly_and_the_users_sit_at_their_levels(
    tmp_path: Path, area: DemoArea
) -> None:
    config = _config(tmp_path, area)
    service, auth = build_service(config)
    try:
        first = import_area(service.store, area)
        assert first.imported
        assert (first.grids, first.components, first.addresses) == (
            500,  # 海州区 400, 连云区 100
            len(area.data.components),
            len(area.data.addresses),
        )
        assert first.components > 1000 and first.addresses > 1000
        assert first.seconds < 10, f"the import makes the demo start slowly: {first.seconds} s"
        started = time.perf_counter()
        again = import_area(service.store, area)
        assert not again.imported and again.grids == 0
        assert time.perf_counter() - started < 2

        for user in DEMO_USERS:
            auth.add_user(
                user.name, user.role, DEMO_PASSWORD, user.department, user.grids, user.org_node
            )
        _token, dispatcher = auth.login("hz-dispatcher", DEMO_PASSWORD)
        assert str(dispatcher.role) == "dispatcher" and dispatcher.org_node == "320706"
        _token, operator = auth.login("operator", DEMO_PASSWORD)
        assert operator.org_node is None  # the city centre
        _token, department = auth.login("hz-dept", DEMO_PASSWORD)
        assert department.department == "hz-city-management"
        # 四级联动: the street office and its community sit at their nodes
        _token, street = auth.login("hz-street", DEMO_PASSWORD)
        assert (street.department, street.org_node) == ("street-320706001", "320706001")
        _token, community = auth.login("hz-gulou", DEMO_PASSWORD)
        assert (community.department, community.org_node) == (
            "community-320706001001",
            "320706001001",
        )
        # the second district centre: its desk at 320703, reaching only its grids
        for name in ("ly-operator", "ly-dispatcher"):
            _token, desk = auth.login(name, DEMO_PASSWORD)
            assert (desk.org_node, desk.reach) == ("320703", ("320703",)), name
        _token, ly_dept = auth.login("ly-dept", DEMO_PASSWORD)
        assert (ly_dept.department, ly_dept.org_node) == ("ly-city-management",) * 2
        _token, ly_inspector = auth.login("ly-inspector", DEMO_PASSWORD)
        assert ly_inspector.grids == ("320703",)
    finally:
        service.store.close()  # type: ignore[attr-defined]
    # a second core on the same database (the demo run again) finds the grids there
    service, _auth = build_service(config)
    try:
        assert service.grids is not None and len(service.grids) == 500
    finally:
        service.store.close()  # type: ignore[attr-defined]


def test_the_grid_table_of_the_demo_is_the_area_and_names_every_grid(area: DemoArea) -> None:
    table = load_grid_table(area.grid_table)
    assert len(table) == 500
    assert {code[:6] for code in table} == {"320706", "320703"}
    assert table[CALL_GRID].district == "海州区" and table[CALL_GRID].street == "洪门街道"
    assert table[LY_CALL_GRID].district == "连云区" and table[LY_CALL_GRID].street == "墟沟街道"


def test_the_lianyun_piece_is_the_organisation_s_xugou_street_apart_from_haizhou(
    tmp_path: Path, area: DemoArea, index: GridIndex
) -> None:
    config = _config(tmp_path, area).core
    org = Organisation.from_config(config.organisation, {d.id: d.name for d in config.departments})
    built = build_grids(raws(area.data.grids))
    assert built.problems == []  # two separate pieces: no gap, no overlap, areas as nominal
    lianyun = {code: poly for code, poly in area.polygons.items() if code.startswith("320703")}
    haizhou = {code: poly for code, poly in area.polygons.items() if code.startswith("320706")}
    assert (len(lianyun), len(haizhou)) == (100, 400)
    communities = {node.id for node in org.children("320703001")}
    assert len(communities) == 4
    for code in lianyun:
        district = org.district_of_grid(code)
        assert district is not None and district.id == "320703", code
        assert code[:9] == "320703001" and code[:12] in communities, code
        assert 1 <= int(code[12:]) <= 25
    # 墟沟 is some 25 km north-east of the 海州区 piece: nothing shared
    ly_union = shapely.union_all(list(lianyun.values()))
    hz_union = shapely.union_all(list(haizhou.values()))
    assert not ly_union.intersects(hz_union)
    assert ly_union.distance(hz_union) > 0.1  # degrees: ~10 km
    minx, miny, maxx, maxy = ly_union.bounds
    assert 119.38 < minx < maxx < 119.40 and 34.74 < miny < maxy < 34.76
    # the demo cameras stay in 海州区: no footprint reaches 连云区
    settings = video_settings("rtsp://x/main", {"enabled": False}, area, fall_url="rtsp://x/f")
    for camera in settings["cameras"]:
        assert not shapely.Polygon(camera["footprint"]).intersects(ly_union), camera["id"]
        here = index.locate_one(camera["lon"], camera["lat"])
        assert here is not None and here.code.startswith("320706"), camera["id"]


def test_the_demo_cameras_stand_in_the_area_and_see_the_grids_of_their_zones(
    tmp_path: Path, area: DemoArea, index: GridIndex
) -> None:
    settings = video_settings(
        "rtsp://127.0.0.1:8554/main",
        {"enabled": False},
        area,
        fall_url="rtsp://127.0.0.1:8554/fallen",
    )
    config = _config(tmp_path, area, video=settings)  # the core reads the same section
    cameras = {c.id: c for c in config.video.cameras}
    assert set(cameras) == {CAMERA_ID, FALL_CAMERA_ID}
    zones = {CAMERA_ID: [LAWN, WALKWAY], FALL_CAMERA_ID: [GRASS]}
    for camera_id, camera in cameras.items():
        assert camera.lon is not None and camera.lat is not None and camera.footprint
        # the camera, and so its cases' point, stands in the grid it watches
        here = index.locate_one(camera.lon, camera.lat)
        assert here is not None and here.code == camera.grid_code
        assert camera.grid_code in {zone["grid_code"] for zone in zones[camera_id]}
        seen = place(
            CameraPlace(camera.id, lon=camera.lon, lat=camera.lat,
                        footprint=footprint_polygon(camera.footprint)),
            index,
        )  # fmt: skip
        assert seen.grid is not None and seen.grid.code == camera.grid_code
        assert seen.share > 0.5
        footprint = footprint_polygon(camera.footprint)
        assert footprint is not None
        for zone in zones[camera_id]:
            grid = next(g for g in index.grids if g.code == zone["grid_code"])
            assert grid.geometry.intersects(footprint), (camera_id, zone["name"])
    # the no-parking zone has no grid code: its ground, seen by the camera, lies in the
    # corner grid, not in the grid the camera (and its grid_code) watches
    parking = config.video.analysis.cameras[CAMERA_ID].zones["no-parking"]
    assert parking.grid_code is None and parking.name == NO_PARKING["name"]
    assert parking.footprint is not None
    ground = footprint_polygon(parking.footprint)
    main = footprint_polygon(cameras[CAMERA_ID].footprint)
    assert ground is not None and main is not None and main.contains(ground)
    placed = place_zone(ZonePlace("no-parking", ground), index)
    assert placed is not None and placed.grid is not None
    assert (placed.grid.code, placed.share) == (MAIN_CORNER, 1.0)
    assert cameras[CAMERA_ID].grid_code != MAIN_CORNER


def test_the_demo_van_s_0505_case_lands_in_the_no_parking_zone_s_grid(
    tmp_path: Path, area: DemoArea
) -> None:
    """The candidate the video gateway makes for the van in the demo's no-parking zone,
    stored by the demo's core over the imported area: grid `MAIN_CORNER` by the zone's
    ground, drawn on it."""
    settings = video_settings("rtsp://127.0.0.1:8554/main", {"enabled": False}, area)
    config = _config(tmp_path, area, video=settings)
    camera = config.video.cameras[0]
    analysis = config.video.analysis.cameras[CAMERA_ID]
    rule = next(r for r in analysis.rules if r.zone == "no-parking")
    wall = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    firing = Firing(rule, CAMERA_ID, "no-parking", "park:track-1", (), 1.0, wall, "", {})
    frame = Frame(CAMERA_ID, 1, wall, 1.0, np.zeros((4, 4, 3), np.uint8))
    place = {
        "grid_code": camera.grid_code,
        "lon": camera.lon,
        "lat": camera.lat,
        "footprint": camera.footprint,
    }
    made = build_candidate(firing, frame, analysis, [], model="yolox-nano", location=place)
    service, _auth = build_service(config)
    try:
        import_area(service.store, area)
        service.grids = GridIndex(build_grids(raws(area.data.grids)).records)
        service.store_candidates([made])
        case = service.store.get_case(case_id_for(made.id))
        assert case is not None and case.event_code == "0505"
        assert case.grid_code == MAIN_CORNER != camera.grid_code
        assert case.facts["grid_from"] == "zone_footprint"
        assert case.facts["position_from"] == "zone_footprint"
        ground = footprint_polygon(analysis.zones["no-parking"].footprint)
        assert ground is not None and ground.contains(Point(case.lon, case.lat))
    finally:
        service.store.close()  # type: ignore[attr-defined]


def test_the_samples_and_the_hotline_district_lie_in_the_area(
    area: DemoArea, index: GridIndex
) -> None:
    points = [area.sample_point(i) for i in range(5)]
    assert len({code for code, _lon, _lat in points}) == 5  # one grid each
    for code, lon, lat in points:
        found = index.locate_one(lon, lat)
        assert found is not None and found.code == code
    assert CALL_DISTRICTS[0]["name"] == "海州区"
    assert CALL_DISTRICTS[0]["grid_code"] in area.polygons
    # 连云区: its hotline reports and its samples lie in its own grids
    assert CALL_DISTRICTS[1]["name"] == "连云区"
    assert CALL_DISTRICTS[1]["grid_code"] in area.polygons
    assert CALL_DISTRICTS[1]["grid_code"].startswith("320703")
    # the scripted calls: one a district, each from its own caller
    menu = {d["key"]: d["name"] for d in CALL_DISTRICTS}
    assert [menu[key] for key, _caller in SCRIPTED_CALLS] == ["海州区", "连云区"]
    assert len({caller for _key, caller in SCRIPTED_CALLS}) == 2
    [_haizhou, ly_site] = SAMPLE_SITES
    assert (ly_site.district, ly_site.community) == ("连云区", LY_SAMPLE_COMMUNITY)
    for i in range(3):
        code, lon, lat = area.sample_point(i, ly_site.community)
        found = index.locate_one(lon, lat)
        assert code.startswith("320703001002") and found is not None and found.code == code


def test_yesterday_s_cases_give_both_districts_figures_once(tmp_path: Path, area: DemoArea) -> None:
    """The demo's past (`gateway.demo_history`): the demo users take yesterday's cases of
    both districts through the workflow; the city's evaluation and the public daily ranking
    then score both districts; a second run the same day makes nothing."""
    config = _config(tmp_path, area)
    service, auth = build_service(config)
    try:
        import_area(service.store, area)
        for user in DEMO_USERS:
            auth.add_user(
                user.name, user.role, DEMO_PASSWORD, user.department, user.grids, user.org_node
            )
    finally:
        service.store.close()  # type: ignore[attr-defined]
    made = replay_yesterday(config, area, DEMO_PASSWORD)
    now = datetime.now(UTC)
    zone = ZoneInfo(config.core.calendar.timezone)
    assert made.cases == len(PAST_CASES) == 6
    assert made.day == now.astimezone(zone).date() - timedelta(days=1)
    assert replay_yesterday(config, area, DEMO_PASSWORD).cases == 0

    service, _auth = build_service(config)
    try:
        cases, total = service.store.list_cases(CaseFilter(limit=100))
        steps = [s.step for case in cases for s in service.store.steps(case.id)]
    finally:
        service.store.close()  # type: ignore[attr-defined]
    assert total == 6
    states = sorted((c.grid_code[:6], str(c.state), c.department) for c in cases)  # type: ignore[index]
    assert states == [
        ("320703", "closed", "ly-city-management"),
        ("320703", "closed", "ly-city-management"),
        ("320703", "processing", "ly-city-management"),
        ("320706", "closed", "hz-city-management"),
        ("320706", "closed", "hz-city-management"),
        ("320706", "processing", "hz-city-management"),
    ]
    assert all(s.at.astimezone(zone).date() == made.day for s in steps)
    # each step by the demo user of its level: the district's desk, department, inspector
    by_action = {(s.case_id[-4:], str(s.action)): s.actor for s in steps}
    assert {a for (_c, act), a in by_action.items() if act == "verify_fail"} == {"ly-inspector"}
    assert {a for (_c, act), a in by_action.items() if act == "dispatch"} == {
        "hz-dispatcher",
        "ly-dispatcher",
    }
    core = config.core
    org = Organisation.from_config(core.organisation, {d.id: d.name for d in core.departments})
    report = evaluate_level(
        CaseHistories(steps), org, org.node(CITY_ID), now - timedelta(days=30), now,
        core.metric_weights,
    )  # fmt: skip
    units = {u.node.id: u.metrics for u in report.units}
    assert (units["320706"].registered, units["320703"].registered) == (3, 3)
    assert (units["320706"].closed, units["320703"].closed) == (2, 2)
    assert units["320703"].rework == 1 and units["320706"].rework == 0
    assert units["320706"].score == 100.0
    assert units["320703"].score is not None and units["320703"].score < 100.0
    ranking = build_ranking(steps, daily_ranking_period(now, zone), core.metric_weights, {}, now)
    assert [(r.rank, r.group) for r in ranking.districts] == [(1, "海州区"), (2, "连云区")]
