"""Reading GeoJSON, Shapefile and CSV into the same raw features."""

from __future__ import annotations

from pathlib import Path

import pytest
import shapefile

from adapters.gis.readers import UnreadableFile, read_features
from adapters.gis.writers import write_csv, write_geojson
from gateway.gis.codes import load_component_types
from gateway.gis.demo_data import DemoData
from gateway.gis.index import GridIndex
from gateway.gis.validation import build_components, build_grids


def test_geojson_grids_read_back_as_written(tmp_path: Path, demo: DemoData) -> None:
    path = tmp_path / "grids.geojson"
    write_geojson(path, demo.grids)
    raws = read_features(path)
    assert len(raws) == 400 and raws[0].number == 1
    assert raws[0].properties["code"] == "32070600100101"
    assert build_grids(raws).problems == []


def _write_shapefile(path: Path, demo: DemoData, encoding: str) -> None:
    with shapefile.Writer(str(path), shapeType=shapefile.POLYGON, encoding=encoding) as w:
        w.field("BGID", "C", 14)
        w.field("区县", "C", 20)
        w.field("街道", "C", 20)
        w.field("社区", "C", 20)
        for feature in demo.grids[:25]:
            p = feature["properties"]
            ring = feature["geometry"]["coordinates"][0]
            w.poly([list(reversed(ring))])  # Shapefile rings run clockwise
            w.record(p["code"], p["district"], p["street"], p["community"])


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_shapefile_grids_with_chinese_attributes(
    tmp_path: Path, demo: DemoData, encoding: str
) -> None:
    path = tmp_path / "grids.shp"
    _write_shapefile(path, demo, encoding)
    raws = read_features(path)
    assert len(raws) == 25
    assert raws[0].properties["区县"] == "海州区"
    built = build_grids(raws)
    assert built.errors == [] and built.records[0].code == "32070600100101"
    assert built.records[0].street == "海州街道"


def test_csv_points_become_components(
    tmp_path: Path, demo: DemoData, demo_index: GridIndex
) -> None:
    rows = [
        {
            **f["properties"],
            "经度": f["geometry"]["coordinates"][0],
            "纬度": f["geometry"]["coordinates"][1],
        }
        for f in demo.components[:200]
    ]
    rows[3]["经度"] = "abc"
    path = tmp_path / "components.csv"
    write_csv(path, rows, ["id", "owner", "state", "经度", "纬度"])
    built = build_components(read_features(path), load_component_types(), demo_index)
    assert [(p.kind.value, p.feature) for p in built.errors] == [("out_of_range", 4)]
    assert len(built.records) == 199


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("a.geojson", b"{not json", "not JSON"),
        ("a.geojson", b'{"type": "Point", "coordinates": [1, 2]}', "not a GeoJSON"),
        ("a.csv", "名称,地址\n甲,乙\n".encode(), "no lon/lat columns"),
        ("a.kml", b"<kml/>", "unknown format"),
        ("a.shp", b"garbage", "not a readable Shapefile"),
    ],
)
def test_unreadable_files_are_named_with_the_reason(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UnreadableFile, match=reason):
        read_features(path)
