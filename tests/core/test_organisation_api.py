"""Two levels over the API (SQLite and PostgreSQL): a district centre sees and acts on its
own district's cases, escalates (上报) to the city, which hands down (下派); the city
evaluates its districts and departments, a district its streets (三级考核)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gateway.contract import Location
from gateway.core.inspector_figures import CSV_HEADERS as INSPECTOR_HEADERS
from gateway.core.intake import case_id_for
from gateway.core.metrics import CSV_HEADERS as METRICS_HEADERS
from gateway.core.org_evaluation import CSV_HEADERS
from gateway.core.organisation import Organisation
from tests.core.api_harness import PASSWORD, Api, make_api
from tests.core.helpers import MONDAY_10, candidate
from tests.csv_rows import keyed_rows

#: GY: 赣榆区, in the default grid table, in no district of the tree
HZ1, HZ2, LY, GY = "32070600100101", "32070600200105", "32070300100101", "32070700100101"
DISTRICT_USERS = {  # name -> (role, department, node)
    "hz-op": ("operator", None, "320706"),
    "hz-disp": ("dispatcher", None, "320706"),
    "hz-dept": ("department", "hz-sanitation", None),
}


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[Api]:
    api = make_api(db_url, tmp_path)
    config = api.client.app.state.ctx.config  # type: ignore[attr-defined]
    org = Organisation.from_config(config.organisation, {d.id: d.name for d in config.departments})
    api.service.workflow.organisation = org
    api.auth.organisation = org
    api.auth._departments |= set(config.organisation.department_ids())
    for name, (role, department, node) in DISTRICT_USERS.items():
        api.auth.add_user(name, role, PASSWORD, department, org_node=node)
        api.tokens[name] = api.auth.login(name, PASSWORD)[0]
    grids = (HZ1, HZ2, LY, GY)
    api.service.store_candidates(
        [candidate(n, location=Location(grid_code=g)) for n, g in enumerate(grids)]
    )
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


def test_a_district_operator_lists_and_opens_only_its_districts_cases(api: Api) -> None:
    mine = api.client.get("/api/v1/cases", headers=api.headers("hz-op")).json()
    assert sorted(c["grid_code"] for c in mine["items"]) == [HZ1, HZ2]
    assert {c["centre_name"] for c in mine["items"]} == {"海州区"}
    everything = api.client.get("/api/v1/cases", headers=api.headers("operator")).json()
    assert everything["total"] == 4
    assert (
        api.client.get(f"/api/v1/cases/{cid(2)}", headers=api.headers("hz-op")).status_code == 404
    )
    assert act(api, "hz-op", 2, "register")[0] == 404


def test_escalation_and_hand_down_over_rest_with_every_level_in_the_history(api: Api) -> None:
    assert act(api, "hz-op", 0, "register")[0] == 200
    status, body = act(api, "hz-op", 0, "escalate")
    assert (status, body["error"]) == (422, "opinion_required")
    status, body = act(api, "hz-op", 0, "escalate", opinion="涉及市政主干道，需市级协调")
    assert status == 200 and body["case"]["centre"] == "city"
    # the district still sees it, but acts on it no more (403 with a code)
    page = api.client.get(f"/api/v1/cases/{cid(0)}", headers=api.headers("hz-disp")).json()
    assert page["allowed_actions"] == [] and page["centre_name"] == "连云港市"
    status, body = act(api, "hz-disp", 0, "dispatch")
    assert (status, body["error"]) == (403, "not_your_level")
    page = api.client.get(f"/api/v1/cases/{cid(0)}", headers=api.headers("shift_lead")).json()
    assert "hand_down" in page["allowed_actions"]
    status, body = act(api, "shift_lead", 0, "hand_down", opinion="属区级事权")
    assert status == 200 and body["case"]["centre"] == "320706"
    page = api.client.get(f"/api/v1/cases/{cid(0)}", headers=api.headers("hz-op")).json()
    assert [(lv["centre_name"], lv["action"]) for lv in page["levels"]] == [
        ("海州区", "create"),
        ("连云港市", "escalate"),
        ("海州区", "hand_down"),
    ]
    assert page["levels"][1]["reason"] == "涉及市政主干道，需市级协调"
    assert page["levels"][1]["level_deadline"]


def test_a_district_dispatches_only_to_its_own_departments(api: Api) -> None:
    act(api, "hz-op", 0, "register")
    status, body = act(api, "hz-disp", 0, "dispatch", department="sanitation")
    assert (status, body["error"]) == (403, "department_not_in_level")
    status, body = act(api, "hz-disp", 0, "dispatch", department="hz-sanitation")
    assert status == 200 and body["case"]["department"] == "hz-sanitation"
    listed = api.client.get("/api/v1/cases", headers=api.headers("hz-dept")).json()
    assert [c["id"] for c in listed["items"]] == [cid(0)]
    me = api.client.get("/api/v1/organisation", headers=api.headers("hz-disp")).json()["me"]
    assert me["centre"]["name"] == "海州区"
    assert {t["id"] for t in me["dispatch_targets"]} == {
        "hz-city-management",
        "hz-sanitation",
        "street-320706001",
        "street-320706002",
        "street-320706003",
        "street-320706004",
    }


def test_three_level_evaluation_matches_hand_counted_figures(api: Api) -> None:
    for n in (0, 1):
        act(api, "hz-op", n, "register")
    act(api, "operator", 2, "register")
    act(api, "hz-disp", 0, "dispatch", department="hz-sanitation")
    end = (MONDAY_10 + timedelta(days=7)).isoformat()
    start = MONDAY_10.isoformat()

    def units(node: str, who: str = "shift_lead") -> dict[str, dict]:
        answer = api.client.get(
            "/api/v1/organisation/evaluation",
            params={"node": node, "start": start, "end": end},
            headers=api.headers(who),
        )
        assert answer.status_code == 200, answer.text
        return {u["id"]: u for u in answer.json()["units"]}

    city = units("city")
    # the city: its districts and its departments
    assert set(city) == {"320706", "320703", "city-management", "sanitation", "traffic"}
    hz, ly = city["320706"], city["320703"]
    # 海州区: 2 立案, 1 dispatched whose 2 working days passed undisposed
    assert (hz["registered"], hz["due"], hz["closed"], hz["overdue_undisposed"]) == (2, 1, 0, 1)
    assert (hz["closure_rate"], hz["on_time_disposal_rate"], hz["score"]) == (0.0, 0.0, 0.0)
    assert (ly["registered"], ly["due"], ly["score"]) == (1, 0, None)
    assert city["sanitation"]["registered"] == 0
    district = units("320706")
    assert set(district) == {
        "320706001",
        "320706002",
        "320706003",
        "320706004",
        "hz-city-management",
        "hz-sanitation",
    }
    assert (district["320706001"]["registered"], district["320706001"]["due"]) == (1, 1)
    assert (district["320706002"]["registered"], district["320706002"]["due"]) == (1, 0)
    assert district["hz-sanitation"]["overdue_undisposed"] == 1
    street = units("320706002")
    assert street["320706002001"]["registered"] == 1  # grid 20010 5 lies in 320706002001
    assert sum(u["registered"] for u in street.values()) == 1
    # a district evaluates inside itself only
    answer = api.client.get(
        "/api/v1/organisation/evaluation",
        params={"node": "city"},
        headers={"Authorization": f"Bearer {api.tokens['hz-op']}"},
    )
    assert answer.status_code == 403


def test_the_evaluation_as_csv_holds_the_same_units_and_figures_as_the_json(api: Api) -> None:
    for n in (0, 1):
        act(api, "hz-op", n, "register")
    act(api, "operator", 2, "register")
    act(api, "hz-disp", 0, "dispatch", department="hz-sanitation")
    period = {"start": MONDAY_10.isoformat(), "end": (MONDAY_10 + timedelta(days=7)).isoformat()}
    for node, who in (("city", "shift_lead"), ("320706", "hz-disp"), ("320706001", "hz-disp")):
        params = {"node": node, **period}
        doc = api.client.get(
            "/api/v1/organisation/evaluation", params=params, headers=api.headers(who)
        ).json()
        answer = api.client.get(
            "/api/v1/organisation/evaluation",
            params={**params, "format": "csv"},
            headers=api.headers(who),
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/csv")
        assert answer.content.startswith(b"\xef\xbb\xbf")  # a BOM, for spreadsheets
        rows = keyed_rows(answer.content.decode("utf-8-sig"), CSV_HEADERS)
        # the same units in the same (ranked) order, every figure equal
        assert [r["group"] for r in rows] == [f"{u['id']} {u['name']}" for u in doc["units"]]
        for row, unit in zip(rows, doc["units"], strict=True):
            for key, value in unit.items():
                if key in ("id", "name", "kind", "kind_label"):
                    continue
                if key == "passed":
                    for k, v in value.items():
                        assert row[f"passed_{k}"] == ("" if v is None else str(v)), (node, k)
                elif key in row:
                    assert row[key] == ("" if value is None else str(value)), (node, key)
        assert ("passed_registered" in rows[0]) == (node == "320706001")
    assert sum(int(r["registered"]) for r in rows) == 1  # 海州街道: the case on its grid


def test_an_admin_places_users_at_a_district_and_unknown_nodes_are_refused(api: Api) -> None:
    admin = api.headers("admin")
    body = {"name": "ly-lead", "role": "shift_lead", "password": PASSWORD, "org_node": "320703"}
    made = api.client.post("/api/v1/users", json=body, headers=admin)
    assert made.status_code == 201 and made.json()["org_node"] == "320703"
    token = api.auth.login("ly-lead", PASSWORD)[0]
    listed = api.client.get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"})
    assert [c["grid_code"] for c in listed.json()["items"]] == [LY]
    bad = {**body, "name": "nowhere", "org_node": "999999"}
    refused = api.client.post("/api/v1/users", json=bad, headers=admin)
    assert (refused.status_code, refused.json()["error"]) == (422, "bad_user")
    # back to the city: sees everything (the old sessions end)
    moved = api.client.patch("/api/v1/users/ly-lead", json={"org_node": None}, headers=admin)
    assert moved.status_code == 200 and moved.json()["org_node"] is None
    token = api.auth.login("ly-lead", PASSWORD)[0]
    listed = api.client.get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"})
    assert listed.json()["total"] == 4


def test_the_metrics_of_one_node_are_the_figures_the_city_evaluates_that_unit_with(
    api: Api,
) -> None:
    for n in (0, 1):
        act(api, "hz-op", n, "register")
    for n in (2, 3):
        act(api, "operator", n, "register")
    act(api, "hz-disp", 0, "dispatch", department="hz-sanitation")
    period = {"start": MONDAY_10.isoformat(), "end": (MONDAY_10 + timedelta(days=7)).isoformat()}

    def metrics(who: str, **params: str) -> dict:
        answer = api.client.get(
            "/api/v1/metrics", params={**period, **params}, headers=api.headers(who)
        )
        assert answer.status_code == 200, answer.text
        [group] = answer.json()["groups"]
        return {k: v for k, v in group.items() if k != "group"}

    levels = api.client.get(
        "/api/v1/organisation/evaluation",
        params={"node": "city", **period},
        headers=api.headers("shift_lead"),
    ).json()
    units = {u["id"]: u for u in levels["units"]}
    for district in ("320706", "320703"):
        mine = metrics("shift_lead", node=district)
        assert mine == {k: v for k, v in units[district].items() if k in mine}, district
    assert metrics("shift_lead", node="320706")["registered"] == 2  # HZ1, HZ2
    assert metrics("shift_lead", node="320703")["registered"] == 1  # LY
    assert metrics("shift_lead", node="city") == metrics("shift_lead")  # all 4, GY's too
    assert metrics("shift_lead")["registered"] == 4
    street = metrics("shift_lead", node="320706002")
    assert (street["registered"], street["due"]) == (1, 0)  # HZ2 only
    # a district's dispatcher asks for its own district, its streets, nothing else
    assert metrics("hz-disp", node="320706") == metrics("shift_lead", node="320706")
    for node, status, code in (
        ("320703", 403, "not_your_level"),
        ("city", 403, "not_your_level"),
        ("hz-sanitation", 404, "unknown_node"),
        ("999999", 404, "unknown_node"),
    ):
        answer = api.client.get(
            "/api/v1/metrics", params={"node": node}, headers=api.headers("hz-disp")
        )
        assert (answer.status_code, answer.json()["error"]) == (status, code), node
    # the CSV keeps the same cases
    answer = api.client.get(
        "/api/v1/metrics.csv",
        params={"node": "320706", **period},
        headers=api.headers("shift_lead"),
    )
    [row] = keyed_rows(answer.content.decode("utf-8-sig"), METRICS_HEADERS)
    assert (row["registered"], row["due"]) == ("2", "1")


def test_without_a_node_the_metrics_are_the_users_own_centres(api: Api) -> None:
    for n in (0, 1):
        act(api, "hz-op", n, "register")
    for n in (2, 3):
        act(api, "operator", n, "register")
    period = {"start": MONDAY_10.isoformat(), "end": (MONDAY_10 + timedelta(days=7)).isoformat()}

    def metrics(who: str, **params: str) -> dict:
        answer = api.client.get(
            "/api/v1/metrics", params={**period, **params}, headers=api.headers(who)
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    # 海州区's dispatcher: its district's two cases, as asking for 320706 gives
    district = metrics("hz-disp")
    assert (district["node"], district["node_name"]) == ("320706", "海州区")
    assert district["groups"] == metrics("hz-disp", node="320706")["groups"]
    assert district["groups"][0]["registered"] == 2
    by_grid = metrics("hz-disp", group_by="grid")["groups"]
    assert sorted(g["group"] for g in by_grid) == [HZ1, HZ2]
    # the city's shift lead: every case, GY's (in no district) too
    city = metrics("shift_lead")
    assert city["node"] == "city"
    assert city["groups"] == metrics("shift_lead", node="city")["groups"]
    assert city["groups"][0]["registered"] == 4
    # the CSV too
    for who, registered in (("hz-disp", "2"), ("shift_lead", "4")):
        answer = api.client.get("/api/v1/metrics.csv", params=period, headers=api.headers(who))
        assert answer.status_code == 200, answer.text
        [row] = keyed_rows(answer.content.decode("utf-8-sig"), METRICS_HEADERS)
        assert row["registered"] == registered, who
    named = api.client.get("/api/v1/metrics.csv", params=period, headers=api.headers("hz-disp"))
    assert "citygw-metrics-320706-none-" in named.headers["content-disposition"]


#: inspectors beside the harness's ivan (grids 320706901: 海州区) and insp-1 (no user: the
#: source of every test case): name -> (organisation node, grids)
UNIT_INSPECTORS = {
    "ly-insp": ("320703", ()),  # sits at 连云区
    "hz-street-insp": (None, ("32070600100",)),  # a 海州区 street's grids, at the city
    "gy-insp": (None, ("320707",)),  # 赣榆区: in no district of the tree
}


def with_unit_inspectors_and_registered_cases(api: Api) -> dict[str, str]:
    """The inspectors above; 海州区's two cases registered by hz-op, the other two (连云区,
    赣榆区) by the city's operator. The period of the figures around them."""
    for name, (node, grids) in UNIT_INSPECTORS.items():
        api.auth.add_user(name, "inspector", PASSWORD, None, grids, org_node=node)
    for n in (0, 1):
        act(api, "hz-op", n, "register")
    for n in (2, 3):
        act(api, "operator", n, "register")
    return {"start": MONDAY_10.isoformat(), "end": (MONDAY_10 + timedelta(days=7)).isoformat()}


