"""GCJ-02 <-> WGS84 and the projected CRS of the data."""

from __future__ import annotations

import numpy as np
from pyproj import Geod

from gateway.gis.crs import gcj02_to_wgs84, projected_epsg, to_metres, wgs84_to_gcj02

_GEOD = Geod(ellps="WGS84")


def test_the_forward_transform_matches_the_published_reference_value() -> None:
    lon, lat = wgs84_to_gcj02(128.543, 37.065)
    assert (float(lon), float(lat)) == (128.54820547949757, 37.065651049489816)


def test_gcj02_shifts_lianyungang_by_hundreds_of_metres() -> None:
    lon, lat = wgs84_to_gcj02(119.18, 34.60)
    _az, _baz, metres = _GEOD.inv(119.18, 34.60, float(lon), float(lat))
    assert 200 < metres < 800


def test_gcj02_round_trip_is_within_half_a_metre_across_china() -> None:
    rng = np.random.default_rng(7)
    lon = rng.uniform(74, 134, 50_000)
    lat = rng.uniform(18, 53, 50_000)
    back_lon, back_lat = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    _az, _baz, metres = _GEOD.inv(lon, lat, back_lon, back_lat)
    assert float(np.max(metres)) < 0.5
    assert float(np.max(metres)) < 0.01  # in fact far better


def test_points_outside_china_are_not_shifted() -> None:
    lon, lat = wgs84_to_gcj02(2.35, 48.85)
    assert (float(lon), float(lat)) == (2.35, 48.85)


def test_lianyungang_is_measured_in_the_zone_of_120_east() -> None:
    assert projected_epsg(119.18) == 4549
    assert projected_epsg(116.4) == 4548
    import shapely

    square = shapely.box(119.18, 34.60, 119.181, 34.601)
    area = to_metres(square, 4549).area
    assert 9_000 < area < 10_500  # 0.001° x 0.001° near 34.6°N: ~91.6 m x 111 m
