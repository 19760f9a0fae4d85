"""Catching GCJ-02 coordinates imported as if they were WGS-84 (CGCS2000).

Chinese web maps give GCJ-02, offset from WGS-84 by a few hundred metres (near
Lianyungang about 510 m east and 110 m south). A file of such coordinates read as WGS-84
lands beside the base data already stored. The check compares the file's points as given
and as converted from GCJ-02 (`gateway.gis.crs.gcj02_to_wgs84`) against what is stored:

- the share of points outside every stored grid (components, addresses);
- the median distance to the nearest stored reference point (grid corners, addresses,
  components), in metres.

When the converted points fit the stored data clearly better, the file is suspected to be
GCJ-02. Nothing stored yet: nothing to compare, no verdict. Pure; no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

from gateway.gis.crs import gcj02_to_wgs84
from gateway.gis.index import GridIndex

#: points of a file looked at (evenly spread) and reference points kept at most
MAX_SAMPLE = 2_000
MAX_REFERENCE = 50_000
#: suspected when converting moves this share of the points from outside to inside ...
MIN_SHARE_GAINED = 0.05
#: ... or when the median distance to the stored points is at least this (m) as given and
#: shrinks by this factor when converted
MIN_DISTANCE_M = 50.0
DISTANCE_FACTOR = 3.0


@dataclass(frozen=True)
class ShiftCheck:
    """How a file's points fit the stored base data as given and as GCJ-02 converted."""

    points: int
    outside_given: float | None  # share outside every stored grid (None: no grids)
    outside_converted: float | None
    distance_given_m: float | None  # median distance to the nearest stored point
    distance_converted_m: float | None

    @property
    def suspected(self) -> bool:
        if self.outside_given is not None and self.outside_converted is not None:
            gained = self.outside_given - self.outside_converted
            if gained >= MIN_SHARE_GAINED and self.outside_converted <= self.outside_given / 2:
                return True
        if self.distance_given_m is not None and self.distance_converted_m is not None:
            return (
                self.distance_given_m >= MIN_DISTANCE_M
                and self.distance_converted_m * DISTANCE_FACTOR <= self.distance_given_m
            )
        return False


def _spread(count: int, most: int) -> NDArray[np.intp]:
    if count <= most:
        return np.arange(count)
    return np.linspace(0, count - 1, most).round().astype(np.intp)


class StoredReference:
    """The stored base data a file is compared with: the grids and reference points."""

    def __init__(self, grids: GridIndex, lons: ArrayLike = (), lats: ArrayLike = ()) -> None:
        self.grids = grids
        corners = shapely.get_coordinates([g.geometry for g in grids.grids])
        x = np.concatenate([corners[:, 0], np.asarray(lons, dtype=np.float64).ravel()])
        y = np.concatenate([corners[:, 1], np.asarray(lats, dtype=np.float64).ravel()])
        keep = _spread(x.size, MAX_REFERENCE)
        self._lat0 = float(np.mean(y[keep])) if keep.size else 0.0
        self._tree = shapely.STRtree(shapely.points(*self._metres(x[keep], y[keep])))
        self.size = int(keep.size)

    def _metres(
        self, lon: NDArray[np.float64], lat: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """A local equirectangular plane (metres): enough to compare distances here."""
        return lon * 111_320.0 * math.cos(math.radians(self._lat0)), lat * 110_574.0

    def _median_distance(self, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> float:
        points = shapely.points(*self._metres(lon, lat))
        _pairs, distances = self._tree.query_nearest(
            points, return_distance=True, all_matches=False
        )
        return float(np.median(distances))

    def _outside(self, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> float:
        positions = self.grids.locate_positions(lon, lat)
        return float(np.mean(positions == len(self.grids)))

    def check(self, lons: ArrayLike, lats: ArrayLike) -> ShiftCheck | None:
        """The file's points (a polygon by an inner point) as given and as converted;
        None: nothing to compare."""
        x = np.asarray(lons, dtype=np.float64).ravel()
        y = np.asarray(lats, dtype=np.float64).ravel()
        keep = _spread(x.size, MAX_SAMPLE)
        x, y = x[keep], y[keep]
        ok = np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 180) & (np.abs(y) <= 90)
        x, y = x[ok], y[ok]
        if x.size == 0 or self.size == 0:
            return None
        cx, cy = gcj02_to_wgs84(x, y)
        with_grids = len(self.grids) > 0
        return ShiftCheck(
            points=int(x.size),
            outside_given=self._outside(x, y) if with_grids else None,
            outside_converted=self._outside(cx, cy) if with_grids else None,
            distance_given_m=self._median_distance(x, y),
            distance_converted_m=self._median_distance(cx, cy),
        )
