"""Checking base data before it is stored: every problem names the feature and the field.

`build_grids`, `build_areas` and `build_components` turn the raw features of one file
into records and a list of `Problem`s. An error refuses the whole import (the caller
stores nothing); a warning is reported and the feature is kept. Checks:

- codes: malformed (not 14 / 9 or 12 / 16 digits), duplicated in the file, a component
  type (class + subclass) missing from the CJ/T 214 components table;
- geometry: missing, of the wrong type, invalid (shapely's `explain_validity`, e.g. a
  self-intersection); coordinates outside lon/lat ranges;
- grids together, in metres (CGCS2000 Gauss-Krüger): overlaps and gaps between grids
  wider than ``tolerance_m``; an area far from the nominal 10 000 m² (warning);
- points (components) outside every unit grid.
"""

from __future__ import annotations

import dataclasses
import enum
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from gateway.gis.codes import ComponentType, is_grid_code, parse_component_id
from gateway.gis.crs import InputCrs, from_input, gcj02_to_wgs84, projected_epsg, to_metres
from gateway.gis.features import (
    NOMINAL_GRID_AREA_M2,
    AreaFeature,
    AreaLevel,
    ComponentFeature,
    ComponentState,
    GridFeature,
    RawFeature,
)
from gateway.gis.index import GridIndex

#: overlaps and gaps narrower than this (metres) are drawing noise, not errors
DEFAULT_TOLERANCE_M = 0.5
#: a grid outside [nominal / factor, nominal * factor] m² gets a warning
AREA_WARNING_FACTOR = 5.0

GRID_FIELDS: Mapping[str, tuple[str, ...]] = {
    "code": ("code", "grid_code", "BGID", "CODE", "网格代码"),
    "district": ("district", "DISTRICT", "区县"),
    "street": ("street", "STREET", "街道"),
    "community": ("community", "COMMUNITY", "社区"),
    "name": ("name", "NAME", "名称"),
}
AREA_FIELDS: Mapping[str, tuple[str, ...]] = {
    "code": ("code", "CODE", "代码"),
    "name": ("name", "NAME", "名称"),
    "district": ("district", "DISTRICT", "区县"),
}
COMPONENT_FIELDS: Mapping[str, tuple[str, ...]] = {
    "id": ("id", "OBJID", "objid", "code", "标识码"),
    "name": ("name", "NAME", "名称"),
    "owner": ("owner", "dept", "DEPTNAME1", "主管部门"),
    "state": ("state", "OBJSTATE", "状态"),
}


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


class ProblemKind(enum.StrEnum):
    MISSING_FIELD = "missing_field"
    MALFORMED_CODE = "malformed_code"
    DUPLICATE_CODE = "duplicate_code"
    UNKNOWN_TYPE = "unknown_type"
    BAD_VALUE = "bad_value"
    MISSING_GEOMETRY = "missing_geometry"
    WRONG_GEOMETRY_TYPE = "wrong_geometry_type"
    INVALID_GEOMETRY = "invalid_geometry"
    SELF_INTERSECTION = "self_intersection"
    OUT_OF_RANGE = "out_of_range"
    OVERLAP = "overlap"
    GAP = "gap"
    AREA_UNUSUAL = "area_unusual"
    OUTSIDE_GRIDS = "outside_grids"
    NO_GRIDS = "no_grids"
    EMPTY_FILE = "empty_file"
    SUSPECTED_GCJ02 = "suspected_gcj02"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one feature (``feature`` is its 1-based place in the file,
    0 for the file as a whole) and one field of it."""

    kind: ProblemKind
    feature: int
    code: str  # the feature's code as given ("" when it has none)
    field: str
    detail: str  # English, for logs; texts.py words it for operators
    severity: Severity = Severity.ERROR
    values: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        name = f"feature {self.feature}" + (f" ({self.code})" if self.code else "")
        return f"{self.severity}: {name}, field {self.field}: {self.kind}: {self.detail}"


T = TypeVar("T")


@dataclass
class Built(Generic[T]):
    """What a file gave: the records that passed, and every problem found."""

    records: list[T]
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.WARNING]


#: the longest name, district, street, community or owner the tables hold
MAX_TEXT = 100


def _texts(properties: Mapping[str, Any], fields: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """Each field's text (under the first of its names that has one), stripped; "" if none."""
    return {name: _text(properties, aliases) for name, aliases in fields.items()}


