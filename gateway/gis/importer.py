"""Importing base data: check a whole file, then store all of it or none of it.

One call per kind: grids (and the streets and communities dissolved from them), given
management areas, components (placed in the stored grids). Any error refuses the file:
the store is not touched and the report lists every problem; warnings are reported and
the file is stored. Replacing the grids places the stored components again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from gateway.gis.codes import ComponentType
from gateway.gis.crs import InputCrs
from gateway.gis.features import FeatureKind, RawFeature
from gateway.gis.index import GridIndex
from gateway.gis.ports import BaseDataStore
from gateway.gis.validation import (
    DEFAULT_TOLERANCE_M,
    Problem,
    Severity,
    build_areas,
    build_components,
    build_grids,
    derive_areas,
)


@dataclass
class ImportReport:
    """What an import did: features read, stored (0 when refused), every problem."""

    kind: FeatureKind
    read: int
    stored: int
    problems: list[Problem]
    derived_areas: int = 0
    components_outside: int = 0  # stored components no grid holds after a grid import
    extra: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]

    @property
    def accepted(self) -> bool:
        return not self.errors


class BaseDataImporter:
    def __init__(
        self,
        store: BaseDataStore,
        component_types: Mapping[str, ComponentType],
        *,
        tolerance_m: float = DEFAULT_TOLERANCE_M,
    ) -> None:
        self.store = store
        self.component_types = component_types
        self.tolerance_m = tolerance_m

    def index(self) -> GridIndex:
        """The stored grids, indexed."""
        return GridIndex(self.store.grids())

    def import_grids(self, raws: Sequence[RawFeature], crs: InputCrs) -> ImportReport:
        built = build_grids(raws, crs, tolerance_m=self.tolerance_m)
        report = ImportReport(FeatureKind.GRIDS, len(raws), 0, built.problems)
        if not report.accepted:
            return report
        areas = derive_areas(built.records)
        index = GridIndex(built.records)
        report.components_outside = self.store.replace_grids(built.records, areas, index.locate)
        report.stored, report.derived_areas = len(built.records), len(areas)
        return report

    def import_areas(self, raws: Sequence[RawFeature], crs: InputCrs) -> ImportReport:
        built = build_areas(raws, crs)
        report = ImportReport(FeatureKind.AREAS, len(raws), 0, built.problems)
        if report.accepted:
            self.store.replace_areas(built.records)
            report.stored = len(built.records)
        return report

    def import_components(
        self, raws: Sequence[RawFeature], crs: InputCrs, index: GridIndex | None = None
    ) -> ImportReport:
        index = index if index is not None else self.index()
        built = build_components(raws, self.component_types, index, crs)
        report = ImportReport(FeatureKind.COMPONENTS, len(raws), 0, built.problems)
        if report.accepted:
            self.store.replace_components(built.records)
            report.stored = len(built.records)
        return report
