"""The codes of the grid method: unit grid codes and component ids.

- A unit grid code (单元网格代码) is 14 digits: county 6 + street 3 + community 3 + grid 2.
  A street (街道) is named by the first 9 digits, a community (社区) by the first 12.
- A component id (部件标识码) is 16 digits: county 6 + class 2 + subclass 2 + serial 6.
  Its digits 7-10 are the CJ/T 214 component type (大类 + 小类, e.g. ``0101`` 上水井盖),
  which must be a row of ``config/core/cjt214-components.csv``. The 10 digits before the
  serial (county + type) are what issue 17 calls the "10-digit component code".
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_COMPONENT_TABLE = (
    Path(__file__).resolve().parents[2] / "config" / "core" / "cjt214-components.csv"
)
#: which component types an event code is about (部件问题: the case's nearest components)
DEFAULT_EVENT_COMPONENT_TABLE = DEFAULT_COMPONENT_TABLE.with_name("cjt214-event-components.csv")

GRID_CODE_DIGITS = 14
STREET_CODE_DIGITS = 9
COMMUNITY_CODE_DIGITS = 12
COMPONENT_ID_DIGITS = 16

_GRID = re.compile(r"^\d{14}$")
_COMPONENT = re.compile(r"^\d{16}$")
_TYPE = re.compile(r"^\d{4}$")


@dataclass(frozen=True)
class GridCode:
    county: str
    street: str
    community: str
    grid: str

    @property
    def code(self) -> str:
        return self.county + self.street + self.community + self.grid

    @property
    def street_code(self) -> str:
        """The 9 digits naming the street (county + street)."""
        return self.county + self.street

    @property
    def community_code(self) -> str:
        """The 12 digits naming the community (county + street + community)."""
        return self.county + self.street + self.community


def parse_grid_code(code: str) -> GridCode:
    """Split a 14-digit unit grid code; raise ValueError with the reason otherwise."""
    if not isinstance(code, str) or not _GRID.fullmatch(code):
        raise ValueError(
            f"a unit grid code is 14 digits (county 6 + street 3 + community 3 + grid 2), got {code!r}"
        )
    return GridCode(code[:6], code[6:9], code[9:12], code[12:])


def is_grid_code(code: object) -> bool:
    return isinstance(code, str) and _GRID.fullmatch(code) is not None


@dataclass(frozen=True)
class ComponentId:
    county: str
    class_code: str
    subclass_code: str
    serial: str

    @property
    def id(self) -> str:
        return self.county + self.class_code + self.subclass_code + self.serial

    @property
    def type_code(self) -> str:
        """The CJ/T 214 component type: class 2 + subclass 2 (e.g. ``0101``)."""
        return self.class_code + self.subclass_code


def parse_component_id(value: str) -> ComponentId:
    """Split a 16-digit component id; raise ValueError with the reason otherwise."""
    if not isinstance(value, str) or not _COMPONENT.fullmatch(value):
        raise ValueError(
            "a component id is 16 digits (county 6 + class 2 + subclass 2 + serial 6), "
            f"got {value!r}"
        )
    return ComponentId(value[:6], value[6:8], value[8:10], value[10:])


@dataclass(frozen=True)
class ComponentType:
    code: str  # class 2 + subclass 2
    class_name: str
    name: str


def load_component_types(path: Path | None = None) -> dict[str, ComponentType]:
    """``{type code: ComponentType}`` from the CJ/T 214 components table; raises
    ValueError naming the bad line."""
    path = path or DEFAULT_COMPONENT_TABLE
    types: dict[str, ComponentType] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            code = (row.get("code") or "").strip()
            name = (row.get("name") or "").strip()
            if not _TYPE.fullmatch(code) or not name:
                raise ValueError(f"{path}:{line}: a component row needs a 4-digit code and a name")
            types[code] = ComponentType(code, (row.get("class_name") or "").strip(), name)
    if not types:
        raise ValueError(f"{path}: no component types")
    return types


def load_event_component_types(
    types: Mapping[str, ComponentType], path: Path | None = None
) -> dict[str, tuple[str, ...]]:
    """``{event code: component types}``: the CJ/T 214 component types (4 digits) an
    event is about (0404 下水道堵塞或破损: 0102 污水井盖, 0103 雨水井盖, 0104 雨水箅子),
    from ``cjt214-event-components.csv``; an event not listed is about no component class.
    Event and component codes share the 4-digit shape, not the meaning: the table names
    component types only. Raises ValueError naming the bad line (a type not in ``types``)."""
    path = path or DEFAULT_EVENT_COMPONENT_TABLE
    table: dict[str, tuple[str, ...]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            event = (row.get("event_code") or "").strip()
            wanted = tuple((row.get("component_types") or "").split())
            if not _TYPE.fullmatch(event) or not wanted:
                raise ValueError(
                    f"{path}:{line}: a row needs a 4-digit event code and component types"
                )
            unknown = [t for t in wanted if t not in types]
            if unknown:
                raise ValueError(
                    f"{path}:{line}: component type(s) {', '.join(unknown)} "
                    "not in the CJ/T 214 components table"
                )
            table[event] = wanted
    return table
