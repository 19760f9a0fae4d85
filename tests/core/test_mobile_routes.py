"""The phone app's routes: one multipart report makes one case with its photos (the same
request id again makes none), photos are decoded and re-encoded or refused in Chinese-
sayable codes, and a 核查 answered on site moves the case (fail -> 返工)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from gateway.contract import Location, SourceKind
from gateway.core.intake import case_id_for
from gateway.core.mobile_routes import MAX_PHOTO_EDGE, clean_photo
from gateway.core.ports import CaseFilter
from gateway.core.workflow import Action, Actor, CaseState, Command, Role, TransitionRefused
from gateway.gis.features import GridFeature
from gateway.gis.index import GridIndex
from tests.core.api_harness import Api, make_api
from tests.core.helpers import candidate
from tests.gis.conftest import demo, demo_grids  # noqa: F401


@pytest.fixture
def api(tmp_path: Path, demo_grids: list[GridFeature]) -> Iterator[Api]:  # noqa: F811
    harness = make_api(f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path)
    harness.service.grids = GridIndex(demo_grids)
    yield harness
    harness.close()


def jpeg(width: int = 640, height: int = 480) -> bytes:
    image = np.zeros((height, width, 3), np.uint8)
    cv2.rectangle(image, (10, 10), (width // 2, height // 2), (0, 200, 255), -1)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return bytes(data.tobytes())


def centre(grid: GridFeature) -> tuple[float, float]:
    point = grid.geometry.representative_point()
    return point.y, point.x


def report(api: Api, request_id: str, photos: list[tuple[str, bytes]], **form: Any) -> Any:
    data = {"request_id": request_id, "event_code": "0507", "description": "路边堆物", **form}
    files = [("photos", (name, body, "image/jpeg")) for name, body in photos]
    return api.client.post(
        "/api/v1/mobile/reports", data=data, files=files or None, headers=api.headers("inspector")
    )


def test_a_report_with_photos_makes_one_case_in_the_grid_of_its_point(
    api: Api,
    demo_grids: list[GridFeature],  # noqa: F811
) -> None:
    lat, lon = centre(demo_grids[7])
    response = report(
        api,
        "phone-0001-a",
        [("a.jpg", jpeg()), ("b.jpg", jpeg(300, 200))],
        lat=lat,
        lon=lon,
        accuracy_m=12.5,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["grid_code"] == demo_grids[7].code
    case = api.service.store.get_case(case_id_for("phone-0001-a"))
    assert case is not None and case.facts["position_accuracy_m"] == 12.5
    assert case.facts["grid_from"] == "point"
    evidence = api.service.store.evidence_of(case.id)
    assert len(evidence) == 2 and {e.media_type for e in evidence} == {"image/jpeg"}
    assert all(api.service.evidence.read(e.sha256)[:3] == b"\xff\xd8\xff" for e in evidence)


def test_a_point_moved_on_the_map_keeps_the_gps_fix_and_how_far_it_was_moved(
    api: Api,
    demo_grids: list[GridFeature],  # noqa: F811
) -> None:
    lat, lon = centre(demo_grids[8])
    gps_lat, gps_lon = centre(demo_grids[7])
    response = report(
        api,
        "phone-0001-m",
        [],
        lat=lat,
        lon=lon,
        position_source="map",
        gps_lat=gps_lat,
        gps_lon=gps_lon,
        gps_accuracy_m=35.0,
    )
    assert response.status_code == 201, response.text
    assert response.json()["grid_code"] == demo_grids[8].code  # filed where it was placed
    case = api.service.store.get_case(case_id_for("phone-0001-m"))
    assert case is not None and case.facts["position_source"] == "map"
    assert case.facts["gps_fix"] == {"lat": gps_lat, "lon": gps_lon, "accuracy_m": 35.0}
    assert 50 <= case.facts["position_moved_m"] <= 200  # neighbouring 100 m cells
    assert "position_accuracy_m" not in case.facts
    # a point said to be placed on the map must be there; a GPS report carries none of this
    moved_nowhere = report(api, "phone-0001-n", [], position_source="map")
    assert moved_nowhere.status_code == 422
    assert moved_nowhere.json()["error"] == "position_incomplete"
    plain = report(api, "phone-0001-g", [], lat=gps_lat, lon=gps_lon)
    case = api.service.store.get_case(case_id_for("phone-0001-g"))
    assert plain.status_code == 201 and case is not None
    assert not {"position_source", "gps_fix", "position_moved_m"} & case.facts.keys()


def test_the_same_request_id_again_answers_with_the_same_case_and_makes_no_second(
    api: Api,
    demo_grids: list[GridFeature],  # noqa: F811
) -> None:
    lat, lon = centre(demo_grids[3])
    first = report(api, "phone-0002-a", [("a.jpg", jpeg())], lat=lat, lon=lon)
    again = report(api, "phone-0002-a", [("a.jpg", jpeg())], lat=lat, lon=lon)
    assert first.status_code == 201 and again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    _, total = api.service.store.list_cases(CaseFilter())
    assert total == 1
    assert len(api.service.store.evidence_of(first.json()["id"])) == 1


def test_a_point_outside_every_grid_is_marked_outside_the_managed_area(api: Api) -> None:
    response = report(api, "phone-0003-a", [], lat=34.55, lon=119.15)
    assert response.status_code == 201
    case = api.service.store.get_case(case_id_for("phone-0003-a"))
    assert case is not None and case.grid_code is None and case.facts["outside_managed_area"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"<html>not a picture</html>", "bad_photo"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 200, "bad_photo"),  # a JPEG header, no picture
        (b"", "empty_file"),
    ],
)
def test_a_file_that_is_not_a_picture_is_refused_with_a_code_and_no_case(
    api: Api, body: bytes, code: str
) -> None:
    response = report(api, "phone-0004-a", [("x.jpg", body)])
    assert response.status_code == 422 and response.json()["error"] == code
    assert api.service.store.get_case(case_id_for("phone-0004-a")) is None


def test_too_many_photos_are_refused(api: Api) -> None:
    response = report(api, "phone-0005-a", [(f"{i}.jpg", jpeg(40, 30)) for i in range(5)])
    assert response.status_code == 422 and response.json()["error"] == "too_many_photos"


def test_a_bad_request_id_or_half_a_position_is_refused(api: Api) -> None:
    assert report(api, "short", []).json()["error"] == "invalid_request"
    response = report(api, "phone-0006-a", [], lat=34.6)
    assert response.status_code == 422 and response.json()["error"] == "position_incomplete"


def test_a_photo_is_shrunk_and_re_encoded_without_what_was_appended() -> None:
    big = jpeg(4000, 3000) + b"EXTRA-BYTES-AFTER-THE-PICTURE"
    cleaned = clean_photo(big)
    image = cv2.imdecode(np.frombuffer(cleaned, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape[:2] == (MAX_PHOTO_EDGE * 3 // 4, MAX_PHOTO_EDGE)
    assert b"EXTRA-BYTES" not in cleaned


def test_a_png_is_accepted_and_stored_as_jpeg() -> None:
    ok, png = cv2.imencode(".png", np.full((50, 80, 3), 128, np.uint8))
    assert ok
    assert clean_photo(bytes(png.tobytes()))[:3] == b"\xff\xd8\xff"


def reported_case(api: Api) -> str:
    """A case in the inspector's grid (320706901...) waiting for 核查."""
    cand = candidate(
        9,
        kind=SourceKind.CAMERA,
        source_id="cam-9",
        event_code="0102",
        location=Location(grid_code="32070690100101"),
    )
    api.service.store_candidates([cand])
    case_id = case_id_for(cand.id)
    people = {
        Role.OPERATOR: Actor("olga", Role.OPERATOR),
        Role.DISPATCHER: Actor("dan", Role.DISPATCHER),
        Role.DEPARTMENT: Actor("sam", Role.DEPARTMENT, "sanitation"),
    }
    api.service.transition(case_id, Command(Action.REGISTER), people[Role.OPERATOR])
    api.service.transition(case_id, Command(Action.DISPATCH), people[Role.DISPATCHER])
    api.service.transition(
        case_id, Command(Action.REPORT, opinion="已清理"), people[Role.DEPARTMENT]
    )
    case = api.service.store.get_case(case_id)
    assert case is not None and case.state is CaseState.REPORTED
    return case_id


