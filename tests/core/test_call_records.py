"""Hotline call records on a real database (SQLite and PostgreSQL): kept once, no case.

A consultation, a status query, a transfer or a call that chose nothing reaches the core
as a candidate with ``facts.call_purpose``; the core stores it once by id as a call
record, opens no case (so nothing enters the review queue) and lists it in the API.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, get_args

import pytest

from adapters.storage.call_record_store import SqlCallRecords
from gateway.contract import CandidateCase, Location, Reporter, Source, SourceKind
from gateway.core.call_record_routes import Purpose
from gateway.core.call_records import RECORD_ONLY_PURPOSES, CallRecordFilter, proposes_case
from gateway.core.ports import CaseFilter
from gateway.core.workflow import CaseState
from tests.core.api_harness import USERS, Api, make_api
from tests.core.helpers import MONDAY_10, candidate


def call(uniqueid: str, purpose: str, **fields: Any) -> CandidateCase:
    """A candidate as `gateway.telephony.call_report` builds it for a call."""
    facts = {
        "channel": "phone",
        "uniqueid": uniqueid,
        "asterisk_channel": "Local/s@ivr-00000000;2",
        "caller": "13800138000",
        "started_at": "2026-01-05T01:59:30Z",
        "ended_at": "2026-01-05T02:00:00Z",
        "stage": "main_menu",
        "outcome": "transferred",
        "call_purpose": purpose,
        **fields.pop("facts", {}),
    }
    values: dict[str, Any] = {
        "id": f"call-{uniqueid}",
        "ts": MONDAY_10,
        "event_code": "0199",
        "title": "12319 咨询来电",
        "reporter": Reporter(callback_number="13800138000"),
        "facts": facts,
    }
    values.update(fields)
    return CandidateCase.create(source=Source(kind=SourceKind.CALL, id="agi-1"), **values)


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[Api]:
    harness = make_api(db_url, tmp_path)
    yield harness
    harness.close()


def records(api: Api, **query: Any) -> tuple[list[str], int]:
    found, total = SqlCallRecords.for_store(api.service.store).call_records(
        CallRecordFilter(**query)
    )
    return [r.id for r in found], total


# --------------------------------------------------------------------------- the decision


@pytest.mark.parametrize(
    ("purpose", "proposes"),
    [
        ("report", True),
        ("suggestion", True),
        ("consultation", False),
        ("status_query", False),
        ("transfer", False),
        ("none", False),
        ("a_purpose_from_a_newer_gateway", True),  # never lose a possible report
    ],
)
def test_only_a_call_that_asked_for_nothing_proposes_no_case(purpose: str, proposes: bool) -> None:
    assert proposes_case(call("1.1", purpose)) is proposes


def test_the_api_filters_by_exactly_the_purposes_kept_as_records() -> None:
    assert set(get_args(Purpose)) == RECORD_ONLY_PURPOSES


def test_a_candidate_that_is_not_a_call_always_proposes_a_case() -> None:
    camera = candidate(1, kind=SourceKind.CAMERA, facts={"call_purpose": "consultation"})
    assert proposes_case(camera)
    assert proposes_case(call("1.2", "consultation", facts={"call_purpose": None}))
    assert proposes_case(call("1.3", "consultation", facts={"call_purpose": ["consultation"]}))


# --------------------------------------------------------------------------- storing


def test_a_consultation_is_stored_once_as_a_call_record_and_opens_no_case(api: Api) -> None:
    service = api.service
    assert service.store_candidates([call("1.1", "consultation")]) == [True]
    assert service.store.count_cases() == 0
    assert service.store.pending_events(100) == []  # no case event either
    assert records(api) == (["call-1.1"], 1)
    # redelivery (MQTT QoS 1, or a gateway publishing its outbox again) stores nothing new
    assert service.store_candidates([call("1.1", "consultation")]) == [False]
    assert service.store_candidates([call("1.1", "consultation"), call("1.1", "consultation")]) == [
        False,
        False,
    ]
    assert records(api) == (["call-1.1"], 1)
    assert service.store.count_cases() == 0


def test_a_mixed_batch_keeps_its_order_and_only_reports_become_cases(api: Api) -> None:
    service = api.service
    batch = [
        call("2.1", "status_query", title="12319 查询来电 0126010500007"),
        candidate(1),
        call(
            "2.2",
            "report",
            title="12319 来电：市容环境（来电未完成）",
            location=Location(grid_code="32070390100101"),
            partial=True,
        ),
        call("2.3", "none", partial=True),
        call("2.1", "status_query"),  # the same call twice in one batch
        candidate(1),
        call("2.4", "transfer"),
    ]
    assert service.store_candidates(batch) == [True, True, True, True, False, False, True]
    cases, total = service.store.list_cases(CaseFilter())
    assert total == 2
    assert {c.title for c in cases} == {"candidate 1", "12319 来电：市容环境（来电未完成）"}
    assert all(c.state is CaseState.CANDIDATE for c in cases)  # the review queue: two
    partial_report = next(c for c in cases if c.source_kind == "call")
    assert partial_report.facts["partial"] is True
    ids, total = records(api)
    assert total == 3 and sorted(ids) == ["call-2.1", "call-2.3", "call-2.4"]
    again = service.store_candidates(batch)
    assert again == [False] * len(batch)
    assert service.store.count_cases() == 2 and records(api)[1] == 3


def test_a_call_record_keeps_the_call_facts_as_sent(api: Api) -> None:
    api.service.store_candidates(
        [call("3.1", "status_query", facts={"status_case_number": "0126010500007"})]
    )
    [record], _ = SqlCallRecords.for_store(api.service.store).call_records(CallRecordFilter())
    view = record.to_dict()
    assert view["call_purpose"] == "status_query"
    assert view["uniqueid"] == "3.1" and view["caller"] == "13800138000"
    assert view["asterisk_channel"] == "Local/s@ivr-00000000;2"
    assert view["status_case_number"] == "0126010500007"
    assert view["source"] == "call/agi-1" and view["received_at"] == MONDAY_10


def test_call_records_filter_by_purpose_and_time_newest_first(api: Api) -> None:
    service = api.service
    service.store_candidates([call("4.1", "consultation")])
    api.clock.advance(minutes=5)
    service.store_candidates([call("4.2", "status_query"), call("4.3", "consultation")])
    assert records(api) == (["call-4.2", "call-4.3", "call-4.1"], 3)
    assert records(api, purpose="consultation") == (["call-4.3", "call-4.1"], 2)
    assert records(api, purpose="transfer") == ([], 0)
    later = MONDAY_10 + timedelta(minutes=1)
    assert records(api, received_from=later) == (["call-4.2", "call-4.3"], 2)
    assert records(api, received_to=later) == (["call-4.1"], 1)
    assert records(api, offset=1, limit=1) == (["call-4.3"], 3)


def test_the_calls_about_one_case_are_its_callbacks_and_status_calls(api: Api) -> None:
    """The case page's 回访与来电: a callback waiting (do-not-call), a callback made, a
    status call naming the case; not another case's callback, not a consultation."""
    api.service.store_candidates(
        [
            call(
                "6.1",
                "callback",
                facts={"status_case_number": "0126010500001", "outcome": "waiting:do_not_call"},
            ),
            call("6.2", "callback", facts={"status_case_number": "0126010500002"}),
            call("6.3", "consultation"),
        ]
    )
    api.clock.advance(minutes=5)
    api.service.store_candidates(
        [call("6.4", "status_query", facts={"status_case_number": "0126010500001"})]
    )
    assert records(api, case_number="0126010500001") == (["call-6.4", "call-6.1"], 2)
    assert records(api, case_number="0126010500001", purpose="callback") == (["call-6.1"], 1)
    assert records(api, case_number="0126010599999") == ([], 0)
    bad = api.client.get(
        "/api/v1/call-records",
        params={"case_number": "x' OR 1=1"},
        headers=api.headers("operator"),
    )
    assert bad.status_code == 422


