"""Where the demo happens: the GIS demo area of 海州区 (county 320706) and 连云区 (320703).

The same two pieces `citygw gis demo-data` writes (`gateway.gis.demo_data`: 2 km x 2 km of
海州区, 400 unit grids in four streets, and 1 km x 1 km of 连云区 墟沟街道, 100 grids; their
components and door-plate addresses), which the default organisation tree
(`gateway.core.organisation_settings`: 海州区 and 连云区 under 连云港市) describes. The cameras
and most samples are in 海州区; 连云区 has sample candidates of its own
(`LY_SAMPLE_COMMUNITY`), the hotline's second district (`LY_CALL_GRID`) and part of the
demo's past (`gateway.demo_history`), so that both district centres have cases.

- `DemoArea.prepare` writes the area's files into the demo's state folder (the files of
  ``citygw gis demo-data``, and the area's grid table for ``core.grid_table``) and works
  out where the demo's cameras stand, what ground they and their zones see and where the
  sample candidates are, from the grids themselves (their corners are jittered a few
  metres);
- `import_area` stores the files in the core's database the way ``citygw gis import``
  does (read the file, check it all, store all or nothing), unless the same area is
  stored already: a re-run of the demo imports nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely
from shapely import affinity
from shapely.geometry import Point, Polygon, shape

from gateway.gis.demo_data import DEMO_AREAS, DemoData, generate

#: the main test camera (vtest's square) stands at the south side of 海州街道 鼓楼社区 grid
#: 18 (on the side of grid 13) and looks north over it (its lawn and walkway) into the
#: corner of grid 19 (the no-parking bay)
MAIN_SEES = "32070600100118"
MAIN_BEHIND = "32070600100113"
MAIN_CORNER = "32070600100119"
#: the staged-fall camera stands at the south side of 朐阳街道 朐阳门社区 grid 12 (on the
#: side of grid 07) and looks north over it
FALL_SEES = "32070600300112"
FALL_BEHIND = "32070600300107"
#: the sample candidates lie along a kerb of 幸福路街道 幸福南路社区, one grid each from 07
SAMPLE_COMMUNITY = "320706002001"
SAMPLE_FIRST = 7
#: the hotline's 海州区 reports start in 洪门街道 洪门社区 (the scripted call among them)
CALL_GRID = "32070600400113"
#: 连云区 墟沟街道: its sample candidates lie in 海棠社区, one grid each from 07, and the
#: hotline's 连云区 reports start in 港城社区 grid 13
LY_SAMPLE_COMMUNITY = "320703001002"
LY_CALL_GRID = "32070300100113"
#: the seed of `citygw gis demo-data`'s default: the demo imports what that command writes
SEED = 20260601
ADDRESS_COLUMNS = ["district", "road", "number", "building", "unit", "lon", "lat"]


@dataclass(frozen=True)
class CameraView:
    """Where a demo camera stands (lon/lat) and the ground it sees ([lon, lat] corners)."""

    lon: float
    lat: float
    footprint: list[list[float]]

    def settings(self) -> dict[str, Any]:
        """The ``video.cameras[]`` keys of the view."""
        return {"lon": self.lon, "lat": self.lat, "footprint": self.footprint}


@dataclass
class DemoArea:
    """The demo area's files and the demo's places in it."""

    folder: Path
    data: DemoData
    polygons: dict[str, Polygon] = field(default_factory=dict)

    @classmethod
    def prepare(cls, folder: Path) -> DemoArea:
        """Generate the area, write its files into ``folder`` (overwritten: same seed, same
        bytes) and index its grids by code."""
        from adapters.gis.writers import write_csv, write_geojson

        data = generate(SEED, areas=DEMO_AREAS)
        folder.mkdir(parents=True, exist_ok=True)
        write_geojson(folder / "grids.geojson", data.grids)
        write_geojson(folder / "components.geojson", data.components)
        write_csv(folder / "addresses.csv", data.addresses, ADDRESS_COLUMNS)
        rows = [f["properties"] for f in data.grids]
        write_csv(folder / "unit-grids.csv", rows, ["code", "district", "street", "community"])
        polygons = {f["properties"]["code"]: shape(f["geometry"]) for f in data.grids}
        return cls(folder, data, polygons)

    @property
    def grid_table(self) -> Path:
        """The area's grids as a ``core.grid_table`` CSV (code, district, street, community)."""
        return self.folder / "unit-grids.csv"

    def view(self, sees: str, behind: str, corner: str | None = None) -> CameraView:
        """A camera inside grid ``sees``, on its side towards grid ``behind``, looking over
        ``sees`` (and a little of ``corner``): its cases' point (the camera's) lies in
        ``sees``, and the footprint covers mostly ``sees``, so a case without a zone grid
        goes there too."""
        grid = self.polygons[sees]
        # 30 m from the centre of a 100 m cell whose corners move at most 12 m: inside it
        x, y = _towards(grid.centroid, self.polygons[behind].centroid, 0.3)
        x, y = round(x, 7), round(y, 7)
        parts = [affinity.scale(grid, 0.8, 0.8), Point(x, y)]
        if corner is not None:
            parts.append(affinity.scale(self.polygons[corner], 0.25, 0.25))
        hull = shapely.convex_hull(shapely.union_all(parts))
        corners = [[round(cx, 7), round(cy, 7)] for cx, cy in hull.exterior.coords[:-1]]
        return CameraView(x, y, corners)

    def zone_ground(self, code: str) -> list[list[float]]:
        """The ground of a zone in grid ``code`` that a camera of `view` with ``corner=code``
        sees: a 15 m square around the grid's centre, inside the grid and inside the part
        of it the camera sees (a quarter-size square there), so the zone's cases go to
        ``code`` by the zone's own footprint."""
        ground = affinity.scale(self.polygons[code], 0.15, 0.15)
        return [[round(x, 7), round(y, 7)] for x, y in ground.exterior.coords[:-1]]

    def sample_point(
        self, index: int, community: str = SAMPLE_COMMUNITY
    ) -> tuple[str, float, float]:
        """(grid code, lon, lat) of the ``index``-th sample candidate: a point inside a grid
        of the sample community (海州区's, or ``community``), one grid each."""
        code = f"{community}{(SAMPLE_FIRST - 1 + index) % 25 + 1:02d}"
        point = self.polygons[code].representative_point()
        return code, round(point.x, 7), round(point.y, 7)


