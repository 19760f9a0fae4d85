"""The lookups use the indexes made for them (SQLite's query planner says so).

Every candidate batch asks for open cases by (event code, grid), by (event code, box)
and by camera track; the console lists a department's cases and cases due before a
time. Without their indexes those lookups scan every case, and slow as the table grows;
indexes that no lookup needs only slow every insert (migration 0004 dropped two), and
an index of a column that most new cases leave empty is partial (migration 0005).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.storage.case_store import SqlCaseStore
from adapters.storage.case_transaction import SqlCaseTransaction
from gateway.core.intake import bounding_box
from gateway.core.ports import CaseFilter

SINCE = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlCaseStore]:
    store = SqlCaseStore.open(f"sqlite:///{tmp_path / 'core.sqlite3'}")
    yield store
    store.close()


def _in_transaction(lookup: Callable[[SqlCaseTransaction], Any]) -> Callable[[SqlCaseStore], Any]:
    def run(store: SqlCaseStore) -> None:
        with store.transaction() as tx:
            lookup(tx)

    return run


def _plans(store: SqlCaseStore, lookup: Callable[[SqlCaseStore], Any]) -> list[str]:
    """SQLite's plan of every SELECT on ``cases`` that ``lookup`` makes."""
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "cases" in statement:
            statements.append((statement, parameters))

    sa.event.listen(store.engine, "before_cursor_execute", capture)
    try:
        lookup(store)
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
    plans = _plans(
        store,
        _in_transaction(lambda tx: tx.open_cases_in_grids([("0505", "32070690100101")], SINCE)),
    )
    assert all("USING INDEX ix_cases_near_grid" in plan for plan in plans), plans


def test_the_lookup_by_position_uses_the_position_index(store: SqlCaseStore) -> None:
    box = bounding_box(34.55, 119.15, 50)
    plans = _plans(
        store, _in_transaction(lambda tx: tx.open_cases_in_boxes([("0505", box)], SINCE))
    )
    assert all("USING INDEX ix_cases_near_position" in plan for plan in plans), plans


def test_the_lookup_by_camera_track_uses_the_track_index(store: SqlCaseStore) -> None:
    plans = _plans(store, _in_transaction(lambda tx: tx.cases_by_tracks(["gate-3:17"], SINCE)))
    assert all("USING INDEX ix_cases_track_key" in plan for plan in plans), plans


def test_a_department_s_list_uses_the_partial_department_index(store: SqlCaseStore) -> None:
    plans = _plans(store, lambda s: s.list_cases(CaseFilter(department="city-appearance")))
    assert all("INDEX ix_cases_department (department=?)" in plan for plan in plans), plans


def test_the_list_of_cases_due_before_a_time_uses_the_partial_deadline_index(
    store: SqlCaseStore,
) -> None:
    plans = _plans(store, lambda s: s.list_cases(CaseFilter(deadline_before=SINCE)))
    assert all("INDEX ix_cases_deadline (deadline<?)" in plan for plan in plans), plans


def test_a_community_s_list_uses_the_partial_community_index(store: SqlCaseStore) -> None:
    plans = _plans(store, lambda s: s.list_cases(CaseFilter(community="community-320706001001")))
    assert all("INDEX ix_cases_community (community=?)" in plan for plan in plans), plans


def test_no_index_is_kept_that_only_costs_inserts(store: SqlCaseStore) -> None:
    with store.engine.connect() as connection:
        indexes = {ix["name"] for ix in sa.inspect(connection).get_indexes("cases")}
    assert "ix_cases_event_code" not in indexes and "ix_cases_dup_lookup" not in indexes
    assert {"ix_cases_near_grid", "ix_cases_near_position", "ix_cases_track_key"} <= indexes


def test_cases_without_a_department_deadline_track_or_position_are_not_indexed_there(
    store: SqlCaseStore,
) -> None:
    with store.engine.connect() as connection:
        partial = {
            row[0]
            for row in connection.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'cases'"
                " AND sql LIKE '% WHERE %IS NOT NULL'"
            )
        }
    assert partial == {
        "ix_cases_department",
        "ix_cases_deadline",
        "ix_cases_track_key",
        "ix_cases_near_position",
        "ix_cases_callback_number",  # a caller's earlier cases (migration 0015)
        "ix_cases_community",  # a community's cases (四级联动, migration 0017)
    }
