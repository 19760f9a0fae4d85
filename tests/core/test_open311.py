"""Open311 GeoReport v2 as the spec (wiki.open311.org/GeoReport_v2) describes it: JSON and
XML on every route, GeoReport error lists, service definitions, media_url, and a public
request list that shows reviewed cases only and no personal data."""

from __future__ import annotations

import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn
from georeport import GeoReport
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.contract import Location, SourceKind
from gateway.core.codes import load_event_names
from gateway.core.open311 import parse_query, public_text
from gateway.core.open311_format import Open311Error
from gateway.core.open311_services import load_service_attributes
from gateway.core.ports import CaseFilter
from tests.core.api_harness import PASSWORD, USERS, Api, make_api
from tests.core.helpers import MONDAY_10, candidate

BASE = "/open311/v2"
GRID = "32070690100101"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    harness = make_api(f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path)
    yield harness
    harness.close()


def xml(response: Any) -> ET.Element:
    assert response.headers["content-type"].startswith("text/xml"), response.headers
    return ET.fromstring(response.content)


def post(api: Api, fmt: str = "json", role: str = "operator", **fields: Any) -> Any:
    form = {"api_key": api.tokens[role], "service_code": "0102", "address_id": GRID, **fields}
    return api.client.post(f"{BASE}/requests.{fmt}", data=form)


def posted_number(api: Api, **fields: Any) -> str:
    response = post(api, **fields)
    assert response.status_code == 200, response.text
    return response.json()[0]["service_request_id"]


def case_id(api: Api, number: str) -> str:
    case = api.service.store.case_by_number(number)
    assert case is not None
    return case.id


def act(api: Api, role: str, number: str, action: str, **body: object) -> None:
    response = api.client.post(
        f"/api/v1/cases/{case_id(api, number)}/transitions",
        headers=api.headers(role),
        json={"action": action, **body},
    )
    assert response.status_code == 200, response.text


def relogin(api: Api) -> None:
    """New tokens for everyone (the clock moved past their lifetime)."""
    for role, (name, _department) in USERS.items():
        api.tokens[role] = api.auth.login(name, PASSWORD)[0]


def errors(response: Any) -> list[tuple[int, str]]:
    """The GeoReport error list of a JSON or XML answer."""
    if response.headers["content-type"].startswith("text/xml"):
        root = xml(response)
        assert root.tag == "errors"
        return [(int(e.findtext("code") or 0), e.findtext("description") or "") for e in root]
    body = response.json()
    assert isinstance(body, list) and body, body
    assert all(set(e) == {"code", "description"} for e in body), body
    return [(e["code"], e["description"]) for e in body]


# --------------------------------------------------------------------------- services


def test_the_service_list_is_the_same_in_json_and_xml(api: Api) -> None:
    listed = api.client.get(f"{BASE}/services.json").json()
    root = xml(api.client.get(f"{BASE}/services.xml"))
    assert root.tag == "services" and len(root) == len(listed) > 90
    by_code = {s["service_code"]: s for s in listed}
    for element in root:
        assert element.tag == "service"
        service = by_code[element.findtext("service_code") or ""]
        assert element.findtext("service_name") == service["service_name"]
        assert element.findtext("metadata") == ("true" if service["metadata"] else "false")
    assert by_code["0505"]["service_name"] == "机动车乱停放" and by_code["0505"]["metadata"]
    assert by_code["0102"]["metadata"] is False
    assert by_code["0505"]["group"] == "街面秩序" and by_code["0104"]["keywords"] == "道路保洁"
    assert by_code["0406"]["keywords"] == ""  # its alt_name is another event elsewhere


def test_a_service_with_attributes_has_a_definition_in_json_and_xml(api: Api) -> None:
    definition = api.client.get(f"{BASE}/services/0505.json").json()
    assert definition["service_code"] == "0505"
    plate, blocking = definition["attributes"]
    assert plate["code"] == "plate" and plate["datatype"] == "string" and plate["order"] == 1
    assert blocking["datatype"] == "multivaluelist" and blocking["required"] is False
    assert {"key": "fire_lane", "name": "消防通道"} in blocking["values"]
    root = xml(api.client.get(f"{BASE}/services/0505.xml"))
    assert root.tag == "service_definition" and root.findtext("service_code") == "0505"
    attributes = root.find("attributes")
    assert attributes is not None
    assert [a.findtext("code") for a in attributes.findall("attribute")] == ["plate", "blocking"]
    values = attributes.findall("attribute/values/value")
    assert [v.findtext("key") for v in values] == [v["key"] for v in blocking["values"]]
    notice = api.client.get(f"{BASE}/services/0403.json").json()["attributes"][0]
    assert notice["variable"] is False and "119" in notice["description"]
    assert api.client.get(f"{BASE}/services/0102.json").json()["attributes"] == []


