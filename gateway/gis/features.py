"""The base data's records: unit grids, management areas, components, as stored.

Geometries are shapely objects in stored lon/lat (CGCS2000). A feature read from a
file, before it is checked, is a `RawFeature` (its properties and its GeoJSON-shaped
geometry, whatever the format was).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shapely.geometry.base import BaseGeometry

#: the area the grid method intends for one unit grid (万米单元网格)
NOMINAL_GRID_AREA_M2 = 10_000.0


class FeatureKind(enum.StrEnum):
    """What ``citygw gis import KIND`` reads."""

    GRIDS = "grids"
    AREAS = "areas"
    COMPONENTS = "components"
    ADDRESSES = "addresses"


@dataclass(frozen=True, slots=True)
class RawFeature:
    """One feature as a file gave it: ``number`` is its 1-based place in the file."""

    number: int
    properties: Mapping[str, Any]
    geometry: Mapping[str, Any] | None  # GeoJSON geometry object (type, coordinates)


@dataclass(frozen=True, slots=True)
class GridFeature:
    """A unit grid (单元网格): 14-digit code, the names of its place, its polygon."""

    code: str
    district: str
    street: str
    community: str
    geometry: BaseGeometry
    name: str = ""
    area_m2: float = 0.0

    @property
    def street_code(self) -> str:
        return self.code[:9]

    @property
    def community_code(self) -> str:
        return self.code[:12]


class AreaLevel(enum.StrEnum):
    STREET = "street"  # 街道: 9-digit code
    COMMUNITY = "community"  # 社区: 12-digit code

    @classmethod
    def of_code(cls, code: str) -> AreaLevel | None:
        return {9: cls.STREET, 12: cls.COMMUNITY}.get(len(code))


@dataclass(frozen=True, slots=True)
class AreaFeature:
    """A management area: a street or a community, given or dissolved from its grids."""

    code: str
    level: AreaLevel
    name: str
    district: str
    geometry: BaseGeometry
    derived: bool = False


class ComponentState(enum.StrEnum):
    """部件状态 as the census records it."""

    INTACT = "完好"
    DAMAGED = "破损"
    LOST = "丢失"
    OCCUPIED = "占用"
    ABANDONED = "废弃"


@dataclass(frozen=True, slots=True)
class ComponentFeature:
    """A census component (部件): a manhole cover, a lamp post, ... at one point."""

    id: str  # 16 digits: county 6 + class 2 + subclass 2 + serial 6
    type_code: str  # class 2 + subclass 2
    name: str
    owner: str  # the department responsible (主管部门)
    state: ComponentState
    lon: float
    lat: float
    grid_code: str | None  # the unit grid it lies in (None: outside since a grid change)