def test_a_failed_check_with_a_photo_sends_the_case_back_to_rework_once(api: Api) -> None:
    case_id = reported_case(api)
    form = {"request_id": "answer-0001-a", "verdict": "fail", "opinion": "垃圾仍在"}
    files = [("photos", ("still.jpg", jpeg(), "image/jpeg"))]
    url = f"/api/v1/mobile/tasks/{case_id}/answer"
    first = api.client.post(url, data=form, files=files, headers=api.headers("inspector"))
    assert first.status_code == 200, first.text
    assert first.json()["case"]["state"] == "processing"
    step = first.json()["step"]
    assert step["action"] == "verify_fail" and len(step["attachments"]) == 1
    again = api.client.post(url, data=form, files=files, headers=api.headers("inspector"))
    assert again.status_code == 200 and again.json()["step"]["seq"] == step["seq"]
    fails = [s for s in api.service.store.steps(case_id) if s.step.action is Action.VERIFY_FAIL]
    assert len(fails) == 1


def test_a_check_is_the_inspectors_alone(api: Api) -> None:
    case_id = reported_case(api)
    response = api.client.post(
        f"/api/v1/mobile/tasks/{case_id}/answer",
        data={"request_id": "answer-0002-a", "verdict": "pass"},
        headers=api.headers("operator"),
    )
    assert response.status_code == 403 and response.json()["error"] == "forbidden_role"


