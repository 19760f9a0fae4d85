"""Door-plate addresses (门牌地址): the gazetteer's one record, and building it from a row.

An `Address` is a point with the parts a caller says: district, road, door number
(门牌号, e.g. ``12号``), optionally building (栋/幢/座) and unit (单元). Coordinates are
CGCS2000 lon/lat (EPSG:4490, equal to WGS84 at the metre level); converting GCJ-02
input is the importer's job, before a row reaches `address_from_row`.

`address_from_row` reads a CSV row (``lon``/``lat`` columns) or a GeoJSON Point feature
(``geometry.coordinates`` plus ``properties``) and raises `AddressRowError`, which names
the row and the field, on anything missing or malformed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

GRID_CODE_RE = re.compile(r"^\d{14}$")
_DIGITS_ONLY = re.compile(r"^\d+$")

#: the text fields a row may carry; ``district``, ``road`` and ``number`` are required
TEXT_FIELDS = ("district", "road", "number", "building", "unit", "grid_code", "text")


@dataclass(frozen=True, slots=True)
class Address:
    """One door-plate address and its point."""

    district: str  # 区/县, e.g. 海州区
    road: str  # 路/街/巷 name, e.g. 朝阳中路
    number: str  # 门牌号 with its suffix, e.g. 12号 or 3弄
    lon: float  # CGCS2000 / WGS84 degrees
    lat: float
    building: str = ""  # e.g. 3栋
    unit: str = ""  # e.g. 2单元
    grid_code: str | None = None  # 14-digit unit grid code when known
    text: str = ""  # full display text; composed from the parts when empty

    def __post_init__(self) -> None:
        if not self.text:
            object.__setattr__(self, "text", compose_text(self))

    @property
    def road_number(self) -> str:
        """Road and door number, the part of an address that locates it (朝阳中路12号)."""
        return self.road + self.number


def compose_text(address: Address) -> str:
    """The display text built from the parts: 海州区朝阳中路12号3栋2单元."""
    return "".join((address.district, address.road, address.number, address.building, address.unit))


class AddressRowError(ValueError):
    """A gazetteer row that cannot become an `Address`.

    ``row`` is the caller's reference (line number, feature index or id), ``field`` the
    field at fault, ``reason`` a short identifier (``missing``, ``not_a_number``,
    ``out_of_range``, ``malformed``) and ``value`` what was found.
    """

    def __init__(self, row: str | int, field: str, reason: str, value: object = None) -> None:
        self.row = row
        self.field = field
        self.reason = reason
        self.value = value
        super().__init__(f"address row {row}: field {field!r} {reason} (got {value!r})")


def address_from_row(row: Mapping[str, object], row_ref: str | int) -> Address:
    """Build an `Address` from a CSV row dict or a GeoJSON Point feature.

    Text values are stripped; a door number of digits alone gets ``号`` (``12`` → ``12号``);
    empty optional fields become ``""`` (``grid_code``: None).
    """
    props: Mapping[str, object]
    if "geometry" in row or "properties" in row:
        props, lon_raw, lat_raw = _from_feature(row, row_ref)
    else:
        props = row
        lon_raw = _required(row, "lon", row_ref)
        lat_raw = _required(row, "lat", row_ref)
    lon = _coordinate(lon_raw, "lon", 180.0, row_ref)
    lat = _coordinate(lat_raw, "lat", 90.0, row_ref)

    texts = {name: _text(props.get(name)) for name in TEXT_FIELDS}
    for name in ("district", "road", "number"):
        if not texts[name]:
            raise AddressRowError(row_ref, name, "missing", props.get(name))
    number = texts["number"]
    if _DIGITS_ONLY.match(number):
        number += "号"
    grid_code = texts["grid_code"] or None
    if grid_code is not None and not GRID_CODE_RE.match(grid_code):
        raise AddressRowError(row_ref, "grid_code", "malformed", grid_code)
    return Address(
        district=texts["district"],
        road=texts["road"],
        number=number,
        lon=lon,
        lat=lat,
        building=texts["building"],
        unit=texts["unit"],
        grid_code=grid_code,
        text=texts["text"],
    )


def _from_feature(
    row: Mapping[str, object], row_ref: str | int
) -> tuple[Mapping[str, object], object, object]:
    geometry = row.get("geometry")
    if not isinstance(geometry, Mapping):
        raise AddressRowError(row_ref, "geometry", "missing", geometry)
    if geometry.get("type") != "Point":
        raise AddressRowError(row_ref, "geometry.type", "malformed", geometry.get("type"))
    coords = geometry.get("coordinates")
    if not isinstance(coords, list | tuple) or len(coords) < 2:
        raise AddressRowError(row_ref, "geometry.coordinates", "malformed", coords)
    props = row.get("properties")
    if props is None:
        props = {}
    if not isinstance(props, Mapping):
        raise AddressRowError(row_ref, "properties", "malformed", props)
    return props, coords[0], coords[1]


def _required(row: Mapping[str, object], name: str, row_ref: str | int) -> object:
    value = row.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise AddressRowError(row_ref, name, "missing", value)
    return value


def _coordinate(raw: object, name: str, bound: float, row_ref: str | int) -> float:
    if isinstance(raw, bool) or raw is None:
        raise AddressRowError(row_ref, name, "not_a_number", raw)
    try:
        value = float(raw.strip() if isinstance(raw, str) else raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise AddressRowError(row_ref, name, "not_a_number", raw) from None
    if not math.isfinite(value) or not -bound <= value <= bound:
        raise AddressRowError(row_ref, name, "out_of_range", raw)
    return value


def _text(value: object) -> str:
    if value is None:
        return ""
    return str(value).strip()
