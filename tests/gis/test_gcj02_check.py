"""GCJ-02 coordinates imported as if WGS-84 are caught against the stored base data: the
demo data shifted by the project's own GCJ-02 transform is refused with a Chinese
message naming --crs gcj02, imports with it, and data as given is never flagged."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from gateway.cli import cli
from gateway.gis.crs import wgs84_to_gcj02
from gateway.gis.crs_check import StoredReference
from gateway.gis.demo_data import DemoData
from gateway.gis.index import GridIndex


def _shift_geojson(source: Path, target: Path) -> None:
    doc = json.loads(source.read_text())

    def shift(coords):  # type: ignore[no-untyped-def]
        if isinstance(coords[0], (int, float)):
            lon, lat = wgs84_to_gcj02(coords[0], coords[1])
            return [float(lon), float(lat)]
        return [shift(c) for c in coords]

    for feature in doc["features"]:
        feature["geometry"]["coordinates"] = shift(feature["geometry"]["coordinates"])
    target.write_text(json.dumps(doc, ensure_ascii=False))


def _shift_csv(source: Path, target: Path) -> None:
    with source.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        lon, lat = wgs84_to_gcj02(float(row["lon"]), float(row["lat"]))
        row["lon"], row["lat"] = f"{float(lon):.7f}", f"{float(lat):.7f}"
    with target.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def demo_dir(tmp_path: Path):  # type: ignore[no-untyped-def]
    config = tmp_path / "citygw.yaml"
    config.write_text(f"core:\n  database_url: sqlite:///{tmp_path / 'core.sqlite3'}\n")

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, ["-c", str(config), "gis", *args])

    out = tmp_path / "demo"
    assert run("demo-data", str(out)).exit_code == 0
    _shift_geojson(out / "grids.geojson", out / "grids-gcj.geojson")
    _shift_geojson(out / "components.geojson", out / "components-gcj.geojson")
    _shift_csv(out / "addresses.csv", out / "addresses-gcj.csv")
    return run, out


def test_shifted_components_are_refused_with_the_fix_and_import_with_it(demo_dir) -> None:  # type: ignore[no-untyped-def]
    run, out = demo_dir
    assert run("import", "grids", str(out / "grids.geojson")).exit_code == 0
    refused = run("import", "components", str(out / "components-gcj.geojson"))
    assert refused.exit_code == 1, refused.output
    assert "疑似 GCJ-02" in refused.output and "--crs gcj02" in refused.output
    assert "数据库未作任何修改" in refused.output
    assert len(refused.output.splitlines()) == 2  # the one reason, then the verdict
    converted = run("import", "components", str(out / "components-gcj.geojson"), "--crs", "gcj02")
    assert converted.exit_code == 0, converted.output
    assert (
        "保存 5200 个" in converted.output
    )  # 海州区 4000 + 连云区 1200 and "GCJ-02" not in converted.output


def test_shifted_addresses_are_refused_against_the_stored_grids(demo_dir) -> None:  # type: ignore[no-untyped-def]
    run, out = demo_dir
    assert run("import", "grids", str(out / "grids.geojson")).exit_code == 0
    refused = run("import", "addresses", str(out / "addresses-gcj.csv"))
    assert refused.exit_code == 1 and "疑似 GCJ-02" in refused.output, refused.output
    converted = run("import", "addresses", str(out / "addresses-gcj.csv"), "--crs", "gcj02")
    assert converted.exit_code == 0 and "保存 1988 个" in converted.output, converted.output


def test_shifted_grids_are_refused_unless_wgs84_is_said_explicitly(demo_dir) -> None:  # type: ignore[no-untyped-def]
    run, out = demo_dir
    assert run("import", "grids", str(out / "grids.geojson")).exit_code == 0
    assert run("import", "addresses", str(out / "addresses.csv")).exit_code == 0
    again = run("import", "grids", str(out / "grids.geojson"))  # the same data: no flag
    assert again.exit_code == 0 and "GCJ-02" not in again.output, again.output
    refused = run("import", "grids", str(out / "grids-gcj.geojson"))
    assert refused.exit_code == 1 and "疑似 GCJ-02" in refused.output, refused.output
    said = run("import", "grids", str(out / "grids-gcj.geojson"), "--crs", "wgs84")
    assert said.exit_code == 0, said.output
    assert "警告" in said.output and "疑似 GCJ-02" in said.output


def test_the_first_import_has_nothing_to_compare_with(demo_dir) -> None:  # type: ignore[no-untyped-def]
    run, out = demo_dir
    first = run("import", "grids", str(out / "grids-gcj.geojson"))
    assert first.exit_code == 0 and "GCJ-02" not in first.output, first.output


def test_the_check_measures_both_readings(demo: DemoData, demo_index: GridIndex) -> None:
    lons = np.array([f["geometry"]["coordinates"][0] for f in demo.components])
    lats = np.array([f["geometry"]["coordinates"][1] for f in demo.components])
    reference = StoredReference(demo_index, [a["lon"] for a in demo.addresses],
                                [a["lat"] for a in demo.addresses])  # fmt: skip
    as_given = reference.check(lons, lats)
    assert as_given is not None and not as_given.suspected
    assert as_given.outside_given == 0.0
    glon, glat = wgs84_to_gcj02(lons, lats)
    shifted = reference.check(glon, glat)
    assert shifted is not None and shifted.suspected
    assert shifted.outside_given is not None and shifted.outside_given > 0.1
    assert shifted.outside_converted == 0.0
    assert StoredReference(GridIndex([])).check(lons, lats) is None