def _long_texts(
    raw: RawFeature, code: str, texts: Mapping[str, str], problems: list[Problem]
) -> bool:
    """Record a problem for each text field longer than the tables hold; True if none."""
    ok = True
    for name, value in texts.items():
        if len(value) > MAX_TEXT:
            problems.append(
                Problem(
                    ProblemKind.BAD_VALUE,
                    raw.number,
                    code,
                    name,
                    f"longer than {MAX_TEXT} characters",
                    values={"value": value[:20] + "…"},
                )
            )
            ok = False
    return ok


def _text(properties: Mapping[str, Any], names: Iterable[str]) -> str:
    for name in names:
        value = properties.get(name)
        if value is not None:
            text = value.strip() if isinstance(value, str) else str(value).strip()
            if text:
                return text
    return ""


def _polygon(
    raw: RawFeature, code: str, problems: list[Problem], crs: InputCrs
) -> BaseGeometry | None:
    """The feature's polygon in stored lon/lat, or None with the problem recorded."""
    geometry = raw.geometry
    if not geometry or not geometry.get("coordinates"):
        problems.append(
            Problem(ProblemKind.MISSING_GEOMETRY, raw.number, code, "geometry", "no geometry")
        )
        return None
    kind = geometry.get("type")
    if kind not in ("Polygon", "MultiPolygon"):
        problems.append(
            Problem(
                ProblemKind.WRONG_GEOMETRY_TYPE,
                raw.number,
                code,
                "geometry",
                f"a {kind}, not a Polygon or MultiPolygon",
                values={"type": str(kind), "expected": "Polygon"},
            )
        )
        return None
    try:
        polygon = shape(geometry)
    except (ValueError, TypeError, AttributeError, IndexError) as exc:
        problems.append(
            Problem(
                ProblemKind.INVALID_GEOMETRY,
                raw.number,
                code,
                "geometry",
                str(exc),
                values={"reason": str(exc)},
            )
        )
        return None
    minx, miny, maxx, maxy = polygon.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        problems.append(
            Problem(
                ProblemKind.OUT_OF_RANGE,
                raw.number,
                code,
                "geometry",
                "coordinates are not lon/lat degrees",
            )
        )
        return None
    if not polygon.is_valid:
        reason = shapely.is_valid_reason(polygon)
        kind_ = (
            ProblemKind.SELF_INTERSECTION
            if "Self-intersection" in reason
            else ProblemKind.INVALID_GEOMETRY
        )
        problems.append(
            Problem(kind_, raw.number, code, "geometry", reason, values={"reason": reason})
        )
        return None
    return from_input(polygon, crs)


def _codes_seen(
    code: str, raw: RawFeature, seen: dict[str, int], problems: list[Problem], name: str
) -> bool:
    first = seen.setdefault(code, raw.number)
    if first != raw.number:
        problems.append(
            Problem(
                ProblemKind.DUPLICATE_CODE,
                raw.number,
                code,
                name,
                f"{code} is also feature {first}",
                values={"first": first},
            )
        )
        return False
    return True


