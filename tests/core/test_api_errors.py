"""API errors: a stable code for every refusal, and a Chinese sentence for it in the console."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.contract import Location, SourceKind
from gateway.core.api import WEB_DIR
from gateway.core.ports import CaseFilter
from gateway.core.workflow import Action
from tests.core.api_harness import Api, make_api
from tests.core.helpers import candidate

CORE_DIR = Path(__file__).resolve().parents[2] / "gateway" / "core"
#: name -> index of the code
RAISERS = {
    "ApiError": 1,
    "TransitionRefused": 0,
    "VerificationRefused": 0,
    "UserConflict": 0,
    "_error": 1,
}


def server_codes() -> set[str]:
    """Every error code written in the core's sources: ApiError(status, "code", ...),
    TransitionRefused("code", ...), _error(status, "code", ...), the live hub's refusals
    and the (code, reason) a ``*_refusal`` function returns (the workflow raises them)."""
    codes: set[str] = set()
    for path in CORE_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                at = RAISERS.get(name or "")
                if at is not None and len(node.args) > at:
                    arg = node.args[at]
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        codes.add(arg.value)
            if isinstance(node, ast.FunctionDef) and (
                node.name == "refusal" or node.name.endswith("_refusal")
            ):
                for ret in ast.walk(node):
                    if isinstance(ret, ast.Return) and isinstance(ret.value, ast.Tuple):
                        first = ret.value.elts[0]
                        if isinstance(first, ast.Constant):
                            codes.add(first.value)
    return codes


def console_table(name: str) -> set[str]:
    text = (WEB_DIR / "js" / "labels.js").read_text(encoding="utf-8")
    body = re.search(rf"export const {name} = \{{(.*?)\n\}};", text, re.S)
    assert body, f"labels.js has no {name} table"
    return set(re.findall(r"^\s*(\w+):", body.group(1), re.M))


def test_every_error_code_the_core_sends_has_a_chinese_sentence_in_the_console() -> None:
    codes = server_codes()
    assert {"opinion_required", "case_not_found", "forbidden_role", "stopping"} <= codes
    missing = codes - console_table("ERRORS")
    assert not missing, f"labels.js ERRORS lacks {sorted(missing)}"


def test_every_step_of_the_log_has_a_chinese_name_in_the_console() -> None:
    missing = {str(action) for action in Action} - console_table("ACTIONS")
    assert not missing, f"labels.js ACTIONS lacks {sorted(missing)}"
    assert {"assign_community", "recall_community"} <= console_table("ACTIONS")


def test_the_vague_invalid_and_not_found_codes_are_gone() -> None:
    assert not {"invalid", "not_found"} & server_codes()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    harness = make_api(f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path)
    yield harness
    harness.close()


def a_case(api: Api) -> str:
    api.service.store_candidates(
        [
            candidate(
                1,
                kind=SourceKind.CAMERA,
                source_id="cam-1",
                event_code="0102",
                location=Location(camera_id="cam-1", zone_id="gate"),
            )
        ]
    )
    cases, _ = api.service.store.list_cases(CaseFilter())
    return cases[0].id


def test_a_reject_without_an_opinion_is_refused_as_opinion_required(api: Api) -> None:
    case_id = a_case(api)
    response = api.client.post(
        f"/api/v1/cases/{case_id}/transitions",
        json={"action": "reject", "opinion": "  "},
        headers=api.headers("operator"),
    )
    assert response.status_code == 422 and response.json()["error"] == "opinion_required"


def test_an_unknown_case_is_case_not_found(api: Api) -> None:
    response = api.client.get("/api/v1/cases/no-such-case", headers=api.headers("operator"))
    assert response.status_code == 404 and response.json()["error"] == "case_not_found"


def test_a_too_long_opinion_says_which_field_which_rule_and_the_limit(api: Api) -> None:
    case_id = a_case(api)
    response = api.client.post(
        f"/api/v1/cases/{case_id}/transitions",
        json={"action": "reject", "opinion": "长" * 4001},
        headers=api.headers("operator"),
    )
    assert response.status_code == 422 and response.json()["error"] == "invalid_request"
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body", "opinion"]
    assert problem["type"] == "string_too_long" and problem["ctx"] == {"max_length": 4000}
    assert problem["type"] in console_table("VALIDATION")
    assert "opinion" in console_table("FIELDS")
