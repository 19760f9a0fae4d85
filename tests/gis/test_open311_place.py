"""Open311 (GeoReport v2) with imported unit grids (issue 17 §2, location for every
channel): a request posted with lat/long alone gets its grid, district, street and
community from the grid index, as every channel's point does; one outside every grid
gets no grid and the visible ``outside_managed_area`` mark, never the nearest grid."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import shapely

from gateway.gis.features import GridFeature
from gateway.gis.index import GridIndex
from tests.core.api_harness import Api, make_api

BASE = "/open311/v2"


@pytest.fixture
def api(tmp_path: Path, demo_index: GridIndex) -> Iterator[Api]:
    harness = make_api(f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path)
    harness.service.grids = demo_index
    yield harness
    harness.close()


def posted_case(api: Api, **fields: str) -> object:
    form = {"api_key": api.tokens["operator"], "service_code": "0102", **fields}
    response = api.client.post(f"{BASE}/requests.json", data=form)
    assert response.status_code == 200, response.text
    number = response.json()[0]["service_request_id"]
    case = api.service.store.case_by_number(number)
    assert case is not None
    return case


def test_a_request_with_lat_long_alone_is_placed_on_its_grid(
    api: Api, demo_grids: list[GridFeature]
) -> None:
    grid = demo_grids[42]
    point = shapely.centroid(grid.geometry)
    case = posted_case(api, lat=f"{point.y:.7f}", long=f"{point.x:.7f}")
    assert (case.grid_code, case.district) == (grid.code, "海州区")  # type: ignore[attr-defined]
    facts = case.facts  # type: ignore[attr-defined]
    assert (facts["street"], facts["community"]) == (grid.street, grid.community)
    assert not facts.get("outside_managed_area")


def test_a_request_outside_every_grid_gets_no_grid_and_the_mark(api: Api) -> None:
    case = posted_case(api, lat="34.9000000", long="119.6000000")  # the sea east of 连云港
    assert case.grid_code is None  # type: ignore[attr-defined]
    assert case.facts["outside_managed_area"] is True  # type: ignore[attr-defined]
