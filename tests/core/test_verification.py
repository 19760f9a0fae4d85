"""Camera-assisted verification in the core: requests with reports, answers, time-outs, the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapters.storage.verification_store import SqlVerificationStore
from gateway.clock import FakeClock
from gateway.contract import (
    Evidence,
    EvidenceRole,
    Location,
    Source,
    SourceKind,
    VerificationRequest,
    VerificationResult,
    parse_message,
)
from gateway.core.api import ApiContext, create_app
from gateway.core.codes import load_event_names
from gateway.core.intake import case_id_for
from gateway.core.service import CaseService
from gateway.core.settings import CameraCheckConfig
from gateway.core.verification import (
    VerificationRefused,
    VerificationService,
    VerificationStatus,
    request_for,
    request_id_for,
)
from gateway.core.workflow import Action, Actor, CaseState, Command, Role
from tests.core.api_harness import make_api
from tests.core.helpers import MONDAY_10, candidate, case, make_service

OPERATOR = Actor("olga", Role.OPERATOR)
DISPATCHER = Actor("dan", Role.DISPATCHER)
TRAFFIC = Actor("tom", Role.DEPARTMENT, "traffic")
GATEWAY = Source(kind=SourceKind.DAEMON, id="video-1")

CAMERA_FACTS: dict[str, Any] = {
    "rule_id": "no-parking",
    "rule_type": "dwell",
    "zone_id": "kerb",
    "track_id": "no-parking:track-3@run1",
    "label": "vehicle",
    "box": [650.0, 40.0, 725.0, 100.0],
    "objects": [{"track_id": 3, "label": "vehicle", "box": [650.0, 40.0, 725.0, 100.0]}],
    "frame_size": [768, 576],
}


def camera_candidate(n: int = 0) -> Any:
    return candidate(
        n,
        kind=SourceKind.CAMERA,
        source_id="cam-1",
        event_code="0505",
        location=Location(camera_id="cam-1", zone_id="kerb", grid_code="32070690100101"),
        facts={**CAMERA_FACTS, "track_id": f"no-parking:track-{n}@run1"},
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MONDAY_10)


@pytest.fixture
def parts(db_url: str, tmp_path: Path, clock: FakeClock) -> Any:
    service = make_service(db_url, tmp_path / "evidence", clock)
    checks = VerificationService(
        service,
        SqlVerificationStore.for_store(service.store),
        CameraCheckConfig(timeout_s=60, window_s=8),
    )
    service.on_transition = checks.on_transition
    yield service, checks
    service.store.close()  # type: ignore[attr-defined]


def reported_camera_case(service: CaseService, n: int = 0) -> str:
    service.store_candidates([camera_candidate(n)])
    case_id = case_id_for(f"cand-{n:06d}")
    service.transition(case_id, Command(Action.REGISTER), OPERATOR)
    service.transition(case_id, Command(Action.DISPATCH), DISPATCHER)
    service.transition(case_id, Command(Action.REPORT), TRAFFIC)
    return case_id


def outbox(service: CaseService) -> list[tuple[str, dict[str, Any]]]:
    return [(topic, json.loads(p)) for _seq, topic, p in service.store.pending_events(1000)]


def snapshot(text: str) -> Evidence:
    return Evidence.from_bytes(
        b"\xff\xd8\xff" + text.encode(), media_type="image/jpeg", role=EvidenceRole.SNAPSHOT
    )


def result_for(request_id: str, case_id: str, verdict: str = "still_present", **kw: Any) -> Any:
    before, after = snapshot("before"), snapshot("after")
    fields: dict[str, Any] = {
        "request_id": request_id,
        "case_id": case_id,
        "camera_id": "cam-1",
        "verdict": verdict,
        "passes": 4,
        "passes_present": 4 if verdict == "still_present" else 0,
        "evidence": [before, after],
        "before_sha256": before.sha256,
        "after_sha256": after.sha256,
    }
    fields.update(kw)
    return VerificationResult.create(source=GATEWAY, **fields)


# --------------------------------------------------------------------------- pure


def test_a_request_carries_the_camera_zone_rule_and_original_boxes_of_the_case() -> None:
    camera_case = case(
        CaseState.REPORTED,
        source_kind="camera",
        camera_id="cam-1",
        zone_id="kerb",
        facts=CAMERA_FACTS,
    )
    source = Source(kind=SourceKind.CORE, id="core-1")
    request = request_for(camera_case, 2, source=source, now=MONDAY_10, requested_by="core")
    again = request_for(camera_case, 2, source=source, now=MONDAY_10, requested_by="core")
    assert request.id == again.id == request_id_for("case-1", 2)
    assert (
        request.id != request_for(camera_case, 3, source=source, now=MONDAY_10, requested_by="x").id
    )
    assert (request.camera_id, request.zone_id, request.rule_id) == ("cam-1", "kerb", "no-parking")
    assert request.event_code == "0505" and request.label == "vehicle"
    assert request.boxes == [(650.0, 40.0, 725.0, 100.0)]
    assert request.frame_size == (768, 576)
    assert parse_message(request.to_json()) == request


def test_a_case_without_a_camera_cannot_be_checked() -> None:
    source = Source(kind=SourceKind.CORE, id="core-1")
    with pytest.raises(ValueError, match="no camera"):
        request_for(case(), 1, source=source, now=MONDAY_10, requested_by="core")


# --------------------------------------------------------------------------- service


def test_reporting_a_camera_case_sends_a_request_with_the_report(parts: Any) -> None:
    service, checks = parts
    case_id = reported_camera_case(service)
    [check] = checks.of_case(case_id)
    assert check.status is VerificationStatus.PENDING and check.seq == 1
    assert check.trigger == "report" and check.requested_by == "core"
    commands = [(t, p) for t, p in outbox(service) if t.endswith("/verify")]
    assert [t for t, _ in commands] == ["citygw/v1/commands/video/cam-1/verify"]
    command = parse_message(json.dumps(commands[0][1]).encode())
    assert isinstance(command, VerificationRequest)
    assert command.id == check.id and command.case_id == case_id and command.window_s == 8
    actions = [p["action"] for t, p in outbox(service) if t.endswith("/events")]
    assert actions[-2:] == ["report", "camera_check_requested"]


def test_reporting_a_case_from_a_call_asks_no_camera(parts: Any) -> None:
    service, checks = parts
    service.store_candidates([candidate(5, event_code="0505")])
    case_id = case_id_for("cand-000005")
    for command, actor in ((Action.REGISTER, OPERATOR), (Action.DISPATCH, DISPATCHER)):
        service.transition(case_id, Command(command), actor)
    department = service.store.get_case(case_id).department
    service.transition(case_id, Command(Action.REPORT), Actor("d", Role.DEPARTMENT, department))
    assert checks.of_case(case_id) == []
    assert not [t for t, _ in outbox(service) if t.endswith("/verify")]


def test_an_answer_is_kept_with_both_snapshots_and_never_changes_the_case(parts: Any) -> None:
    service, checks = parts
    case_id = reported_camera_case(service)
    [check] = checks.of_case(case_id)
    result = result_for(check.id, case_id)
    assert checks.record_result(result) is True
    assert checks.record_result(result) is True  # the same answer again: stored once
    [answered] = checks.of_case(case_id)
    assert answered.status is VerificationStatus.ANSWERED
    assert answered.verdict == "still_present" and answered.result_id == result.id
    assert answered.facts["passes"] == 4 and answered.facts["late"] is False
    stored = {e.sha256 for e in service.store.evidence_of(case_id)}
    assert {answered.before_sha256, answered.after_sha256} <= stored
    assert service.evidence.read(answered.after_sha256) == result.evidence[1].raw_bytes()
    assert service.store.get_case(case_id).state is CaseState.REPORTED
    answers = [p for t, p in outbox(service) if p.get("action") == "camera_check_answered"]
    assert len(answers) == 1 and answers[0]["facts"]["verdict"] == "still_present"


def test_an_answer_to_a_request_never_made_is_refused(parts: Any) -> None:
    service, checks = parts
    case_id = reported_camera_case(service)
    assert checks.record_result(result_for(request_id_for(case_id, 7), case_id)) is False
    assert checks.of_case(case_id)[0].status is VerificationStatus.PENDING


def test_a_request_without_an_answer_times_out_once_and_a_late_answer_still_shows(
    parts: Any, clock: FakeClock
) -> None:
    service, checks = parts
    case_id = reported_camera_case(service)
    assert checks.time_out() == []  # not due yet
    clock.advance(61)
    [expired] = checks.time_out()
    assert expired.status is VerificationStatus.TIMED_OUT and expired.timed_out_at == clock.now()
    assert checks.time_out() == []
    timed_out = [p for t, p in outbox(service) if p.get("action") == "camera_check_timed_out"]
    assert len(timed_out) == 1
    assert checks.record_result(result_for(expired.id, case_id, "cleared", passes_present=0))
    [late] = checks.of_case(case_id)
    assert late.status is VerificationStatus.ANSWERED and late.verdict == "cleared"
    assert late.facts["late"] is True and late.timed_out_at is not None


def test_a_person_may_ask_again_once_the_last_check_is_over(parts: Any) -> None:
    service, checks = parts
    case_id = reported_camera_case(service)
    with pytest.raises(VerificationRefused) as waiting:
        checks.request(case_id, OPERATOR)
    assert waiting.value.code == "camera_check_pending"
    with pytest.raises(VerificationRefused) as department:
        checks.request(case_id, TRAFFIC)
    assert department.value.code == "forbidden_role"
    [first] = checks.of_case(case_id)
    checks.record_result(result_for(first.id, case_id))
    second = checks.request(case_id, OPERATOR)
    assert (second.seq, second.trigger, second.requested_by) == (2, "manual", "olga")
    assert second.id == request_id_for(case_id, 2) != first.id
    commands = [p for t, p in outbox(service) if t.endswith("/verify")]
    assert [c["request_seq"] for c in commands] == [1, 2]


def test_a_closed_case_or_one_without_a_camera_cannot_be_checked(parts: Any) -> None:
    service, checks = parts
    service.store_candidates([candidate(9)])
    with pytest.raises(VerificationRefused) as no_camera:
        checks.request(case_id_for("cand-000009"), OPERATOR)
    assert no_camera.value.code == "no_camera"
    case_id = reported_camera_case(service)
    checks.record_result(result_for(checks.of_case(case_id)[0].id, case_id, "cleared"))
    service.transition(case_id, Command(Action.VERIFY_PASS), Actor("i", Role.INSPECTOR))
    with pytest.raises(VerificationRefused) as closed:
        checks.request(case_id, OPERATOR)
    assert closed.value.code == "wrong_state"


# --------------------------------------------------------------------------- API


def test_the_case_page_lists_checks_and_asks_for_one_by_role(db_url: str, tmp_path: Path) -> None:
    api = make_api(db_url, tmp_path)
    checks = VerificationService(
        api.service, SqlVerificationStore.for_store(api.service.store), CameraCheckConfig()
    )
    api.service.on_transition = checks.on_transition
    context: ApiContext = api.client.app.state.ctx  # type: ignore[attr-defined]
    client = TestClient(
        create_app(
            ApiContext(
                api.service,
                api.auth,
                context.config,
                api.clock,
                load_event_names(),
                verifications=checks,
            )
        )
    )
    try:
        api.service.store_candidates([camera_candidate(1)])
        case_id = case_id_for("cand-000001")
        url = f"/api/v1/cases/{case_id}/camera-checks"
        listed = client.get(url, headers=api.headers("operator"))
        assert listed.status_code == 200
        assert listed.json()["items"] == [] and listed.json()["can_request"] is True
        refused = client.post(url, headers=api.headers("department"))
        assert refused.status_code == 403
        asked = client.post(url, headers=api.headers("operator"))
        assert asked.status_code == 201, asked.text
        assert asked.json()["status"] == "pending" and asked.json()["trigger"] == "manual"
        again = client.post(url, headers=api.headers("inspector"))
        assert again.status_code == 409 and again.json()["error"] == "camera_check_pending"
        checks.record_result(result_for(asked.json()["id"], case_id, "cleared"))
        [item] = client.get(url, headers=api.headers("shift_lead")).json()["items"]
        assert item["verdict"] == "cleared" and item["passes"] == 4
        image = client.get(item["after_url"], headers=api.headers("operator"))
        assert image.status_code == 200 and image.content.startswith(b"\xff\xd8\xff")
        case_now = client.get(f"/api/v1/cases/{case_id}", headers=api.headers("operator"))
        assert case_now.json()["state"] == "candidate"  # the verdict decides nothing
        missing = client.get("/api/v1/cases/nope/camera-checks", headers=api.headers("operator"))
        assert missing.status_code == 404
    finally:
        client.close()
        api.close()


def test_a_camera_no_command_can_name_never_stops_the_report(parts: Any) -> None:
    service, checks = parts
    odd = candidate(
        11,
        kind=SourceKind.CAMERA,
        source_id="cam-1",
        event_code="0505",
        location=Location(camera_id="north gate/2", grid_code="32070690100101"),
        facts={**CAMERA_FACTS, "track_id": "t-11", "label": "x" * 300},
    )
    service.store_candidates([odd])
    case_id = case_id_for(odd.id)
    service.transition(case_id, Command(Action.REGISTER), OPERATOR)
    service.transition(case_id, Command(Action.DISPATCH), DISPATCHER)
    service.transition(case_id, Command(Action.REPORT), TRAFFIC)  # no exception
    assert service.store.get_case(case_id).state is CaseState.REPORTED
    assert checks.of_case(case_id) == []
    with pytest.raises(VerificationRefused) as refused:
        checks.request(case_id, OPERATOR)
    assert refused.value.code == "no_camera"
