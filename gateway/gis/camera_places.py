"""Where a camera looks: its configured position and ground footprints -> a unit grid.

A camera is configured (``video.cameras``) with where it stands (``lon``/``lat``) and,
optionally, the ground it sees (``footprint``: a lon/lat polygon); each of its zones
(``video.analysis.cameras.<id>.zones``) may have the ground the zone covers (its own
``footprint``). A zone's candidates belong to the grid the zone's footprint covers most
(a camera looking down a street sees several grids; a kerb lies in one); a camera's
other candidates to the grid its footprint covers most (a camera on a building often
looks into the neighbouring grid), else to the grid of its position. A footprint that
covers no grid, or a position outside every grid, is *outside the managed area*: no
grid, never the nearest one. Pure functions over `GridIndex`; no I/O.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from gateway.gis.features import GridFeature
from gateway.gis.index import GridIndex

#: the least share of a footprint a grid must hold to be its grid (slivers on a border)
MIN_SHARE = 0.01


class PlacedBy(enum.StrEnum):
    ZONE_FOOTPRINT = "zone_footprint"  # the grid the zone's ground footprint covers most
    FOOTPRINT = "camera_footprint"  # the grid the camera's ground footprint covers most
    POINT = "point"  # the grid a point (the camera's position, a GPS fix) lies in


@dataclass(frozen=True, slots=True)
class ZonePlace:
    """A zone of a camera with the ground it covers (``video.analysis`` zones that have a
    ``footprint``)."""

    zone_id: str
    footprint: Polygon
    name: str = ""
    grid_code: str | None = None  # the zone's own grid (the override above its footprint)


@dataclass(frozen=True, slots=True)
class CameraPlace:
    """A camera as configured: where it stands and what ground it sees (both optional),
    and its zones that have a footprint."""

    camera_id: str
    name: str = ""
    lon: float | None = None
    lat: float | None = None
    footprint: Polygon | None = None
    zones: tuple[ZonePlace, ...] = ()


@dataclass(frozen=True, slots=True)
class Placement:
    """The grid a camera's candidates belong to; ``grid`` None: outside the managed area."""

    grid: GridFeature | None
    placed_by: PlacedBy
    share: float = 1.0  # of the footprint inside ``grid`` (1.0 for a position)

    @property
    def outside(self) -> bool:
        return self.grid is None

    def facts(self) -> dict[str, Any]:
        """What a case's facts record about the placement."""
        if self.grid is None:
            return {"outside_managed_area": True, "grid_from": str(self.placed_by)}
        out: dict[str, Any] = {
            "street": self.grid.street,
            "community": self.grid.community,
            "grid_from": str(self.placed_by),
        }
        if self.placed_by is not PlacedBy.POINT:
            out["footprint_share"] = round(self.share, 3)
        return out


def footprint_polygon(coords: Any) -> Polygon | None:
    """A lon/lat ring (``[[lon, lat], ...]``, 3 corners or more) -> a valid polygon, else
    None (a footprint from a message is checked here, not trusted)."""
    if not isinstance(coords, Sequence) or isinstance(coords, str) or len(coords) < 3:
        return None
    points: list[tuple[float, float]] = []
    for corner in coords:
        if not isinstance(corner, Sequence) or isinstance(corner, str) or len(corner) != 2:
            return None
        try:
            lon, lat = float(corner[0]), float(corner[1])
        except (TypeError, ValueError):
            return None
        if not (math.isfinite(lon) and math.isfinite(lat)):
            return None
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            return None
        points.append((lon, lat))
    polygon = Polygon(points)
    if not polygon.is_valid or polygon.area <= 0:
        return None
    return polygon


def footprint_problem(coords: Sequence[Sequence[float]]) -> str | None:
    """Why a configured footprint is not a usable polygon (English, for config errors)."""
    if len(coords) < 3:
        return "a footprint needs 3 corners or more"
    for lon, lat in coords:
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            return f"corner ({lon}, {lat}) is not a lon/lat pair"
    polygon = Polygon([(lon, lat) for lon, lat in coords])
    if not polygon.is_valid:
        return f"the footprint is not a simple polygon: {shapely.is_valid_reason(polygon)}"
    if polygon.area <= 0:
        return "the footprint has no area"
    return None


def share_inside(inner: Sequence[Sequence[float]], outer: Sequence[Sequence[float]]) -> float:
    """How much of polygon ``inner`` (lon/lat corners, valid) lies in polygon ``outer``, as a
    share of its area: a zone's ground against what its camera sees. Over a few hundred
    metres the lon/lat distortion is the same on both, so the share needs no projection."""
    zone = Polygon([(lon, lat) for lon, lat in inner])
    seen = Polygon([(lon, lat) for lon, lat in outer])
    return float(zone.intersection(seen).area / zone.area) if zone.area > 0 else 0.0


def place_footprint(
    footprint: BaseGeometry, grids: GridIndex, by: PlacedBy = PlacedBy.FOOTPRINT
) -> Placement:
    """The grid holding the largest share of ``footprint`` (a camera's, or with ``by``
    `PlacedBy.ZONE_FOOTPRINT` a zone's); outside when none holds `MIN_SHARE` of it. Ties
    go to the smaller code (deterministic)."""
    total = footprint.area
    best: tuple[float, str, GridFeature] | None = None
    for grid in grids.overlapping(footprint):
        share = grid.geometry.intersection(footprint).area / total if total > 0 else 0.0
        if share < MIN_SHARE:
            continue
        if best is None or (share, _neg(grid.code)) > (best[0], _neg(best[1])):
            best = (share, grid.code, grid)
    if best is None:
        return Placement(None, by, 0.0)
    return Placement(best[2], by, best[0])


def seen_point(footprint: BaseGeometry, grid: GridFeature) -> tuple[float, float] | None:
    """A point (lon, lat) of the ground the camera (or a zone of it) sees inside ``grid``:
    where the map draws a camera case of that grid, rather than at the pole the camera
    stands on (often in the grid behind). None when the footprint does not reach into the
    grid."""
    part = grid.geometry.intersection(footprint)
    if part.is_empty or part.area <= 0:
        return None
    point = part.representative_point()
    return point.x, point.y


def _neg(code: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in code)


def place_camera(
    grids: GridIndex,
    *,
    footprint: BaseGeometry | None = None,
    lon: float | None = None,
    lat: float | None = None,
) -> Placement | None:
    """Footprint first, then position; None when the camera has neither (or no grids)."""
    if len(grids) == 0:
        return None
    if footprint is not None:
        return place_footprint(footprint, grids)
    if lon is not None and lat is not None:
        return Placement(grids.locate_one(lon, lat), PlacedBy.POINT)
    return None


def place(camera: CameraPlace, grids: GridIndex) -> Placement | None:
    return place_camera(grids, footprint=camera.footprint, lon=camera.lon, lat=camera.lat)


def place_zone(zone: ZonePlace, grids: GridIndex) -> Placement | None:
    """The grid of a zone's cases by its footprint; None without imported grids (a zone's
    own ``grid_code`` overrides this, as its cases' intake does)."""
    if len(grids) == 0:
        return None
    return place_footprint(zone.footprint, grids, PlacedBy.ZONE_FOOTPRINT)
