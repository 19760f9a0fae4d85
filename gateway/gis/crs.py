"""Coordinates: what is stored, what comes in, and where distances are measured.

- Stored: lon/lat in CGCS2000 (EPSG:4490), equal to WGS84 at the metre level.
- Chinese web maps give GCJ-02 ("Mars coordinates", offset by up to ~700 m): converted
  to WGS84 on import (`gcj02_to_wgs84`), never stored. The forward transform is the
  published one; its inverse has no closed form and is solved by fixed-point iteration.
- Areas and distances are measured in the CGCS2000 3-degree Gauss-Krüger zone of the
  data (`projected_epsg`; Lianyungang, near 119.2°E, is EPSG:4549, central meridian 120°E).
"""

from __future__ import annotations

import enum
import functools
from typing import Any

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from pyproj import Transformer

STORED_EPSG = 4490  # CGCS2000 geographic

_A = 6378245.0  # Krasovsky 1940 semi-major axis, as the GCJ-02 algorithm uses
_EE = 0.00669342162296594323


class InputCrs(enum.StrEnum):
    """The coordinates a file is in (``--crs``)."""

    WGS84 = "wgs84"  # also CGCS2000: the same at the metre level
    GCJ02 = "gcj02"


def _in_china(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.bool_]:
    return (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)


def _offset(
    lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The GCJ-02 shift (degrees lon, degrees lat) at a WGS84 point."""
    x, y = lon - 105.0, lat - 35.0
    sx = np.sqrt(np.abs(x))
    wave = 20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx
    dlat += wave * 2.0 / 3.0
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx
    dlon += wave * 2.0 / 3.0
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    inside = _in_china(lon, lat)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def wgs84_to_gcj02(
    lon: ArrayLike, lat: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """WGS84 -> GCJ-02 (vectorised; points outside China are unchanged)."""
    x, y = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    dlon, dlat = _offset(x, y)
    return x + dlon, y + dlat


def gcj02_to_wgs84(
    lon: ArrayLike, lat: ArrayLike, *, tolerance_deg: float = 1e-10, max_rounds: int = 30
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """GCJ-02 -> WGS84 by fixed-point iteration on the forward transform (the shift
    changes slowly with position, so each round gains several digits)."""
    glon, glat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(max_rounds):
        flon, flat = wgs84_to_gcj02(wlon, wlat)
        elon, elat = flon - glon, flat - glat
        wlon, wlat = wlon - elon, wlat - elat
        if (
            max(float(np.max(np.abs(elon), initial=0.0)), float(np.max(np.abs(elat), initial=0.0)))
            < tolerance_deg
        ):
            break
    return wlon, wlat


def projected_epsg(lon: float) -> int:
    """The CGCS2000 3-degree Gauss-Krüger EPSG code (no zone prefix in x) whose central
    meridian is nearest ``lon``: EPSG:4534 (75°E) .. EPSG:4554 (135°E)."""
    meridian = min(135, max(75, 3 * round(lon / 3)))
    return 4534 + (meridian - 75) // 3


@functools.lru_cache(maxsize=8)
def _to_metres(epsg: int) -> Transformer:
    return Transformer.from_crs(STORED_EPSG, epsg, always_xy=True)


def to_metres(geometries: Any, epsg: int) -> Any:
    """Stored lon/lat geometries (one or an array) in the projected CRS ``epsg`` (metres)."""
    transformer = _to_metres(epsg)

    def project(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack((x, y))

    return shapely.transform(geometries, project)


def from_input(geometries: Any, crs: InputCrs) -> Any:
    """Input geometries as stored lon/lat (GCJ-02 converted; WGS84 as it is)."""
    if crs is InputCrs.WGS84:
        return geometries

    def convert(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        x, y = gcj02_to_wgs84(coords[:, 0], coords[:, 1])
        return np.column_stack((x, y))

    return shapely.transform(geometries, convert)
