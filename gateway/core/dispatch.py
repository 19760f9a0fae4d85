"""Where a case belongs: grid codes, the city's unit grids, camera → grid, and the
responsibility table.

A unit grid code is 14 digits: county 6 + street 3 + community 3 + grid 2. The grid table
(``config/core/unit-grids.csv``, or ``core.grid_table``) lists the grids that exist, with
the names of their district, street and community; the grids of ``core.camera_grids``
exist too. The responsibility table maps (event code prefix, grid prefix) to a department;
the most specific row wins (longest grid prefix, then longest event prefix).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from gateway.core.settings import CameraGrid, CoreConfig, DispatchRule
from gateway.gis.codes import GridCode, is_grid_code, parse_grid_code
from gateway.gis.features import GridFeature

__all__ = ["GridCode", "ResponsibilityTable", "UnitGrid", "known_grids", "parse_grid_code"]

DEFAULT_GRID_TABLE = Path(__file__).resolve().parents[2] / "config" / "core" / "unit-grids.csv"


@dataclass(frozen=True)
class UnitGrid:
    """One unit grid of the city and the names people know its place by."""

    code: str
    district: str
    street: str = ""
    community: str = ""


def load_grid_table(path: Path | None = None) -> dict[str, UnitGrid]:
    """``{code: UnitGrid}`` from a CSV with code,district,street,community; raises
    ValueError naming the bad line."""
    path = path or DEFAULT_GRID_TABLE
    grids: dict[str, UnitGrid] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            code, district = (row.get("code") or "").strip(), (row.get("district") or "").strip()
            if not is_grid_code(code) or not district:
                raise ValueError(f"{path}:{line}: a grid row needs a 14-digit code and a district")
            street = (row.get("street") or "").strip()
            grids[code] = UnitGrid(code, district, street, (row.get("community") or "").strip())
    return grids


def known_grids(config: CoreConfig, imported: Iterable[GridFeature] = ()) -> dict[str, UnitGrid]:
    """The grid table of the configuration, the imported unit grids (``citygw gis import
    grids``; their names win), plus the grids cameras are mapped to."""
    grids = load_grid_table(config.grid_table)
    for grid in imported:
        grids[grid.code] = UnitGrid(grid.code, grid.district, grid.street, grid.community)
    for mapped in config.camera_grids:
        grids.setdefault(mapped.grid_code, UnitGrid(mapped.grid_code, mapped.district or ""))
    return grids


class ResponsibilityTable:
    def __init__(
        self,
        rules: list[DispatchRule],
        default_department: str,
        camera_grids: list[CameraGrid] | None = None,
        departments: dict[str, str] | None = None,
    ) -> None:
        self._rules = sorted(
            rules, key=lambda r: (len(r.grid_prefix), len(r.event_prefix)), reverse=True
        )
        self.default_department = default_department
        self._camera_grids = {(c.camera_id, c.zone_id): c for c in camera_grids or []}
        self.departments = departments or {default_department: default_department}

    @classmethod
    def from_config(cls, config: CoreConfig) -> ResponsibilityTable:
        return cls(
            config.dispatch,
            config.default_department,
            config.camera_grids,
            # the city's departments, and the districts' and street offices (organisation)
            {d.id: d.name for d in config.departments} | config.organisation.department_ids(),
        )

    def department_for(self, event_code: str, grid_code: str | None) -> str:
        grid = grid_code or ""
        for rule in self._rules:
            if event_code.startswith(rule.event_prefix) and (
                (rule.grid_prefix == "") or grid.startswith(rule.grid_prefix)
            ):
                return rule.department
        return self.default_department

    def grid_for_camera(self, camera_id: str | None, zone_id: str | None) -> CameraGrid | None:
        """The grid a camera's zone (or else the whole camera) is mapped to."""
        if camera_id is None:
            return None
        return self._camera_grids.get((camera_id, zone_id)) or self._camera_grids.get(
            (camera_id, None)
        )

    def is_department(self, department: str) -> bool:
        return department in self.departments
