"""A camera zone's own ground footprint places its cases (issue 17): a camera looking down
a street sees several grids, a zone (a no-parking kerb) lies in one. A zone's candidate
goes to the grid the zone's footprint covers and is drawn on the zone's ground; the
camera's other candidates still go by the camera's footprint; a zone's own grid code (and
the core's row for that zone) still wins; a zone looking outside every grid is marked
outside the managed area, never given a grid."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
import yaml
from pydantic import ValidationError

from gateway.clock import FakeClock
from gateway.config import ConfigError, parse_config
from gateway.contract import CandidateCase, Location, SourceKind
from gateway.core.intake import case_id_for
from gateway.core.service import CaseService
from gateway.core.workflow import Case
from gateway.gis.camera_places import PlacedBy, ZonePlace, place_zone
from gateway.gis.features import GridFeature
from gateway.gis.index import GridIndex
from gateway.video.analysis.candidate import build_candidate
from gateway.video.analysis.rules import Firing
from gateway.video.analysis.settings import CameraAnalysisConfig, ZoneConfig
from gateway.video.frame import Frame
from tests.core.helpers import MONDAY_10, candidate, core_config, make_service

#: A (the camera looks mostly over it) and B (its east neighbour, the kerb lies there);
#: C is elsewhere in the area
A, B, C = 250, 251, 42


def _ring(polygon: shapely.Polygon) -> list[list[float]]:
    return [list(corner) for corner in polygon.exterior.coords[:-1]]


class Ground:
    """The camera's footprint (about three quarters in A, the rest in B) and the kerb zone's
    footprint (inside B and inside what the camera sees)."""

    def __init__(self, grids: list[GridFeature]) -> None:
        self.a, self.b, self.c = grids[A], grids[B], grids[C]
        ca, cb = shapely.centroid(self.a.geometry), shapely.centroid(self.b.geometry)
        self.camera = shapely.box(ca.x - 0.0004, ca.y - 0.0002, cb.x - 0.0002, ca.y + 0.0002)
        self.zone = shapely.box(cb.x - 0.00038, ca.y - 0.00005, cb.x - 0.00028, ca.y + 0.00005)
        self.pole = shapely.Point(ca.x - 0.0003, ca.y - 0.0003)  # where the camera stands, in A
        # what the test stands on
        assert self.a.geometry.intersection(self.camera).area / self.camera.area > 0.6
        assert self.b.geometry.intersection(self.camera).area / self.camera.area > 0.05
        assert self.b.geometry.contains(self.zone) and self.camera.contains(self.zone)
        assert self.a.geometry.contains(self.pole)


@pytest.fixture(scope="module")
def ground(demo_grids: list[GridFeature]) -> Ground:
    return Ground(demo_grids)


def _service(url: str, tmp_path: Path, grids: GridIndex | None, **config: Any) -> CaseService:
    service = make_service(url, tmp_path / "evidence", FakeClock(MONDAY_10), core_config(**config))
    service.grids = grids
    return service


@pytest.fixture
def service(tmp_path: Path, demo_index: GridIndex) -> Iterator[CaseService]:
    svc = _service(f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path, demo_index)
    yield svc
    svc.store.close()  # type: ignore[attr-defined]


def _from_camera(
    n: int,
    ground: Ground,
    *,
    zone_id: str | None = None,
    zone_footprint: Any = None,
    grid_code: str | None = None,
    **facts: Any,
) -> CandidateCase:
    """A candidate of camera gate-3 as the video gateway sends it."""
    facts = {"track_id": n, "camera_footprint": _ring(ground.camera), **facts}
    if zone_footprint is not None:
        facts["zone_footprint"] = zone_footprint
    return candidate(
        n,
        kind=SourceKind.CAMERA,
        source_id="gate-3",
        event_code="0505",
        location=Location(
            camera_id="gate-3",
            zone_id=zone_id,
            grid_code=grid_code,
            lon=ground.pole.x,
            lat=ground.pole.y,
        ),
        facts=facts,
    )


def _stored(service: CaseService, report: CandidateCase) -> Case:
    service.store_candidates([report])
    case = service.store.get_case(case_id_for(report.id))
    assert case is not None
    return case


def _spot(case: Case) -> shapely.Point:
    assert case.lat is not None and case.lon is not None
    return shapely.Point(case.lon, case.lat)


# --------------------------------------------------------------------------- intake


def test_a_zone_candidate_goes_to_the_zone_s_grid_and_the_others_to_the_camera_s(
    db_url: str, tmp_path: Path, demo_index: GridIndex, ground: Ground
) -> None:
    """On SQLite and PostgreSQL: the zone's case in B, drawn on the kerb; the case of a rule
    without a zone, and of a zone without a footprint, in A (the camera's footprint)."""
    service = _service(db_url, tmp_path, demo_index)
    try:
        kerb = _stored(
            service, _from_camera(1, ground, zone_id="kerb", zone_footprint=_ring(ground.zone))
        )
        assert kerb.grid_code == ground.b.code
        assert kerb.facts["grid_from"] == "zone_footprint"
        assert kerb.facts["footprint_share"] == pytest.approx(1.0)
        assert (kerb.facts["street"], kerb.facts["community"]) == (
            ground.b.street,
            ground.b.community,
        )
        assert ground.zone.contains(_spot(kerb))  # on the kerb, not at the pole nor in A
        assert kerb.facts["position_from"] == "zone_footprint"
        assert kerb.facts["camera_position"] == {"lat": ground.pole.y, "lon": ground.pole.x}

        whole = _stored(service, _from_camera(2, ground))
        assert (whole.grid_code, whole.facts["grid_from"]) == (ground.a.code, "camera_footprint")
        assert whole.facts["position_from"] == "camera_footprint"
        assert ground.a.geometry.contains(_spot(whole)) and ground.camera.contains(_spot(whole))

        lawn = _stored(service, _from_camera(3, ground, zone_id="lawn"))  # a zone without one
        assert (lawn.grid_code, lawn.facts["grid_from"]) == (ground.a.code, "camera_footprint")
        # what the store gives back is what intake decided (both databases)
        again = service.store.get_case(kerb.id)
        assert again is not None and again.grid_code == ground.b.code
        assert again.facts["position_from"] == "zone_footprint"
    finally:
        service.store.close()  # type: ignore[attr-defined]


def test_the_zone_s_own_grid_code_still_wins(service: CaseService, ground: Ground) -> None:
    report = _from_camera(
        4, ground, zone_id="kerb", zone_footprint=_ring(ground.zone), grid_code=ground.c.code
    )
    case = _stored(service, report)
    assert case.grid_code == ground.c.code
    assert "grid_from" not in case.facts and "outside_managed_area" not in case.facts
    # neither the kerb nor what the camera sees reaches C: drawn at the camera
    assert (case.lat, case.lon) == (ground.pole.y, ground.pole.x)
    assert "position_from" not in case.facts


def test_the_core_s_row_for_the_zone_wins_its_row_for_the_camera_does_not(
    tmp_path: Path, demo_index: GridIndex, ground: Ground
) -> None:
    rows = [
        {"camera_id": "gate-3", "zone_id": "bay", "grid_code": ground.c.code},
        {"camera_id": "gate-3", "grid_code": ground.c.code},
    ]
    service = _service(
        f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path, demo_index, camera_grids=rows
    )
    try:
        footprint = _ring(ground.zone)
        bay = _stored(service, _from_camera(5, ground, zone_id="bay", zone_footprint=footprint))
        assert bay.grid_code == ground.c.code  # the zone's row: a hand-kept override
        kerb = _stored(service, _from_camera(6, ground, zone_id="kerb", zone_footprint=footprint))
        assert (kerb.grid_code, kerb.facts["grid_from"]) == (ground.b.code, "zone_footprint")
        other = _stored(service, _from_camera(7, ground))  # no zone: the camera's row
        assert other.grid_code == ground.c.code
    finally:
        service.store.close()  # type: ignore[attr-defined]


def test_a_zone_looking_outside_every_grid_is_outside_the_managed_area(
    service: CaseService, demo_index: GridIndex, ground: Ground
) -> None:
    """Even with the camera's footprint in A and the camera's grid code sent along: the
    zone's case gets no grid, never A nor the nearest grid."""
    west, south, _, _ = shapely.total_bounds([g.geometry for g in demo_index.grids])
    away = shapely.box(west - 0.0008, south - 0.0008, west - 0.0006, south - 0.0006)
    report = _from_camera(
        8, ground, zone_id="kerb", zone_footprint=_ring(away), camera_grid_code=ground.a.code
    )
    case = _stored(service, report)
    assert case.grid_code is None
    assert case.facts["outside_managed_area"] is True
    assert case.facts["grid_from"] == "zone_footprint"
    assert away.contains(_spot(case))  # drawn where the zone is
    assert case.facts["position_from"] == "zone_footprint"


def test_without_imported_grids_the_camera_s_grid_code_sent_along_places_a_zone_case(
    tmp_path: Path, ground: Ground
) -> None:
    service = _service(f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path, None)
    try:
        report = _from_camera(
            9,
            ground,
            zone_id="kerb",
            zone_footprint=_ring(ground.zone),
            camera_grid_code=ground.a.code,
        )
        case = _stored(service, report)
        assert case.grid_code == ground.a.code  # nothing to place the kerb with
        assert ground.zone.contains(_spot(case))  # still drawn on the kerb
    finally:
        service.store.close()  # type: ignore[attr-defined]


def test_a_malformed_zone_footprint_in_a_message_is_not_trusted(
    service: CaseService, ground: Ground
) -> None:
    bow_tie = [[119.1, 34.6], [119.2, 34.7], [119.2, 34.6], [119.1, 34.7]]
    case = _stored(service, _from_camera(10, ground, zone_id="kerb", zone_footprint=bow_tie))
    assert (case.grid_code, case.facts["grid_from"]) == (ground.a.code, "camera_footprint")


def test_two_cars_on_the_same_kerb_are_proposed_as_one_problem(
    service: CaseService, ground: Ground
) -> None:
    """The intake's batch (duplicates looked for around where each case will stand) places
    the zone's candidates as the case does: the second car is proposed as the first's."""
    footprint = _ring(ground.zone)
    first = _stored(service, _from_camera(11, ground, zone_id="kerb", zone_footprint=footprint))
    second = _stored(service, _from_camera(12, ground, zone_id="kerb", zone_footprint=footprint))
    assert second.proposed_merge_into == first.id


def test_place_zone_names_its_grid_by_the_zone(demo_index: GridIndex, ground: Ground) -> None:
    placed = place_zone(ZonePlace("kerb", ground.zone, "北侧路边"), demo_index)
    assert placed is not None and placed.grid is not None
    assert (placed.grid.code, placed.placed_by) == (ground.b.code, PlacedBy.ZONE_FOOTPRINT)
    assert placed.facts()["grid_from"] == "zone_footprint"
    assert place_zone(ZonePlace("kerb", ground.zone), GridIndex([])) is None


# --------------------------------------------------------------------------- video gateway


def _analysis(zone: dict[str, Any]) -> CameraAnalysisConfig:
    return CameraAnalysisConfig.model_validate(
        {
            "zones": {"kerb": {"polygon": [[0, 0.5], [0.5, 0.5], [0.5, 1]], **zone}},
            "rules": [
                {"id": "park", "type": "dwell", "event_code": "0505", "classes": ["car"],
                 "zone": "kerb", "min_dwell_s": 60},
            ],
        }
    )  # fmt: skip


def _built(camera: CameraAnalysisConfig, ground: Ground) -> CandidateCase:
    wall = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    firing = Firing(camera.rules[0], "gate-3", "kerb", "park:track-1", (), 1.0, wall, "", {})
    frame = Frame("gate-3", 1, wall, 1.0, np.zeros((4, 4, 3), np.uint8))
    place = {
        "grid_code": ground.a.code,
        "lon": ground.pole.x,
        "lat": ground.pole.y,
        "footprint": [tuple(c) for c in _ring(ground.camera)],
    }
    return build_candidate(firing, frame, camera, [], model="m", location=place)


def test_the_video_gateway_sends_the_zone_s_footprint_beside_the_camera_s(ground: Ground) -> None:
    made = _built(_analysis({"footprint": _ring(ground.zone), "name": "北侧路边"}), ground)
    assert made.facts["zone_footprint"] == _ring(ground.zone)
    assert made.facts["camera_footprint"] == _ring(ground.camera)
    # the camera's grid code would hide the zone's ground: it rides along as a fallback
    assert made.location.grid_code is None
    assert made.facts["camera_grid_code"] == ground.a.code

    own = _built(_analysis({"footprint": _ring(ground.zone), "grid_code": ground.c.code}), ground)
    assert own.location.grid_code == ground.c.code and "camera_grid_code" not in own.facts

    plain = _built(_analysis({}), ground)  # a zone without a footprint: as before
    assert plain.location.grid_code == ground.a.code
    assert "zone_footprint" not in plain.facts and "camera_grid_code" not in plain.facts


def test_the_video_gateway_s_zone_candidate_lands_in_the_zone_s_grid(
    service: CaseService, ground: Ground
) -> None:
    made = _built(_analysis({"footprint": _ring(ground.zone)}), ground)
    case = _stored(service, made)
    assert (case.grid_code, case.facts["grid_from"]) == (ground.b.code, "zone_footprint")
    assert case.facts["zone_footprint"] == _ring(ground.zone)


# --------------------------------------------------------------------------- configuration


def test_a_zone_takes_a_footprint_and_refuses_a_bad_one(ground: Ground) -> None:
    square = [[0, 0.5], [0.5, 0.5], [0.5, 1]]
    zone = ZoneConfig.model_validate({"polygon": square, "footprint": _ring(ground.zone)})
    assert zone.footprint is not None and len(zone.footprint) == 4
    for bad, why in (
        ([[119.1, 34.6], [119.2, 34.7], [119.2, 34.6], [119.1, 34.7]], "simple polygon"),
        ([[119.1, 34.6], [119.2, 34.6], [119.3, 34.6]], "simple polygon"),  # on one line
        ([[119.1, 34.6], [119.2, 134.6], [119.2, 34.7]], "not a lon/lat pair"),
        ([[119.1, 34.6], [119.2, 34.6]], "at least 3"),
    ):
        with pytest.raises(ValidationError, match=why) as caught:
            ZoneConfig.model_validate({"polygon": square, "footprint": bad})
        assert caught.value.errors()[0]["loc"][0] == "footprint"


def test_a_zone_s_ground_must_lie_mostly_in_what_its_camera_sees() -> None:
    camera = [[119.2000, 34.6000], [119.2010, 34.6000], [119.2010, 34.6010], [119.2000, 34.6010]]
    zones = {
        "near": [[119.2002, 34.6002], [119.2004, 34.6002], [119.2004, 34.6004]],  # all inside
        "edge": [
            [119.2007, 34.6002],
            [119.2011, 34.6002],
            [119.2011, 34.6004],
            [119.2007, 34.6004],
        ],
    }

    def video(zone_grounds: dict[str, list[list[float]]]) -> dict[str, Any]:
        triangle = [[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]]
        return {
            "video": {
                "cameras": [
                    {"id": "cam-1", "rtsp_url": "rtsp://127.0.0.1/main", "footprint": camera}
                ],
                "analysis": {
                    "cameras": {
                        "cam-1": {
                            "zones": {
                                name: {"polygon": triangle, "footprint": ground}
                                for name, ground in zone_grounds.items()
                            }
                        }
                    }
                },
            }
        }

    # "edge" is 3/4 inside: accepted; a zone 1/5 inside is refused, naming it
    assert parse_config(yaml.safe_dump(video(zones))).video.analysis.cameras["cam-1"].zones
    across = [[119.2008, 34.6002], [119.2018, 34.6002], [119.2018, 34.6004], [119.2008, 34.6004]]
    with pytest.raises(ConfigError) as caught:
        parse_config(yaml.safe_dump(video({**zones, "kerb": across})))
    (issue,) = caught.value.issues
    assert "video.analysis.cameras.cam-1.zones.kerb.footprint: only 20% of it" in issue.message