def answer_of(api: Api, who: str, path: str, **params: str) -> dict:
    answer = api.client.get(path, params=params, headers=api.headers(who))
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_districts_evaluators_list_only_their_districts_inspectors(api: Api) -> None:
    period = with_unit_inspectors_and_registered_cases(api)
    path = "/api/v1/metrics/inspectors"

    def names(doc: dict) -> set[str]:
        return {r["inspector"] for r in doc["inspectors"]}

    # 海州区: ivan and hz-street-insp by their grids, insp-1 by its reports on 海州区's grids
    district = answer_of(api, "hz-disp", path, **period)
    assert names(district) == {"ivan", "hz-street-insp", "insp-1"}
    assert (district["node"], district["node_name"]) == ("320706", "海州区")
    assert district == answer_of(api, "hz-disp", path, node="320706", **period)
    # the city: every inspector, as before
    city = answer_of(api, "shift_lead", path, **period)
    assert city["node"] == "city"
    assert names(city) == {"ivan", "insp-1", "ly-insp", "hz-street-insp", "gy-insp"}
    assert city == answer_of(api, "shift_lead", path, node="city", **period)
    # 连云区 seen from the city: the inspector sitting there, and insp-1 (reported there)
    assert names(answer_of(api, "shift_lead", path, node="320703", **period)) == {
        "ly-insp",
        "insp-1",
    }
    # a district's figures keep the whole inspector: insp-1 reported 4 cases in all
    [insp] = [r for r in district["inspectors"] if r["inspector"] == "insp-1"]
    assert insp["reports"] == 4
    # not another district, nor the city
    for node in ("320703", "city"):
        answer = api.client.get(
            path, params={**period, "node": node}, headers=api.headers("hz-disp")
        )
        assert (answer.status_code, answer.json()["error"]) == (403, "not_your_level")
    # the CSV: the same rows, named by the district
    csv = api.client.get(f"{path}.csv", params=period, headers=api.headers("hz-disp"))
    assert csv.status_code == 200
    assert "citygw-inspectors-320706-" in csv.headers["content-disposition"]
    rows = keyed_rows(csv.content.decode("utf-8-sig"), INSPECTOR_HEADERS)
    assert {r["inspector"] for r in rows} == names(district)


