"""A camera's position and ground footprint place its candidates in a unit grid: the grid
the footprint covers most (not the grid the pole stands in), the position's grid without
a footprint, and no grid, with a visible mark, when it looks outside the managed area."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import shapely
from pydantic import ValidationError

from gateway.clock import FakeClock
from gateway.contract import Location, SourceKind
from gateway.core.intake import case_id_for
from gateway.core.service import CaseService
from gateway.gis.camera_places import (
    PlacedBy,
    footprint_polygon,
    place_camera,
    place_footprint,
)
from gateway.gis.features import GridFeature
from gateway.gis.index import GridIndex
from gateway.video.settings import CameraConfig
from tests.core.helpers import MONDAY_10, candidate, core_config, make_service


def _grid(code: str, x0: float) -> GridFeature:
    """A 0.001° square grid at longitude ``x0`` (side by side along 34.6°N)."""
    return GridFeature(
        code, "海州区", "海州街道", "鼓楼社区", shapely.box(x0, 34.6, x0 + 0.001, 34.601)
    )


LEFT, RIGHT = _grid("32070600100101", 119.18), _grid("32070600100102", 119.181)


def _box_across(share_right: float) -> shapely.Polygon:
    """A 0.0005° footprint straddling the border of LEFT and RIGHT, ``share_right`` of it
    in RIGHT."""
    x0 = 119.181 - 0.0005 * (1 - share_right)
    return shapely.box(x0, 34.6004, x0 + 0.0005, 34.6006)


def _inside(grid: GridFeature) -> shapely.Polygon:
    """A small footprint around the middle of ``grid``."""
    return shapely.buffer(shapely.centroid(grid.geometry), 0.0001, quad_segs=2)


def test_a_footprint_belongs_to_the_grid_it_covers_most() -> None:
    index = GridIndex([LEFT, RIGHT])
    placed = place_footprint(_box_across(0.7), index)
    assert placed.grid is not None and placed.grid.code == RIGHT.code
    assert placed.share == pytest.approx(0.7, abs=0.01)
    placed = place_footprint(_box_across(0.3), index)
    assert placed.grid is not None and placed.grid.code == LEFT.code
    assert placed.placed_by is PlacedBy.FOOTPRINT
    placed = place_footprint(_box_across(0.5), index)  # a tie: the smaller code
    assert placed.grid is not None and placed.grid.code == LEFT.code


def test_a_footprint_wins_over_the_position_of_the_camera() -> None:
    index = GridIndex([LEFT, RIGHT])
    pole = shapely.centroid(LEFT.geometry)
    placed = place_camera(index, footprint=_box_across(0.9), lon=pole.x, lat=pole.y)
    assert placed is not None and placed.grid is not None and placed.grid.code == RIGHT.code
    by_position = place_camera(index, lon=pole.x, lat=pole.y)
    assert by_position is not None and by_position.grid is not None
    assert (by_position.grid.code, by_position.placed_by) == (LEFT.code, PlacedBy.POINT)


def test_a_footprint_outside_every_grid_is_outside_the_managed_area(
    demo_index: GridIndex,
) -> None:
    west, south, _, _ = shapely.total_bounds([g.geometry for g in demo_index.grids])
    away = shapely.box(west - 0.01, south - 0.01, west - 0.005, south - 0.005)
    placed = place_camera(demo_index, footprint=away, lon=west + 0.001, lat=south + 0.001)
    assert placed is not None and placed.outside
    assert placed.facts() == {"outside_managed_area": True, "grid_from": "camera_footprint"}
    assert place_camera(demo_index) is None  # neither position nor footprint
    assert place_camera(GridIndex([]), lon=west, lat=south) is None  # nothing imported


def test_a_sliver_over_the_border_does_not_place_a_footprint() -> None:
    index = GridIndex([LEFT, RIGHT])
    # 99.5 % of it west of LEFT (outside the area), 0.5 % inside LEFT
    mostly_out = shapely.box(119.18 - 0.000995, 34.6004, 119.18 + 0.000005, 34.6006)
    placed = place_footprint(mostly_out, index)
    assert placed.outside, "placed by a sliver"
    assert (
        place_footprint(shapely.box(119.18 - 0.0009, 34.6004, 119.18 + 0.0001, 34.6006), index).grid
        == LEFT
    )


def test_footprints_from_messages_are_checked() -> None:
    assert footprint_polygon([[119.1, 34.6], [119.2, 34.6], [119.2, 34.7]]) is not None
    for bad in (
        None,
        "119,34",
        [[119.1, 34.6], [119.2, 34.6]],  # two corners
        [[119.1, 34.6], [119.2, 34.7], [119.2, 34.6], [119.1, 34.7]],  # a bow tie
        [[119.1, 34.6], [119.2, 34.6], [200, 34.7]],  # not a longitude
        [[119.1, 34.6], [119.2, "x"], [119.2, 34.7]],
    ):
        assert footprint_polygon(bad) is None, bad


def test_the_camera_config_takes_a_footprint_and_refuses_a_bad_one() -> None:
    base = {"id": "gate-3", "rtsp_url": "rtsp://10.0.0.5/sub", "lon": 119.18, "lat": 34.6}
    ring = [(119.1801, 34.6001), (119.1805, 34.6001), (119.1805, 34.6004)]
    assert CameraConfig(**base, footprint=ring).footprint == ring
    with pytest.raises(ValidationError, match="simple polygon"):
        CameraConfig(**base, footprint=[(119.1, 34.6), (119.2, 34.7), (119.2, 34.6), (119.1, 34.7)])
    with pytest.raises(ValidationError, match="lat and lon together"):
        CameraConfig(id="gate-3", rtsp_url="rtsp://10.0.0.5/sub", lon=119.18)


# --------------------------------------------------------------------------- intake


@pytest.fixture
def service(tmp_path: Path, demo_index: GridIndex) -> Iterator[CaseService]:
    svc = make_service(
        f"sqlite:///{tmp_path / 'core.sqlite3'}",
        tmp_path / "evidence",
        FakeClock(MONDAY_10),
        core_config(),
    )
    svc.grids = demo_index
    yield svc
    svc.store.close()  # type: ignore[attr-defined]


def _camera_candidate(n: int, footprint: shapely.Polygon | None, lon: float, lat: float):  # type: ignore[no-untyped-def]
    facts = {"track_id": n}
    if footprint is not None:
        facts["camera_footprint"] = [list(c) for c in footprint.exterior.coords[:-1]]
    return candidate(
        n,
        kind=SourceKind.CAMERA,
        source_id="gate-3",
        event_code="0505",
        location=Location(camera_id="gate-3", lon=lon, lat=lat),
        facts=facts,
    )


def test_a_camera_candidate_goes_to_the_grid_its_footprint_covers(
    service: CaseService, demo_grids: list[GridFeature]
) -> None:
    pole, seen = demo_grids[10], demo_grids[250]  # the camera stands in one, looks at another
    at = shapely.centroid(pole.geometry)
    report = _camera_candidate(1, _inside(seen), at.x, at.y)
    service.store_candidates([report])
    case = service.store.get_case(case_id_for(report.id))
    assert case is not None
    assert case.grid_code == seen.code != pole.code
    assert case.facts["grid_from"] == "camera_footprint"
    assert case.facts["footprint_share"] == pytest.approx(1.0)
    assert (case.facts["street"], case.facts["community"]) == (seen.street, seen.community)
    # drawn on the map where the camera looks, in its grid, not at the pole in another grid
    assert case.lat is not None and case.lon is not None
    assert seen.geometry.contains(shapely.Point(case.lon, case.lat))
    assert _inside(seen).contains(shapely.Point(case.lon, case.lat))
    assert case.facts["position_from"] == "camera_footprint"
    assert case.facts["camera_position"] == {"lat": at.y, "lon": at.x}


def test_a_zone_given_its_grid_is_drawn_where_the_footprint_reaches_into_that_grid(
    service: CaseService, demo_grids: list[GridFeature]
) -> None:
    """A zone's own grid code (the camera sees two grids; the zone lies in the smaller
    share): the case is that grid's, drawn inside the footprint's part of it."""
    pole, near, far = demo_grids[10], demo_grids[250], demo_grids[251]
    at = shapely.centroid(pole.geometry)
    footprint = shapely.union(_inside(near), _inside(far)).convex_hull
    report = _camera_candidate(4, footprint, at.x, at.y)
    report = report.model_copy(
        update={"location": report.location.model_copy(update={"grid_code": far.code})}
    )
    service.store_candidates([report])
    case = service.store.get_case(case_id_for(report.id))
    assert case is not None and case.grid_code == far.code
    spot = shapely.Point(case.lon, case.lat)
    assert far.geometry.contains(spot) and footprint.contains(spot)


def test_a_camera_looking_outside_the_area_makes_a_case_without_a_grid(
    service: CaseService, demo_index: GridIndex
) -> None:
    west, south, _, _ = shapely.total_bounds([g.geometry for g in demo_index.grids])
    away = shapely.box(west - 0.004, south - 0.004, west - 0.002, south - 0.002)
    report = _camera_candidate(2, away, west + 0.0005, south + 0.0005)
    service.store_candidates([report])
    case = service.store.get_case(case_id_for(report.id))
    assert case is not None
    assert case.grid_code is None
    assert case.facts["outside_managed_area"] is True


def test_a_camera_without_a_footprint_is_placed_by_its_position(
    service: CaseService, demo_grids: list[GridFeature]
) -> None:
    grid = demo_grids[42]
    pole = shapely.centroid(grid.geometry)
    report = _camera_candidate(3, None, pole.x, pole.y)
    service.store_candidates([report])
    case = service.store.get_case(case_id_for(report.id))
    assert case is not None
    assert (case.grid_code, case.facts["grid_from"]) == (grid.code, "point")
    assert (case.lat, case.lon) == (pole.y, pole.x)  # no footprint: at the camera
    assert "position_from" not in case.facts


def test_the_video_gateway_sends_the_footprint_with_a_camera_candidate() -> None:
    from datetime import UTC, datetime

    from gateway.clock import FakeClock
    from gateway.video.camera_events import CameraEvent, CameraEventRules

    parking = "tns1:RuleEngine/FieldDetector/ObjectsInside"
    ring = [(119.1801, 34.6001), (119.1805, 34.6001), (119.1805, 34.6004)]
    camera = CameraConfig.model_validate(
        {
            "id": "gate-3",
            "lon": 119.18,
            "lat": 34.6,
            "footprint": ring,
            "onvif": {
                "url": "http://127.0.0.1:8000/onvif/device_service",
                "event_rules": [{"topic": parking, "event_code": "0505"}],
            },
        }
    )
    clock = FakeClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    published: list = []  # type: ignore[type-arg]
    rules = CameraEventRules(
        [camera], clock=clock, publish=published.append, latest_frame=lambda _id: None
    )
    made = rules.handle(CameraEvent("gate-3", parking, {}, {}, clock.now(), "Changed"))
    assert made is not None
    assert made.facts["camera_footprint"] == [list(c) for c in ring]
    assert (made.location.lon, made.location.lat) == (119.18, 34.6)
    assert footprint_polygon(made.facts["camera_footprint"]) is not None
