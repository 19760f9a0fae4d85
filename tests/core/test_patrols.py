"""Patrols: positions sent in batches are kept once each with the unit grid they fall in,
the centre reads everyone's last position, a day's track and the day's figures (time on
patrol, distance, grids visited, coverage of the assigned grids)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.storage.patrol_store import SqlPatrols
from gateway.clock import FakeClock
from gateway.core.patrols import PatrolPoint, assigned_unit_grids, patrol_figures
from gateway.gis.features import GridFeature
from gateway.gis.index import GridIndex
from tests.core.api_harness import PASSWORD, Api, make_api
from tests.core.helpers import MONDAY_10, make_service
from tests.gis.conftest import demo, demo_grids  # noqa: F401


def point(n: int, minutes: float, lat: float, lon: float, **kw: Any) -> PatrolPoint:
    return PatrolPoint(
        f"pt-{n:08d}", kw.pop("patrol", "patrol-0001"), MONDAY_10 + timedelta(minutes=minutes),
        lat, lon, **kw,
    )  # fmt: skip


def test_time_on_patrol_leaves_out_pauses_and_distance_leaves_out_poor_fixes() -> None:
    points = [
        point(1, 0, 34.6, 119.2, grid_code="A1"),
        point(2, 1, 34.6009, 119.2, grid_code="A1"),  # ~100 m north
        point(3, 2, 34.7, 119.2, accuracy_m=500, grid_code="A2"),  # a poor fix: no distance
        point(4, 3, 34.6018, 119.2, grid_code="A2"),
        point(5, 30, 34.6018, 119.2, grid_code="B1"),  # after a 27 min pause
    ]
    figures = patrol_figures(points, {"A1", "A2", "A3", "A4"})
    assert figures["minutes"] == 3.0
    assert 0.19 < figures["distance_km"] < 0.21
    assert (figures["grids_visited"], figures["assigned_grids_visited"]) == (3, 2)
    assert figures["coverage"] == 0.5
    assert assigned_unit_grids(["3207"], ["32070101", "32080101"]) == {"32070101"}


@pytest.fixture
def api(db_url: str, tmp_path: Path, demo_grids: list[GridFeature]) -> Iterator[Api]:  # noqa: F811
    harness = make_api(db_url, tmp_path)
    harness.service.grids = GridIndex(demo_grids)
    harness.auth.add_user("ines", "inspector", PASSWORD, None, (demo_grids[0].code,))
    harness.tokens["ines"] = harness.auth.login("ines", PASSWORD)[0]
    yield harness
    harness.close()


def batch(grid: GridFeature, first: int, count: int, start: datetime) -> dict[str, Any]:
    p = grid.geometry.representative_point()
    return {
        "patrol_id": "patrol-ines-0001",
        "points": [
            {
                "id": f"ines-pt-{first + i:06d}",
                "at": (start + timedelta(seconds=30 * i)).isoformat(),
                "lat": p.y,
                "lon": p.x,
                "accuracy_m": 6,
            }
            for i in range(count)
        ],
    }


def test_a_batch_sent_twice_is_kept_once_in_the_grid_of_its_points(
    api: Api,
    demo_grids: list[GridFeature],  # noqa: F811
) -> None:
    url, headers = "/api/v1/mobile/patrol", api.headers("ines")
    body = batch(demo_grids[0], 0, 20, MONDAY_10)
    first = api.client.post(url, json=body, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json() == {"received": 20, "stored": 20, "refused": []}
    again = api.client.post(url, json=body, headers=headers)
    assert again.json() == {"received": 20, "stored": 0, "refused": []}
    api.clock.advance(minutes=25)  # the phone sends what it recorded until now
    later = batch(demo_grids[1], 20, 10, MONDAY_10 + timedelta(minutes=20))
    assert api.client.post(url, json=later, headers=headers).json()["stored"] == 10
    track = api.client.get(
        "/api/v1/patrols/track?inspector=ines&day=2026-01-05", headers=headers
    ).json()
    grids = [p["grid_code"] for p in track["points"]]
    assert len(grids) == 30 and grids[0] == demo_grids[0].code and grids[-1] == demo_grids[1].code
    last = api.client.get("/api/v1/patrols/positions?hours=24", headers=api.headers("operator"))
    assert [(p["inspector"], p["grid_code"]) for p in last.json()] == [("ines", demo_grids[1].code)]
    figures = api.client.get(
        "/api/v1/patrols/figures?day=2026-01-05", headers=api.headers("shift_lead")
    ).json()
    ines = next(row for row in figures["inspectors"] if row["inspector"] == "ines")
    assert ines["points"] == 30 and ines["grids_visited"] == 2
    assert ines["assigned_grids"] == 1 and ines["coverage"] == 1.0
    assert ines["minutes"] == 14.0  # 19 + 9 gaps of 30 s; the 10.5 min between is a pause
    ivan = next(row for row in figures["inspectors"] if row["inspector"] == "ivan")
    assert ivan["points"] == 0 and ivan["coverage"] is None  # his 320706901 is no demo grid
    # the store counts a span's points as it reads them (the figures' cache checks by it)
    store = SqlPatrols.for_store(api.service.store)
    span = (MONDAY_10, MONDAY_10 + timedelta(minutes=20))
    assert store.count_between(*span) == sum(len(p) for p in store.points_between(*span).values())
    assert store.count_between(*span) == 20


def test_bad_batches_are_refused_with_codes(api: Api, demo_grids: list[GridFeature]) -> None:  # noqa: F811
    url, headers = "/api/v1/mobile/patrol", api.headers("ines")
    future = batch(demo_grids[0], 100, 1, MONDAY_10 + timedelta(hours=1))
    response = api.client.post(url, json=future, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "received": 1,
        "stored": 0,
        "refused": [{"id": "ines-pt-000100", "error": "point_in_future"}],
    }
    naive = batch(demo_grids[0], 101, 1, MONDAY_10.replace(tzinfo=None))
    refused = api.client.post(url, json=naive, headers=headers).json()["refused"]
    assert refused == [{"id": "ines-pt-000101", "error": "timezone_required"}]
    empty = {"patrol_id": "patrol-ines-0002", "points": []}
    assert api.client.post(url, json=empty, headers=headers).status_code == 422
    other = api.client.get("/api/v1/patrols/track?inspector=ivan", headers=headers)
    assert other.status_code == 403
    positions = api.client.get("/api/v1/patrols/positions", headers=headers)
    assert positions.status_code == 403


@pytest.mark.parametrize(
    ("stamp", "code"),
    [
        ("0001-01-01T00:00:00+14:00", "point_too_old"),  # before year 1 in UTC
        ("9999-12-31T23:59:59-14:00", "point_in_future"),  # past year 9999 in UTC
        ((MONDAY_10 - timedelta(days=7, minutes=1)).isoformat(), "point_too_old"),
    ],
)
def test_a_point_stamped_out_of_range_is_refused_with_a_code_never_a_500(
    api: Api,
    demo_grids: list[GridFeature],  # noqa: F811
    stamp: str,
    code: str,
) -> None:
    """A point older than MAX_POINT_AGE (7 days: the phone's offline horizon) or whose
    time zone puts it outside what a datetime holds in UTC is refused by name."""
    url, headers = "/api/v1/mobile/patrol", api.headers("ines")
    body = batch(demo_grids[0], 300, 1, MONDAY_10)
    body["points"][0]["at"] = stamp
    response = api.client.post(url, json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["refused"] == [{"id": "ines-pt-000300", "error": code}]
    week_old = batch(demo_grids[0], 301, 1, MONDAY_10 - timedelta(days=6, hours=23))
    kept = api.client.post(url, json=week_old, headers=headers)
    assert kept.status_code == 200 and kept.json()["stored"] == 1


def test_a_batch_keeps_its_good_points_names_its_refused_ones_and_stores_each_once(
    api: Api,
    demo_grids: list[GridFeature],  # noqa: F811
) -> None:
    """A phone whose clock ran 15 minutes fast for one point: the batch's other points are
    kept (before, the whole batch was refused and the phone sent it again forever); the
    same batch again stores nothing and names the same point."""
    url, headers = "/api/v1/mobile/patrol", api.headers("ines")
    body = batch(demo_grids[0], 400, 4, MONDAY_10 - timedelta(minutes=2))
    body["points"][1]["at"] = (MONDAY_10 + timedelta(minutes=15)).isoformat()
    first = api.client.post(url, json=body, headers=headers)
    assert first.status_code == 200, first.text
    refused = [{"id": "ines-pt-000401", "error": "point_in_future"}]
    assert first.json() == {"received": 4, "stored": 3, "refused": refused}
    again = api.client.post(url, json=body, headers=headers).json()
    assert again == {"received": 4, "stored": 0, "refused": refused}
    track = api.client.get(
        "/api/v1/patrols/track?inspector=ines&day=2026-01-05", headers=headers
    ).json()
    assert len(track["points"]) == 3


def test_a_settled_days_figures_are_kept_and_replaced_on_either_database(
    db_url: str, tmp_path: Path
) -> None:
    """patrol_day_figures (migration 0016): one row per day span, replaced when the day's
    figures are made again (late points), on SQLite and PostgreSQL alike."""
    service = make_service(db_url, tmp_path / "evidence", FakeClock(MONDAY_10))
    try:
        store = SqlPatrols.for_store(service.store)
        span = (MONDAY_10, MONDAY_10 + timedelta(days=1))
        assert store.kept_day(*span) is None
        store.keep_day(*span, 3, '{"ines": {}}', MONDAY_10)
        store.keep_day(*span, 5, '{"ines": {}, "ivan": {}}', MONDAY_10 + timedelta(days=2))
        assert store.kept_day(*span) == (5, '{"ines": {}, "ivan": {}}')
        assert store.kept_day(MONDAY_10, MONDAY_10 + timedelta(hours=3)) is None
    finally:
        service.store.close()
