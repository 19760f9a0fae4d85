"""Point -> unit grid: a shapely 2 STRtree over the grid polygons, queried in bulk.

`GridIndex.locate(lons, lats)` answers a whole array of points in one vectorised query.
A point outside every grid gets None ("outside the managed area"): never the nearest
grid, never a guess. A point on the border of two grids belongs to the one with the
smaller code, so the answer is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

from gateway.gis.features import GridFeature


class GridIndex:
    """The unit grids of the managed area, indexed for point lookups."""

    def __init__(self, grids: Iterable[GridFeature]) -> None:
        ordered = sorted(grids, key=lambda g: g.code)
        self._grids = tuple(ordered)
        self._by_code = {g.code: g for g in ordered}
        if len(self._by_code) != len(ordered):
            raise ValueError("grid codes must be unique in an index")
        self._codes = np.array([g.code for g in ordered] + [None], dtype=object)
        self._tree = shapely.STRtree([g.geometry for g in ordered])

    def __len__(self) -> int:
        return len(self._grids)

    @property
    def grids(self) -> Sequence[GridFeature]:
        return self._grids

    def grid(self, code: str) -> GridFeature | None:
        return self._by_code.get(code)

    def locate_positions(self, lons: ArrayLike, lats: ArrayLike) -> NDArray[np.intp]:
        """For each point, the position of its grid in `grids`, or ``len(self)`` when the
        point is outside every grid (or not a number)."""
        x = np.asarray(lons, dtype=np.float64).ravel()
        y = np.asarray(lats, dtype=np.float64).ravel()
        if x.shape != y.shape:
            raise ValueError(f"{x.size} longitudes but {y.size} latitudes")
        found = np.full(x.size, len(self._grids), dtype=np.intp)
        if not self._grids or x.size == 0:
            return found
        points = shapely.points(x, y)
        point_at, grid_at = self._tree.query(points, predicate="intersects")
        if point_at.size == 0:
            return found
        if np.unique(point_at).size != point_at.size:  # border points: the smaller code wins
            order = np.lexsort((-grid_at, point_at))
            point_at, grid_at = point_at[order], grid_at[order]
        found[point_at] = grid_at  # with repeats, the last write (the smallest) stays
        return found

    def locate(self, lons: ArrayLike, lats: ArrayLike) -> NDArray[np.object_]:
        """The grid code of each point (an object array), None where outside every grid."""
        codes: NDArray[np.object_] = self._codes[self.locate_positions(lons, lats)]
        return codes

    def locate_one(self, lon: float, lat: float) -> GridFeature | None:
        """The grid of one point, or None outside the managed area."""
        position = int(self.locate_positions([lon], [lat])[0])
        return self._grids[position] if position < len(self._grids) else None

    def overlapping(self, geometry: shapely.Geometry) -> list[GridFeature]:
        """The grids that meet ``geometry`` (e.g. a camera's footprint), by code."""
        if not self._grids:
            return []
        found = self._tree.query(geometry, predicate="intersects")
        return [self._grids[int(i)] for i in sorted(found.tolist())]
