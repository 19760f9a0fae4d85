"""Components near a point: the census components (部件) a case may be about.

For a case at a point, the operator is offered the components of the event's class
within R metres, nearest first, to link the case to one with a click (部件问题).
`ComponentsNear` holds the components' points in the data's projected CRS (CGCS2000
Gauss-Krüger, metres) in a shapely STRtree; a query is one ``dwithin`` tree query and a
few numpy operations, whatever the number of components.

Any record with ``id`` (16 digits: county 6 + class 2 + subclass 2 + serial 6),
``type_code`` (class 2 + subclass 2) and stored ``lon``/``lat`` will do
(`gateway.gis.features.ComponentFeature` is one).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import numpy as np
import shapely
from numpy.typing import NDArray

from gateway.gis.crs import projected_epsg, to_metres

_CLASS_FILTER = re.compile(r"^\d{2}(?:\d{2})?$")


class ComponentPoint(Protocol):
    """What `ComponentsNear` reads of a component."""

    @property
    def id(self) -> str: ...
    @property
    def type_code(self) -> str: ...
    @property
    def lon(self) -> float: ...
    @property
    def lat(self) -> float: ...


C = TypeVar("C", bound=ComponentPoint)


@dataclass(frozen=True, slots=True)
class NearComponent(Generic[C]):
    """A component within the radius, and its distance in metres."""

    component: C
    distance_m: float


class ComponentsNear(Generic[C]):
    """The components of the managed area, indexed for "within R metres" queries."""

    def __init__(self, components: Iterable[C], *, epsg: int | None = None) -> None:
        self._components: tuple[C, ...] = tuple(components)
        n = len(self._components)
        lons = np.array([c.lon for c in self._components], dtype=np.float64)
        lats = np.array([c.lat for c in self._components], dtype=np.float64)
        self._epsg = epsg or projected_epsg(float(np.median(lons)) if n else 120.0)
        points = to_metres(shapely.points(lons, lats), self._epsg)
        self._xy: NDArray[np.float64] = shapely.get_coordinates(points).reshape(n, 2)
        self._type = np.array([c.type_code for c in self._components], dtype="<U4")
        self._class = np.array([c.type_code[:2] for c in self._components], dtype="<U2")
        self._id = np.array([c.id for c in self._components], dtype=str)
        self._tree = shapely.STRtree(points)

    def __len__(self) -> int:
        return len(self._components)

    @property
    def components(self) -> Sequence[C]:
        return self._components

    @property
    def epsg(self) -> int:
        """The projected CRS distances are measured in."""
        return self._epsg

    def get(self, component_id: str) -> C | None:
        """The component of that 16-digit id, or None (a scan of the ids: a click's
        lookup, no second index kept beside the tree)."""
        found = np.flatnonzero(self._id == component_id)
        return self._components[int(found[0])] if found.size else None

    def distance_m(self, component: C, lon: float, lat: float) -> float:
        """Metres from the component to a point (stored lon/lat), as `near` measures."""
        ends = to_metres(shapely.points([component.lon, lon], [component.lat, lat]), self._epsg)
        (ax, ay), (bx, by) = shapely.get_coordinates(ends).tolist()
        return float(np.hypot(ax - bx, ay - by))

    def near(
        self,
        lon: float,
        lat: float,
        radius_m: float,
        classes: Iterable[str] | None = None,
        limit: int | None = None,
    ) -> list[NearComponent[C]]:
        """The components within ``radius_m`` metres of a point (stored lon/lat), nearest
        first (equal distances by id). ``classes`` keeps only those types: 2-digit class
        codes (``01`` 公共设施) or 4-digit type codes (``0101`` 上水井盖); None keeps all."""
        if not (np.isfinite(radius_m) and radius_m >= 0):
            raise ValueError(f"radius_m must be a finite distance >= 0, got {radius_m}")
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        wanted = _class_filter(classes)
        if not self._components or (wanted is not None and not wanted):
            return []
        centre = to_metres(shapely.points(lon, lat), self._epsg)
        found = self._tree.query(centre, predicate="dwithin", distance=radius_m)
        if wanted is not None and found.size:
            keep = np.isin(self._class[found], wanted) | np.isin(self._type[found], wanted)
            found = found[keep]
        if found.size == 0:
            return []
        cx, cy = shapely.get_coordinates(centre)[0]
        distance = np.hypot(self._xy[found, 0] - cx, self._xy[found, 1] - cy)
        order = np.lexsort((self._id[found], distance))
        if limit is not None:
            order = order[:limit]
        return [
            NearComponent(self._components[int(found[k])], float(distance[k]))
            for k in order.tolist()
        ]


def _class_filter(classes: Iterable[str] | None) -> list[str] | None:
    if classes is None:
        return None
    codes = list(classes)
    for code in codes:
        if not isinstance(code, str) or not _CLASS_FILTER.match(code):
            raise ValueError(
                f"a component class is 2 digits (class) or 4 (class + subclass), got {code!r}"
            )
    return codes