def test_unknown_services_and_formats_are_georeport_errors(api: Api) -> None:
    for fmt in ("json", "xml"):
        response = api.client.get(f"{BASE}/services/9999.{fmt}")
        assert response.status_code == 404 and errors(response)[0][0] == 404
    for url in (f"{BASE}/services.csv", f"{BASE}/requests/C1.html", f"{BASE}/requests.yaml"):
        response = api.client.get(url)
        assert response.status_code == 404 and errors(response)[0][0] == 404, url
    response = api.client.post(f"{BASE}/requests.txt", data={"service_code": "0102"})
    assert response.status_code == 404 and errors(response)


# --------------------------------------------------------------------------- posting


def test_missing_and_invalid_fields_are_all_named_in_a_georeport_error_list(api: Api) -> None:
    for fmt in ("json", "xml"):
        response = api.client.post(
            f"{BASE}/requests.{fmt}",
            data={"api_key": api.tokens["operator"], "lat": "north", "media_url": "ftp://x"},
        )
        assert response.status_code == 400, response.text
        found = errors(response)
        assert {code for code, _ in found} == {400}
        text = " | ".join(d for _, d in found)
        for part in ("service_code is required", "lat is not a number", "media_url", "location"):
            assert part in text, text
    unknown = post(api, service_code="0000")
    assert unknown.status_code == 400 and "0000" in errors(unknown)[0][1]
    unknown_grid = post(api, address_id="99999999999999")
    assert unknown_grid.status_code == 400 and "address_id" in errors(unknown_grid)[0][1]
    assert "error" not in str(post(api, lat="1").json())  # never the REST API's 422 body


def test_only_a_valid_reporters_api_key_may_post(api: Api) -> None:
    for key in ("nope", ""):
        response = api.client.post(
            f"{BASE}/requests.xml", data={"api_key": key, "service_code": "0102"}
        )
        assert response.status_code == 403 and errors(response) == [(403, "invalid api_key")]
    assert api.client.post(f"{BASE}/requests.json", data={}).status_code == 403
    department = post(api, role="department")
    assert department.status_code == 403 and "may not report" in errors(department)[0][1]
    assert post(api, role="inspector").status_code == 200


ANSWERS_0505: dict[str, Any] = {
    "attribute[plate]": "苏G12345",
    "attribute[blocking][]": ["blind_path", "entrance"],
}


def test_a_post_answers_in_xml_and_keeps_the_reporter_media_url_and_answers(api: Api) -> None:
    response = post(
        api,
        fmt="xml",
        service_code="0505",
        lat="34.55",
        long="119.15",
        description="车停在盲道上",
        first_name="张",
        last_name="三",
        phone="+86 138-0013-8000",
        media_url="https://photos.example.org/p/1.jpg",
        account_id="acct-7",
        **ANSWERS_0505,
    )
    assert response.status_code == 200, response.text
    root = xml(response)
    assert root.tag == "service_requests" and root[0].tag == "request"
    number = root[0].findtext("service_request_id") or ""
    assert root[0].findtext("account_id") == "acct-7" and root[0].findtext("service_notice")
    case = api.service.store.case_by_number(number)
    assert case is not None and case.event_code == "0505" and not case.urgent
    assert case.reporter_name == "张 三" and case.callback_number == "+8613800138000"
    assert case.facts["media_url"] == "https://photos.example.org/p/1.jpg"
    assert case.facts["open311_attributes"] == {
        "plate": "苏G12345",
        "blocking": ["blind_path", "entrance"],
    }
    assert case.facts["reported_by"] == "olga"