def build_grids(
    raws: Iterable[RawFeature],
    crs: InputCrs = InputCrs.WGS84,
    *,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
) -> Built[GridFeature]:
    """Unit grids from raw features, checked one by one and then together."""
    problems: list[Problem] = []
    grids: list[GridFeature] = []
    numbers: list[int] = []
    seen: dict[str, int] = {}
    for raw in raws:
        props = raw.properties
        texts = _texts(props, GRID_FIELDS)
        code = texts["code"]
        ok = True
        if not code:
            problems.append(Problem(ProblemKind.MISSING_FIELD, raw.number, "", "code", "no code"))
            ok = False
        elif not is_grid_code(code):
            problems.append(
                Problem(
                    ProblemKind.MALFORMED_CODE,
                    raw.number,
                    code,
                    "code",
                    "a unit grid code is 14 digits (county 6 + street 3 + community 3 + grid 2)",
                )
            )
            ok = False
        elif not _codes_seen(code, raw, seen, problems, "code"):
            ok = False
        district = texts["district"]
        if not district:
            problems.append(
                Problem(ProblemKind.MISSING_FIELD, raw.number, code, "district", "no district")
            )
            ok = False
        ok = _long_texts(raw, code, texts, problems) and ok
        polygon = _polygon(raw, code, problems, crs)
        if not ok or polygon is None:
            continue
        grids.append(
            GridFeature(
                code=code,
                district=district,
                street=texts["street"],
                community=texts["community"],
                geometry=polygon,
                name=texts["name"],
            )
        )
        numbers.append(raw.number)
    if not grids and not problems:
        problems.append(Problem(ProblemKind.EMPTY_FILE, 0, "", "features", "no features"))
    if grids:  # a rejected grid leaves a hole: look for gaps only when none was rejected
        rejected = any(p.severity is Severity.ERROR for p in problems)
        grids = _check_together(grids, numbers, problems, tolerance_m, gaps=not rejected)
    problems.sort(key=lambda p: (p.feature, p.field))
    return Built(grids, problems)


def _check_together(
    grids: list[GridFeature],
    numbers: list[int],
    problems: list[Problem],
    tolerance_m: float,
    *,
    gaps: bool,
) -> list[GridFeature]:
    """Areas (m²), overlaps and gaps, measured in the zone of the data."""
    geometries = np.array([g.geometry for g in grids], dtype=object)
    bounds = shapely.bounds(geometries)
    centre_lon = (float(bounds[:, 0].min()) + float(bounds[:, 2].max())) / 2
    metres = to_metres(geometries, projected_epsg(centre_lon))
    areas = shapely.area(metres)
    low, high = (
        NOMINAL_GRID_AREA_M2 / AREA_WARNING_FACTOR,
        NOMINAL_GRID_AREA_M2 * AREA_WARNING_FACTOR,
    )
    for i in np.flatnonzero((areas < low) | (areas > high)):
        problems.append(
            Problem(
                ProblemKind.AREA_UNUSUAL,
                numbers[i],
                grids[i].code,
                "geometry",
                f"area {areas[i]:.0f} m², far from the nominal {NOMINAL_GRID_AREA_M2:.0f} m²",
                Severity.WARNING,
                {"area_m2": round(float(areas[i]))},
            )
        )
    tree = shapely.STRtree(metres)
    left, right = tree.query(metres, predicate="intersects")
    pairs = left < right
    left, right = left[pairs], right[pairs]
    overlapping = 0
    if left.size:
        interiors = shapely.relate_pattern(metres[left], metres[right], "T********")
        left, right = left[interiors], right[interiors]
        shared = shapely.intersection(metres[left], metres[right])
        wide = ~shapely.is_empty(shapely.buffer(shared, -tolerance_m))
        for a, b, piece in zip(left[wide], right[wide], shared[wide], strict=True):
            overlapping += 1
            problems.append(
                Problem(
                    ProblemKind.OVERLAP,
                    numbers[b],
                    grids[b].code,
                    "geometry",
                    f"overlaps grid {grids[a].code} (feature {numbers[a]}) by {piece.area:.1f} m²",
                    values={"other": grids[a].code, "area_m2": round(piece.area, 1)},
                )
            )
    if gaps and not overlapping:
        _check_gaps(grids, numbers, metres, tree, problems, tolerance_m)
    return [
        GridFeature(g.code, g.district, g.street, g.community, g.geometry, g.name, float(a))
        for g, a in zip(grids, areas, strict=True)
    ]


