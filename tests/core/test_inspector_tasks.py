"""Inspectors' tasks through the API: a 核实 asked by the operator goes to the inspector of
the report's grid, is answered from the phone (属实 -> the proposal to register), and a task
nobody covers waits for the centre to assign it by hand; each inspector lists only theirs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.contract import Location, SourceKind
from gateway.core.inspector_tasks import InspectorRoster
from gateway.core.intake import case_id_for
from gateway.core.workflow import Action, Actor, Command, Role
from tests.core.api_harness import PASSWORD, Api, make_api
from tests.core.helpers import candidate

#: a grid of 海州区 新海街道 (the inspector ivan's 320706901) and one no inspector covers
IVANS_GRID = "32070690100107"
NOBODYS_GRID = "32070390100101"
TASK_ACTIONS = ("request_confirmation", "assign_task")


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[Api]:  # the task filter is JSON: both dialects
    harness = make_api(db_url, tmp_path)
    harness.auth.add_user("ines", "inspector", PASSWORD, None, ("32070690200",))
    harness.tokens["ines"] = harness.auth.login("ines", PASSWORD)[0]
    yield harness
    harness.close()


def hotline_case(api: Api, n: int, grid: str) -> str:
    cand = candidate(n, kind=SourceKind.CALL, source_id="ivr-1", location=Location(grid_code=grid))
    api.service.store_candidates([cand])
    return case_id_for(cand.id)


def act(api: Api, role: str, case_id: str, action: str, **body: Any) -> Any:
    url = f"/api/v1/cases/{case_id}/" + ("task" if action in TASK_ACTIONS else "transitions")
    return api.client.post(
        url,
        json={"action": action, **body},
        headers=api.headers(role),
    )


def my_tasks(api: Api, who: str) -> list[str]:
    response = api.client.get("/api/v1/mobile/tasks", headers=api.headers(who))
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()]


def test_the_inspector_closest_to_the_grid_gets_the_task() -> None:
    roster = InspectorRoster.from_users(
        [
            {"name": "a", "role": "inspector", "grids": ["320706901"]},
            {"name": "b", "role": "inspector", "grids": ["32070690100107"]},
            {"name": "c", "role": "inspector", "grids": ["320706901"], "active": False},
            {"name": "d", "role": "operator", "grids": []},
        ]
    )
    assert roster.assignee_for("32070690100107") == "b"
    assert roster.assignee_for("32070690100108") == "a"
    assert roster.assignee_for("32070390100101") is None
    assert roster.assignee_for(None) is None
    assert roster.names() == {"a", "b"}


def test_a_confirmation_goes_to_the_grids_inspector_and_a_yes_proposes_registration(
    api: Api,
) -> None:
    case_id = hotline_case(api, 1, IVANS_GRID)
    asked = act(api, "operator", case_id, "request_confirmation")
    assert asked.status_code == 200, asked.text
    task = asked.json()["case"]["facts"]["task"]
    assert (task["kind"], task["assignee"], task["assigned_by"]) == ("confirm", "ivan", "grid")
    assert my_tasks(api, "inspector") == [case_id]
    assert my_tasks(api, "ines") == []
    answer = api.client.post(
        f"/api/v1/mobile/tasks/{case_id}/answer",
        data={"request_id": "answer-1001-a", "verdict": "pass", "opinion": "现场属实"},
        headers=api.headers("inspector"),
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["step"]["action"] == "confirm_pass" and body["case"]["state"] == "candidate"
    assert body["case"]["facts"]["proposal"] == "register"
    assert body["case"]["facts"]["confirmation"]["by"] == "ivan"
    assert my_tasks(api, "inspector") == []
    registered = act(api, "operator", case_id, "register")
    assert registered.status_code == 200 and registered.json()["case"]["state"] == "registered"


def test_a_task_nobody_covers_waits_for_the_centre_which_assigns_it_by_hand(api: Api) -> None:
    case_id = hotline_case(api, 2, NOBODYS_GRID)
    assert act(api, "operator", case_id, "request_confirmation").status_code == 200
    waiting = api.client.get("/api/v1/tasks?unassigned=true", headers=api.headers("dispatcher"))
    assert [c["id"] for c in waiting.json()] == [case_id]
    assert my_tasks(api, "inspector") == [] and my_tasks(api, "ines") == []
    unknown = act(api, "dispatcher", case_id, "assign_task", assignee="olga")
    assert unknown.status_code == 422 and unknown.json()["error"] == "unknown_inspector"
    assigned = act(api, "dispatcher", case_id, "assign_task", assignee="ines")
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["case"]["facts"]["task"]["assigned_by"] == "dan"
    assert my_tasks(api, "ines") == [case_id]  # outside her grids, hers by hand
    not_found = api.client.post(
        f"/api/v1/mobile/tasks/{case_id}/answer",
        data={"request_id": "answer-1002-a", "verdict": "fail", "opinion": "现场未见"},
        headers=api.headers("ines"),
    )
    assert not_found.status_code == 200, not_found.text
    assert not_found.json()["case"]["facts"]["proposal"] == "reject"
    # a resend after the answer took the case out of her reach: the same step again
    again = api.client.post(
        f"/api/v1/mobile/tasks/{case_id}/answer",
        data={"request_id": "answer-1002-a", "verdict": "fail", "opinion": "现场未见"},
        headers=api.headers("ines"),
    )
    assert again.status_code == 200 and again.json()["step"] == not_found.json()["step"]
    inspectors = api.client.get("/api/v1/inspectors", headers=api.headers("operator")).json()
    assert {i["name"] for i in inspectors} == {"ivan", "ines"}


def test_another_inspectors_task_cannot_be_answered(api: Api) -> None:
    case_id = hotline_case(api, 3, IVANS_GRID)
    act(api, "operator", case_id, "request_confirmation", assignee="ivan")
    response = api.client.post(
        f"/api/v1/mobile/tasks/{case_id}/answer",
        data={"request_id": "answer-1003-a", "verdict": "pass"},
        headers=api.headers("ines"),
    )
    assert response.status_code == 404  # not on her grids, not hers: no such case for her


def test_a_case_reported_done_is_a_check_task_of_its_grids_inspector(api: Api) -> None:
    case_id = hotline_case(api, 4, IVANS_GRID)
    people = {
        "olga": Actor("olga", Role.OPERATOR),
        "dan": Actor("dan", Role.DISPATCHER),
        "sam": Actor("sam", Role.DEPARTMENT, "sanitation"),
    }
    api.service.transition(case_id, Command(Action.REGISTER), people["olga"])
    api.service.transition(case_id, Command(Action.DISPATCH), people["dan"])
    assert my_tasks(api, "inspector") == []
    api.service.transition(case_id, Command(Action.REPORT, opinion="已清理"), people["sam"])
    assert my_tasks(api, "inspector") == [case_id]
    case = api.service.store.get_case(case_id)
    assert case is not None and case.facts["task"]["kind"] == "verify"
    centre = api.client.get("/api/v1/tasks?assignee=ivan", headers=api.headers("shift_lead"))
    assert [c["id"] for c in centre.json()] == [case_id]
    assert api.client.get("/api/v1/tasks", headers=api.headers("inspector")).status_code == 403