def test_attribute_answers_are_checked_and_an_urgent_choice_makes_the_case_urgent(
    api: Api,
) -> None:
    missing = post(api, service_code="0401")
    assert missing.status_code == 400
    assert errors(missing) == [(400, "attribute[injured] is required")]
    wrong = post(
        api,
        service_code="0401",
        **{"attribute[injured]": "maybe", "attribute[size_m]": "big", "attribute[colour]": "x"},
    )
    text = " | ".join(d for _, d in errors(wrong))
    assert "no choice 'maybe'" in text and "not a number" in text
    assert "attribute[colour] is not an attribute" in text
    notice = post(
        api, service_code="0403", **{"attribute[injured]": "no", "attribute[gas_notice]": "x"}
    )
    assert "gas_notice" in errors(notice)[0][1]  # a notice is not an answer
    number = posted_number(api, service_code="0401", **{"attribute[injured]": "yes"})
    case = api.service.store.case_by_number(number)
    assert (
        case is not None and case.urgent and case.facts["open311_attributes"] == {"injured": "yes"}
    )
    number = posted_number(api, service_code="0505", **{"attribute[blocking][]": "fire_lane"})
    assert api.service.store.get_case(case_id(api, number)).urgent  # type: ignore[union-attr]
    calm = posted_number(api, service_code="0401", **{"attribute[injured]": "no"})
    assert not api.service.store.get_case(case_id(api, calm)).urgent  # type: ignore[union-attr]


# --------------------------------------------------------------------------- reading


def test_a_request_is_public_once_registered_with_its_media_url(api: Api) -> None:
    number = posted_number(
        api,
        description="有人在此乱倒垃圾，请回电 13800138000",
        media_url="https://photos.example.org/p/2.jpg",
        first_name="李四",
        phone="13900139000",
    )
    for fmt in ("json", "xml"):  # a candidate nobody has reviewed is not public
        assert api.client.get(f"{BASE}/requests/{number}.{fmt}").status_code == 404
    assert api.client.get(f"{BASE}/requests.json").json() == []
    act(api, "operator", number, "register")
    [request] = api.client.get(f"{BASE}/requests/{number}.json").json()
    assert request["status"] == "open" and request["status_notes"] == "立案"
    assert request["media_url"] == "https://photos.example.org/p/2.jpg"
    assert request["address_id"] == GRID and request["service_code"] == "0102"
    assert "138****8000" in request["description"]
    root = xml(api.client.get(f"{BASE}/requests/{number}.xml"))
    assert root.tag == "service_requests"
    [element] = root.findall("request")
    assert element.findtext("media_url") == request["media_url"]
    assert element.findtext("status") == "open" and element.find("zipcode") is not None
    listed = api.client.get(f"{BASE}/requests.json").json()
    assert [r["service_request_id"] for r in listed] == [number]
    for response in (
        api.client.get(f"{BASE}/requests.json"),
        api.client.get(f"{BASE}/requests.xml"),
    ):
        for private in ("李四", "13900139000", "13800138000", "olga"):
            assert private not in response.text


def test_rejected_voided_and_unreviewed_cases_are_never_listed(api: Api) -> None:
    api.service.store_candidates(
        [
            candidate(
                n,
                kind=SourceKind.CAMERA,
                source_id="cam-1",
                event_code="0505",
                location=Location(camera_id="cam-1", zone_id="gate", lat=34.55, lon=119.15 + n),
                facts={"track_id": n},
            )
            for n in range(1, 5)
        ]
    )
    cases, _ = api.service.store.list_cases(CaseFilter())
    false_alarm, voided, real, waiting = sorted(cases, key=lambda c: c.number)
    act(api, "operator", false_alarm.number, "reject", opinion="误报")
    act(api, "operator", voided.number, "register")
    act(api, "operator", voided.number, "request_void", opinion="重复登记")
    act(api, "shift_lead", voided.number, "approve")
    act(api, "operator", real.number, "register")
    for query in ("", "?status=open", "?status=closed", "?status=open,closed"):
        for fmt in ("json", "xml"):
            response = api.client.get(f"{BASE}/requests.{fmt}{query}")
            assert response.status_code == 200
            for hidden in (false_alarm, voided, waiting):
                assert hidden.number not in response.text, (query, hidden.state)
    listed = api.client.get(f"{BASE}/requests.json?status=open").json()
    assert [r["service_request_id"] for r in listed] == [real.number]
    assert api.client.get(f"{BASE}/requests.json?status=closed").json() == []
    everyone = ",".join(c.number for c in cases)
    by_id = api.client.get(f"{BASE}/requests.json?service_request_id={everyone}").json()
    assert [r["service_request_id"] for r in by_id] == [real.number]
    for hidden in (false_alarm, voided, waiting):
        assert api.client.get(f"{BASE}/requests/{hidden.number}.json").status_code == 404


