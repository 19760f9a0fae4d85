"""``citygw gis``: import base data, write the demo area, locate a point.

- ``citygw gis import KIND FILE [--crs wgs84|gcj02]``: KIND grids, areas, components,
  addresses (the geocoder's gazetteer); all or nothing, every
  rejected feature printed with its reason; exit 1 when refused. Without ``--crs`` a
  file that fits the stored base data far better as GCJ-02 is refused
  (`gateway.gis.crs_check`), naming the fix.
- ``citygw gis demo-data OUT_DIR [--seed N]``: grids.geojson, components.geojson and
  addresses.csv for 2 km x 2 km of 海州区.
- ``citygw gis locate LON LAT [--crs ...]``: the unit grid of a point, or "outside the
  managed area" (exit 1).

The database is the core's (``core.database_url``), migrated first.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from adapters.storage.gis_store import SqlBaseData
    from gateway.config import Config


def _store(config: Config) -> SqlBaseData:
    from adapters.storage.database import migrate, open_engine
    from adapters.storage.gis_store import SqlBaseData
    from gateway.core.daemon import database_url

    engine = open_engine(database_url(config), timeout_s=config.core.db_timeout_s)
    migrate(engine)
    return SqlBaseData(engine)


_CRS = click.Choice(["wgs84", "gcj02"])


def register(cli: click.Group) -> None:
    from gateway.cli import CliContext, pass_cli

    @cli.group("gis")
    def gis() -> None:
        """Base data: unit grids, areas, components; the point -> grid lookup."""

    @gis.command("import")
    @click.argument("kind", type=click.Choice(["grids", "areas", "components", "addresses"]))
    @click.argument("file", type=click.Path(path_type=Path))
    @click.option(
        "--crs",
        type=_CRS,
        default=None,
        help="coordinates of the file: wgs84 (= CGCS2000) or gcj02 (Chinese web maps; "
        "converted). Not given: wgs84, and a file that fits the stored base data far better "
        "as GCJ-02 is refused; given as wgs84: that is only a warning",
    )
    @click.option(
        "--tolerance-m",
        type=click.FloatRange(0.0, 50.0),
        default=0.5,
        show_default=True,
        help="overlaps and gaps between grids narrower than this (metres) are not errors",
    )
    @pass_cli
    def import_(
        ctx: CliContext, kind: str, file: Path, crs: str | None, tolerance_m: float
    ) -> None:
        """Check FILE (GeoJSON, Shapefile, CSV with lon/lat) and store all of it or nothing."""
        from adapters.gis.readers import UnreadableFile, read_features
        from gateway.gis import texts
        from gateway.gis.codes import load_component_types
        from gateway.gis.crs import InputCrs
        from gateway.gis.importer import BaseDataImporter
        from gateway.gis.validation import Severity

        try:
            raws = read_features(file)
        except UnreadableFile as exc:
            click.echo(
                texts.MESSAGES["unreadable"].format(path=exc.path, reason=exc.reason), err=True
            )
            sys.exit(2)
        store = _store(ctx.config)
        importer = BaseDataImporter(store, load_component_types(), tolerance_m=tolerance_m)
        # GCJ-02 read as WGS-84: refused unless --crs says so (then a warning)
        check = Severity.ERROR if crs is None else Severity.WARNING
        given = InputCrs(crs or "wgs84")
        if kind == "grids":
            report = importer.import_grids(raws, given, crs_check=check)
        elif kind == "components":
            report = importer.import_components(raws, given, crs_check=check)
        elif kind == "addresses":
            report = importer.import_addresses(raws, given, crs_check=check)
        else:
            report = importer.import_areas(raws, given)
        store.engine.dispose()
        for problem in report.problems:
            click.echo(texts.problem_line(problem), err=True)
        name = texts.KIND_NAMES[kind]
        if not report.accepted:
            click.echo(
                texts.MESSAGES["refused"].format(
                    kind=name, read=report.read, errors=len(report.errors)
                ),
                err=True,
            )
            sys.exit(1)
        click.echo(
            texts.MESSAGES["stored"].format(kind=name, read=report.read, stored=report.stored)
        )
        if report.derived_areas:
            click.echo(texts.MESSAGES["derived"].format(count=report.derived_areas))
        if report.components_outside:
            click.echo(texts.MESSAGES["outside"].format(count=report.components_outside))
        if report.problems:
            click.echo(texts.MESSAGES["warnings"].format(count=len(report.problems)))

    @gis.command("demo-data")
    @click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
    @click.option("--seed", type=int, default=20260601, show_default=True)
    def demo_data(out_dir: Path, seed: int) -> None:
        """Write the demo areas of 海州区 (400 grids) and 连云区 墟沟街道 (100 grids), with
        components and addresses, into OUT_DIR."""
        from adapters.gis.writers import write_csv, write_geojson
        from gateway.gis import texts
        from gateway.gis.demo_data import DEMO_AREAS, generate

        data = generate(seed, areas=DEMO_AREAS)
        out_dir.mkdir(parents=True, exist_ok=True)
        grids = write_geojson(out_dir / "grids.geojson", data.grids)
        components = write_geojson(out_dir / "components.geojson", data.components)
        columns = ["district", "road", "number", "building", "unit", "lon", "lat"]
        addresses = write_csv(out_dir / "addresses.csv", data.addresses, columns)
        click.echo(
            texts.MESSAGES["demo_written"].format(
                path=out_dir, grids=grids, components=components, addresses=addresses
            )
        )

    @gis.command("locate")
    @click.argument("lon", type=click.FloatRange(-180, 180))
    @click.argument("lat", type=click.FloatRange(-90, 90))
    @click.option("--crs", type=_CRS, default="wgs84", show_default=True)
    @pass_cli
    def locate(ctx: CliContext, lon: float, lat: float, crs: str) -> None:
        """Print the unit grid of the point LON LAT (exit 1 outside the managed area)."""
        from gateway.gis import texts
        from gateway.gis.crs import gcj02_to_wgs84
        from gateway.gis.index import GridIndex

        if crs == "gcj02":
            x, y = gcj02_to_wgs84(lon, lat)
            lon, lat = float(x), float(y)
        store = _store(ctx.config)
        index = GridIndex(store.grids())
        store.engine.dispose()
        if len(index) == 0:
            click.echo(texts.MESSAGES["no_grids"], err=True)
            sys.exit(1)
        grid = index.locate_one(lon, lat)
        if grid is None:
            click.echo(texts.MESSAGES["outside_area"].format(lon=f"{lon:.6f}", lat=f"{lat:.6f}"))
            sys.exit(1)
        click.echo(
            texts.MESSAGES["located"].format(
                code=grid.code, district=grid.district, street=grid.street, community=grid.community
            )
        )
