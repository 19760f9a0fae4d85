"""部件问题 (issue 17 §2): a case's nearest census components of its event's types, and
linking the case to one, over the API on the demo base data, on SQLite and PostgreSQL.
The link is kept on the case and each link is a step of its history; linking again
replaces it with a new step; only an imported component, only the desk of the case's
level, only a case in reach."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapters.storage.case_map_store import SqlCaseMap
from adapters.storage.gis_store import SqlBaseData
from gateway.contract import Location
from gateway.core.api import create_app
from gateway.core.case_components import component_types, owner_department
from gateway.core.gis_routes import MapData, load_map_data
from gateway.core.intake import case_id_for
from gateway.core.organisation import Organisation
from gateway.gis.codes import load_component_types, load_event_component_types
from gateway.gis.crs import InputCrs
from gateway.gis.demo_data import generate
from gateway.gis.features import ComponentFeature, RawFeature
from gateway.gis.importer import BaseDataImporter
from tests.core.api_harness import PASSWORD, Api, make_api
from tests.core.helpers import CORE_SETTINGS, candidate, case

#: 0404 下水道堵塞或破损 is about sewer and storm drain covers and gratings
DRAIN_TYPES = {"0102", "0103", "0104"}
#: the demo's owner of class 01 components, a department of the dispatch table here
MUNICIPAL = {"id": "municipal", "name": "市政设施管理处"}
DISTRICT_USERS = {  # name -> (role, department, node)
    "hz-op": ("operator", None, "320706"),  # 海州区, where the demo area lies
    "ly-op": ("operator", None, "320703"),  # 连云区
}


@dataclasses.dataclass
class Linking:
    api: Api
    client: TestClient
    data: MapData

    def near(self, case_id: str, role: str = "operator", **params: object) -> Any:
        answer = self.client.get(
            f"/api/v1/cases/{case_id}/components", params=params, headers=self.api.headers(role)
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    def link(self, case_id: str, component_id: str, role: str = "operator") -> Any:
        return self.client.post(
            f"/api/v1/cases/{case_id}/component",
            json={"component_id": component_id},
            headers=self.api.headers(role),
        )

    def steps(self, case_id: str) -> list[dict[str, Any]]:
        answer = self.client.get(
            f"/api/v1/cases/{case_id}/steps", headers=self.api.headers("operator")
        )
        return answer.json()  # type: ignore[no-any-return]


def _raws(features: list[dict[str, Any]]) -> list[RawFeature]:
    return [RawFeature(i + 1, f["properties"], f["geometry"]) for i, f in enumerate(features)]


@pytest.fixture
def gis(db_url: str, tmp_path: Path) -> Iterator[Linking]:
    api = make_api(db_url, tmp_path, departments=[*CORE_SETTINGS["departments"], MUNICIPAL])
    config = api.client.app.state.ctx.config  # type: ignore[attr-defined]
    org = Organisation.from_config(config.organisation, {d.id: d.name for d in config.departments})
    api.service.workflow.organisation = org
    api.auth.organisation = org
    for name, (role, department, node) in DISTRICT_USERS.items():
        api.auth.add_user(name, role, PASSWORD, department, org_node=node)
        api.tokens[name] = api.auth.login(name, PASSWORD)[0]
    demo = generate()
    base = SqlBaseData.for_store(api.service.store)
    importer = BaseDataImporter(base, load_component_types())
    assert importer.import_grids(_raws(demo.grids), InputCrs.WGS84).accepted
    assert importer.import_components(_raws(demo.components), InputCrs.WGS84).accepted
    data = load_map_data(base, SqlCaseMap.for_store(api.service.store))
    api.service.grids = data.grids
    ctx = dataclasses.replace(api.client.app.state.ctx, gis=data)  # type: ignore[attr-defined]
    client = TestClient(create_app(ctx))
    yield Linking(api, client, data)
    client.close()
    api.close()


def _a_drain(data: MapData) -> ComponentFeature:
    return next(c for c in data.components.components if c.type_code == "0103")


def a_case(linking: Linking, n: int, event_code: str = "0404", **facts: Any) -> str:
    """A case a few metres from a storm drain cover of the demo area."""
    near = _a_drain(linking.data)
    report = candidate(
        n,
        event_code=event_code,
        title=f"案件{n}",
        location=Location(lon=near.lon + 0.00003, lat=near.lat + 0.00002),
        facts=facts,
    )
    linking.api.service.store_candidates([report])
    return case_id_for(report.id)


def test_a_case_lists_the_components_of_its_events_types_nearest_first(gis: Linking) -> None:
    case_id = a_case(gis, 1)
    near = gis.near(case_id)
    items = near["items"]
    assert near["has_point"] and near["radius_m"] == 50 and near["can_link"]
    assert [k["code"] for k in near["classes"]] == ["0102", "0103", "0104"]
    assert [k["name"] for k in near["classes"]] == ["污水井盖", "雨水井盖", "雨水箅子"]
    assert len(items) >= 3 and {i["type_code"] for i in items} <= DRAIN_TYPES
    distances = [i["distance_m"] for i in items]
    assert distances == sorted(distances) and distances[-1] <= 50
    assert items[0]["distance_m"] < 5  # the cover beside the case's point
    assert items[0]["owner"] == "市政设施管理处" and items[0]["owner_department"] == "municipal"
    assert near["linked"] is None
    wider = gis.near(case_id, r=200)["items"]
    assert len(wider) > len(items)


def test_an_event_about_no_component_class_lists_every_class_within_r(gis: Linking) -> None:
    case_id = a_case(gis, 1, event_code="0505")  # 机动车乱停放
    near = gis.near(case_id, r=100)
    assert near["classes"] is None
    assert len({i["type_code"][:2] for i in near["items"]}) >= 2
    # a hotline caller's component category (设施损坏: class 01) chooses the class
    call = a_case(
        gis, 2, event_code="0199", category={"cjt214_table": "components", "cjt214_class": "01"}
    )
    by_call = gis.near(call, r=100)
    assert by_call["classes"] == [{"code": "01", "name": "公共设施"}]
    assert by_call["items"] and all(i["type_code"][:2] == "01" for i in by_call["items"])


def test_linking_keeps_the_component_on_the_case_and_a_step_in_its_history(
    gis: Linking,
) -> None:
    case_id = a_case(gis, 1)
    first = gis.near(case_id)["items"][0]
    version = gis.api.service.store.get_case(case_id).version  # type: ignore[union-attr]
    answer = gis.link(case_id, first["id"])
    assert answer.status_code == 200, answer.text
    out = answer.json()
    assert out["step"]["action"] == "link_component"
    assert out["step"]["from_state"] == out["step"]["to_state"] == "candidate"
    linked = out["case"]["facts"]["component"]
    assert linked["id"] == first["id"] and linked["type_code"] == first["type_code"]
    assert linked["type_name"] == first["type_name"] and linked["owner"] == "市政设施管理处"
    assert linked["owner_department"] == "municipal"
    assert linked["distance_m"] == first["distance_m"]
    assert linked["linked_by"] == "olga" and linked["linked_at"]
    assert out["case"]["version"] == version + 1
    page = gis.client.get(f"/api/v1/cases/{case_id}", headers=gis.api.headers("dispatcher"))
    assert page.json()["facts"]["component"]["id"] == first["id"]
    step = gis.steps(case_id)[-1]
    assert (step["action"], step["actor"], step["role"]) == ("link_component", "olga", "operator")
    assert step["facts"]["component"]["id"] == first["id"] and "replaced" not in step["facts"]
    assert gis.near(case_id)["linked"]["id"] == first["id"]


def test_linking_again_replaces_the_link_with_a_new_step(gis: Linking) -> None:
    case_id = a_case(gis, 1)
    first, second = gis.near(case_id)["items"][:2]
    assert gis.link(case_id, first["id"]).status_code == 200
    again = gis.link(case_id, second["id"], role="shift_lead")
    assert again.status_code == 200, again.text
    assert again.json()["case"]["facts"]["component"]["id"] == second["id"]
    links = [s for s in gis.steps(case_id) if s["action"] == "link_component"]
    assert [s["facts"]["component"]["id"] for s in links] == [first["id"], second["id"]]
    assert [s["actor"] for s in links] == ["olga", "lena"]
    assert links[1]["facts"]["replaced"] == first["id"]


def test_a_component_not_in_the_base_data_is_refused_and_nothing_is_recorded(
    gis: Linking,
) -> None:
    case_id = a_case(gis, 1)
    before = len(gis.steps(case_id))
    unknown = gis.link(case_id, "3207060103999999")
    assert unknown.status_code == 404 and unknown.json()["error"] == "component_not_found"
    malformed = gis.link(case_id, "0103")
    assert malformed.status_code == 422 and malformed.json()["error"] == "invalid_request"
    assert len(gis.steps(case_id)) == before
    assert "component" not in gis.api.service.store.get_case(case_id).facts  # type: ignore[union-attr]


def test_only_the_desk_of_the_cases_level_links_a_case_in_its_reach(gis: Linking) -> None:
    case_id = a_case(gis, 1)
    component = gis.near(case_id)["items"][0]["id"]
    for role in ("inspector", "department", "admin"):
        refused = gis.link(case_id, component, role=role)
        assert refused.status_code == 403 and refused.json()["error"] == "forbidden_role", role
    assert gis.near(case_id, role="admin")["can_link"] is False
    # another district's desk does not reach the case; its own district's does
    elsewhere = gis.link(case_id, component, role="ly-op")
    assert elsewhere.status_code == 404 and elsewhere.json()["error"] == "case_not_found"
    assert gis.link(case_id, component, role="hz-op").status_code == 200
    # a case no longer open keeps its history as it is
    rejected = a_case(gis, 2)
    rejecting = gis.client.post(
        f"/api/v1/cases/{rejected}/transitions",
        json={"action": "reject", "opinion": "误报"},
        headers=gis.api.headers("operator"),
    )
    assert rejecting.status_code == 200, rejecting.text
    closed = gis.link(rejected, component)
    assert closed.status_code == 409 and closed.json()["error"] == "wrong_state"
    assert gis.near(rejected)["can_link"] is False


def test_an_events_component_types_come_from_the_call_or_the_table() -> None:
    table = load_event_component_types(load_component_types())
    assert component_types(case(event_code="0404"), table) == ("0102", "0103", "0104")
    assert component_types(case(event_code="0505"), table) is None
    chosen = {"category": {"cjt214_table": "components", "cjt214_class": "04"}}
    assert component_types(case(event_code="0199", facts=chosen), table) == ("04",)
    heard = {"category": {"cjt214_table": "events", "cjt214_class": "05"}}
    assert component_types(case(event_code="0505", facts=heard), table) is None


def test_a_components_owner_is_a_department_by_id_or_name() -> None:
    departments = {"municipal": "市政设施管理处", "traffic": "交警"}
    assert owner_department("市政设施管理处", departments) == "municipal"
    assert owner_department("traffic", departments) == "traffic"
    assert owner_department("园林局", departments) is None
    assert owner_department(" ", departments) is None