def test_a_duplicate_merged_into_a_public_case_is_closed_and_names_it(api: Api) -> None:
    first = posted_number(api)
    second = posted_number(api)
    act(api, "operator", first, "register")
    act(api, "operator", second, "merge", merge_into=case_id(api, first))
    [merged] = api.client.get(f"{BASE}/requests/{second}.json").json()
    assert merged["status"] == "closed" and first in merged["status_notes"]
    closed = api.client.get(f"{BASE}/requests.json?status=closed").json()
    assert [r["service_request_id"] for r in closed] == [second]


def test_filters_by_service_code_date_and_state(api: Api) -> None:
    parked = posted_number(api, service_code="0505")
    api.clock.advance(days=2)
    relogin(api)
    litter = posted_number(api)
    for number in (parked, litter):
        act(api, "operator", number, "register")
    act(api, "dispatcher", litter, "dispatch")

    def numbers(query: str) -> list[str]:
        response = api.client.get(f"{BASE}/requests.json?{query}")
        assert response.status_code == 200, response.text
        return [r["service_request_id"] for r in response.json()]

    assert numbers("") == [litter, parked]  # newest first
    assert numbers("service_code=0505") == numbers("service_code=0505,0505") == [parked]
    assert numbers("service_code=0505,0102") == [litter, parked]
    assert numbers("start_date=2026-01-06T00:00:00Z") == [litter]
    assert numbers("end_date=2026-01-06T00:00:00%2B00:00") == [parked]
    assert numbers("start_date=2026-01-05T02:00:00Z&end_date=2026-01-05T02:00:00Z") == [parked]
    [dispatched] = api.client.get(f"{BASE}/requests/{litter}.json").json()
    deadline = api.service.store.get_case(case_id(api, litter)).deadline  # type: ignore[union-attr]
    assert deadline is not None and dispatched["agency_responsible"] == "sanitation"
    assert datetime.fromisoformat(dispatched["expected_datetime"]) == deadline
    api.clock.advance(days=100)
    assert numbers("") == []  # the last 90 days by default
    assert numbers("start_date=2026-01-01T00:00:00Z") == [litter, parked]


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ({"start_date": "2026-01-05"}, "time zone"),
        ({"start_date": "yesterday"}, "W3C"),
        ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}, "90 days"),
        ({"start_date": "2026-02-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"}, "before"),
        ({"status": "pending"}, "status"),
        ({"service_code": "05"}, "service_code"),
        ({"page_size": "0"}, "page_size"),
    ],
)
def test_bad_filters_are_georeport_errors(api: Api, query: dict[str, str], says: str) -> None:
    for fmt in ("json", "xml"):
        response = api.client.get(f"{BASE}/requests.{fmt}", params=query)
        assert response.status_code == 400
        [(code, description)] = errors(response)
        assert code == 400 and says in description


def test_personal_numbers_in_public_text_are_masked() -> None:
    assert public_text("请回电 13800138000。") == "请回电 138****8000。"
    assert public_text("电话 +86 138-0013-8000") == "电话 138****8000"
    assert public_text("座机 025-85551234") == "座机 025****1234"
    assert public_text("身份证 32070319900101123X") == "身份证 3****************X"
    kept = "案件 C00000012，网格 32070690100101，车牌 苏G12345，3 辆车"
    assert public_text(kept) == kept


