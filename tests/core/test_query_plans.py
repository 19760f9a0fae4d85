"""The intake's lookups use the indexes made for them (SQLite's query planner says so).

Every candidate batch asks for open cases by (event code, grid), by (event code, box)
and by camera track. Without their indexes those lookups scan every case, and intake
slows as the table grows; indexes that no lookup needs only slow every insert
(migration 0004 dropped two).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.storage.case_store import SqlCaseStore, SqlCaseTransaction
from gateway.core.intake import bounding_box

SINCE = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlCaseStore]:
    store = SqlCaseStore.open(f"sqlite:///{tmp_path / 'core.sqlite3'}")
    yield store
    store.close()


def _plans(store: SqlCaseStore, lookup: Callable[[SqlCaseTransaction], Any]) -> list[str]:
    """SQLite's plan of every SELECT on ``cases`` that ``lookup`` makes."""
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "cases" in statement:
            statements.append((statement, parameters))

    sa.event.listen(store.engine, "before_cursor_execute", capture)
    try:
        with store.transaction() as tx:
            lookup(tx)
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", capture)
    assert statements, "the lookup made no query on cases"
    plans = []
    with store.engine.connect() as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        for statement, parameters in statements:
            rows = raw.execute(f"EXPLAIN QUERY PLAN {statement}", parameters).fetchall()
            plans.append(" | ".join(row[-1] for row in rows))
    return plans


def test_the_lookup_by_grid_uses_the_grid_index(store: SqlCaseStore) -> None:
    plans = _plans(store, lambda tx: tx.open_cases_in_grids([("0505", "11010100100101")], SINCE))
    assert all("USING INDEX ix_cases_near_grid" in plan for plan in plans), plans


def test_the_lookup_by_position_uses_the_position_index(store: SqlCaseStore) -> None:
    box = bounding_box(39.9, 116.4, 50)
    plans = _plans(store, lambda tx: tx.open_cases_in_boxes([("0505", box)], SINCE))
    assert all("USING INDEX ix_cases_near_position" in plan for plan in plans), plans


def test_the_lookup_by_camera_track_uses_the_track_index(store: SqlCaseStore) -> None:
    plans = _plans(store, lambda tx: tx.cases_by_tracks(["gate-3:17"], SINCE))
    assert all("USING INDEX ix_cases_track_key" in plan for plan in plans), plans


def test_no_index_is_kept_that_only_costs_inserts(store: SqlCaseStore) -> None:
    with store.engine.connect() as connection:
        indexes = {ix["name"] for ix in sa.inspect(connection).get_indexes("cases")}
    assert "ix_cases_event_code" not in indexes and "ix_cases_dup_lookup" not in indexes
    assert {"ix_cases_near_grid", "ix_cases_near_position", "ix_cases_track_key"} <= indexes
