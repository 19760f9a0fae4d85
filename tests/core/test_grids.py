"""The city's unit grids: the grid table, and reports naming a grid that does not exist."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.core.dispatch import known_grids, load_grid_table
from gateway.core.settings import CoreConfig
from tests.core.api_harness import Api, make_api


def test_the_bundled_table_names_district_street_and_community_of_each_grid() -> None:
    grids = load_grid_table()
    grid = grids["32070390100103"]
    assert (grid.district, grid.street, grid.community) == ("连云区", "连云街道", "港口社区")
    assert "99999999999999" not in grids
    assert all(len(code) == 14 and code.isdigit() for code in grids)


def test_a_row_without_a_14_digit_code_is_refused_with_its_line(tmp_path: Path) -> None:
    table = tmp_path / "grids.csv"
    table.write_text("code,district\n32070390100103,连云区\n3207039010,连云区\n", encoding="utf-8")
    with pytest.raises(ValueError, match=":3:"):
        load_grid_table(table)


def test_the_configured_table_replaces_the_bundled_one_and_camera_grids_count(
    tmp_path: Path,
) -> None:
    table = tmp_path / "grids.csv"
    table.write_text("code,district,street,community\n32070300100101,连云区,,\n", "utf-8")
    config = CoreConfig.model_validate(
        {
            "grid_table": str(table),
            "camera_grids": [
                {"camera_id": "c1", "grid_code": "32070300100199", "district": "连云区"}
            ],
        }
    )
    assert set(known_grids(config)) == {"32070300100101", "32070300100199"}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    harness = make_api(f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path)
    yield harness
    harness.close()


def test_a_report_naming_a_made_up_grid_is_refused_and_opens_no_case(api: Api) -> None:
    response = api.client.post(
        "/api/v1/cases",
        json={"event_code": "0102", "grid_code": "99999999999999"},
        headers=api.headers("inspector"),
    )
    assert response.status_code == 422 and response.json()["error"] == "unknown_grid"
    listing = api.client.get("/api/v1/cases", headers=api.headers("operator")).json()
    assert listing["total"] == 0


def test_a_report_on_a_known_grid_gets_its_district(api: Api) -> None:
    response = api.client.post(
        "/api/v1/cases",
        json={"event_code": "0102", "grid_code": "32070390100103"},
        headers=api.headers("inspector"),
    )
    assert response.status_code == 201, response.text
    assert response.json()["district"] == "连云区"
    typed = api.client.post(
        "/api/v1/cases",
        json={"event_code": "0102", "grid_code": "32070390100103", "district": "连云"},
        headers=api.headers("inspector"),
    )
    assert typed.json()["district"] == "连云"  # what the reporter typed stands


def test_every_user_can_list_the_grids_for_the_report_form(api: Api) -> None:
    grids = api.client.get("/api/v1/grids", headers=api.headers("inspector")).json()
    assert {"code": "32070690100101", "district": "海州区", "street": "新海街道",
            "community": "苍梧社区"} in grids  # fmt: skip
    assert [g["code"] for g in grids] == sorted(g["code"] for g in grids)