def test_a_query_without_dates_covers_the_last_90_days() -> None:
    query = parse_query(MONDAY_10)
    assert query.end == MONDAY_10 and query.start == MONDAY_10 - timedelta(days=90)
    with pytest.raises(Open311Error) as refused:
        parse_query(MONDAY_10, start_date="x", end_date="y", status="z")
    assert len(refused.value.errors) == 3  # every problem at once


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    params=st.dictionaries(
        st.sampled_from(
            ["service_request_id", "service_code", "start_date", "end_date", "status", "page_size"]
        ),
        st.text(max_size=30),
        max_size=4,
    ),
    fmt=st.sampled_from(["json", "xml"]),
)
def test_any_query_is_answered_with_requests_or_a_georeport_error(
    api: Api, params: dict[str, str], fmt: str
) -> None:
    response = api.client.get(f"{BASE}/requests.{fmt}", params=params)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert errors(response)
    elif fmt == "xml":
        assert xml(response).tag == "service_requests"


# --------------------------------------------------------------------------- a client


@pytest.fixture
def served(api: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The API on a local port (uvicorn in a thread): the root address of its Open311."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(api.client.app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}{BASE}"
    server.should_exit = True
    thread.join(10)
    sock.close()


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_the_georeport_client_reads_services_definitions_and_requests(
    api: Api, served: str, fmt: str
) -> None:
    client = GeoReport(served, output_format=fmt)
    services = client.get_service_list()
    parked = next(s for s in services if s["service_code"] == "0505")
    assert parked["service_name"] == "机动车乱停放" and str(parked["metadata"]) in ("True", "true")
    definition = client.get_service_definition("0401")
    attributes = definition["attributes"]
    injured = (attributes["attribute"] if fmt == "xml" else attributes)[0]
    assert injured["code"] == "injured" and str(injured["required"]).lower() == "true"
    first = posted_number(api, service_code="0401", **{"attribute[injured]": "no"})
    second = posted_number(api, media_url="https://photos.example.org/p/3.jpg")
    act(api, "operator", first, "register")
    act(api, "operator", second, "register")
    listed = client.get_service_requests(status="open", service_code="0401,0102")
    assert sorted(r["service_request_id"] for r in listed) == sorted([first, second])
    one = client.get_service_request(second)
    assert one["service_request_id"] == second and one["status"] == "open"
    assert one["media_url"] == "https://photos.example.org/p/3.jpg"
    with pytest.raises(requests.HTTPError) as missing:
        client.get_service_request("C99999999")
    assert missing.value.response is not None and missing.value.response.status_code == 404


def test_the_service_table_names_event_codes_and_fits_each_datatype(tmp_path: Path) -> None:
    table = load_service_attributes(event_codes=list(load_event_names()))
    assert {"0505", "0401"} <= set(table) and all(len(code) == 4 for code in table)
    bad = {
        "values on a string": '"0505": [{code: a, datatype: string, description: x, values: [{key: k, name: n}]}]',
        "a list without values": '"0505": [{code: a, datatype: singlevaluelist, description: x}]',
        "a required notice": '"0505": [{code: a, datatype: text, variable: false, required: true, description: x}]',
        "not an event": '"0600": [{code: a, datatype: string, description: x}]',
        "repeated codes": '"0505": [{code: a, datatype: string, description: x}, {code: a, datatype: text, description: y}]',
    }
    for why, text in bad.items():
        path = tmp_path / "services.yaml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ValueError, match=r"services\.yaml"):
            load_service_attributes(path, event_codes=["0505"])
            pytest.fail(why)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    form=st.dictionaries(
        st.sampled_from(
            [
                "service_code",
                "lat",
                "long",
                "address_string",
                "address_id",
                "media_url",
                "phone",
                "attribute[injured]",
                "attribute[blocking][]",
                "attribute[]",
            ]
        ),
        st.text(max_size=30) | st.sampled_from(["0401", "0505", "yes", "fire_lane", "34.55"]),
        max_size=6,
    ),
    fmt=st.sampled_from(["json", "xml"]),
)
def test_any_post_opens_a_case_or_gets_a_georeport_error(
    api: Api, form: dict[str, str], fmt: str
) -> None:
    response = api.client.post(
        f"{BASE}/requests.{fmt}", data={"api_key": api.tokens["operator"], **form}
    )
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert {code for code, _ in errors(response)} == {400}
    elif fmt == "xml":
        assert xml(response).findtext("request/service_request_id")
    else:
        assert response.json()[0]["service_request_id"]