def test_a_districts_role_activity_counts_only_its_users_steps(api: Api) -> None:
    period = with_unit_inspectors_and_registered_cases(api)
    path = "/api/v1/metrics/roles"
    district = answer_of(api, "hz-disp", path, **period)
    # hz-op's two registrations; none of the city operator's, nor the system's intake
    assert district["roles"] == {"operator": {"register": 2, "total": 2}}
    assert (district["node"], district["node_name"]) == ("320706", "海州区")
    assert district == answer_of(api, "hz-disp", path, node="320706", **period)
    city = answer_of(api, "shift_lead", path, **period)
    assert city["node"] == "city"
    assert city["roles"]["operator"] == {"register": 4, "total": 4}
    assert city == answer_of(api, "shift_lead", path, node="city", **period)
    answer = api.client.get(
        path, params={**period, "node": "320703"}, headers=api.headers("hz-disp")
    )
    assert (answer.status_code, answer.json()["error"]) == (403, "not_your_level")


def test_a_districts_report_is_its_own_document_of_its_cases(api: Api) -> None:
    with_unit_inspectors_and_registered_cases(api)
    path = "/api/v1/reports/2026-01"
    district = answer_of(api, "hz-disp", path, format="json")
    assert district == answer_of(api, "hz-disp", path, format="json", node="320706")
    assert district["total"]["registered"] == 2
    assert district["unit"] == "海州区"
    assert district["title"] == "海州区2026年1月月度综合评价报告"
    city = answer_of(api, "shift_lead", path, format="json")
    assert city == answer_of(api, "shift_lead", path, format="json", node="city")
    assert city["unit"] is None and city["title"] == "2026年1月月度综合评价报告"
    assert city["total"]["registered"] == 4
    # the page is headed by the district; the file is named by it
    page = api.client.get(path, headers=api.headers("hz-disp")).text
    assert "<h1>海州区2026年1月月度综合评价报告</h1>" in page and "海州区汇总" in page
    assert "全市汇总" in api.client.get(path, headers=api.headers("shift_lead")).text
    answer = api.client.get(path, params={"node": "320703"}, headers=api.headers("hz-disp"))
    assert (answer.status_code, answer.json()["error"]) == (403, "not_your_level")
    assert (
        api.client.get(path, params={"node": "nowhere"}, headers=api.headers("hz-disp")).json()[
            "error"
        ]
        == "unknown_node"
    )


