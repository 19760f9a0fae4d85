"""Components within R metres of a point, nearest first, on the demo area's components."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from gateway.gis import demo_data
from gateway.gis.components_near import ComponentsNear
from gateway.gis.crs import to_metres
from gateway.gis.features import ComponentFeature, ComponentState


@pytest.fixture(scope="module")
def components() -> list[ComponentFeature]:
    features = demo_data.generate().components
    assert len(features) > 1000
    return [
        ComponentFeature(
            id=f["properties"]["id"],
            type_code=f["properties"]["id"][6:10],
            name="",
            owner=f["properties"]["owner"],
            state=ComponentState.INTACT,
            lon=f["geometry"]["coordinates"][0],
            lat=f["geometry"]["coordinates"][1],
            grid_code=None,
        )
        for f in features
    ]


@pytest.fixture(scope="module")
def index(components: list[ComponentFeature]) -> ComponentsNear[ComponentFeature]:
    return ComponentsNear(components)


def _brute_force(
    components: list[ComponentFeature], epsg: int, lon: float, lat: float
) -> np.ndarray:
    xy = shapely.get_coordinates(
        to_metres(shapely.points([c.lon for c in components], [c.lat for c in components]), epsg)
    )
    q = shapely.get_coordinates(to_metres(shapely.points(lon, lat), epsg))[0]
    return np.hypot(xy[:, 0] - q[0], xy[:, 1] - q[1])


def test_components_within_the_radius_come_nearest_first(
    index: ComponentsNear[ComponentFeature], components: list[ComponentFeature]
) -> None:
    centre = components[len(components) // 3]
    lon, lat = centre.lon + 0.0001, centre.lat - 0.0001
    found = index.near(lon, lat, 50.0)
    distances = _brute_force(components, index.epsg, lon, lat)
    expected = {components[k].id for k in np.flatnonzero(distances <= 50.0)}
    assert expected, "the demo area should have components within 50 m of a road point"
    assert {n.component.id for n in found} == expected
    assert [n.distance_m for n in found] == sorted(n.distance_m for n in found)
    assert all(n.distance_m <= 50.0 for n in found)


def test_only_the_asked_classes_come_back(
    index: ComponentsNear[ComponentFeature], components: list[ComponentFeature]
) -> None:
    centre = components[100]
    every = index.near(centre.lon, centre.lat, 300.0)
    types = {n.component.type_code for n in every}
    assert len({t[:2] for t in types}) >= 2, "the test needs several classes around the point"
    one_class = sorted(types)[0][:2]
    by_class = index.near(centre.lon, centre.lat, 300.0, classes=[one_class])
    assert by_class and all(n.component.type_code.startswith(one_class) for n in by_class)
    assert [n.component for n in by_class] == [
        n.component for n in every if n.component.type_code.startswith(one_class)
    ]
    one_type = sorted(types)[-1]
    by_type = index.near(centre.lon, centre.lat, 300.0, classes=[one_type])
    assert by_type and {n.component.type_code for n in by_type} == {one_type}


def test_the_component_itself_is_at_distance_zero(
    index: ComponentsNear[ComponentFeature], components: list[ComponentFeature]
) -> None:
    target = components[42]
    found = index.near(target.lon, target.lat, 0.5, limit=1)
    assert [n.component for n in found] == [target]
    assert found[0].distance_m == pytest.approx(0.0, abs=1e-6)


def test_distances_are_metres_on_the_ground(
    index: ComponentsNear[ComponentFeature], components: list[ComponentFeature]
) -> None:
    target = components[7]
    lon, lat = target.lon + 0.0003, target.lat + 0.0002
    found = [n for n in index.near(lon, lat, 200.0) if n.component == target]
    assert len(found) == 1
    _a, _b, metres = Geod(ellps="GRS80").inv(lon, lat, target.lon, target.lat)
    assert found[0].distance_m == pytest.approx(metres, rel=1e-3)


def test_limit_cuts_the_nearest(
    index: ComponentsNear[ComponentFeature], components: list[ComponentFeature]
) -> None:
    centre = components[200]
    every = index.near(centre.lon, centre.lat, 150.0)
    assert len(every) > 3
    assert index.near(centre.lon, centre.lat, 150.0, limit=3) == every[:3]


def test_a_component_is_found_by_its_id_and_measured_as_near_measures(
    index: ComponentsNear[ComponentFeature], components: list[ComponentFeature]
) -> None:
    target = components[321]
    assert index.get(target.id) == target
    assert index.get("3207060103999999") is None
    assert ComponentsNear[ComponentFeature]([]).get(target.id) is None
    lon, lat = target.lon + 0.0002, target.lat - 0.0001
    found = next(n for n in index.near(lon, lat, 100.0) if n.component == target)
    assert index.distance_m(target, lon, lat) == pytest.approx(found.distance_m, abs=1e-6)


def test_far_from_everything_finds_nothing(index: ComponentsNear[ComponentFeature]) -> None:
    assert index.near(119.5, 34.9, 100.0) == []


@pytest.mark.parametrize("classes", [["1"], ["010"], ["0a"], ["01010"]])
def test_a_malformed_class_is_refused(
    index: ComponentsNear[ComponentFeature], classes: list[str]
) -> None:
    with pytest.raises(ValueError, match="class"):
        index.near(119.17, 34.6, 10.0, classes=classes)


@pytest.mark.parametrize("radius", [-1.0, float("nan"), float("inf")])
def test_a_bad_radius_is_refused(index: ComponentsNear[ComponentFeature], radius: float) -> None:
    with pytest.raises(ValueError, match="radius"):
        index.near(119.17, 34.6, radius)


def test_no_components_answer_nothing() -> None:
    assert ComponentsNear[ComponentFeature]([]).near(119.17, 34.6, 1000.0) == []


@settings(max_examples=60, deadline=None)
@given(
    pick=st.integers(min_value=0, max_value=10_000),
    d_lon=st.floats(min_value=-0.002, max_value=0.002),
    d_lat=st.floats(min_value=-0.002, max_value=0.002),
    radius=st.floats(min_value=0.0, max_value=400.0),
)
def test_near_matches_brute_force(
    components: list[ComponentFeature],
    pick: int,
    d_lon: float,
    d_lat: float,
    radius: float,
) -> None:
    index = _shared_index(components)
    centre = components[pick % len(components)]
    lon, lat = centre.lon + d_lon, centre.lat + d_lat
    distances = _brute_force(components, index.epsg, lon, lat)
    inside = np.flatnonzero(distances <= radius)
    expected = sorted(inside.tolist(), key=lambda k: (distances[k], components[k].id))
    found = index.near(lon, lat, radius)
    assert [n.component.id for n in found] == [components[k].id for k in expected]


_INDEXES: dict[int, ComponentsNear[ComponentFeature]] = {}


def _shared_index(components: list[ComponentFeature]) -> ComponentsNear[ComponentFeature]:
    # hypothesis refuses function-scoped fixtures with @given; build once per list
    return _INDEXES.setdefault(id(components), ComponentsNear(components))
