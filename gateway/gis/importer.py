"""Importing base data: check a whole file, then store all of it or none of it.

One call per kind: grids (and the streets and communities dissolved from them), given
management areas, components (placed in the stored grids). Any error refuses the file:
the store is not touched and the report lists every problem; warnings are reported and
the file is stored. Replacing the grids places the stored components again.

Addresses (the geocoder's gazetteer) are built by `gateway.gis.addresses.address_from_row`
and placed in the stored grids like components.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import shape

from gateway.gis.addresses import Address, AddressRowError, address_from_row
from gateway.gis.codes import ComponentType
from gateway.gis.crs import InputCrs, gcj02_to_wgs84
from gateway.gis.crs_check import MAX_REFERENCE, ShiftCheck, StoredReference
from gateway.gis.features import FeatureKind, RawFeature
from gateway.gis.index import GridIndex
from gateway.gis.ports import BaseDataStore
from gateway.gis.validation import (
    DEFAULT_TOLERANCE_M,
    Problem,
    ProblemKind,
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

    def gcj02_problem(
        self, raws: Sequence[RawFeature], crs: InputCrs, severity: Severity | None, *, grids: bool
    ) -> Problem | None:
        """A file read as WGS-84 that fits the stored base data far better as GCJ-02: a
        problem of ``severity`` (None: not checked). ``grids``: the file holds polygons,
        compared by their centres (inside the stored grids when they are the same)."""
        if severity is None or crs is not InputCrs.WGS84:
            return None
        index = self.index()
        addresses = self.store.addresses()
        components = self.store.components_in_bbox(
            (-180.0, -90.0, 180.0, 90.0), limit=MAX_REFERENCE
        )
        reference = StoredReference(
            index,
            [a.lon for a in addresses] + [c.lon for c in components],
            [a.lat for a in addresses] + [c.lat for c in components],
        )
        lons, lats = _coordinates(raws, centres=grids)
        found = reference.check(lons, lats)
        if found is None or not found.suspected:
            return None
        return Problem(
            ProblemKind.SUSPECTED_GCJ02,
            0,
            "",
            "geometry",
            f"fits the stored base data as GCJ-02: {found}",
            severity,
            values=_shift_values(found),
        )

    def import_grids(
        self, raws: Sequence[RawFeature], crs: InputCrs, *, crs_check: Severity | None = None
    ) -> ImportReport:
        shifted = self.gcj02_problem(raws, crs, crs_check, grids=True)
        if shifted is not None and shifted.severity is Severity.ERROR:
            return ImportReport(FeatureKind.GRIDS, len(raws), 0, [shifted])
        built = build_grids(raws, crs, tolerance_m=self.tolerance_m)
        report = ImportReport(
            FeatureKind.GRIDS, len(raws), 0, [*([shifted] if shifted else []), *built.problems]
        )
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
        self,
        raws: Sequence[RawFeature],
        crs: InputCrs,
        index: GridIndex | None = None,
        *,
        crs_check: Severity | None = None,
    ) -> ImportReport:
        shifted = self.gcj02_problem(raws, crs, crs_check, grids=False)
        if shifted is not None and shifted.severity is Severity.ERROR:
            return ImportReport(FeatureKind.COMPONENTS, len(raws), 0, [shifted])
        index = index if index is not None else self.index()
        built = build_components(raws, self.component_types, index, crs)
        report = ImportReport(
            FeatureKind.COMPONENTS,
            len(raws),
            0,
            [*([shifted] if shifted else []), *built.problems],
        )
        if report.accepted:
            self.store.replace_components(built.records)
            report.stored = len(built.records)
        return report

    def import_addresses(
        self,
        raws: Sequence[RawFeature],
        crs: InputCrs,
        index: GridIndex | None = None,
        *,
        crs_check: Severity | None = None,
    ) -> ImportReport:
        """Door-plate addresses: each row built by the geocoder's `address_from_row`, then
        placed in its unit grid (a point outside every grid refuses the file)."""
        shifted = self.gcj02_problem(raws, crs, crs_check, grids=False)
        if shifted is not None and shifted.severity is Severity.ERROR:
            return ImportReport(FeatureKind.ADDRESSES, len(raws), 0, [shifted])
        index = index if index is not None else self.index()
        problems: list[Problem] = [shifted] if shifted else []
        rows: list[tuple[int, Address]] = []
        for raw in raws:
            feature = {"type": "Feature", "properties": raw.properties, "geometry": raw.geometry}
            try:
                rows.append((raw.number, address_from_row(feature, raw.number)))
            except AddressRowError as exc:
                problems.append(_address_problem(raw.number, exc))
                continue
            long = [
                name
                for name, limit in _ADDRESS_LIMITS.items()
                if len(getattr(rows[-1][1], name)) > limit
            ]
            for name in long:
                problems.append(
                    Problem(
                        ProblemKind.BAD_VALUE,
                        raw.number,
                        "",
                        name,
                        "too long",
                        values={"value": getattr(rows[-1][1], name)[:20] + "…"},
                    )
                )
            if long:
                rows.pop()
        report = ImportReport(FeatureKind.ADDRESSES, len(raws), 0, problems)
        if not rows and not problems:
            problems.append(Problem(ProblemKind.EMPTY_FILE, 0, "", "features", "no features"))
        if not rows:
            return report
        if len(index) == 0:
            problems.append(Problem(ProblemKind.NO_GRIDS, 0, "", "geometry", "no unit grids"))
            return report
        # the well-formed rows are placed even when others are refused, so that one reading
        # of the file names every refused row (an address outside every grid as well)
        lons = np.array([a.lon for _n, a in rows], dtype=np.float64)
        lats = np.array([a.lat for _n, a in rows], dtype=np.float64)
        if crs is InputCrs.GCJ02:
            lons, lats = gcj02_to_wgs84(lons, lats)
        placed: list[Address] = []
        for (number, address), lon, lat, grid in zip(
            rows, lons.tolist(), lats.tolist(), index.locate(lons, lats).tolist(), strict=True
        ):
            if grid is None:
                problems.append(
                    Problem(
                        ProblemKind.OUTSIDE_GRIDS,
                        number,
                        address.text,
                        "geometry",
                        "outside every unit grid",
                        values={"lon": round(lon, 6), "lat": round(lat, 6)},
                    )
                )
                continue
            placed.append(
                Address(
                    district=address.district,
                    road=address.road,
                    number=address.number,
                    lon=lon,
                    lat=lat,
                    building=address.building,
                    unit=address.unit,
                    grid_code=grid,
                    text=address.text,
                )
            )
        if report.accepted:
            self.store.replace_addresses(placed)
            report.stored = len(placed)
        return report


def _coordinates(
    raws: Sequence[RawFeature], *, centres: bool = False
) -> tuple[list[float], list[float]]:
    """Every coordinate of the file's geometries, or each one's centre (lon/lat columns of
    a row without a geometry)."""
    lons: list[float] = []
    lats: list[float] = []
    for raw in raws:
        try:
            if raw.geometry is not None:
                geometry = shape(raw.geometry)
                if centres:
                    geometry = geometry.representative_point()
                coords = shapely.get_coordinates(geometry)
                lons.extend(coords[:, 0].tolist())
                lats.extend(coords[:, 1].tolist())
            else:
                lons.append(float(raw.properties["lon"]))
                lats.append(float(raw.properties["lat"]))
        except (KeyError, TypeError, ValueError, AttributeError, shapely.errors.ShapelyError):
            continue  # the file's own checks name it
    return lons, lats


def _shift_values(found: ShiftCheck) -> dict[str, str]:
    def share(value: float | None) -> str:
        return "" if value is None else f"{value * 100:.0f}% 的点不在任何现有网格内，"

    return {
        "outside_given": share(found.outside_given),
        "outside_converted": share(found.outside_converted),
        "given_m": f"{found.distance_given_m:.0f}" if found.distance_given_m is not None else "—",
        "converted_m": f"{found.distance_converted_m:.0f}"
        if found.distance_converted_m is not None
        else "—",
    }


#: the longest text each address column holds (adapters.storage.schema.gis_addresses)
_ADDRESS_LIMITS = {
    "district": 100,
    "road": 100,
    "number": 32,
    "building": 32,
    "unit": 32,
    "text": 300,
}


def _address_problem(number: int, exc: AddressRowError) -> Problem:
    """The geocoder's row error as a problem of this import."""
    field = exc.field.split(".")[0]
    if exc.reason == "missing":
        kind = (
            ProblemKind.MISSING_GEOMETRY
            if field in ("geometry", "lon", "lat")
            else ProblemKind.MISSING_FIELD
        )
    elif exc.reason in ("out_of_range", "not_a_number"):
        kind = ProblemKind.OUT_OF_RANGE
    else:
        kind = ProblemKind.BAD_VALUE
    return Problem(kind, number, "", field, str(exc), values={"value": str(exc.value)[:40]})
