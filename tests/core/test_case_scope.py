"""Who sees which case: an inspector their grids' cases and their own reports; phone
numbers whole only for the roles that call back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.contract import Location, Reporter, SourceKind
from gateway.core.case_views import mask_phone
from tests.core.api_harness import Api, make_api
from tests.core.helpers import candidate

MINE = "32070690100101"  # the inspector's grid
OTHER = "32070390100100"  # someone else's


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[Api]:
    harness = make_api(db_url, tmp_path)
    patched = harness.client.patch(
        "/api/v1/users/ivan", headers=harness.headers("admin"), json={"grids": [MINE]}
    )
    assert patched.status_code == 200, patched.text
    harness.tokens["inspector"] = harness.auth.login("ivan", "correct horse battery")[0]
    yield harness
    harness.close()


def report(api: Api, role: str, grid: str, **extra: object) -> dict:
    response = api.client.post(
        "/api/v1/cases",
        headers=api.headers(role),
        json={"event_code": "0102", "grid_code": grid, "title": f"{role} {grid}", **extra},
    )
    assert response.status_code == 201, response.text
    return response.json()


def hotline_case(api: Api, n: int, grid: str) -> None:
    api.service.store_candidates(
        [
            candidate(
                n,
                kind=SourceKind.CALL,
                source_id="agi-1",
                location=Location(grid_code=grid),
                reporter=Reporter(name="王先生", callback_number="13800138000"),
                facts={"caller": "13800138000", "channel": "phone"},
            )
        ]
    )


def numbers(api: Api, role: str, **query: object) -> set[str]:
    page = api.client.get("/api/v1/cases", headers=api.headers(role), params=query).json()
    assert page["total"] == len(page["items"])
    return {c["number"] for c in page["items"]}


def test_an_inspector_sees_their_grids_cases_and_their_own_reports_only(api: Api) -> None:
    hotline_case(api, 1, MINE)
    hotline_case(api, 2, OTHER)
    on_mine = api.client.get("/api/v1/cases", headers=api.headers("operator")).json()
    everything = {c["number"]: c for c in on_mine["items"]}
    assert len(everything) == 2
    own = report(api, "inspector", OTHER)  # reported by them on another grid
    others = report(api, "operator", OTHER)
    visible = numbers(api, "inspector")
    expected = {n for n, c in everything.items() if c["grid_code"] == MINE} | {own["number"]}
    assert visible == expected and len(visible) == 2
    assert numbers(api, "operator") >= visible | {others["number"]}
    # filters narrow the reach, never widen it
    assert numbers(api, "inspector", grid=OTHER[:6]) == {own["number"]}


def test_a_case_outside_an_inspectors_reach_does_not_exist_for_them(api: Api) -> None:
    others = report(api, "operator", OTHER)
    h = api.headers("inspector")
    for path in (
        f"/api/v1/cases/{others['id']}",
        f"/api/v1/cases/{others['id']}/steps",
        f"/api/v1/cases/by-number/{others['number']}",
        f"/api/v1/cases/{others['id']}/camera-checks",
    ):
        refused = api.client.get(path, headers=h)
        assert refused.status_code == 404 and refused.json()["error"] == "case_not_found", path
    refused = api.client.post(
        f"/api/v1/cases/{others['id']}/transitions", headers=h, json={"action": "register"}
    )
    assert refused.status_code == 404
    # an inspector with the grid sees it; an operator always does
    api.client.patch(
        "/api/v1/users/ivan", headers=api.headers("admin"), json={"grids": [MINE, OTHER]}
    )
    assert api.client.get(f"/api/v1/cases/{others['id']}", headers=h).status_code == 200


def test_phone_numbers_are_whole_only_for_the_roles_that_call_back(api: Api) -> None:
    hotline_case(api, 1, MINE)
    case_id = api.client.get("/api/v1/cases", headers=api.headers("operator")).json()["items"][0][
        "id"
    ]
    for role in ("operator", "shift_lead", "admin"):
        detail = api.client.get(f"/api/v1/cases/{case_id}", headers=api.headers(role)).json()
        assert detail["callback_number"] == "13800138000", role
        assert detail["facts"]["caller"] == "13800138000", role
    for role in ("inspector", "dispatcher"):
        detail = api.client.get(f"/api/v1/cases/{case_id}", headers=api.headers(role)).json()
        assert detail["callback_number"] == "138****8000", role
        assert detail["facts"]["caller"] == "138****8000", role
        listed = api.client.get("/api/v1/cases", headers=api.headers(role)).json()["items"]
        assert all("13800138000" not in str(c) for c in listed), role


def test_masking_keeps_the_ends_of_a_number() -> None:
    assert mask_phone("13800138000") == "138****8000"
    assert mask_phone("02512345678") == "025****5678"
    assert mask_phone("12319") == "***19"
    assert mask_phone(None) is None
