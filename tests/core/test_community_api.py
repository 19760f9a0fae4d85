"""四级联动 over the API (SQLite and PostgreSQL): a district dispatches to a street office,
which passes the case to its community (转派社区); the community's users list and report
their cases, never another's; the street takes a case back; the street's evaluation of
its communities counts the cases passed to each, the same in the API and the CLI's CSV."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.storage.case_map_store import SqlCaseMap
from gateway.contract import Location
from gateway.core.intake import case_id_for
from gateway.core.live import case_changes
from gateway.core.org_evaluation import CSV_HEADERS, level_csv
from gateway.core.organisation import Organisation
from tests.core.api_harness import PASSWORD, Api, make_api
from tests.core.helpers import MONDAY_10, candidate
from tests.csv_rows import keyed_rows

STREET = "street-320706001"  # 海州街道
GULOU, BAIHU = "community-320706001001", "community-320706001002"
GULOU_GRID, BAIHU_GRID = "32070600100101", "32070600100201"
USERS = {  # name -> (role, department, node)
    "hz-op": ("operator", None, "320706"),
    "hz-disp": ("dispatcher", None, "320706"),
    "hz-insp": ("inspector", None, "320706"),
    "hz-street": ("department", STREET, None),
    "gulou": ("department", GULOU, None),
    "baihu": ("department", BAIHU, None),
}


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[Api]:
    api = make_api(db_url, tmp_path)
    config = api.client.app.state.ctx.config  # type: ignore[attr-defined]
    org = Organisation.from_config(config.organisation, {d.id: d.name for d in config.departments})
    api.service.workflow.organisation = org
    api.auth.organisation = org
    api.auth._departments |= set(config.organisation.department_ids())
    for name, (role, department, node) in USERS.items():
        grids = ("320706",) if role == "inspector" else ()
        api.auth.add_user(name, role, PASSWORD, department, grids, org_node=node)
        api.tokens[name] = api.auth.login(name, PASSWORD)[0]
    api.service.store_candidates(
        [
            candidate(n, location=Location(grid_code=g, lat=34.6, lon=119.18))
            for n, g in enumerate((GULOU_GRID, BAIHU_GRID))
        ]
    )
    for n in (0, 1):
        assert act(api, "hz-op", n, "register")[0] == 200
        assert act(api, "hz-disp", n, "dispatch", department=STREET)[0] == 200
    yield api
    api.close()


def cid(n: int) -> str:
    return case_id_for(f"cand-{n:06d}")


def act(api: Api, who: str, n: int, action: str, **body: object) -> tuple[int, dict]:
    answer = api.client.post(
        f"/api/v1/cases/{cid(n)}/transitions",
        json={"action": action, **body},
        headers=api.headers(who),
    )
    return answer.status_code, answer.json()


def listed(api: Api, who: str) -> list[str]:
    answer = api.client.get("/api/v1/cases", headers=api.headers(who))
    assert answer.status_code == 200, answer.text
    return sorted(c["id"] for c in answer.json()["items"])


def test_a_community_user_sits_at_its_community_and_its_street_lists_its_communities(
    api: Api,
) -> None:
    me = api.client.get("/api/v1/organisation", headers=api.headers("gulou")).json()["me"]
    assert me["node"]["id"] == "320706001001" and me["node"]["kind_label"] == "社区"
    assert me["centre"]["id"] == "320706" and me["communities"] == []
    street = api.client.get("/api/v1/organisation", headers=api.headers("hz-street")).json()["me"]
    assert street["node"]["kind"] == "street"
    assert [(c["id"], c["name"]) for c in street["communities"]] == [
        (GULOU, "鼓楼社区"),
        (BAIHU, "白虎山社区"),
        ("community-320706001003", "孔望山社区"),
        ("community-320706001004", "朐山社区"),
    ]
    assert street["communities"][0]["grids"] == ["320706001001"]
    names = {d["id"]: d["name"] for d in api.client.get(
        "/api/v1/departments", headers=api.headers("hz-street")).json()}  # fmt: skip
    assert names[GULOU] == "鼓楼社区"  # the console names a community like a department


def test_the_street_passes_a_case_down_and_the_community_reports_it(api: Api) -> None:
    assert listed(api, "hz-street") == sorted([cid(0), cid(1)])
    assert listed(api, "gulou") == []
    status, body = act(api, "hz-street", 0, "assign_community")
    assert (status, body["error"]) == (422, "opinion_required")
    status, body = act(api, "hz-street", 0, "assign_community", opinion="请网格员到场处置")
    assert status == 200, body
    assert body["case"]["community"] == GULOU and body["case"]["community_name"] == "鼓楼社区"
    assert body["case"]["department"] == STREET and body["case"]["state"] == "processing"
    assert body["step"]["facts"]["community"] == GULOU
    # the community lists its case; the other community and the street's other case: not
    assert listed(api, "gulou") == [cid(0)]
    assert listed(api, "baihu") == []
    assert listed(api, "hz-street") == sorted([cid(0), cid(1)])  # the street keeps seeing it
    page = api.client.get(f"/api/v1/cases/{cid(0)}", headers=api.headers("gulou")).json()
    assert "report" in page["allowed_actions"] and "assign_community" not in page["allowed_actions"]
    for who, n in (("gulou", 1), ("baihu", 0)):  # out of reach: as if it did not exist
        answer = api.client.get(f"/api/v1/cases/{cid(n)}", headers=api.headers(who))
        assert answer.status_code == 404
        assert act(api, who, n, "report")[0] == 404
    # the street does not report a case its community holds
    status, body = act(api, "hz-street", 0, "report")
    assert (status, body["error"]) == (409, "with_community")
    # the community reports (处理反馈) straight to the centre
    status, body = act(api, "gulou", 0, "report", opinion="已清理完毕")
    assert status == 200, body
    assert body["case"]["state"] == "reported"
    assert body["step"]["facts"]["by_community"] == GULOU
    # the district desk sees it reported; its inspector verifies, the desk closes
    case = api.client.get(f"/api/v1/cases/{cid(0)}", headers=api.headers("hz-op")).json()
    assert case["state"] == "reported" and case["community_name"] == "鼓楼社区"
    status, body = act(api, "hz-insp", 0, "verify_pass")
    assert status == 200, body
    assert act(api, "hz-op", 0, "close")[0] == 200
    steps = api.client.get(f"/api/v1/cases/{cid(0)}/steps", headers=api.headers("gulou")).json()
    assert [s["action"] for s in steps][-5:] == [
        "dispatch",
        "assign_community",
        "report",
        "verify_pass",
        "close",
    ]


def test_a_named_community_must_be_the_streets_and_the_street_takes_a_case_back(
    api: Api,
) -> None:
    foreign = "community-320706002001"
    status, body = act(api, "hz-street", 1, "assign_community", opinion="x", community=foreign)
    assert (status, body["error"]) == (422, "community_not_in_street")
    status, body = act(api, "hz-street", 1, "assign_community", opinion="x", community=BAIHU)
    assert status == 200 and body["case"]["community"] == BAIHU
    assert act(api, "baihu", 1, "assign_community", opinion="x")[1]["error"] == (
        "street_office_only"
    )
    status, body = act(api, "hz-street", 1, "recall_community", opinion="社区无力处置")
    assert status == 200, body
    assert body["case"]["community"] is None and body["step"]["facts"]["from_community"] == BAIHU
    assert listed(api, "baihu") == []
    status, body = act(api, "hz-street", 1, "recall_community", opinion="x")
    assert (status, body["error"]) == (409, "not_with_community")
    assert act(api, "hz-street", 1, "report")[0] == 200  # the street's own again


def test_the_streets_evaluation_counts_the_cases_passed_to_each_community(api: Api) -> None:
    act(api, "hz-street", 0, "assign_community", opinion="x")  # 鼓楼社区, reported
    act(api, "gulou", 0, "report")
    act(api, "hz-street", 1, "assign_community", opinion="x", community=GULOU)  # still held
    start, end = MONDAY_10, MONDAY_10 + timedelta(days=7)
    answer = api.client.get(
        "/api/v1/organisation/evaluation",
        params={"node": "320706001", "start": start.isoformat(), "end": end.isoformat()},
        headers=api.headers("hz-disp"),
    )
    assert answer.status_code == 200, answer.text
    units = {u["id"]: u for u in answer.json()["units"]}
    gulou, baihu = units["320706001001"], units["320706001002"]
    # by grid: one case each; passed: both cases were passed to 鼓楼社区
    assert (gulou["registered"], baihu["registered"]) == (1, 1)
    assert gulou["passed"]["registered"] == 2 and gulou["passed"]["disposals"] == 1
    assert baihu["passed"]["registered"] == 0 and baihu["passed"]["score"] is None
    # the district's evaluation of its streets has no "passed" (streets are not passed to)
    district = api.client.get(
        "/api/v1/organisation/evaluation",
        params={"node": "320706", "start": start.isoformat(), "end": end.isoformat()},
        headers=api.headers("hz-disp"),
    ).json()
    street = next(u for u in district["units"] if u["id"] == "320706001")
    assert "passed" not in street and street["registered"] == 2
    # the CLI's CSV says the same
    config = api.client.app.state.ctx.config  # type: ignore[attr-defined]
    steps = [s.step for s in api.service.store.all_steps()]
    text = level_csv(config, steps, "320706001", start, end)
    assert "街道转派·立案数" in text.splitlines()[0]
    rows = {r["group"]: r for r in keyed_rows(text, CSV_HEADERS)}
    for node, name in (("320706001001", "鼓楼社区"), ("320706001002", "白虎山社区")):
        row, unit = rows[f"{node} {name}"], units[node]
        for key in ("registered", "due", "disposals", "overdue_undisposed"):
            assert row[key] == str(unit[key])
            assert row[f"passed_{key}"] == str(unit["passed"][key])
        assert row["passed_score"] == ("" if unit["passed"]["score"] is None else str(
            unit["passed"]["score"]))  # fmt: skip


def test_the_map_shows_a_community_the_cases_passed_to_it(api: Api) -> None:
    act(api, "hz-street", 0, "assign_community", opinion="x")  # to 鼓楼社区
    cases = SqlCaseMap.for_store(api.service.store)
    box = (119.1, 34.5, 119.3, 34.7)

    def shown(unit: str) -> list[str]:
        return sorted(
            c.id for c in cases.cases_in_bbox(box, open_only=True, limit=10, department=unit)
        )

    assert shown(GULOU) == [cid(0)] and shown(BAIHU) == []
    assert shown(STREET) == sorted([cid(0), cid(1)])  # the street keeps both
    assert cases.open_cases_by_grid(None, GULOU) == {GULOU_GRID: 1}
    assert cases.open_cases_by_grid(None, STREET) == {GULOU_GRID: 1, BAIHU_GRID: 1}


def test_the_live_change_of_a_recall_names_the_community_it_was_taken_from(api: Api) -> None:
    act(api, "hz-street", 0, "assign_community", opinion="x")
    act(api, "hz-street", 0, "recall_community", opinion="x")
    changes = case_changes(api.service.store.pending_events(1000))
    recall = [(c, dept) for c, dept in changes if c["action"] == "recall_community"]
    assert recall == [(recall[0][0], STREET)] and recall[0][0]["from_community"] == GULOU
    assigned = next(c for c, _dept in changes if c["action"] == "assign_community")
    assert "from_community" not in assigned
