"""Base data checks: each kind of problem is found, named by feature and field."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from gateway.gis.codes import load_component_types
from gateway.gis.crs import InputCrs, wgs84_to_gcj02
from gateway.gis.demo_data import DemoData
from gateway.gis.features import AreaLevel, GridFeature, RawFeature
from gateway.gis.index import GridIndex
from gateway.gis.texts import geometry_reason, problem_line
from gateway.gis.validation import (
    ProblemKind,
    Severity,
    build_areas,
    build_components,
    build_grids,
    derive_areas,
)
from tests.gis.conftest import raws

TYPES = load_component_types()


def _grids(demo: DemoData, count: int = 25) -> list[dict[str, Any]]:
    """The first community (5 x 5 grids in the south-west corner), row by row."""
    community = [demo.grids[row * 20 + col] for row in range(5) for col in range(5)]
    return copy.deepcopy(community[:count])


def _kinds(problems: list[Any]) -> list[tuple[ProblemKind, int, str]]:
    return [(p.kind, p.feature, p.field) for p in problems]


def test_the_demo_area_passes_with_true_areas(demo_grids: list[GridFeature]) -> None:
    assert len(demo_grids) == 400
    assert all(7_000 < g.area_m2 < 13_000 for g in demo_grids)


def test_malformed_and_missing_codes_are_named(demo: DemoData) -> None:
    features = _grids(demo)
    features[2]["properties"]["code"] = "3207060010010"  # 13 digits
    features[4]["properties"].pop("code")
    features[6]["properties"]["district"] = ""
    built = build_grids(raws(features))
    assert _kinds(built.errors) == [
        (ProblemKind.MALFORMED_CODE, 3, "code"),
        (ProblemKind.MISSING_FIELD, 5, "code"),
        (ProblemKind.MISSING_FIELD, 7, "district"),
    ]
    assert len(built.records) == 22


def test_a_duplicate_code_names_both_features(demo: DemoData) -> None:
    features = _grids(demo)
    features[9]["properties"]["code"] = features[1]["properties"]["code"]
    built = build_grids(raws(features))
    [problem] = [p for p in built.errors if p.kind is ProblemKind.DUPLICATE_CODE]
    assert (problem.feature, problem.field, problem.values["first"]) == (10, "code", 2)


def test_a_self_intersecting_polygon_is_explained(demo: DemoData) -> None:
    features = _grids(demo)
    ring = features[3]["geometry"]["coordinates"][0]
    ring[1], ring[2] = ring[2], ring[1]  # a bow tie
    built = build_grids(raws(features))
    [problem] = built.errors
    assert (problem.kind, problem.feature, problem.field) == (
        ProblemKind.SELF_INTERSECTION,
        4,
        "geometry",
    )
    assert problem.values["reason"].startswith("Self-intersection[")
    # the operator reads it in Chinese, with where it crosses, and no English
    line = problem_line(problem)
    assert "多边形自相交：边界自相交，位于 (119." in line
    assert not re.search("[A-Za-z]", line), line


def test_every_geometry_reason_reads_chinese() -> None:
    assert geometry_reason("Ring Self-intersection[1 2]") == "边界环自身相交，位于 (1, 2)"
    assert geometry_reason("Hole lies outside shell[119.2 34.6]").startswith("内洞在外边界之外")
    assert geometry_reason("A linearring requires at least 4 coordinates.") == (
        "边界环至少需要 4 个坐标点"
    )
    assert geometry_reason("Something GEOS says one day[0 0]") == "无法解析的几何图形"


def test_a_point_where_a_polygon_belongs_is_the_wrong_type(demo: DemoData) -> None:
    features = _grids(demo)
    features[0]["geometry"] = {"type": "Point", "coordinates": [119.18, 34.6]}
    features[1]["geometry"] = None
    built = build_grids(raws(features))
    assert _kinds(built.errors)[:2] == [
        (ProblemKind.WRONG_GEOMETRY_TYPE, 1, "geometry"),
        (ProblemKind.MISSING_GEOMETRY, 2, "geometry"),
    ]
    assert problem_line(built.errors[0]).endswith("几何类型错误：是点，应为多边形")


def test_overlapping_grids_are_an_error_beyond_the_tolerance(demo: DemoData) -> None:
    features = _grids(demo)
    ring = features[0]["geometry"]["coordinates"][0]
    # push the first grid's east edge 5 m into its neighbour (~0.000055° at 34.6°N)
    for k in (1, 2):
        ring[k][0] += 0.000055
    built = build_grids(raws(features))
    overlaps = [p for p in built.errors if p.kind is ProblemKind.OVERLAP]
    assert len(overlaps) == 1
    assert overlaps[0].values["other"] == features[0]["properties"]["code"]
    assert overlaps[0].values["area_m2"] > 300
    within = build_grids(raws(features), tolerance_m=10.0)
    assert within.errors == []


def test_a_gap_between_grids_is_an_error(demo: DemoData) -> None:
    features = _grids(demo)
    del features[6]  # a grid inside the community: a 100 m hole
    built = build_grids(raws(features))
    [gap] = built.errors
    assert gap.kind is ProblemKind.GAP
    assert 7_000 < gap.values["area_m2"] < 13_000
    assert features[1]["properties"]["code"] in gap.values["grids"]


def test_a_grid_far_from_ten_thousand_square_metres_is_a_warning(demo: DemoData) -> None:
    features = _grids(demo, 1)
    ring = features[0]["geometry"]["coordinates"][0]
    lon0, lat0 = ring[0]
    features[0]["geometry"]["coordinates"] = [
        [
            [lon0, lat0],
            [lon0 + 0.0001, lat0],
            [lon0 + 0.0001, lat0 + 0.0001],
            [lon0, lat0 + 0.0001],
            [lon0, lat0],
        ]
    ]
    built = build_grids(raws(features))
    assert built.errors == []
    [warning] = built.warnings
    assert (warning.kind, warning.severity) == (ProblemKind.AREA_UNUSUAL, Severity.WARNING)
    assert warning.values["area_m2"] < 200
    assert len(built.records) == 1


def test_gcj02_grids_are_stored_in_wgs84(demo: DemoData, demo_grids: list[GridFeature]) -> None:
    features = _grids(demo, 1)
    ring = features[0]["geometry"]["coordinates"][0]
    lon, lat = wgs84_to_gcj02([p[0] for p in ring], [p[1] for p in ring])
    features[0]["geometry"]["coordinates"] = [[[x, y] for x, y in zip(lon, lat, strict=True)]]
    [grid] = build_grids(raws(features), InputCrs.GCJ02).records
    assert grid.geometry.equals_exact(demo_grids[0].geometry, 1e-8)


def test_components_are_checked_against_the_type_table_and_the_grids(
    demo: DemoData, demo_index: GridIndex
) -> None:
    features = copy.deepcopy(demo.components[:10])
    features[1]["properties"]["id"] = "3207069999000001"  # type 9999: not in CJ/T 214
    features[2]["properties"]["id"] = "32070601010001"  # 14 digits
    features[3]["properties"]["id"] = features[0]["properties"]["id"]
    features[4]["geometry"]["coordinates"] = [119.0, 34.6]  # ~16 km west
    features[5]["properties"]["state"] = "好"
    built = build_components(raws(features), TYPES, demo_index)
    assert _kinds(built.errors) == [
        (ProblemKind.UNKNOWN_TYPE, 2, "id"),
        (ProblemKind.MALFORMED_CODE, 3, "id"),
        (ProblemKind.DUPLICATE_CODE, 4, "id"),
        (ProblemKind.OUTSIDE_GRIDS, 5, "geometry"),
        (ProblemKind.BAD_VALUE, 6, "state"),
    ]
    assert len(built.records) == 5
    assert all(c.grid_code == demo_index.locate_one(c.lon, c.lat).code for c in built.records)  # type: ignore[union-attr]


def test_components_without_grids_are_refused_once(demo: DemoData) -> None:
    built = build_components(raws(demo.components[:3]), TYPES, None)
    assert _kinds(built.errors) == [(ProblemKind.NO_GRIDS, 0, "geometry")]


def test_streets_and_communities_dissolve_from_their_grids(demo_grids: list[GridFeature]) -> None:
    areas = derive_areas(demo_grids)
    streets = [a for a in areas if a.level is AreaLevel.STREET]
    communities = [a for a in areas if a.level is AreaLevel.COMMUNITY]
    assert (len(streets), len(communities)) == (4, 16)
    assert all(a.geometry.geom_type == "Polygon" and a.derived for a in areas)
    assert {s.name for s in streets} == {"海州街道", "幸福路街道", "朐阳街道", "洪门街道"}


@pytest.mark.parametrize(
    ("code", "kind"), [("32070600", ProblemKind.MALFORMED_CODE), ("320706001", None)]
)
def test_given_areas_need_a_nine_or_twelve_digit_code(
    code: str, kind: ProblemKind | None, demo: DemoData
) -> None:
    feature = RawFeature(1, {"code": code, "name": "海州街道"}, demo.grids[0]["geometry"])
    built = build_areas([feature])
    assert [p.kind for p in built.errors] == ([kind] if kind else [])
    assert len(built.records) == (0 if kind else 1)


def test_an_empty_file_is_an_error() -> None:
    assert [p.kind for p in build_grids([]).errors] == [ProblemKind.EMPTY_FILE]


def test_text_longer_than_the_tables_hold_is_refused(demo: DemoData, demo_index: GridIndex) -> None:
    features = copy.deepcopy(demo.components[:2])
    features[1]["properties"]["owner"] = "部" * 101
    built = build_components(raws(features), TYPES, demo_index)
    assert _kinds(built.errors) == [(ProblemKind.BAD_VALUE, 2, "owner")]
