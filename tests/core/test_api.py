"""The HTTP API on a real database: access rules per role, the workflow, evidence, metrics."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from gateway.contract import Evidence, EvidenceRole, Location, SourceKind
from gateway.core.api_schemas import CaseDetailOut, CasePage, StepOut
from gateway.core.auth import CACHE_SECONDS
from gateway.core.metrics import CSV_HEADERS
from gateway.core.ports import CaseFilter
from tests.core.api_harness import PASSWORD, USERS, Api, make_api
from tests.core.helpers import candidate
from tests.csv_rows import keyed_rows

PUBLIC = {
    ("GET", "/healthz"),
    ("POST", "/api/v1/auth/login"),
    # Open311 (fmt: json or xml): reviewed cases only, no personal data (test_open311.py)
    ("GET", "/open311/v2/services.{fmt}"),
    ("GET", "/open311/v2/services/{service_code}.{fmt}"),
    ("GET", "/open311/v2/requests.{fmt}"),
    ("GET", "/open311/v2/requests/{service_request_id}.{fmt}"),
    ("POST", "/open311/v2/requests.{fmt}"),  # checks its api_key form field itself
    # the published daily ranking: counts and rates only (test_publication.py)
    ("GET", "/public/ranking"),
    ("GET", "/api/v1/public/ranking"),
}
JPEG = b"\xff\xd8\xff\xe0" + b"j" * 64


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[Api]:
    harness = make_api(db_url, tmp_path)
    yield harness
    harness.close()


def routes(api: Api) -> list[tuple[str, str, frozenset[str] | None]]:
    """(method, path, roles allowed or None for public) of every API route."""
    found = []
    # the routes of included routers too (FastAPI keeps those inside the router it includes)
    for context in iter_route_contexts(api.client.app.routes):  # type: ignore[attr-defined]
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        roles = None
        for dep in route.dependant.dependencies:
            allowed = getattr(dep.call, "allowed_roles", None)
            if allowed is not None:
                roles = frozenset(str(r) for r in allowed)
        for method in context.methods or ():
            found.append((method, str(context.path), roles))
    return found


def a_camera_case(api: Api) -> str:
    snap = Evidence.from_bytes(JPEG, media_type="image/jpeg", role=EvidenceRole.SNAPSHOT)
    cand = candidate(
        1,
        kind=SourceKind.CAMERA,
        source_id="cam-1",
        event_code="0102",
        location=Location(camera_id="cam-1", zone_id="gate", grid_code="32070690100101"),
        evidence=[snap],
        facts={"track_id": 4, "class": "person", "box": [1, 2, 3, 4]},
    )
    api.service.store_candidates([cand])
    cases, _ = api.service.store.list_cases(CaseFilter())
    return cases[0].id


def fill(path: str, case_id: str, number: str) -> str:
    return (
        path.replace("{case_id}", case_id)
        .replace("{number}", number)
        .replace("{sha256}", "0" * 64)
        .replace("{name}", "olga")
        .replace("{request_id}", number)
    )


BODIES = {
    "/api/v1/cases": {"event_code": "0102", "grid_code": "32070690100101"},
    "/api/v1/cases/{case_id}/transitions": {"action": "register"},
    "/api/v1/users": {"name": "newbie", "role": "operator", "password": "long enough"},
}


def test_every_route_has_an_access_rule(api: Api) -> None:
    found = routes(api)
    # the routers' routes are seen, not only those declared on the app itself
    assert {
        ("GET", "/api/v1/cases"),
        ("POST", "/api/v1/users"),
        ("GET", "/api/v1/dead-letters"),
        ("GET", "/api/v1/events/stream"),
        ("GET", "/open311/v2/services.{fmt}"),
    } <= {(method, path) for method, path, _ in found}
    for method, path, roles in found:
        assert roles is not None or (method, path) in PUBLIC, f"{method} {path} has no access rule"


def test_every_protected_route_refuses_a_request_without_a_valid_token(api: Api) -> None:
    case_id = a_camera_case(api)
    for method, path, roles in routes(api):
        if roles is None:
            continue
        url = fill(path, case_id, "C00000001")
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic x"}):
            response = api.client.request(method, url, headers=headers, json=BODIES.get(path))
            assert response.status_code == 401, f"{method} {path} {headers}: {response.status_code}"
            assert response.json()["error"] == "unauthenticated"


def test_each_role_is_refused_every_route_it_may_not_use(api: Api) -> None:
    case_id = a_camera_case(api)
    checked = 0
    for method, path, roles in routes(api):
        if roles is None:
            continue
        for role in USERS:
            if role in roles:
                continue
            response = api.client.request(
                method,
                fill(path, case_id, "C00000001"),
                headers=api.headers(role),
                json=BODIES.get(path),
            )
            assert response.status_code == 403, f"{role} {method} {path}: {response.status_code}"
            assert response.json()["error"] == "forbidden_role"
            checked += 1
    assert checked > 20


def test_a_wrong_password_gets_no_token_and_says_nothing_more(api: Api) -> None:
    for name, password in (("olga", "wrong password"), ("nobody", PASSWORD)):
        response = api.client.post("/api/v1/auth/login", json={"name": name, "password": password})
        assert response.status_code == 401
        assert response.json()["detail"] == "wrong user name or password"
    ok = api.client.post("/api/v1/auth/login", json={"name": "olga", "password": PASSWORD})
    assert ok.status_code == 200 and ok.json()["user"]["role"] == "operator"
    assert (
        api.client.get(
            "/api/v1/me", headers={"Authorization": f"Bearer {ok.json()['token']}"}
        ).json()["name"]
        == "olga"
    )


def test_a_token_expires(api: Api) -> None:
    api.clock.advance(hours=9)
    assert api.client.get("/api/v1/me", headers=api.headers("operator")).status_code == 401


def test_passwords_are_stored_hashed(api: Api) -> None:
    stored = api.users.user("olga")
    assert stored["password_hash"].startswith("scrypt$") and PASSWORD not in stored["password_hash"]


def go(api: Api, role: str, case_id: str, action: str, **body: object) -> dict:
    response = api.client.post(
        f"/api/v1/cases/{case_id}/transitions",
        headers=api.headers(role),
        json={"action": action, **body},
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_case_is_worked_through_the_api_from_report_to_evaluation(api: Api) -> None:
    created = api.client.post(
        "/api/v1/cases",
        headers=api.headers("inspector"),
        json={
            "event_code": "0102",
            "grid_code": "32070690100101",
            "title": "垃圾",
            "request_id": "insp-req-0001",
        },
    )
    assert created.status_code == 201, created.text
    case = created.json()
    assert case["state"] == "candidate" and case["event_name"] == "暴露垃圾"
    again = api.client.post(
        "/api/v1/cases",
        headers=api.headers("inspector"),
        json={"event_code": "0102", "grid_code": "32070690100101", "request_id": "insp-req-0001"},
    )
    assert again.json()["id"] == case["id"]  # the same request id makes one case
    operator_view = api.client.get(
        f"/api/v1/cases/{case['id']}", headers=api.headers("operator")
    ).json()
    assert "register" in operator_view["allowed_actions"]
    go(api, "operator", case["id"], "register", opinion="立案")
    dispatched = go(api, "dispatcher", case["id"], "dispatch")
    assert (
        dispatched["case"]["department"] == "sanitation" and dispatched["case"]["light"] == "green"
    )
    upload = api.client.post(
        f"/api/v1/cases/{case['id']}/attachments",
        headers=api.headers("department"),
        files={"file": ("after.jpg", JPEG, "image/jpeg")},
    )
    assert upload.status_code == 201, upload.text
    sha = upload.json()["sha256"]
    go(api, "department", case["id"], "report", opinion="清理完毕", attachments=[sha])
    verified = go(api, "inspector", case["id"], "verify_pass")
    assert verified["case"]["state"] == "verified"
    assert verified["case"]["state_label"] == "待结案"
    go(api, "operator", case["id"], "close")
    done = go(api, "operator", case["id"], "evaluate")
    assert done["case"]["state"] == "evaluated"
    page = api.client.get(f"/api/v1/cases/{case['id']}", headers=api.headers("shift_lead"))
    assert page.json()["case_score"]["grade"] in ("excellent", "good", "fair", "poor")
    assert set(page.json()["case_score"]["parts"]) >= {"on_time", "rework", "delays"}
    steps = api.client.get(
        f"/api/v1/cases/{case['id']}/steps", headers=api.headers("shift_lead")
    ).json()
    assert [s["action"] for s in steps] == [
        "create",
        "register",
        "dispatch",
        "report",
        "verify_pass",
        "close",
        "evaluate",
    ]
    assert steps[3]["attachments"] == [sha] and steps[3]["role"] == "department"


def test_refused_transitions_answer_with_the_reason(api: Api) -> None:
    case_id = a_camera_case(api)
    wrong_state = api.client.post(
        f"/api/v1/cases/{case_id}/transitions",
        headers=api.headers("dispatcher"),
        json={"action": "dispatch"},
    )
    assert wrong_state.status_code == 409 and wrong_state.json()["error"] == "wrong_state"
    wrong_role = api.client.post(
        f"/api/v1/cases/{case_id}/transitions",
        headers=api.headers("dispatcher"),
        json={"action": "register"},
    )
    assert wrong_role.status_code == 403 and wrong_role.json()["error"] == "forbidden_role"
    stale = api.client.post(
        f"/api/v1/cases/{case_id}/transitions",
        headers=api.headers("operator"),
        json={"action": "register", "expected_version": 7},
    )
    assert stale.status_code == 409 and stale.json()["error"] == "conflict"
    system = api.client.post(
        f"/api/v1/cases/{case_id}/transitions",
        headers=api.headers("operator"),
        json={"action": "feedback"},
    )
    assert system.status_code == 403


def test_a_department_sees_only_its_own_cases(api: Api) -> None:
    case_id = a_camera_case(api)  # not dispatched yet: no department
    assert (
        api.client.get(f"/api/v1/cases/{case_id}", headers=api.headers("department")).status_code
        == 404
    )
    listing = api.client.get("/api/v1/cases", headers=api.headers("department")).json()
    assert listing["total"] == 0
    go(api, "operator", case_id, "register")
    go(api, "dispatcher", case_id, "dispatch", department="traffic")
    assert (
        api.client.get(f"/api/v1/cases/{case_id}", headers=api.headers("department")).status_code
        == 404
    )
    assert api.client.get("/api/v1/cases", headers=api.headers("operator")).json()["total"] == 1


def test_evidence_is_served_with_its_content_type_and_nothing_outside_the_store(api: Api) -> None:
    case_id = a_camera_case(api)
    detail = api.client.get(f"/api/v1/cases/{case_id}", headers=api.headers("operator")).json()
    [item] = detail["evidence"]
    response = api.client.get(item["url"], headers=api.headers("operator"))
    assert response.status_code == 200 and response.content == JPEG
    assert response.headers["content-type"] == "image/jpeg"
    for evil in ("..%2F..%2F..%2Fetc%2Fpasswd", "../../etc/passwd", "0" * 64, "ABC"):
        bad = api.client.get(
            f"/api/v1/cases/{case_id}/evidence/{evil}", headers=api.headers("operator")
        )
        assert bad.status_code == 404, evil


def test_cases_filter_by_state_code_grid_light_and_page(api: Api) -> None:
    api.service.store_candidates(
        [candidate(i, event_code="0102" if i % 2 else "0505") for i in range(12)]
    )
    h = api.headers("operator")
    assert api.client.get("/api/v1/cases?event_code=0505", headers=h).json()["total"] == 6
    assert api.client.get("/api/v1/cases?event_code=05", headers=h).json()["total"] == 6
    assert api.client.get("/api/v1/cases?grid=32070690100101", headers=h).json()["total"] == 1
    page = api.client.get("/api/v1/cases?limit=5&offset=10", headers=h).json()
    assert page["total"] == 12 and len(page["items"]) == 2
    assert api.client.get("/api/v1/cases?state=registered", headers=h).json()["total"] == 0
    assert api.client.get("/api/v1/cases?light=green", headers=h).json()["total"] == 0
    bad = api.client.get("/api/v1/cases?state=flying&limit=0", headers=h)
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_request"


def test_a_false_detection_rejection_works_through_the_api(api: Api) -> None:
    case_id = a_camera_case(api)
    result = go(api, "operator", case_id, "reject", opinion="误报: 黄布", reason="false_detection")
    assert result["step"]["facts"]["reason"] == "false_detection"
    assert result["step"]["facts"]["camera_id"] == "cam-1"


def test_users_are_managed_by_the_admin(api: Api) -> None:
    h = api.headers("admin")
    bad = api.client.post(
        "/api/v1/users",
        headers=h,
        json={"name": "x", "role": "department", "password": "long enough"},
    )
    assert bad.status_code == 422 and "department" in bad.json()["detail"]
    ok = api.client.post(
        "/api/v1/users",
        headers=h,
        json={
            "name": "tina",
            "role": "department",
            "department": "traffic",
            "password": "long enough",
        },
    )
    assert ok.status_code == 201
    assert {u["name"] for u in api.client.get("/api/v1/users", headers=h).json()} >= {
        "tina",
        "olga",
    }
    assert api.client.post("/api/v1/users/olga/deactivate", headers=h).status_code == 204
    assert api.client.get("/api/v1/me", headers=api.headers("operator")).status_code == 401


def test_metrics_and_their_csv_come_from_the_step_log(api: Api) -> None:
    case_id = a_camera_case(api)
    go(api, "operator", case_id, "register")
    go(api, "dispatcher", case_id, "dispatch")
    go(api, "department", case_id, "report")
    go(api, "inspector", case_id, "verify_pass")
    h = api.headers("shift_lead")
    query = "start=2026-01-01T00:00:00Z&end=2026-02-01T00:00:00Z"
    verified = api.client.get(f"/api/v1/metrics?{query}", headers=h).json()["groups"]
    assert verified[0]["closed"] == 0  # verified on site, not yet closed by the centre
    go(api, "shift_lead", case_id, "close")
    query = "start=2026-01-01T00:00:00Z&end=2026-02-01T00:00:00Z"
    metrics = api.client.get(f"/api/v1/metrics?{query}&group_by=department", headers=h).json()
    [group] = metrics["groups"]
    assert group["group"] == "sanitation" and group["closed"] == 1 and group["closure_rate"] == 1.0
    csv_response = api.client.get(f"/api/v1/metrics.csv?{query}&group_by=department", headers=h)
    assert csv_response.headers["content-type"].startswith("text/csv")
    assert csv_response.content.startswith(b"\xef\xbb\xbf")  # a BOM, for spreadsheets
    text = csv_response.content.decode("utf-8-sig")
    assert text.startswith("分组,立案数,应结案数,结案数,")
    [row] = keyed_rows(text, CSV_HEADERS)  # the JSON's figures; the department with its name
    assert row["group"].startswith("sanitation ") and row["group"] != "sanitation "
    assert (row["closed"], row["closure_rate"]) == ("1", "1.0")
    roles = api.client.get(f"/api/v1/metrics/roles?{query}", headers=h).json()["roles"]
    assert roles["inspector"]["verify_pass"] == 1
    backwards = api.client.get(
        "/api/v1/metrics?start=2026-02-01T00:00:00Z&end=2026-01-01T00:00:00Z", headers=h
    )
    assert backwards.status_code == 422


def test_the_openapi_document_describes_every_route(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    paths = set(spec["paths"])
    for _method, path, _roles in routes(api):
        assert path in paths
    assert re.match(r"3\.\d+\.\d+", spec["openapi"])


def test_the_console_folder_is_served_at_console(api: Api) -> None:
    response = api.client.get("/console/")
    assert response.status_code == 200 and "text/html" in response.headers["content-type"]
    assert api.client.get("/console/../../gateway/core/api.py").status_code == 404


def test_overdue_cases_are_listed_with_a_red_light(api: Api) -> None:
    case_id = a_camera_case(api)
    go(api, "operator", case_id, "register")
    go(api, "dispatcher", case_id, "dispatch")
    h = api.headers("dispatcher")
    first = api.client.get("/api/v1/cases/overdue", headers=h)
    assert first.status_code == 200, first.text
    assert first.json()["total"] == 0
    api.clock.advance(hours=7 * 24)
    h = {"Authorization": f"Bearer {api.auth.login('dan', PASSWORD)[0]}"}  # the old token expired
    overdue = api.client.get("/api/v1/cases/overdue", headers=h).json()
    assert overdue["total"] == 1 and overdue["items"][0]["light"] == "red"
    assert api.client.get("/api/v1/cases?light=red", headers=h).json()["total"] == 1


def test_a_verified_token_is_answered_from_memory_for_a_few_seconds_only(api: Api) -> None:
    token = api.tokens["dispatcher"]
    assert api.auth.cached_actor(token) is None
    assert api.client.get("/api/v1/me", headers=api.headers("dispatcher")).status_code == 200
    cached = api.auth.cached_actor(token)
    assert cached is not None and cached.name == "dan"
    # revoked behind the API's back (another process): honoured once the entry is stale
    api.users.delete_token(hashlib.sha256(token.encode()).hexdigest())
    assert api.client.get("/api/v1/me", headers=api.headers("dispatcher")).status_code == 200
    api.clock.advance(seconds=CACHE_SECONDS + 0.1)
    assert api.auth.cached_actor(token) is None
    assert api.client.get("/api/v1/me", headers=api.headers("dispatcher")).status_code == 401


def test_logout_and_deactivation_end_a_cached_token_at_once(api: Api) -> None:
    for role in ("operator", "inspector"):
        assert api.client.get("/api/v1/me", headers=api.headers(role)).status_code == 200
        assert api.auth.cached_actor(api.tokens[role]) is not None
    logout = api.client.post("/api/v1/auth/logout", headers=api.headers("operator"))
    assert logout.status_code == 204
    assert api.client.get("/api/v1/me", headers=api.headers("operator")).status_code == 401
    admin = api.headers("admin")
    assert api.client.post("/api/v1/users/ivan/deactivate", headers=admin).status_code == 204
    assert api.client.get("/api/v1/me", headers=api.headers("inspector")).status_code == 401


def test_case_bodies_are_exactly_what_their_response_models_say(api: Api) -> None:
    case_id = a_camera_case(api)
    api.service.store_candidates(
        [candidate(7, location=Location(grid_code="32070690100101", lat=34.55, lon=119.15))]
    )
    go(api, "operator", case_id, "register")
    go(api, "dispatcher", case_id, "dispatch")
    h = api.headers("dispatcher")
    page = api.client.get("/api/v1/cases", headers=h)
    detail = api.client.get(f"/api/v1/cases/{case_id}", headers=h)
    steps = api.client.get(f"/api/v1/cases/{case_id}/steps", headers=h)
    for response, model in ((page, CasePage), (detail, CaseDetailOut)):
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert json.loads(model.model_validate(body).model_dump_json()) == body
    assert page.json()["total"] == 2 and detail.json()["deadline"].endswith("Z")
    assert [s["action"] for s in steps.json()] == ["create", "register", "dispatch"]
    for step in steps.json():
        assert json.loads(StepOut.model_validate(step).model_dump_json()) == step


def test_metrics_see_steps_taken_after_an_earlier_metrics_request(api: Api) -> None:
    h = api.headers("shift_lead")
    url = "/api/v1/metrics?start=2026-01-01T00:00:00Z&end=2026-02-01T00:00:00Z"
    assert api.client.get(url, headers=h).json()["groups"] == []  # nothing registered yet
    case_id = a_camera_case(api)
    go(api, "operator", case_id, "register")
    assert api.client.get(url, headers=h).json()["groups"][0]["registered"] == 1
    go(api, "dispatcher", case_id, "dispatch")
    roles = api.client.get(
        "/api/v1/metrics/roles?start=2026-01-01T00:00:00Z&end=2026-02-01T00:00:00Z", headers=h
    ).json()["roles"]
    assert roles["operator"]["register"] == 1 and roles["dispatcher"]["dispatch"] == 1
