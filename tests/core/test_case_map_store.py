"""The map's case viewport (`SqlCaseMap.cases_in_bbox`) through the spatial index of
migration 0020, on SQLite (R*Tree ``cases_rtree``, kept in step by triggers) and on
PostgreSQL (GiST ``ix_cases_point``): the same cases in the same order as a brute-force
filter of every case, whichever way a case's point was written."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig

from adapters.storage import case_map_store
from adapters.storage import schema as t
from adapters.storage.bulk_insert import insert_many
from adapters.storage.case_map_store import SqlCaseMap
from adapters.storage.case_rows import case_to_row
from adapters.storage.case_store import SqlCaseStore
from adapters.storage.database import MIGRATIONS, migrate, open_engine
from gateway.core.workflow import OPEN_STATES, Case, CaseState

BBox = tuple[float, float, float, float]
WEST, SOUTH, EAST, NORTH = 119.20, 34.58, 119.24, 34.62
_STATES = [CaseState.CANDIDATE, CaseState.REGISTERED, CaseState.PROCESSING, CaseState.CLOSED]
_START = datetime(2026, 11, 1, tzinfo=UTC)


def _cases(count: int, seed: int = 17) -> list[Case]:
    """Cases over the area and a little outside it; one in seven without a point (or with
    half of one), and pairs created at the same second (the order's tie goes by id)."""
    rng = random.Random(seed)
    cases = []
    for n in range(count):
        lat: float | None = rng.uniform(SOUTH - 0.005, NORTH + 0.005)
        lon: float | None = rng.uniform(WEST - 0.005, EAST + 0.005)
        if n % 7 == 3:
            lat, lon = None, None
        elif n % 29 == 5:
            lon = None
        cases.append(
            Case(
                id=f"map-{seed}-{n:05d}",
                number=f"M{seed}{n:07d}",
                state=rng.choice(_STATES),
                event_code=rng.choice(["0102", "0505", "0507"]),
                created_at=_START + timedelta(seconds=(n // 2) * 30),
                title="地图测试案件",
                lat=lat,
                lon=lon,
                facts={},
            )
        )
    return cases


def _brute_force(cases: Sequence[Case], bbox: BBox, *, open_only: bool, limit: int) -> list[str]:
    min_lon, min_lat, max_lon, max_lat = bbox
    inside = [
        c
        for c in cases
        if c.lat is not None
        and c.lon is not None
        and min_lat <= c.lat <= max_lat
        and min_lon <= c.lon <= max_lon
        and (not open_only or c.state in OPEN_STATES)
    ]
    inside.sort(key=lambda c: c.id)
    inside.sort(key=lambda c: c.created_at, reverse=True)
    return [c.id for c in inside[:limit]]


def _viewports(rng: random.Random, count: int) -> list[BBox]:
    boxes: list[BBox] = [(WEST, SOUTH, EAST, NORTH), (WEST - 1, SOUTH - 1, EAST + 1, NORTH + 1)]
    for _ in range(count):
        size = rng.choice([0.002, 0.006, 0.015])
        x, y = rng.uniform(WEST - 0.004, EAST), rng.uniform(SOUTH - 0.004, NORTH)
        boxes.append((x, y, x + size, y + size * 0.8))
    return boxes


def _assert_same_as_brute_force(
    reader: SqlCaseMap, cases: Sequence[Case], boxes: Sequence[BBox]
) -> None:
    for bbox in boxes:
        for open_only in (False, True):
            for limit in (7, 60, 10_000):
                found = reader.cases_in_bbox(bbox, open_only=open_only, limit=limit)
                expected = _brute_force(cases, bbox, open_only=open_only, limit=limit)
                assert [c.id for c in found] == expected, (bbox, open_only, limit)


@pytest.fixture
def store(db_url: str) -> Iterator[SqlCaseStore]:
    store = SqlCaseStore.open(db_url)
    yield store
    store.close()


@pytest.fixture(params=[5_000, 40], ids=["sparse", "dense-too"])
def dense_rows(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """The store's own threshold, and a low one so that the test's viewports also take the
    dense path (newest first by created_at, the spatial index left out)."""
    monkeypatch.setattr(case_map_store, "DENSE_ROWS", request.param)
    return int(request.param)


def test_the_viewport_holds_the_cases_a_brute_force_filter_finds_in_the_same_order(
    store: SqlCaseStore, dense_rows: int
) -> None:
    cases = _cases(600)
    with store.transaction() as tx:
        for case in cases:
            tx.insert_case(case)
    reader = SqlCaseMap.for_store(store)
    _assert_same_as_brute_force(reader, cases, _viewports(random.Random(5), 25))
    # edges inclusive: a box of zero size exactly on a case's point finds it
    exact = next(c for c in cases if c.lat is not None and c.lon is not None)
    assert exact.lat is not None and exact.lon is not None
    point = (exact.lon, exact.lat, exact.lon, exact.lat)
    assert exact.id in [c.id for c in reader.cases_in_bbox(point, open_only=False, limit=10)]


def test_a_case_whose_point_moves_or_goes_is_found_only_where_it_is_now(
    store: SqlCaseStore,
) -> None:
    cases = _cases(300)
    with store.transaction() as tx:
        for case in cases:
            tx.insert_case(case)
    reader = SqlCaseMap.for_store(store)
    moved, cleared, placed = cases[0], cases[1], cases[3]  # cases[3] has no point
    assert moved.lat is not None and placed.lat is None
    old_box = (moved.lon - 1e-6, moved.lat - 1e-6, moved.lon + 1e-6, moved.lat + 1e-6)  # type: ignore[operator]
    assert moved.id in [c.id for c in reader.cases_in_bbox(old_box, open_only=False, limit=10)]
    now = {
        moved.id: dataclasses.replace(moved, lat=34.601, lon=119.201, version=moved.version + 1),
        cleared.id: dataclasses.replace(cleared, lat=None, lon=None, version=cleared.version + 1),
        placed.id: dataclasses.replace(placed, lat=34.619, lon=119.239, version=placed.version + 1),
    }
    with store.transaction() as tx:
        for case in now.values():
            tx.update_case(case, expected_version=case.version - 1)
    cases = [now.get(c.id, c) for c in cases]
    assert moved.id not in [c.id for c in reader.cases_in_bbox(old_box, open_only=False, limit=10)]
    near_new = (119.2009, 34.6009, 119.2011, 34.6011)
    assert moved.id in [c.id for c in reader.cases_in_bbox(near_new, open_only=False, limit=10)]
    _assert_same_as_brute_force(reader, cases, _viewports(random.Random(6), 15))
    # a deleted case leaves the index too (SQLite: the delete trigger)
    with store.engine.begin() as c:
        c.execute(sa.delete(t.cases).where(t.cases.c.id == moved.id))
    cases = [c for c in cases if c.id != moved.id]
    assert reader.cases_in_bbox(near_new, open_only=False, limit=10) == []
    _assert_same_as_brute_force(reader, cases, _viewports(random.Random(7), 5))


def test_a_viewport_crossing_no_case_is_empty(store: SqlCaseStore) -> None:
    cases = _cases(200)
    with store.transaction() as tx:
        for case in cases:
            tx.insert_case(case)
    reader = SqlCaseMap.for_store(store)
    for bbox in [(118.0, 34.0, 118.1, 34.1), (119.30, SOUTH, 119.31, NORTH), (0, 0, 0, 0)]:
        assert reader.cases_in_bbox(bbox, open_only=False, limit=1_000) == []


def _downgrade(engine: sa.Engine, revision: str) -> None:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def _rows(cases: Sequence[Case]) -> list[dict[str, Any]]:
    return [{**case_to_row(c), "overdue_notified": False} for c in cases]


def test_migration_0020_indexes_the_cases_already_stored(db_url: str) -> None:
    engine = open_engine(db_url)
    try:
        migrate(engine)  # a fresh database, or PostgreSQL's template, already at the head
        _downgrade(engine, "0019")
        cases = _cases(400, seed=3)
        with engine.begin() as c:
            insert_many(c, t.cases, _rows(cases))
        migrate(engine)
        reader = SqlCaseMap(engine)
        _assert_same_as_brute_force(reader, cases, _viewports(random.Random(8), 15))
        # bulk inserts after the migration are indexed too (imports, the benchmark)
        more = _cases(200, seed=4)
        with engine.begin() as c:
            insert_many(c, t.cases, _rows(more))
        _assert_same_as_brute_force(reader, cases + more, _viewports(random.Random(9), 15))
    finally:
        engine.dispose()


def test_the_viewport_query_goes_through_the_r_tree_or_the_gist_index(
    store: SqlCaseStore,
) -> None:
    cases = _cases(6_000, seed=11)
    with store.engine.begin() as c:
        insert_many(c, t.cases, _rows(cases))
        c.exec_driver_sql("ANALYZE" if store.engine.dialect.name == "sqlite" else "ANALYZE cases")
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.startswith("SELECT") and "cases" in statement:
            statements.append((statement, parameters))

    reader = SqlCaseMap.for_store(store)
    sa.event.listen(store.engine, "before_cursor_execute", capture)
    try:
        found = reader.cases_in_bbox((119.21, 34.59, 119.213, 34.5924), open_only=True, limit=1000)
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", capture)
    # the probe (how many, up to DENSE_ROWS) and the query itself
    assert found and len(statements) == 2
    sqlite = store.engine.dialect.name == "sqlite"
    explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
    for statement, parameters in statements:
        with store.engine.connect() as c:
            plan = "\n".join(
                " ".join(str(v) for v in row)
                for row in c.exec_driver_sql(explain + statement, parameters).all()
            )
        if sqlite:
            # INDEX 2: the R*Tree's box search (INDEX 1 would be a lookup by id), driving
            # the read of each case by rowid; no b-tree on lat/lon in between
            assert "SCAN cases_rtree VIRTUAL TABLE INDEX 2:" in plan, plan
            assert "SEARCH cases USING INTEGER PRIMARY KEY (rowid=?)" in plan, plan
            assert "ix_cases_near_position" not in plan, plan
        else:
            assert "Index Scan using ix_cases_point on cases" in plan or (
                "Bitmap Index Scan on ix_cases_point" in plan
            ), plan
            assert "Seq Scan" not in plan, plan
