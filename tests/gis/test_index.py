"""Point -> grid: every point inside a grid maps to it, points outside to nothing."""

from __future__ import annotations

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.gis.features import GridFeature
from gateway.gis.index import GridIndex


def test_grid_centres_map_to_their_grids(
    demo_grids: list[GridFeature], demo_index: GridIndex
) -> None:
    centres = shapely.centroid([g.geometry for g in demo_grids])
    codes = demo_index.locate(shapely.get_x(centres), shapely.get_y(centres))
    assert codes.tolist() == [g.code for g in demo_grids]


def test_points_outside_the_managed_area_get_no_grid(demo_index: GridIndex) -> None:
    codes = demo_index.locate([119.0, 119.18, 120.5, float("nan")], [34.6, 34.70, 34.6, 34.6])
    assert codes.tolist() == [None, None, None, None]
    assert demo_index.locate_one(119.0, 34.6) is None


def test_a_point_on_a_shared_border_goes_to_the_smaller_code(
    demo_grids: list[GridFeature], demo_index: GridIndex
) -> None:
    first, second = demo_grids[0], demo_grids[1]
    border = shapely.intersection(first.geometry, second.geometry)
    point = border.interpolate(0.5, normalized=True)
    assert demo_index.locate([point.x], [point.y]).tolist() == [min(first.code, second.code)]


def test_an_empty_index_locates_nothing() -> None:
    assert GridIndex([]).locate([119.18], [34.6]).tolist() == [None]


@st.composite
def _inside_point(draw: st.DrawFn, grids: list[GridFeature]) -> tuple[GridFeature, float, float]:
    grid = draw(st.sampled_from(grids))
    minx, miny, maxx, maxy = grid.geometry.bounds
    u = draw(st.floats(0.0, 1.0))
    v = draw(st.floats(0.0, 1.0))
    return grid, minx + u * (maxx - minx), miny + v * (maxy - miny)


def test_every_point_strictly_inside_a_grid_maps_to_it(demo_grids: list[GridFeature]) -> None:
    index = GridIndex(demo_grids)

    @settings(max_examples=400, deadline=None)
    @given(_inside_point(demo_grids))
    def check(case: tuple[GridFeature, float, float]) -> None:
        grid, lon, lat = case
        if not shapely.contains_properly(grid.geometry, shapely.Point(lon, lat)):
            return  # the bounding box reaches past a moved edge: not strictly inside
        assert index.locate([lon], [lat]).tolist() == [grid.code]
        found = index.locate_one(lon, lat)
        assert found is not None and found.code == grid.code

    check()


def test_random_points_in_and_around_the_area_agree_with_a_brute_force_answer(
    demo_grids: list[GridFeature], demo_index: GridIndex
) -> None:
    rng = np.random.default_rng(3)
    minx, miny, maxx, maxy = shapely.union_all([g.geometry for g in demo_grids]).bounds
    lons = rng.uniform(minx - 0.002, maxx + 0.002, 20_000)
    lats = rng.uniform(miny - 0.002, maxy + 0.002, 20_000)
    codes = demo_index.locate(lons, lats)
    points = shapely.points(lons, lats)
    expected = np.full(lons.size, None, dtype=object)
    for grid in reversed(demo_grids):  # smallest code last: it wins on borders
        expected[shapely.intersects(grid.geometry, points)] = grid.code
    assert codes.tolist() == expected.tolist()
    assert (codes == None).sum() > 1_000  # noqa: E711 - some fell outside
