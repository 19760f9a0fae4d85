"""``citygw gis``: demo data -> import -> locate, on the core's configured database."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gateway.cli import cli
from gateway.gis.crs import wgs84_to_gcj02


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    config = tmp_path / "citygw.yaml"
    config.write_text(f"core:\n  database_url: sqlite:///{tmp_path / 'core.sqlite3'}\n")

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, ["-c", str(config), "gis", *args])

    return invoke


def test_demo_data_imports_and_locates(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "demo"
    made = run("demo-data", str(out))
    assert made.exit_code == 0, made.output
    assert "网格 500 个" in made.output  # 海州区 400, 连云区 墟沟街道 100
    assert sorted(p.name for p in out.iterdir()) == [
        "addresses.csv",
        "components.geojson",
        "grids.geojson",
    ]
    grids = run("import", "grids", str(out / "grids.geojson"))
    assert grids.exit_code == 0, grids.output
    # two patches 25 km apart: no gap between them, 5 streets and 20 communities derived
    assert "保存 500 个" in grids.output and "街道、社区边界 25 个" in grids.output
    components = run("import", "components", str(out / "components.geojson"))
    assert components.exit_code == 0, components.output
    assert "保存 5200 个" in components.output
    addresses = run("import", "addresses", str(out / "addresses.csv"))
    assert addresses.exit_code == 0, addresses.output
    assert "门牌地址导入完成：读取 1988 个，保存 1988 个" in addresses.output
    first = json.loads((out / "grids.geojson").read_text())["features"][0]
    ring = first["geometry"]["coordinates"][0]
    lon = sum(p[0] for p in ring[:4]) / 4
    lat = sum(p[1] for p in ring[:4]) / 4
    found = run("locate", str(lon), str(lat))
    assert found.exit_code == 0
    assert found.output.strip() == "网格 32070600100101（海州区 海州街道 鼓楼社区）"
    glon, glat = wgs84_to_gcj02(lon, lat)
    shifted = run("locate", str(float(glon)), str(float(glat)), "--crs", "gcj02")
    assert shifted.output == found.output
    taken_as_wgs84 = run("locate", str(float(glon)), str(float(glat)))
    assert "32070600100101" not in taken_as_wgs84.output  # ~500 m off: another grid
    xugou = run("locate", "119.39", "34.75")  # the middle of the 连云区 piece
    assert xugou.exit_code == 0
    assert re.fullmatch(r"网格 320703001\d{5}（连云区 墟沟街道 \w+社区）", xugou.output.strip())
    between = run("locate", "119.3", "34.7")  # between the two pieces: no grid
    assert between.exit_code == 1 and "不在管理区域内" in between.output
    outside = run("locate", "119.0", "34.6")
    assert outside.exit_code == 1 and "不在管理区域内" in outside.output


def test_a_refused_import_names_each_feature_and_stores_nothing(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "demo"
    run("demo-data", str(out))
    document = json.loads((out / "grids.geojson").read_text())
    document["features"][2]["properties"]["code"] = "12345"
    document["features"][9]["geometry"] = None
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps(document, ensure_ascii=False))
    refused = run("import", "grids", str(bad))
    assert refused.exit_code == 1
    lines = refused.output.splitlines()
    assert lines[0].startswith("错误 第3个要素（12345）字段「代码」：代码格式错误")
    assert lines[1] == "错误 第10个要素（32070600100205）字段「几何」：缺少几何图形"
    assert "数据库未作任何修改" in lines[-1]
    nothing = run("locate", "119.18", "34.60")
    assert nothing.exit_code == 1 and "尚未导入单元网格" in nothing.output
    missing = run("import", "grids", str(tmp_path / "nope.geojson"))
    assert missing.exit_code == 2 and "无法读取文件" in missing.output