def test_a_districts_report_ranks_its_streets_and_departments_as_the_evaluation_does(
    api: Api,
) -> None:
    from zoneinfo import ZoneInfo

    import openpyxl

    from gateway.core.publication import parse_period

    with_unit_inspectors_and_registered_cases(api)
    act(api, "hz-disp", 0, "dispatch", department="hz-sanitation")
    config = api.client.app.state.ctx.config  # type: ignore[attr-defined]
    month = parse_period("2026-01", ZoneInfo(config.calendar.timezone))
    levels = answer_of(
        api,
        "hz-disp",
        "/api/v1/organisation/evaluation",
        node="320706",
        start=month.start.isoformat(),
        end=month.end.isoformat(),
    )
    streets = {u["id"]: u for u in levels["units"] if u["kind"] == "street"}
    departments = {u["id"]: u for u in levels["units"] if u["kind"] == "department"}
    assert len(streets) == 4 and set(departments) == {"hz-city-management", "hz-sanitation"}
    path = "/api/v1/reports/2026-01"
    report = answer_of(api, "hz-disp", path, format="json")
    assert "districts" not in report
    assert [(s["key"], s["title"]) for s in report["sections"]] == [
        ("streets", "街道排名"),
        ("departments", "部门排名"),
    ]
    for key, expected in (("streets", streets), ("departments", departments)):
        rows = {r["group"]: r for r in report[key]}
        assert set(rows) == set(expected)
        for unit_id, unit in expected.items():
            assert rows[unit_id]["name"] == unit["name"]
            figures = {
                k: v for k, v in unit.items() if k not in ("id", "name", "kind", "kind_label")
            }
            for name, value in figures.items():
                assert rows[unit_id][name] == value, (unit_id, name)
    # the printable page: titled for what it ranks, a row per street
    page = api.client.get(path, headers=api.headers("hz-disp")).text
    assert "<h2>街道排名</h2>" in page and "<h2>部门排名</h2>" in page
    assert "各区排名" not in page
    for unit in (*streets.values(), *departments.values()):
        assert unit["name"] in page
    # the workbook: a 街道排名 sheet of those streets, with their 立案数
    xlsx = api.client.get(path, params={"format": "xlsx"}, headers=api.headers("hz-disp"))
    assert xlsx.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    assert "街道排名" in book.sheetnames and "部门排名" in book.sheetnames
    assert "各区排名" not in book.sheetnames
    by_name = {u["name"]: u for u in streets.values()}
    sheet = [r for r in book["街道排名"].iter_rows(min_row=2, values_only=True) if r[1]]
    assert {r[1] for r in sheet} == set(by_name)
    for row in sheet:  # 名次, 街道, 综合得分, 立案数, 应结案数, 结案数, ...
        unit = by_name[row[1]]
        assert (row[2], row[3], row[4], row[5]) == (
            unit["score"],
            unit["registered"],
            unit["due"],
            unit["closed"],
        )


