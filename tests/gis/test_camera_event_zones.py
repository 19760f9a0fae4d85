"""A camera's own (ONVIF) rule placed by the zone it watches, not by the whole view.

A camera on a pole sees two grids; its illegal-parking rule on the device watches a strip
in the smaller one. The rule names that zone (``onvif.event_rules[].zone``, one of the
camera's ``video.analysis`` zones with a ground footprint), so its cases go to the strip's
grid, as the analysis' own rules on that zone do. A rule without a zone goes by the view.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import shapely
from pydantic import ValidationError

from gateway.clock import FakeClock
from gateway.contract import CandidateCase
from gateway.core.intake import case_id_for
from gateway.core.service import CaseService
from gateway.gis.camera_places import place_footprint
from gateway.gis.features import GridFeature
from gateway.gis.index import GridIndex
from gateway.video.camera_events import CameraEvent, CameraEventRules, topic_name
from gateway.video.settings import VideoConfig
from tests.core.helpers import MONDAY_10, make_service

PARKING = "tns1:RuleEngine/FieldDetector/ObjectsInside"
TAMPER = "tns1:VideoSource/GlobalSceneChange/ImagingService"


def _corners(polygon: shapely.Polygon) -> list[list[float]]:
    return [[round(x, 7), round(y, 7)] for x, y in polygon.exterior.coords[:-1]]


@pytest.fixture
def ground(demo_grids: list[GridFeature]) -> dict[str, Any]:
    """The pole's grid (most of the view), its neighbour (the strip) and both footprints."""
    pole = demo_grids[10]
    centre = shapely.centroid(pole.geometry)
    strip_grid = min(
        (g for g in demo_grids if g.code != pole.code),
        key=lambda g: shapely.distance(shapely.centroid(g.geometry), centre),
    )
    strip = shapely.buffer(shapely.centroid(strip_grid.geometry), 0.0001, quad_segs=2)
    view = shapely.union(shapely.buffer(centre, 0.0004, quad_segs=4), strip).convex_hull
    return {"pole": pole, "strip_grid": strip_grid, "strip": strip, "view": view}


def _video(ground: dict[str, Any], rule_zone: str | None = "strip") -> VideoConfig:
    rule: dict[str, Any] = {"topic": PARKING, "data": {"Rule": "Parking1"}, "event_code": "0505"}
    if rule_zone is not None:
        rule["zone"] = rule_zone
    return VideoConfig.model_validate(
        {
            "cameras": [
                {
                    "id": "gate-3",
                    "name": "北门",
                    "grid_code": ground["pole"].code,
                    "footprint": _corners(ground["view"]),
                    "onvif": {
                        "url": "http://127.0.0.1:8000/onvif/device_service",
                        "event_rules": [
                            rule,
                            {"topic": TAMPER, "event_code": "0199", "cooldown_s": 0},
                        ],
                    },
                }
            ],
            "analysis": {
                "cameras": {
                    "gate-3": {
                        "zones": {
                            "strip": {
                                "polygon": [[0.6, 0.5], [0.9, 0.5], [0.9, 0.8], [0.6, 0.8]],
                                "footprint": _corners(ground["strip"]),
                                "name": "东侧停车带",
                            }
                        }
                    }
                }
            },
        }
    )


def _rules(
    video: VideoConfig, clock: FakeClock, published: list[CandidateCase]
) -> CameraEventRules:
    return CameraEventRules(
        list(video.cameras),
        clock=clock,
        publish=published.append,
        latest_frame=lambda _id: None,
        zones={cid: dict(c.zones) for cid, c in video.analysis.cameras.items()},
    )


@pytest.fixture
def service(tmp_path: Path, demo_index: GridIndex) -> Iterator[CaseService]:
    svc = make_service(
        f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path / "evidence", FakeClock(MONDAY_10)
    )
    svc.grids = demo_index
    yield svc
    svc.store.close()  # type: ignore[attr-defined]


def test_a_camera_rule_naming_a_zone_files_its_case_in_the_zones_grid(
    ground: dict[str, Any], demo_index: GridIndex, service: CaseService
) -> None:
    pole, strip_grid = ground["pole"], ground["strip_grid"]
    # the view lies mostly in the pole's grid: by the view alone the case would go there
    by_view = place_footprint(ground["view"], demo_index)
    assert by_view.grid is not None and by_view.grid.code == pole.code != strip_grid.code

    clock = FakeClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    published: list[CandidateCase] = []
    rules = _rules(_video(ground), clock, published)
    started = CameraEvent(
        "gate-3", PARKING, {"Rule": "Parking1"}, {"IsInside": "true"}, clock.now(), "Changed"
    )
    made = rules.handle(started)
    assert made is not None
    assert made.location.zone_id == "strip"
    # the zone has a footprint and no grid code of its own: the core places it by the strip
    assert made.location.grid_code is None
    assert made.facts["zone_footprint"] == _corners(ground["strip"])
    assert made.facts["camera_grid_code"] == pole.code  # for a core without imported grids
    assert made.facts["zone_name"] == "东侧停车带"
    assert made.title == "北门（东侧停车带）：区域内有目标"
    assert made.description == f"摄像头 北门（东侧停车带） 自带规则报警（ONVIF {PARKING}）"

    service.store_candidates([made])
    case = service.store.get_case(case_id_for(made.id))
    assert case is not None
    assert case.grid_code == strip_grid.code
    assert case.facts["grid_from"] == "zone_footprint"
    assert ground["strip"].contains(shapely.Point(case.lon, case.lat))

    # the alarm's end is placed the same way
    clock.advance(seconds=90)
    ended = rules.handle(
        CameraEvent(
            "gate-3", PARKING, {"Rule": "Parking1"}, {"IsInside": "false"}, clock.now(), "Changed"
        )
    )
    assert ended is not None and ended.facts["update_of"] == made.id
    assert ended.location.zone_id == "strip" and ended.location.grid_code is None
    assert ended.facts["zone_footprint"] == made.facts["zone_footprint"]

    # a rule without a zone: the camera's place (its grid code, its view)
    other = rules.handle(CameraEvent("gate-3", TAMPER, {}, {}, clock.now(), "Changed"))
    assert other is not None and other.location.zone_id is None
    assert other.location.grid_code == pole.code
    assert "zone_footprint" not in other.facts
    assert other.title == "北门：画面突变"


def test_a_rule_naming_a_zone_the_camera_does_not_have_is_refused_with_its_key(
    ground: dict[str, Any],
) -> None:
    assert _video(ground, "strip").cameras[0].onvif is not None
    with pytest.raises(ValidationError) as refused:
        _video(ground, "kerb")
    said = str(refused.value)
    assert "video.cameras.0.onvif.event_rules.0.zone: 'kerb'" in said
    assert "video.analysis.cameras.gate-3.zones (it has strip)" in said


def test_topics_are_named_in_chinese_whatever_their_prefix() -> None:
    assert topic_name("tnsaxis:RuleEngine/FieldDetector/ObjectsInside") == "区域内有目标"
    assert topic_name("tns1:RuleEngine/LineDetector/Crossed/") == "摄像头报警"
    assert topic_name("tns1:RuleEngine/CellMotionDetector/Motion") == "移动侦测"
    assert topic_name(TAMPER) == "画面突变"  # the last part (ImagingService) says nothing
