"""One call, two records: the IVR's stands, the CDR's "never reached the IVR" is set aside.

`citygw ami` records a hotline call from Asterisk's CDR when no IVR record of it came
within its grace (issue 20 §3). The IVR's record may still come later (its gateway was
restarting; its outbox waited on the broker). The core then holds both; it must list
the call once, as the IVR recorded it, whichever record it stored first, in one batch
or two, on SQLite and PostgreSQL, and for calls stored before this rule (migration 0019).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig

from adapters.storage.call_record_store import SqlCallRecords
from adapters.storage.database import MIGRATIONS, migrate, open_engine
from gateway.contract import CandidateCase, Location, Source, SourceKind
from gateway.core.call_records import CallRecordFilter
from gateway.core.ports import CaseFilter
from gateway.telephony.unhandled_calls import CdrRecord, unhandled_call_record
from tests.core.api_harness import Api, make_api
from tests.core.helpers import MONDAY_10
from tests.core.test_call_records import call

_SOURCE = Source(kind=SourceKind.CALL, id="agi-1")


def from_cdr(uniqueid: str) -> CandidateCase:
    """The record `citygw ami` publishes for a call it took for one the IVR never handled."""
    cdr = CdrRecord(
        uniqueid=uniqueid,
        source="13800138000",
        caller_id='"" <13800138000>',
        channel="PJSIP/trunk-00000001",
        context="citygw-hotline",
        last_application="AGI",
        last_data="agi://127.0.0.1:4573/ivr",
        start="2026-01-05 09:59:30",
        answer="2026-01-05 09:59:31",
        end="2026-01-05 10:00:00",
        duration_s=30,
        billable_s=29,
        disposition="ANSWERED",
    )
    return unhandled_call_record(cdr, source=_SOURCE, fallback_event_code="0199", at=MONDAY_10)


def ivr_report(uniqueid: str) -> CandidateCase:
    return call(
        uniqueid,
        "report",
        id=f"report-{uniqueid}",
        title="12319 来电：市容环境",
        location=Location(grid_code="32070390100101"),
    )


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[Api]:
    harness = make_api(db_url, tmp_path)
    yield harness
    harness.close()


def listed(api: Api) -> list[str]:
    found, total = SqlCallRecords.for_store(api.service.store).call_records(CallRecordFilter())
    assert total == len(found)
    return sorted(r.id for r in found)


def outcomes(api: Api) -> dict[str, str]:
    engine = api.service.store.engine  # type: ignore[attr-defined]
    with engine.connect() as c:
        rows = c.execute(sa.text("SELECT id, outcome FROM candidates")).all()
    return {row[0]: row[1] for row in rows}


def test_a_late_ivr_consultation_sets_the_cdr_record_aside(api: Api) -> None:
    cdr = from_cdr("1733400000.11")
    assert api.service.store_candidates([cdr]) == [True]
    assert listed(api) == [cdr.id]  # before the IVR's record: the call as the CDR saw it
    assert api.service.store_candidates([call("1733400000.11", "consultation")]) == [True]
    assert listed(api) == ["call-1733400000.11"]
    assert outcomes(api)[cdr.id] == "call_set_aside"  # kept, for the audit
    # the CDR record delivered again changes nothing
    assert api.service.store_candidates([cdr]) == [False]
    assert listed(api) == ["call-1733400000.11"]


def test_a_late_ivr_report_opens_its_case_and_sets_the_cdr_record_aside(api: Api) -> None:
    cdr = from_cdr("1733400000.12")
    api.service.store_candidates([cdr])
    assert api.service.store_candidates([ivr_report("1733400000.12")]) == [True]
    cases, total = api.service.store.list_cases(CaseFilter())
    assert total == 1 and cases[0].title == "12319 来电：市容环境"
    assert listed(api) == []  # a report is its case, not a call record
    assert outcomes(api)[cdr.id] == "call_set_aside"


def test_a_cdr_record_after_the_ivr_record_is_set_aside_at_once(api: Api) -> None:
    """The AMI side's check (``cdr_recorded``) normally stops this; a catch-up from
    Master.csv on a host whose callbacks store was lost still must not list it."""
    api.service.store_candidates([call("1733400000.13", "status_query")])
    cdr = from_cdr("1733400000.13")
    assert api.service.store_candidates([cdr]) == [True]
    assert listed(api) == ["call-1733400000.13"]
    assert outcomes(api)[cdr.id] == "call_set_aside"


@pytest.mark.parametrize("cdr_first", [True, False])
def test_both_records_in_one_batch(api: Api, cdr_first: bool) -> None:
    cdr, ivr = from_cdr("1733400000.14"), call("1733400000.14", "transfer")
    batch = [cdr, ivr] if cdr_first else [ivr, cdr]
    assert api.service.store_candidates(batch) == [True, True]
    assert listed(api) == ["call-1733400000.14"]


def test_a_call_only_the_cdr_saw_stays_listed_and_other_calls_are_untouched(api: Api) -> None:
    alone = from_cdr("1733400000.15")
    api.service.store_candidates([alone, from_cdr("1733400000.16")])
    api.service.store_candidates([call("1733400000.16", "none"), call("1733400000.17", "none")])
    assert listed(api) == sorted([alone.id, "call-1733400000.16", "call-1733400000.17"])
    states = outcomes(api)
    assert states[alone.id] == "call_record"
    assert list(states.values()).count("call_set_aside") == 1


def _insert_at_0018(connection: sa.Connection, candidate: CandidateCase, outcome: str) -> None:
    """A call record as the core stored it before migration 0019 (no call_uniqueid)."""
    body: dict[str, Any] = candidate.model_dump(mode="json", by_alias=True, exclude_none=True)
    value = "CAST(:body AS json)" if connection.dialect.name == "postgresql" else ":body"
    connection.execute(
        sa.text(
            "INSERT INTO candidates (id, case_id, source_kind, source_id, event_code,"
            " produced_at, received_at, outcome, body) VALUES (:id, '', 'call', 'agi-1',"
            f" :code, :at, :at, :outcome, {value})"
        ),
        {
            "id": candidate.id,
            "code": candidate.event_code,
            "at": datetime(2026, 1, 5, 2, 0, tzinfo=UTC).replace(tzinfo=None),
            "outcome": outcome,
            "body": json.dumps(body, ensure_ascii=False),
        },
    )


def _downgrade(engine: sa.Engine, revision: str) -> None:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_migration_0019_fills_the_column_and_sets_aside_the_twins_already_stored(
    db_url: str,
) -> None:
    engine = open_engine(db_url)
    try:
        migrate(engine)  # a fresh database, or PostgreSQL's template, already at the head
        _downgrade(engine, "0018")
        twin, alone = from_cdr("1733400000.21"), from_cdr("1733400000.22")
        with engine.begin() as c:
            _insert_at_0018(c, twin, "call_record")
            _insert_at_0018(c, alone, "call_record")
            _insert_at_0018(c, call("1733400000.21", "consultation"), "call_record")
        migrate(engine)
        with engine.connect() as c:
            rows = c.execute(
                sa.text("SELECT id, outcome, call_uniqueid FROM candidates ORDER BY id")
            ).all()
    finally:
        engine.dispose()
    found = {row[0]: (row[1], row[2]) for row in rows}
    assert found == {
        twin.id: ("call_set_aside", "1733400000.21"),
        alone.id: ("call_record", "1733400000.22"),
        "call-1733400000.21": ("call_record", "1733400000.21"),
    }