def test_a_streets_report_ranks_its_communities(api: Api) -> None:
    from zoneinfo import ZoneInfo

    from gateway.core.publication import parse_period

    with_unit_inspectors_and_registered_cases(api)
    config = api.client.app.state.ctx.config  # type: ignore[attr-defined]
    month = parse_period("2026-01", ZoneInfo(config.calendar.timezone))
    levels = answer_of(
        api,
        "hz-disp",
        "/api/v1/organisation/evaluation",
        node="320706002",
        start=month.start.isoformat(),
        end=month.end.isoformat(),
    )
    report = answer_of(api, "hz-disp", "/api/v1/reports/2026-01", format="json", node="320706002")
    assert [s["title"] for s in report["sections"]] == ["社区排名"]
    rows = {r["group"]: r for r in report["communities"]}
    assert set(rows) == {u["id"] for u in levels["units"]}
    for unit in levels["units"]:
        assert rows[unit["id"]]["registered"] == unit["registered"]
        assert rows[unit["id"]]["score"] == unit["score"]


def test_the_citys_report_still_ranks_districts_and_departments(api: Api) -> None:
    with_unit_inspectors_and_registered_cases(api)
    city = answer_of(api, "shift_lead", "/api/v1/reports/2026-01", format="json")
    assert "districts" in city and "departments" in city and "streets" not in city
    assert [s["title"] for s in city["sections"]] == ["各区排名", "各专业部门排名"]
    page = api.client.get("/api/v1/reports/2026-01", headers=api.headers("shift_lead")).text
    assert "<h2>各区排名</h2>" in page and "街道排名" not in page


