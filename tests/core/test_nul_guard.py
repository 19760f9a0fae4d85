"""A NUL character (U+0000) in what a request carries is refused before any route sees
it (gateway/core/nul_guard.py): PostgreSQL stores no NUL in text, so such an opinion used
to fail in the database there while SQLite kept it. Both stores now answer the same: 422
nul_character (GeoReport's error list under /open311/), and nothing is stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.core.api_harness import Api, make_api

GRID = "32070690100101"


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[Api]:
    harness = make_api(db_url, tmp_path)
    yield harness
    harness.close()


def new_case(api: Api, **fields: object) -> object:
    return api.client.post(
        "/api/v1/cases",
        headers=api.headers("operator"),
        json={"event_code": "0102", "grid_code": GRID, **fields},
    )


def test_a_nul_in_a_json_body_is_refused_and_nothing_is_stored(api: Api) -> None:
    refused = new_case(api, title="井盖", description="缺失\x00")
    assert refused.status_code == 422  # type: ignore[attr-defined]
    assert refused.json()["error"] == "nul_character"  # type: ignore[attr-defined]
    assert api.service.store.candidate_count() == 0
    assert refused.headers["x-content-type-options"] == "nosniff"  # type: ignore[attr-defined]
    kept = new_case(api, title="井盖", description="a backslash before u0000: \\u0000")
    assert kept.status_code == 201, kept.text  # type: ignore[attr-defined]
    case_id = kept.json()["id"]  # type: ignore[attr-defined]
    opinion = api.client.post(
        f"/api/v1/cases/{case_id}/transitions",
        headers=api.headers("operator"),
        json={"action": "register", "opinion": "属实\x00"},
    )
    assert opinion.status_code == 422 and opinion.json()["error"] == "nul_character"
    case = api.client.get(f"/api/v1/cases/{case_id}", headers=api.headers("operator")).json()
    assert case["state"] == "candidate" and case["description"].endswith("\\u0000")


def test_a_nul_in_a_query_or_a_form_is_refused(api: Api) -> None:
    listed = api.client.get("/api/v1/cases?q=%00", headers=api.headers("operator"))
    assert listed.status_code == 422 and listed.json()["error"] == "nul_character"
    georeport = api.client.post(
        "/open311/v2/requests.json",
        data={
            "api_key": api.tokens["operator"],
            "service_code": "0102",
            "address_id": GRID,
            "description": "路灯\x00不亮",
        },
    )
    assert georeport.status_code == 400
    assert georeport.json()[0]["description"].startswith("a text holds a NUL")
    assert api.service.store.candidate_count() == 0


def test_a_nul_in_an_attachments_file_name_is_refused(api: Api) -> None:
    """The name is kept with the evidence: a multipart upload is checked by its route.
    (Written by hand: httpx would escape the NUL in a file name as %00.)"""
    case_id = new_case(api, title="井盖").json()["id"]  # type: ignore[attr-defined]
    body = (
        b"--b0undary\r\n"
        b'Content-Disposition: form-data; name="file"; filename="cover\x00.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xe0 not much\r\n--b0undary--\r\n"
    )
    headers = {**api.headers("operator"), "content-type": "multipart/form-data; boundary=b0undary"}
    uploaded = api.client.post(
        f"/api/v1/cases/{case_id}/attachments", headers=headers, content=body
    )
    assert uploaded.status_code == 422, uploaded.text
    assert uploaded.json()["error"] == "nul_character"
    assert api.service.store.evidence_of(case_id) == []
