"""Property tests of the API: whatever a client sends, the answer is never a 5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.core.ports import CaseFilter
from tests.core.api_harness import Api, make_api
from tests.core.helpers import candidate

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
actions = st.sampled_from(
    [
        "register",
        "reject",
        "merge",
        "dispatch",
        "approve",
        "deny",
        "report",
        "verify_pass",
        "verify_fail",
        "close",
        "request_void",
        "feedback",
        "create",
        "bogus",
        "",
    ]
)
transition_bodies = st.fixed_dictionaries(
    {"action": actions},
    optional={
        "opinion": st.text(max_size=50),
        "department": st.one_of(st.none(), st.text(max_size=70)),
        "merge_into": st.one_of(st.none(), st.text(max_size=70)),
        "extension_hours": st.one_of(st.none(), st.floats(allow_nan=False), st.integers()),
        "attachments": st.lists(st.text(max_size=70), max_size=3),
        "reason": st.one_of(st.none(), st.text(max_size=20), st.just("false_detection")),
        "expected_version": st.one_of(st.none(), st.integers(min_value=-5, max_value=5)),
    },
)
query_values = st.one_of(
    st.text(max_size=30),
    st.integers().map(str),
    st.just("2026-01-05T00:00:00Z"),
    st.just("2026-13-99"),
)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tmp = tmp_path_factory.mktemp("fuzz")
    harness = make_api(f"sqlite:///{tmp / 'core.sqlite3'}", tmp)
    harness.service.store_candidates([candidate(i) for i in range(5)])
    yield harness
    harness.close()


FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(
    body=st.one_of(transition_bodies, json_values),
    role=st.sampled_from(
        ["operator", "dispatcher", "department", "inspector", "shift_lead", "admin"]
    ),
)
def test_any_transition_body_gets_an_answer_not_a_server_error(
    api: Api, body: object, role: str
) -> None:
    case_id = api.service.store.list_cases(CaseFilter(limit=1))[0][0].id
    response = api.client.post(
        f"/api/v1/cases/{case_id}/transitions",
        headers=api.headers(role),
        content=json.dumps(body),
    )
    assert response.status_code < 500, response.text
    assert "error" in response.json() or response.status_code == 200


@FUZZ
@given(
    params=st.dictionaries(
        st.sampled_from(
            [
                "state",
                "event_code",
                "grid",
                "department",
                "light",
                "created_from",
                "created_to",
                "offset",
                "limit",
                "junk",
            ]
        ),
        query_values,
        max_size=5,
    )
)
def test_any_case_query_gets_an_answer_not_a_server_error(api: Api, params: dict[str, str]) -> None:
    response = api.client.get("/api/v1/cases", headers=api.headers("operator"), params=params)
    assert response.status_code in (200, 422), response.text


@FUZZ
@given(
    path=st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40),
    sha=st.text(max_size=70),
)
def test_any_case_or_evidence_path_is_answered_without_a_server_error(
    api: Api, path: str, sha: str
) -> None:
    path, sha = quote(path, safe=""), quote(sha, safe="")
    for url in (
        f"/api/v1/cases/{path}",
        f"/api/v1/cases/{path}/evidence/{sha}",
        f"/open311/v2/requests/{path}.json",
    ):
        response = api.client.get(url, headers=api.headers("operator"))
        assert response.status_code < 500, url


@FUZZ
@given(
    form=st.dictionaries(
        st.sampled_from(
            [
                "api_key",
                "service_code",
                "lat",
                "long",
                "address_string",
                "address_id",
                "description",
                "phone",
            ]
        ),
        st.text(max_size=40),
        max_size=8,
    )
)
def test_any_open311_post_is_answered_without_a_server_error(
    api: Api, form: dict[str, str]
) -> None:
    if "api_key" in form and form["api_key"] == "operator":
        form["api_key"] = api.tokens["operator"]
    response = api.client.post("/open311/v2/requests.json", data=form)
    assert response.status_code < 500, response.text
