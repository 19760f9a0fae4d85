"""The map's API (/api/v1/gis) on the demo base data, on SQLite and on PostgreSQL (PostGIS):
grids with their open cases, cases in a viewport, components, geocoding, reverse, near."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import shapely
from fastapi.testclient import TestClient

from adapters.storage.case_map_store import SqlCaseMap
from adapters.storage.gis_store import SqlBaseData
from gateway.contract import Location
from gateway.core.api import create_app
from gateway.core.gis_routes import MapData, load_map_data
from gateway.core.intake import case_id_for
from gateway.core.organisation import Organisation
from gateway.gis.codes import load_component_types
from gateway.gis.crs import InputCrs
from gateway.gis.demo_data import generate
from gateway.gis.features import GridFeature, RawFeature
from gateway.gis.importer import BaseDataImporter
from tests.core.api_harness import Api, make_api
from tests.core.helpers import candidate

#: the whole demo area (海州区, about 119.169..119.191 E, 34.591..34.609 N) and more
DEMO_BBOX = "119.15,34.58,119.21,34.62"


@dataclasses.dataclass
class MapApi:
    api: Api
    client: TestClient
    data: MapData

    def get(self, path: str, role: str = "operator", **params: object) -> object:
        return self.client.get(f"/api/v1/gis/{path}", params=params, headers=self.api.headers(role))


def _raws(features: list[dict[str, Any]]) -> list[RawFeature]:
    return [RawFeature(i + 1, f["properties"], f["geometry"]) for i, f in enumerate(features)]


def _address_raws(rows: list[dict[str, Any]]) -> list[RawFeature]:
    return [
        RawFeature(i + 1, {k: v for k, v in row.items() if k not in ("lon", "lat")},
                   {"type": "Point", "coordinates": [row["lon"], row["lat"]]})
        for i, row in enumerate(rows)
    ]  # fmt: skip


@pytest.fixture
def gis(db_url: str, tmp_path: Path) -> Iterator[MapApi]:
    api = make_api(db_url, tmp_path)
    demo = generate()
    base = SqlBaseData.for_store(api.service.store)
    importer = BaseDataImporter(base, load_component_types())
    for report in (
        importer.import_grids(_raws(demo.grids), InputCrs.WGS84),
        importer.import_components(_raws(demo.components), InputCrs.WGS84),
        importer.import_addresses(_address_raws(demo.addresses), InputCrs.WGS84),
    ):
        assert report.accepted, report.errors[:3]
    data = load_map_data(base, SqlCaseMap.for_store(api.service.store))
    api.service.grids = data.grids
    ctx = dataclasses.replace(api.client.app.state.ctx, gis=data)  # type: ignore[attr-defined]
    client = TestClient(create_app(ctx))
    yield MapApi(api, client, data)
    client.close()
    api.close()


def _centre(grid: GridFeature) -> tuple[float, float]:
    point = shapely.centroid(grid.geometry)
    return point.x, point.y


def _report_at(gis: MapApi, n: int, lon: float, lat: float, event_code: str = "0102") -> str:
    report = candidate(n, event_code=event_code, location=Location(lon=lon, lat=lat))
    gis.api.service.store_candidates([report])
    return case_id_for(report.id)


def test_grids_in_a_viewport_come_as_geojson_with_their_open_cases(gis: MapApi) -> None:
    grid = gis.data.grids.grids[5]
    lon, lat = _centre(grid)
    _report_at(gis, 1, lon, lat)
    _report_at(gis, 2, lon + 0.0001, lat, event_code="0505")
    response = gis.get("grids", bbox=DEMO_BBOX)
    assert response.status_code == 200, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["type"] == "FeatureCollection" and body["truncated"] is False
    assert len(body["features"]) == 400
    by_code = {f["properties"]["code"]: f for f in body["features"]}
    assert by_code[grid.code]["properties"]["open_cases"] == 2
    assert sum(f["properties"]["open_cases"] for f in body["features"]) == 2
    assert by_code[grid.code]["geometry"]["type"] == "Polygon"
    assert by_code[grid.code]["properties"]["district"] == "海州区"
    # a small viewport holds the grids around it only
    small = f"{lon - 0.0002},{lat - 0.0002},{lon + 0.0002},{lat + 0.0002}"
    few = gis.get("grids", bbox=small).json()["features"]  # type: ignore[attr-defined]
    assert grid.code in {f["properties"]["code"] for f in few} and len(few) < 10


def test_cases_in_a_viewport_with_state_light_event_and_a_truncated_flag(gis: MapApi) -> None:
    grids = gis.data.grids.grids
    inside = [_report_at(gis, i, *_centre(grids[i])) for i in range(1, 4)]
    outside = _report_at(gis, 9, 119.0, 34.6)  # outside every grid: not in the demo viewport
    body = gis.get("cases", bbox=DEMO_BBOX).json()  # type: ignore[attr-defined]
    assert body["truncated"] is False
    assert {f["properties"]["id"] for f in body["features"]} == set(inside)
    first = body["features"][0]
    assert first["geometry"]["type"] == "Point"
    props = first["properties"]
    assert props["state"] == "candidate" and props["state_label"] == "信息收集"
    assert props["event_code"] == "0102" and props["event_name"]
    assert props["light"] is None  # not dispatched yet
    assert props["grid_code"] in {g.code for g in grids[1:4]}
    cut = gis.get("cases", bbox=DEMO_BBOX, limit=2).json()  # type: ignore[attr-defined]
    assert cut["truncated"] is True and len(cut["features"]) == 2
    wide = gis.get("cases", bbox="118.9,34.5,119.3,34.7").json()  # type: ignore[attr-defined]
    assert outside in {f["properties"]["id"] for f in wide["features"]}


def test_a_department_and_an_inspector_see_only_their_cases_on_the_map(gis: MapApi) -> None:
    grid = gis.data.grids.grids[0]
    _report_at(gis, 1, *_centre(grid))  # 0102: dispatched to sanitation by the test table
    case = gis.get("cases", bbox=DEMO_BBOX).json()["features"][0]["properties"]  # type: ignore[attr-defined]
    gis.api.client.post(
        f"/api/v1/cases/{case['id']}/transitions",
        json={"action": "register"},
        headers=gis.api.headers("operator"),
    )
    dispatched = gis.api.client.post(
        f"/api/v1/cases/{case['id']}/transitions",
        json={"action": "dispatch", "department": "sanitation"},
        headers=gis.api.headers("dispatcher"),
    )
    assert dispatched.status_code == 200, dispatched.text
    own = gis.get("cases", "department", bbox=DEMO_BBOX).json()["features"]  # type: ignore[attr-defined]
    assert [f["properties"]["id"] for f in own] == [case["id"]]
    assert own[0]["properties"]["light"] == "green"
    counts = gis.get("grids", "department", bbox=DEMO_BBOX).json()["features"]  # type: ignore[attr-defined]
    assert sum(f["properties"]["open_cases"] for f in counts) == 1
    # the test inspector's grids are in 海州区 新海街道 (320706901): none of the demo area's cases
    assert gis.get("cases", "inspector", bbox=DEMO_BBOX).json()["features"] == []  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "bbox",
    ["119,34,120", "a,b,c,d", "119.2,34.6,119.1,34.7", "119,34,119,35", "0,0,200,10", "nan,1,2,3"],
)
def test_a_bad_bbox_is_refused_with_its_code(gis: MapApi, bbox: str) -> None:
    for path in ("grids", "cases", "components"):
        response = gis.get(path, bbox=bbox)
        assert response.status_code == 422, (path, bbox)  # type: ignore[attr-defined]
        assert response.json()["error"] == "bad_bbox"  # type: ignore[attr-defined]


def test_components_in_a_viewport_by_class_or_type(gis: MapApi) -> None:
    lamps = gis.get("components", bbox=DEMO_BBOX, **{"class": "0118"}).json()  # type: ignore[attr-defined]
    assert lamps["features"] and {f["properties"]["type_code"] for f in lamps["features"]} == {
        "0118"
    }
    public = gis.get("components", bbox=DEMO_BBOX, **{"class": "01"}).json()["features"]  # type: ignore[attr-defined]
    assert {f["properties"]["type_code"][:2] for f in public} == {"01"}
    assert len(public) > len(lamps["features"])
    refused = gis.get("components", bbox=DEMO_BBOX, **{"class": "1,abc"})
    assert refused.status_code == 422 and refused.json()["error"] == "bad_component_class"  # type: ignore[attr-defined]


def test_geocoding_gives_scored_candidates_with_reasons_and_their_grid(gis: MapApi) -> None:
    address = gis.data.geocoder.addresses[100]
    body = gis.get("geocode", q=address.road + address.number).json()  # type: ignore[attr-defined]
    best = body["items"][0]
    assert best["text"] == address.text and best["exact"] is True
    assert "road_exact" in best["why"] and "number_exact" in best["why"]
    located = gis.data.grids.locate_one(address.lon, address.lat)
    assert located is not None and best["grid"]["code"] == located.code
    assert best["outside_managed_area"] is False
    assert len(body["items"]) <= 5 and body["items"] == sorted(
        body["items"], key=lambda i: -i["score"]
    )
    assert gis.get("geocode", q="不存在的路999号").json()["items"] == []  # type: ignore[attr-defined]
    assert gis.get("geocode", q="").json()["error"] == "invalid_request"  # type: ignore[attr-defined]


def test_reverse_gives_the_grid_and_nearest_address_or_outside_the_managed_area(
    gis: MapApi,
) -> None:
    address = gis.data.geocoder.addresses[7]
    body = gis.get("reverse", lon=address.lon, lat=address.lat).json()  # type: ignore[attr-defined]
    assert body["outside_managed_area"] is False
    located = gis.data.grids.locate_one(address.lon, address.lat)
    assert located is not None and body["grid"]["code"] == located.code
    assert body["nearest"]["text"] == address.text and body["nearest"]["distance_m"] < 1
    away = gis.get("reverse", lon=119.0, lat=34.6).json()  # type: ignore[attr-defined]
    assert away["grid"] is None and away["outside_managed_area"] is True
    assert away["nearest"]["distance_m"] > 10_000


def test_components_near_a_point_nearest_first_within_the_radius(gis: MapApi) -> None:
    some = gis.data.components.components[50]
    body = gis.get("components/near", lon=some.lon, lat=some.lat, r=60).json()  # type: ignore[attr-defined]
    items = body["items"]
    assert items[0]["id"] == some.id and items[0]["distance_m"] == 0
    distances = [i["distance_m"] for i in items]
    assert distances == sorted(distances) and distances[-1] <= 60
    of_class = gis.get(
        "components/near", lon=some.lon, lat=some.lat, r=200, **{"class": some.type_code[:2]}
    ).json()["items"]  # type: ignore[attr-defined]
    assert of_class and {i["type_code"][:2] for i in of_class} == {some.type_code[:2]}
    too_far = gis.get("components/near", lon=some.lon, lat=some.lat, r=5000)
    assert too_far.status_code == 422  # type: ignore[attr-defined]


def test_each_map_route_is_refused_without_a_token_and_the_admin_cannot_geocode_nothing(
    gis: MapApi,
) -> None:
    for path in ("grids?bbox=" + DEMO_BBOX, "geocode?q=x", "reverse?lon=119&lat=34"):
        assert gis.client.get(f"/api/v1/gis/{path}").status_code == 401
    assert gis.get("grids", "admin", bbox=DEMO_BBOX).status_code == 200  # type: ignore[attr-defined]


def test_leaflet_is_served_by_the_core_from_debians_package(gis: MapApi) -> None:
    script = gis.client.get("/vendor/leaflet/leaflet.esm.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "export" in script.text
    assert gis.client.get("/vendor/leaflet/leaflet.css").status_code == 200


def test_the_map_starts_from_the_grids_extent_and_uses_a_tile_server_only_when_set(
    gis: MapApi,
) -> None:
    body = gis.get("map").json()  # type: ignore[attr-defined]
    west, south, east, north = body["bbox"]
    assert 119.16 < west < east < 119.20 and 34.58 < south < north < 34.62
    assert body["tile_url"] is None
    policy = gis.client.get("/console/").headers["content-security-policy"]
    assert "img-src 'self' data: blob:;" in policy
    tiles = "https://tiles.city.example/{z}/{x}/{y}.png"
    config = gis.api.client.app.state.ctx.config.model_copy(  # type: ignore[attr-defined]
        update={"map_tile_url": tiles}
    )
    ctx = dataclasses.replace(gis.client.app.state.ctx, config=config)  # type: ignore[attr-defined]
    with TestClient(create_app(ctx)) as client:
        headers = gis.api.headers("operator")
        assert client.get("/api/v1/gis/map", headers=headers).json()["tile_url"] == tiles
        policy = client.get("/console/").headers["content-security-policy"]
        assert "img-src 'self' data: blob: https://tiles.city.example;" in policy


def test_open_counts_per_grid_are_one_query_reused_for_two_seconds() -> None:
    from gateway.core.gis_routes import _OpenCounts

    class Cases:
        calls: ClassVar[list[str | None]] = []

        def open_cases_by_grid(
            self, grid_codes: object = None, department: str | None = None
        ) -> dict[str, int]:
            assert grid_codes is None  # every grid in one grouped query
            self.calls.append(department)
            return {"32070600100101": len(self.calls)}

    now = [100.0]
    counts = _OpenCounts(Cases(), clock=lambda: now[0])  # type: ignore[arg-type]
    assert counts.get(None) == {"32070600100101": 1}
    now[0] += 1.9
    assert counts.get(None) == {"32070600100101": 1}  # kept
    assert counts.get("roads") == {"32070600100101": 2}  # a department's own
    now[0] += 0.2
    assert counts.get(None) == {"32070600100101": 3}  # asked again after 2 s
    assert Cases.calls == [None, "roads", None]


def test_a_dense_viewport_is_read_by_time_with_the_same_answer(
    gis: MapApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adapters.storage import case_map_store

    grids = gis.data.grids.grids
    made = []
    for i in range(6):
        gis.api.clock.advance(minutes=1)
        made.append(_report_at(gis, i + 1, *_centre(grids[i * 10])))
    box = tuple(float(v) for v in DEMO_BBOX.split(","))
    reader = SqlCaseMap.for_store(gis.api.service.store)
    sparse = [c.id for c in reader.cases_in_bbox(box, open_only=True, limit=4)]  # type: ignore[arg-type]
    monkeypatch.setattr(case_map_store, "DENSE_ROWS", 5)
    dense = [c.id for c in reader.cases_in_bbox(box, open_only=True, limit=4)]  # type: ignore[arg-type]
    assert sparse == dense == list(reversed(made))[:4]  # newest first either way


def test_the_map_gives_each_districts_extent_for_the_jump_picker(gis: MapApi) -> None:
    config = gis.api.client.app.state.ctx.config  # type: ignore[attr-defined]
    org = Organisation.from_config(config.organisation, {d.id: d.name for d in config.departments})
    gis.api.service.workflow.organisation = org
    body = gis.get("map").json()  # type: ignore[attr-defined]
    # only 海州区's grids are imported here: 连云区 has no extent to jump to
    assert list(body["districts"]) == ["320706"]
    assert body["districts"]["320706"] == body["bbox"]
    gis.api.service.workflow.organisation = None
    assert gis.get("map").json()["districts"] == {}  # type: ignore[attr-defined]


def test_a_report_with_a_point_gets_the_grid_it_lies_in_or_none_outside_the_area(
    gis: MapApi,
) -> None:
    """The console's place picker (issue 17 §2): a report's point is placed by the intake;
    a point outside every grid gets no grid and ``outside_managed_area``; half a point is
    refused."""
    address = gis.data.geocoder.addresses[100]
    located = gis.data.grids.locate_one(address.lon, address.lat)
    assert located is not None

    def report(**body: object) -> Any:
        return gis.client.post(
            "/api/v1/cases",
            json={"event_code": "0102", **body},
            headers=gis.api.headers("operator"),
        )

    inside = report(lon=address.lon, lat=address.lat, address=address.text)
    assert inside.status_code == 201, inside.text
    case = gis.api.service.store.get_case(inside.json()["id"])
    assert case is not None and (case.lon, case.lat) == (address.lon, address.lat)
    assert case.grid_code == located.code and case.district == located.district
    assert case.facts["grid_from"] == "point" and case.facts["community"] == located.community
    assert "outside_managed_area" not in case.facts

    outside = report(lon=119.0, lat=34.6)
    assert outside.status_code == 201, outside.text
    away = gis.api.service.store.get_case(outside.json()["id"])
    assert away is not None and away.grid_code is None and (away.lon, away.lat) == (119.0, 34.6)
    assert away.facts["outside_managed_area"] is True

    for half in ({"lat": address.lat}, {"lon": address.lon}):
        refused = report(**half)
        assert refused.status_code == 422 and refused.json()["error"] == "position_incomplete"
