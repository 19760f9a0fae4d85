"""Geocoding on the demo area's gazetteer: address text -> candidates, point -> nearest.

The gazetteer is the one `citygw gis demo-data` generates (gateway/gis/demo_data.py):
ten roads of Haizhou with a door every 10 m, a fifth of them with building and unit.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pyproj import Geod

from gateway.gis import demo_data
from gateway.gis.addresses import Address, AddressRowError, address_from_row
from gateway.gis.crs import to_metres
from gateway.gis.geocoder import ROAD_SURE, Geocoder


@pytest.fixture(scope="module")
def gazetteer() -> list[Address]:
    rows = demo_data.generate().addresses
    assert len(rows) > 1000
    return [address_from_row(row, number) for number, row in enumerate(rows, start=1)]


@pytest.fixture(scope="module")
def geocoder(gazetteer: list[Address]) -> Geocoder:
    return Geocoder(gazetteer)


def _find(gazetteer: list[Address], road: str, number: str) -> Address:
    found = [a for a in gazetteer if a.road == road and a.number == number and not a.building]
    assert found, f"the demo gazetteer has no {road}{number} without a building"
    return found[0]


# -- the gazetteer's rows -----------------------------------------------------------


def test_a_csv_row_becomes_an_address_with_its_display_text() -> None:
    row = {
        "district": "海州区",
        "road": " 朝阳中路 ",
        "number": "12",
        "lon": "119.17",
        "lat": "34.6",
    }
    address = address_from_row(row, 2)
    assert (address.road, address.number, address.lon, address.lat) == (
        "朝阳中路",
        "12号",
        119.17,
        34.6,
    )
    assert address.text == "海州区朝阳中路12号"
    assert address.grid_code is None


def test_a_geojson_point_feature_becomes_an_address() -> None:
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [119.17, 34.6]},
        "properties": {
            "district": "海州区",
            "road": "朝阳中路",
            "number": "12号",
            "building": "3栋",
            "unit": "2单元",
            "grid_code": "32070600100101",
        },
    }
    address = address_from_row(feature, "f7")
    assert address.text == "海州区朝阳中路12号3栋2单元"
    assert address.grid_code == "32070600100101"


@pytest.mark.parametrize(
    ("row", "field", "reason"),
    [
        (
            {"district": "海州区", "road": "", "number": "1", "lon": 119, "lat": 34},
            "road",
            "missing",
        ),
        ({"district": "海州区", "road": "甲路", "number": "1", "lat": 34}, "lon", "missing"),
        (
            {"district": "海州区", "road": "甲路", "number": "1", "lon": "东经", "lat": 34},
            "lon",
            "not_a_number",
        ),
        (
            {"district": "海州区", "road": "甲路", "number": "1", "lon": 119, "lat": 91},
            "lat",
            "out_of_range",
        ),
        (
            {"district": "海州区", "road": "甲路", "number": "1", "lon": 119, "lat": "nan"},
            "lat",
            "out_of_range",
        ),
        (
            {
                "district": "海州区",
                "road": "甲路",
                "number": "1",
                "lon": 119,
                "lat": 34,
                "grid_code": "9999",
            },
            "grid_code",
            "malformed",
        ),
        (
            {"geometry": {"type": "LineString", "coordinates": []}, "properties": {}},
            "geometry.type",
            "malformed",
        ),
    ],
)
def test_a_bad_row_is_named_with_its_field_and_reason(
    row: dict[str, object], field: str, reason: str
) -> None:
    with pytest.raises(AddressRowError) as caught:
        address_from_row(row, 41)
    assert (caught.value.row, caught.value.field, caught.value.reason) == (41, field, reason)
    assert "41" in str(caught.value) and field in str(caught.value)


# -- forward ------------------------------------------------------------------------


def test_an_exact_road_and_door_scores_highest(
    geocoder: Geocoder, gazetteer: list[Address]
) -> None:
    target = _find(gazetteer, "朝阳中路", "12号")
    found = geocoder.candidates("朝阳中路12号")
    assert found[0].address == target
    assert found[0].score == 100.0 and found[0].exact
    assert found[0].why == ("road_exact", "number_exact")
    assert all(m.score < 100.0 for m in found[1:])
    assert [m.score for m in found] == sorted((m.score for m in found), reverse=True)


@pytest.mark.parametrize(
    "text",
    [
        "江苏省连云港市海州区朝阳中路十二号",  # prefixes, Chinese numeral
        "海州区 朝阳中路１２号",  # full-width digits, a space
        "朝阳中路12",  # no 号
        "朝阳中路12号楼",  # the building at door 12
        "连云港市海州区朝阳社区朝阳中路拾二号".replace("拾", "十"),
    ],
)
def test_what_callers_say_finds_the_door(
    geocoder: Geocoder, gazetteer: list[Address], text: str
) -> None:
    found = geocoder.candidates(text)
    assert found[0].address == _find(gazetteer, "朝阳中路", "12号")
    assert found[0].exact


def test_candidates_are_a_list_with_scores_not_one_guess(geocoder: Geocoder) -> None:
    found = geocoder.candidates("朝阳中路12号", limit=7)
    assert len(found) == 7
    assert {m.address.road for m in found} == {"朝阳中路"}
    assert found[1].why == ("road_exact", "number_near")


def test_a_misspelt_road_is_found_but_marked(geocoder: Geocoder, gazetteer: list[Address]) -> None:
    found = geocoder.candidates("朝杨中路12号")  # 杨 for 阳: one character off
    assert found[0].address == _find(gazetteer, "朝阳中路", "12号")
    assert found[0].why[0] in ("road_fuzzy", "road_uncertain")
    assert found[0].score < 100.0
    assert not found[0].exact


def test_an_unknown_road_gives_no_candidates(geocoder: Geocoder) -> None:
    assert geocoder.candidates("火星大道8号") == []
    assert geocoder.candidates("12号") == []
    assert geocoder.candidates("") == []


def test_a_road_without_a_door_lists_doors_on_it_marked_as_such(geocoder: Geocoder) -> None:
    found = geocoder.candidates("通灌北路")
    assert found and {m.address.road for m in found} == {"通灌北路"}
    assert all("number_missing" in m.why and m.score < 90 for m in found)


def test_a_building_asked_for_ranks_the_address_with_it_first(
    geocoder: Geocoder, gazetteer: list[Address]
) -> None:
    target = next(a for a in gazetteer if a.building and a.unit)
    number = target.number.removesuffix("号")
    text = f"{target.road}{number}号{target.building.replace('栋', '幢')}{target.unit}"
    found = geocoder.candidates(text)
    assert found[0].address == target
    assert "building_exact" in found[0].why and "unit_exact" in found[0].why


def test_the_road_is_found_inside_extra_words(geocoder: Geocoder, gazetteer: list[Address]) -> None:
    found = geocoder.candidates("连云港海州朝阳中路12号")  # prefixes without 市 and 区
    assert found[0].address == _find(gazetteer, "朝阳中路", "12号")
    assert found[0].score < 100.0


def test_a_district_named_in_the_text_puts_that_district_first() -> None:
    here = Address("海州区", "人民路", "5号", 119.17, 34.60)
    there = Address("连云区", "人民路", "5号", 119.45, 34.75)
    geocoder = Geocoder([there, here])
    found = geocoder.candidates("海州区人民路5号")
    assert [m.address for m in found] == [here, there]
    assert "district_other" in found[1].why
    # without a district both are offered, equal
    plain = geocoder.candidates("人民路5号")
    assert {m.address for m in plain} == {here, there}
    assert plain[0].score == plain[1].score == 100.0


def test_limit_must_be_positive(geocoder: Geocoder) -> None:
    with pytest.raises(ValueError, match="limit"):
        geocoder.candidates("朝阳中路12号", limit=0)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_an_address_own_text_finds_it_first(gazetteer: list[Address], data: st.DataObject) -> None:
    geocoder = _shared_geocoder(gazetteer)
    address = data.draw(st.sampled_from(gazetteer))
    found = geocoder.candidates(address.text)
    assert found[0].address == address
    assert found[0].score == 100.0


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_full_width_digits_and_a_missing_district_still_find_it_first(
    gazetteer: list[Address], data: st.DataObject
) -> None:
    geocoder = _shared_geocoder(gazetteer)
    address = data.draw(st.sampled_from(gazetteer))
    text = address.road + address.number + address.building + address.unit
    full = "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)
    found = geocoder.candidates(full)
    assert found[0].address == address
    assert found[0].exact and found[0].score >= ROAD_SURE


_GEOCODERS: dict[int, Geocoder] = {}


def _shared_geocoder(gazetteer: list[Address]) -> Geocoder:
    # hypothesis refuses function-scoped fixtures with @given; build once per gazetteer
    return _GEOCODERS.setdefault(id(gazetteer), Geocoder(gazetteer))


# -- reverse ------------------------------------------------------------------------


def test_nearest_is_the_closest_door_by_brute_force(
    geocoder: Geocoder, gazetteer: list[Address]
) -> None:
    rng = np.random.default_rng(7)
    lons = np.array([a.lon for a in gazetteer])
    lats = np.array([a.lat for a in gazetteer])
    qlon = rng.uniform(lons.min(), lons.max(), 200)
    qlat = rng.uniform(lats.min(), lats.max(), 200)
    found = geocoder.nearest_many(qlon, qlat)
    xy = shapely.get_coordinates(to_metres(shapely.points(lons, lats), geocoder.epsg))
    q_xy = shapely.get_coordinates(to_metres(shapely.points(qlon, qlat), geocoder.epsg))
    for k, match in enumerate(found):
        assert match is not None
        d = np.hypot(xy[:, 0] - q_xy[k, 0], xy[:, 1] - q_xy[k, 1])
        assert match.distance_m == pytest.approx(float(d.min()), abs=1e-6)
        assert match.address.road == match.road
        assert geocoder.nearest(float(qlon[k]), float(qlat[k])) == match


def test_nearest_distances_agree_with_the_ellipsoid(
    geocoder: Geocoder, gazetteer: list[Address]
) -> None:
    # metres in CGCS2000 Gauss-Krueger (CM 120E) against geodesic distances: < 0.1 %
    geod = Geod(ellps="GRS80")
    address = gazetteer[len(gazetteer) // 2]
    for d_lon, d_lat in ((0.0004, 0.0), (0.0, 0.0003), (0.0003, -0.0002)):
        lon, lat = address.lon + d_lon, address.lat + d_lat
        match = geocoder.nearest(lon, lat)
        assert match is not None
        _az, _back, metres = geod.inv(lon, lat, match.address.lon, match.address.lat)
        assert match.distance_m == pytest.approx(metres, rel=1e-3)
        assert match.distance_m < 60.0


def test_nothing_within_the_distance_gives_none(
    geocoder: Geocoder, gazetteer: list[Address]
) -> None:
    address = gazetteer[0]
    far = address.lat + 0.05  # ~5.5 km north of the demo area's edge
    assert geocoder.nearest(address.lon, far, max_distance_m=500.0) is None
    assert geocoder.nearest(address.lon, far) is not None
    on_the_door = geocoder.nearest(address.lon, address.lat, max_distance_m=1.0)
    assert on_the_door is not None and on_the_door.address == address
    assert math.isclose(on_the_door.distance_m, 0.0, abs_tol=1e-6)


def test_an_empty_gazetteer_answers_nothing() -> None:
    geocoder = Geocoder([])
    assert geocoder.candidates("朝阳中路12号") == []
    assert geocoder.nearest(119.17, 34.6) is None


# -- the blocking step ----------------------------------------------------------------

_ROAD_NAMES = [
    a + d + k
    for a in ("朝阳", "解放", "人民", "海连", "苍梧", "新浦", "花果山", "北京", "徐州", "泰州")
    for d in ("", "东", "西", "中")
    for k in ("路", "街", "大道")
]


@settings(max_examples=300, deadline=None)
@example(road="朝阳中路")
@example(road="朝杨中路")
@example(road="朝阳中")
@example(road="江苏连云港海州朝阳中路")
@example(road="花果山大道")
@example(road="北京西")
@given(
    road=st.text(
        alphabet="".join(sorted(set("".join(_ROAD_NAMES)))) + "江苏省连港区12", max_size=12
    )
)
def test_the_character_filter_drops_no_road_that_could_pass(road: str) -> None:
    # the blocking step compares only names sharing enough characters: the result must
    # equal comparing every name (plain ratio; partial ratio when nothing is sure)
    from rapidfuzz import fuzz

    from gateway.gis.geocoder import MAX_ROADS, ROAD_CUTOFF, _RoadBlocks

    found = _RoadBlocks(_ROAD_NAMES).similar(road)
    if not road:
        assert found == []
        return
    every = {i: fuzz.ratio(road, name) for i, name in enumerate(_ROAD_NAMES)}
    plain = sorted(
        ((i, s) for i, s in every.items() if s >= ROAD_CUTOFF), key=lambda x: (-x[1], x[0])
    )[:MAX_ROADS]
    if plain and plain[0][1] >= ROAD_SURE:
        assert [s for _i, s in found] == pytest.approx([s for _i, s in plain])
        assert {i for i, _s in found} <= {i for i, s in every.items() if s >= plain[-1][1]}
    else:
        best_partial = max(
            (
                0.9 * fuzz.partial_ratio(road, name)
                for name in _ROAD_NAMES
                if len(name) < len(road) and fuzz.partial_ratio(road, name) >= ROAD_SURE
            ),
            default=0.0,
        )
        best = max([s for _i, s in plain] + [best_partial])
        if best >= ROAD_CUTOFF:
            assert found and found[0][1] == pytest.approx(best)
        else:
            assert found == []