def _towards(a: Point, b: Point, share: float) -> tuple[float, float]:
    return a.x + (b.x - a.x) * share, a.y + (b.y - a.y) * share


@dataclass(frozen=True)
class ImportResult:
    """What `import_area` did: counts stored (0 when it found the area stored already)."""

    imported: bool
    grids: int
    components: int
    addresses: int
    seconds: float


class ImportRefused(RuntimeError):
    """The importer refused a file of the area (it would be a bug in the demo data)."""


def import_area(engine_store: Any, area: DemoArea) -> ImportResult:
    """Store the area's grids, components and addresses in the core's database (the case
    store ``engine_store``, a `SqlCaseStore`) as ``citygw gis import`` does; nothing when
    exactly these grids and as many components and addresses are stored already."""
    from adapters.gis.readers import read_features
    from adapters.storage.gis_store import SqlBaseData
    from gateway.gis.codes import load_component_types
    from gateway.gis.crs import InputCrs
    from gateway.gis.importer import BaseDataImporter
    from gateway.gis.validation import Severity

    started = time.perf_counter()
    base = SqlBaseData.for_store(engine_store)
    data = area.data
    counts = base.counts()
    stored_codes = {g.code for g in base.grids()}
    if (
        stored_codes == set(area.polygons)
        and counts.get("gis_components") == len(data.components)
        and counts.get("gis_addresses") == len(data.addresses)
    ):
        return ImportResult(False, 0, 0, 0, time.perf_counter() - started)
    importer = BaseDataImporter(base, load_component_types())
    stored: dict[str, int] = {}
    for kind, name in (
        ("grids", "grids.geojson"),
        ("components", "components.geojson"),
        ("addresses", "addresses.csv"),
    ):
        raws = read_features(area.folder / name)
        run = getattr(importer, f"import_{kind}")
        # as `citygw gis import` without --crs: a file that looks like GCJ-02 is refused
        report = run(raws, InputCrs.WGS84, crs_check=Severity.ERROR)
        if not report.accepted:
            reasons = "; ".join(str(p) for p in report.errors[:3])
            raise ImportRefused(f"{kind} refused ({len(report.errors)} errors): {reasons}")
        stored[kind] = report.stored
    return ImportResult(
        True,
        stored["grids"],
        stored["components"],
        stored["addresses"],
        time.perf_counter() - started,
    )