def _check_gaps(
    grids: Sequence[GridFeature],
    numbers: Sequence[int],
    metres: Any,
    tree: shapely.STRtree,
    problems: list[Problem],
    tolerance_m: float,
) -> None:
    """Holes in the union of the grids wider than the tolerance: land no grid covers."""
    union = shapely.coverage_union_all(metres)
    holes = [
        shapely.Polygon(ring)
        for part in shapely.get_parts(union)
        for ring in getattr(part, "interiors", ())
    ]
    for hole in holes:
        if shapely.buffer(hole, -tolerance_m).is_empty:
            continue
        around = sorted(grids[i].code for i in tree.query(hole, predicate="intersects"))
        first = min((i for i in tree.query(hole, predicate="intersects")), default=0)
        problems.append(
            Problem(
                ProblemKind.GAP,
                numbers[first] if around else 0,
                around[0] if around else "",
                "geometry",
                f"a gap of {hole.area:.1f} m² no grid covers, between {', '.join(around[:6])}",
                values={"area_m2": round(hole.area, 1), "grids": ", ".join(around[:6])},
            )
        )


def derive_areas(grids: Iterable[GridFeature]) -> list[AreaFeature]:
    """Streets and communities as the union of their grids (for data without them)."""
    groups: dict[tuple[AreaLevel, str], list[GridFeature]] = defaultdict(list)
    for grid in grids:
        groups[(AreaLevel.STREET, grid.street_code)].append(grid)
        groups[(AreaLevel.COMMUNITY, grid.community_code)].append(grid)
    areas = []
    for (level, code), members in sorted(groups.items()):
        first = members[0]
        name = first.street if level is AreaLevel.STREET else first.community
        geometry = shapely.coverage_union_all([g.geometry for g in members])
        areas.append(AreaFeature(code, level, name, first.district, geometry, derived=True))
    return areas


def build_areas(raws: Iterable[RawFeature], crs: InputCrs = InputCrs.WGS84) -> Built[AreaFeature]:
    """Streets (9-digit code) and communities (12 digits) given as polygons."""
    problems: list[Problem] = []
    areas: list[AreaFeature] = []
    seen: dict[str, int] = {}
    for raw in raws:
        props = raw.properties
        texts = _texts(props, AREA_FIELDS)
        code = texts["code"]
        level = AreaLevel.of_code(code) if code.isdigit() else None
        ok = True
        if level is None:
            problems.append(
                Problem(
                    ProblemKind.MALFORMED_CODE,
                    raw.number,
                    code,
                    "code",
                    "an area code is 9 digits (street) or 12 (community)",
                )
            )
            ok = False
        elif not _codes_seen(code, raw, seen, problems, "code"):
            ok = False
        name = texts["name"]
        if not name:
            problems.append(Problem(ProblemKind.MISSING_FIELD, raw.number, code, "name", "no name"))
            ok = False
        ok = _long_texts(raw, code, texts, problems) and ok
        polygon = _polygon(raw, code, problems, crs)
        if ok and polygon is not None and level is not None:
            district = texts["district"]
            areas.append(AreaFeature(code, level, name, district, polygon))
    if not areas and not problems:
        problems.append(Problem(ProblemKind.EMPTY_FILE, 0, "", "features", "no features"))
    return Built(areas, problems)


def _point(raw: RawFeature, code: str, problems: list[Problem]) -> tuple[float, float] | None:
    geometry = raw.geometry
    if not geometry or geometry.get("coordinates") is None:
        problems.append(
            Problem(ProblemKind.MISSING_GEOMETRY, raw.number, code, "geometry", "no point")
        )
        return None
    if geometry.get("type") != "Point":
        kind = str(geometry.get("type"))
        problems.append(
            Problem(
                ProblemKind.WRONG_GEOMETRY_TYPE,
                raw.number,
                code,
                "geometry",
                f"a {kind}, not a Point",
                values={"type": kind, "expected": "Point"},
            )
        )
        return None
    try:
        lon, lat = (float(v) for v in list(geometry["coordinates"])[:2])
    except (TypeError, ValueError):
        lon = lat = float("nan")
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        problems.append(
            Problem(
                ProblemKind.OUT_OF_RANGE,
                raw.number,
                code,
                "geometry",
                "coordinates are not lon/lat degrees",
            )
        )
        return None
    return lon, lat


