"""The phone's routes refuse a body over the limit with 413 body_too_large before reading
it into a case: by its Content-Length, or while a chunked body streams past the limit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.core import body_limit
from gateway.core.ports import CaseFilter
from tests.core.api_harness import Api, make_api

LIMIT = 64 * 1024


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setattr(body_limit, "MAX_BODY_BYTES", LIMIT)
    harness = make_api(f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path)
    yield harness
    harness.close()


def form(photo_bytes: int) -> tuple[dict[str, str], list[tuple[str, tuple[str, bytes, str]]]]:
    data = {"request_id": "phone-limit-0001", "event_code": "0507"}
    return data, [("photos", ("big.jpg", b"\xff" * photo_bytes, "image/jpeg"))]


def test_a_report_over_the_limit_is_refused_by_its_length_and_makes_no_case(api: Api) -> None:
    data, files = form(LIMIT + 1)
    response = api.client.post(
        "/api/v1/mobile/reports", data=data, files=files, headers=api.headers("inspector")
    )
    assert response.status_code == 413 and response.json()["error"] == "body_too_large"
    assert api.service.store.list_cases(CaseFilter())[1] == 0


def test_a_chunked_body_is_stopped_once_it_passes_the_limit(api: Api) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: 160 KiB in 4 KiB pieces
        for _ in range(40):
            yield b"x" * 4096

    headers = {**api.headers("inspector"), "Content-Type": "application/json"}
    response = api.client.post("/api/v1/mobile/patrol", content=chunks(), headers=headers)
    assert response.status_code == 413 and response.json()["error"] == "body_too_large"


def test_a_report_under_the_limit_goes_through_to_the_photo_check(api: Api) -> None:
    data, files = form(LIMIT // 2)
    response = api.client.post(
        "/api/v1/mobile/reports", data=data, files=files, headers=api.headers("inspector")
    )
    assert response.status_code == 422 and response.json()["error"] == "bad_photo"