@pytest.fixture
def api_on_db(db_url: str, tmp_path: Path) -> Iterator[Api]:
    harness = make_api(db_url, tmp_path)
    yield harness
    harness.close()


def test_the_same_report_sent_four_times_at_once_makes_one_case(api_on_db: Api) -> None:
    """A resend while the first is still being stored (the phone gave up waiting)."""
    photos = [(f"{i}.jpg", jpeg(3000, 2000)) for i in range(3)]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: report(api_on_db, "phone-race-0001", photos), range(4)))
    assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    _, total = api_on_db.service.store.list_cases(CaseFilter())
    assert total == 1


def test_the_loser_of_a_race_on_one_request_id_answers_with_the_winners_case(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: two transactions both find the id unknown; the second insert fails."""
    real = api.service.store_candidates

    def stored_by_another_then_refused(candidates: Any, received: Any = None) -> Any:
        real(candidates, received)  # the other request's transaction commits first
        raise RuntimeError("duplicate key value violates unique constraint")

    monkeypatch.setattr(api.service, "store_candidates", stored_by_another_then_refused)
    response = report(api, "phone-race-0002", [("a.jpg", jpeg())])
    assert response.status_code == 201 and response.json()["id"] == case_id_for("phone-race-0002")


def test_the_loser_of_a_race_on_one_answer_gets_the_winners_step(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    case_id = reported_case(api)
    real = api.service.transition

    def moved_on_by_another_then_refused(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)  # the other request's transition lands first
        raise TransitionRefused("wrong_state", "verify_fail is not allowed in state processing")

    monkeypatch.setattr(api.service, "transition", moved_on_by_another_then_refused)
    response = api.client.post(
        f"/api/v1/mobile/tasks/{case_id}/answer",
        data={"request_id": "answer-race-01", "verdict": "fail", "opinion": "仍在"},
        headers=api.headers("inspector"),
    )
    assert response.status_code == 200, response.text
    assert response.json()["step"]["action"] == "verify_fail"


def test_event_codes_come_by_big_class_for_the_picker(api: Api) -> None:
    response = api.client.get("/api/v1/mobile/event-classes", headers=api.headers("inspector"))
    assert response.status_code == 200
    classes = {c["code"]: c for c in response.json()}
    assert classes["05"]["name"] == "街面秩序"
    assert {"code": "0507", "name": "乱堆物堆料"} in classes["05"]["events"]
    assert all(e["code"].startswith(c) for c, cls in classes.items() for e in cls["events"])
    assert sum(len(c["events"]) for c in classes.values()) == len(
        api.client.get("/api/v1/event-codes", headers=api.headers("inspector")).json()
    )


def test_a_nul_in_a_reports_or_an_answers_text_is_refused_on_either_database(
    api_on_db: Api,
) -> None:
    """PostgreSQL stores no NUL in text: a multipart description, address or opinion
    holding one was a 500 there; now both stores answer 422 nul_character, as the
    middleware answers for JSON, and nothing is stored."""
    api = api_on_db
    for fields in ({"description": "路边\x00堆物"}, {"address": "测试路\x001 号"}):
        response = report(api, "phone-nul-0001", [("a.jpg", jpeg(40, 30))], **fields)
        assert response.status_code == 422, response.text
        assert response.json()["error"] == "nul_character"
    assert api.service.store.get_case(case_id_for("phone-nul-0001")) is None
    case_id = reported_case(api)
    answered = api.client.post(
        f"/api/v1/mobile/tasks/{case_id}/answer",
        data={"request_id": "answer-nul-0001", "verdict": "fail", "opinion": "仍在\x00"},
        headers=api.headers("inspector"),
    )
    assert answered.status_code == 422, answered.text
    assert answered.json()["error"] == "nul_character"
    case = api.service.store.get_case(case_id)
    assert case is not None and case.state is CaseState.REPORTED


def test_a_report_of_an_event_code_the_table_lacks_is_refused_and_makes_no_case(
    api_on_db: Api,
) -> None:
    """9999 has the code's shape but names no event: a case with no event name before;
    now unknown_event_code, as Open311 refuses an unknown service_code."""
    api = api_on_db
    response = report(api, "phone-code-0001", [], event_code="9999")
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "unknown_event_code"
    typed = api.client.post(
        "/api/v1/cases",
        json={"event_code": "9999", "grid_code": "32070690100101"},
        headers=api.headers("operator"),
    )
    assert typed.status_code == 422 and typed.json()["error"] == "unknown_event_code"
    _, total = api.service.store.list_cases(CaseFilter())
    assert total == 0 and api.service.store.candidate_count() == 0