def test_a_missed_hand_down_deadline_is_red_for_the_district_until_it_takes_the_case_up(
    api: Api,
) -> None:
    """上报 and then 下派 at Monday 10:00 give 海州区 until 15:00 (4 working hours): past
    it, the district's list shows the case red and level_overdue, its red filter finds it;
    the district's first step ends it, recorded late."""
    assert act(api, "hz-op", 0, "escalate", opinion="涉及市政主干道，需市级协调")[0] == 200
    assert act(api, "shift_lead", 0, "hand_down", opinion="属区级事权")[0] == 200

    def shown() -> dict:
        return api.client.get(f"/api/v1/cases/{cid(0)}", headers=api.headers("hz-op")).json()

    def red() -> list[str]:
        listed = api.client.get(
            "/api/v1/cases", params={"light": "red"}, headers=api.headers("hz-op")
        )
        return [c["id"] for c in listed.json()["items"]]

    page = shown()
    assert (page["light"], page["level_overdue"]) == ("green", False)
    due = datetime.fromisoformat(page["level_deadline"].replace("Z", "+00:00"))
    assert due == MONDAY_10 + timedelta(hours=5)  # 15:00 Shanghai
    api.clock.advance(hours=5, minutes=1)
    page = shown()
    assert (page["light"], page["level_overdue"]) == ("red", True)
    assert red() == [cid(0)]
    status, body = act(api, "hz-op", 0, "register")
    assert status == 200 and body["case"]["level_overdue"] is False
    assert body["case"]["level_deadline"] is None and body["case"]["light"] is None
    assert red() == []
    steps = api.client.get(f"/api/v1/cases/{cid(0)}/steps", headers=api.headers("hz-op")).json()
    assert steps[-1]["facts"]["level_on_time"] is False