def build_components(
    raws: Iterable[RawFeature],
    types: Mapping[str, ComponentType],
    grids: GridIndex | None,
    crs: InputCrs = InputCrs.WGS84,
) -> Built[ComponentFeature]:
    """Census components (points), each checked and placed in its unit grid."""
    problems: list[Problem] = []
    rows: list[tuple[int, str, str, str, str, ComponentState]] = []
    lons: list[float] = []
    lats: list[float] = []
    seen: dict[str, int] = {}
    states = {s.value: s for s in ComponentState} | {s.name.lower(): s for s in ComponentState}
    for raw in raws:
        props = raw.properties
        texts = _texts(props, COMPONENT_FIELDS)
        ident = texts["id"]
        ok = True
        type_code = ""
        try:
            type_code = parse_component_id(ident).type_code
        except ValueError as exc:
            problems.append(Problem(ProblemKind.MALFORMED_CODE, raw.number, ident, "id", str(exc)))
            ok = False
        if ok and type_code not in types:
            problems.append(
                Problem(
                    ProblemKind.UNKNOWN_TYPE,
                    raw.number,
                    ident,
                    "id",
                    f"component type {type_code} (class {type_code[:2]}, subclass "
                    f"{type_code[2:]}) is not in the CJ/T 214 components table",
                    values={"type": type_code},
                )
            )
            ok = False
        if ok and not _codes_seen(ident, raw, seen, problems, "id"):
            ok = False
        state_text = texts["state"] or ComponentState.INTACT.value
        state = states.get(state_text)
        if state is None:
            problems.append(
                Problem(
                    ProblemKind.BAD_VALUE,
                    raw.number,
                    ident,
                    "state",
                    f"unknown state {state_text!r}",
                    values={"value": state_text},
                )
            )
            ok = False
        ok = _long_texts(raw, ident, texts, problems) and ok
        point = _point(raw, ident, problems)
        if not ok or point is None or state is None:
            continue
        name = texts["name"] or types[type_code].name
        rows.append((raw.number, ident, type_code, name, texts["owner"], state))
        lons.append(point[0])
        lats.append(point[1])
    x, y = np.asarray(lons, dtype=np.float64), np.asarray(lats, dtype=np.float64)
    if crs is InputCrs.GCJ02:
        x, y = gcj02_to_wgs84(x, y)
    components: list[ComponentFeature] = []
    if rows and (grids is None or len(grids) == 0):
        problems.append(
            Problem(ProblemKind.NO_GRIDS, 0, "", "geometry", "no unit grids to place components in")
        )
    elif rows:
        assert grids is not None
        codes = grids.locate(x, y)
        for (number, ident, type_code, name, owner, state), lon, lat, grid in zip(
            rows, x.tolist(), y.tolist(), codes.tolist(), strict=True
        ):
            if grid is None:
                problems.append(
                    Problem(
                        ProblemKind.OUTSIDE_GRIDS,
                        number,
                        ident,
                        "geometry",
                        f"({lon:.6f}, {lat:.6f}) is outside every unit grid",
                        values={"lon": round(lon, 6), "lat": round(lat, 6)},
                    )
                )
                continue
            components.append(
                ComponentFeature(ident, type_code, name, owner, state, lon, lat, grid)
            )
    if not rows and not problems:
        problems.append(Problem(ProblemKind.EMPTY_FILE, 0, "", "features", "no features"))
    problems.sort(key=lambda p: (p.feature, p.field))
    return Built(components, problems)