# --------------------------------------------------------------------------- the API


def test_the_desk_lists_call_records_and_other_roles_may_not(api: Api) -> None:
    api.service.store_candidates([call("5.1", "consultation"), call("5.2", "none", partial=True)])
    for role in ("operator", "shift_lead", "admin"):
        response = api.client.get("/api/v1/call-records", headers=api.headers(role))
        assert response.status_code == 200, (role, response.text)
        page = response.json()
        assert page["total"] == 2
        assert {item["uniqueid"] for item in page["items"]} == {"5.1", "5.2"}
    page = api.client.get(
        "/api/v1/call-records?purpose=none", headers=api.headers("operator")
    ).json()
    [item] = page["items"]
    assert item["call_purpose"] == "none" and item["partial"] is True
    assert item["caller"] == "13800138000" and item["started_at"] == "2026-01-05T01:59:30Z"
    for role in set(USERS) - {"operator", "shift_lead", "admin"}:
        refused = api.client.get("/api/v1/call-records", headers=api.headers(role))
        assert refused.status_code == 403 and refused.json()["error"] == "forbidden_role"
    assert api.client.get("/api/v1/call-records").status_code == 401


def test_the_call_record_list_refuses_bad_filters(api: Api) -> None:
    h = api.headers("operator")
    assert api.client.get("/api/v1/call-records?purpose=report", headers=h).status_code == 422
    naive = api.client.get("/api/v1/call-records?received_from=2026-01-05T00:00:00", headers=h)
    assert naive.status_code == 422 and naive.json()["error"] == "invalid_request"
    assert api.client.get("/api/v1/call-records?limit=0", headers=h).status_code == 422
