"""Camera checks end to end on real parts: Mosquitto, the RTSP test camera serving vtest.avi
(the white van parked at the top right the whole clip), `citygw core` and `citygw video`
with the COCO model. A 0505 case reported done over the van comes back ``still_present``,
one over ground with no vehicle ``cleared``, each with before/after snapshots attached to
the case; the cases stay where the workflow put them (处理反馈).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from gateway.config import Config
from gateway.contract import CandidateCase, Location, Source, SourceKind
from gateway.core.intake import case_id_for
from gateway.core.verification import Verification, VerificationStatus, request_for
from gateway.core.workflow import Action, Actor, CaseState, Command, Role
from gateway.video.analysis.model_card import ModelCard
from gateway.video.testcam.harness import TestCamera

CAMERA = "street-1"
VAN_BOX = [650.0, 40.0, 725.0, 100.0]  # in vtest.avi's 768x576
KERB = [[0.80, 0.0], [1.0, 0.0], [1.0, 0.30], [0.80, 0.30]]  # the van and the small car
GROUND = [[0.0, 0.62], [0.45, 0.62], [0.45, 1.0], [0.0, 1.0]]  # walkers, never a vehicle


@pytest.fixture
def camera(tmp_path: Path) -> Iterator[TestCamera]:
    with TestCamera(log_dir=tmp_path / "camera") as started:
        yield started


def parking_rule(rule_id: str, zone: str) -> dict[str, Any]:
    # dwell long enough never to fire during the test: only the checks look
    return {
        "id": rule_id,
        "type": "dwell",
        "event_code": "0505",
        "classes": ["vehicle"],
        "zone": zone,
        "min_dwell_s": 3600,
    }


def camera_case(n: int, rule_id: str, zone: str) -> CandidateCase:
    return CandidateCase.create(
        source=Source(kind=SourceKind.CAMERA, id=CAMERA),
        id=f"cand-check-{n:04d}",
        event_code="0505",
        title="stationary vehicle",
        location=Location(camera_id=CAMERA, zone_id=zone),
        facts={
            "rule_id": rule_id,
            "rule_type": "dwell",
            "zone_id": zone,
            "track_id": f"{rule_id}:track-{n}@test",
            "label": "vehicle",
            "box": VAN_BOX,
            "frame_size": [768, 576],
        },
    )


def wait_answered(checks: Any, case_id: str, timeout: float) -> Verification:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = checks.of_case(case_id)
        if found and found[-1].status is VerificationStatus.ANSWERED:
            return found[-1]
        time.sleep(0.2)
    raise AssertionError(f"no answer for case {case_id} in {timeout}s: {checks.of_case(case_id)}")


def test_the_van_is_still_present_and_open_ground_is_cleared(
    camera: TestCamera,
    make_config: Callable[..., Config],
    coco_card: ModelCard,
) -> None:
    from gateway.core.daemon import build_core
    from gateway.video.daemon import VideoGateway

    config = make_config(
        core={"camera_check": {"timeout_s": 120, "scan_s": 1}},
        video={
            "analysis_fps": 5,
            "live_view": {"enabled": False},
            "main_stream": {"enabled": False},
            "ingest": {"watchdog_s": 10, "open_timeout_s": 10},
            "cameras": [{"id": CAMERA, "rtsp_url": camera.rtsp_url}],
            "camera_check": {"window_s": 3, "passes": 3, "wait_for_frame_s": 40},
            "analysis": {
                "models": [coco_card.name],
                "cameras": {
                    CAMERA: {
                        "zones": {"kerb": {"polygon": KERB}, "ground": {"polygon": GROUND}},
                        "rules": [
                            parking_rule("no-parking", "kerb"),
                            parking_rule("no-parking-2", "ground"),
                        ],
                    }
                },
            },
        },
    )
    core = build_core(config, with_api=False)
    gateway = VideoGateway(config)
    core.start()
    try:
        gateway.start()
        assert gateway.pipeline is not None and gateway.checks is not None
        service = core.service
        cases = {
            "van": camera_case(1, "no-parking", "kerb"),
            "ground": camera_case(2, "no-parking-2", "ground"),
        }
        service.store_candidates(list(cases.values()))
        department = Actor("dept", Role.DEPARTMENT, config.core.default_department)
        for candidate in cases.values():
            case_id = case_id_for(candidate.id)
            service.transition(case_id, Command(Action.REGISTER), Actor("olga", Role.OPERATOR))
            service.transition(case_id, Command(Action.DISPATCH), Actor("dan", Role.DISPATCHER))
            service.transition(case_id, Command(Action.REPORT), department)  # asks the camera
        assert core.camera_checks is not None
        checks = core.camera_checks.service
        van = wait_answered(checks, case_id_for(cases["van"].id), 90)
        ground = wait_answered(checks, case_id_for(cases["ground"].id), 30)
        # the core's receipts let the gateway's outbox forget both answers
        outbox = gateway.publisher.outbox
        deadline = time.monotonic() + 15
        while outbox.awaiting_receipt() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert outbox.awaiting_receipt() == 0
    finally:
        gateway.stop()
        core.stop()
    assert van.verdict == "still_present", van
    assert van.facts["passes"] == 3 and van.facts["passes_present"] >= 2
    assert ground.verdict == "cleared", ground
    assert ground.facts["passes"] == 3 and ground.facts["passes_present"] == 0
    store = build_core(config, with_api=False).service  # the stored case, read afresh
    try:
        for check in (van, ground):
            assert check.trigger == "report" and check.seq == 1
            assert check.before_sha256 and check.after_sha256
            assert check.before_sha256 != check.after_sha256
            linked = {e.sha256 for e in store.store.evidence_of(check.case_id)}
            assert {check.before_sha256, check.after_sha256} <= linked
            for sha in (check.before_sha256, check.after_sha256):
                jpeg = store.evidence.read(sha)
                image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
                assert image.shape == (576, 768, 3)
            case = store.store.get_case(check.case_id)
            assert case is not None and case.state is CaseState.REPORTED  # never decided by it
    finally:
        store.store.close()  # type: ignore[attr-defined]


def test_a_gateway_that_was_down_answers_when_it_is_back(
    camera: TestCamera,
    make_config: Callable[..., Config],
    coco_card: ModelCard,
) -> None:
    from gateway.core.daemon import build_core
    from gateway.video.daemon import VideoGateway

    config = make_config(
        video={
            "analysis_fps": 5,
            "live_view": {"enabled": False},
            "main_stream": {"enabled": False},
            "ingest": {"watchdog_s": 10, "open_timeout_s": 10},
            "cameras": [{"id": CAMERA, "rtsp_url": camera.rtsp_url}],
            "camera_check": {"window_s": 2, "passes": 2, "wait_for_frame_s": 40},
            "analysis": {
                "models": [coco_card.name],
                "cameras": {
                    CAMERA: {
                        "zones": {"kerb": {"polygon": KERB}},
                        "rules": [parking_rule("no-parking", "kerb")],
                    }
                },
            },
        },
    )
    first = VideoGateway(config)  # subscribes on its persistent session, then goes away
    first.start()
    first.stop()
    core = build_core(config, with_api=False)
    core.start()
    try:
        service = core.service
        candidate = camera_case(3, "no-parking", "kerb")
        service.store_candidates([candidate])
        case_id = case_id_for(candidate.id)
        service.transition(case_id, Command(Action.REGISTER), Actor("olga", Role.OPERATOR))
        service.transition(case_id, Command(Action.DISPATCH), Actor("dan", Role.DISPATCHER))
        department = Actor("dept", Role.DEPARTMENT, config.core.default_department)
        service.transition(case_id, Command(Action.REPORT), department)
        assert core.relay.wait_idle(10.0), "the request did not reach the broker"
        assert core.camera_checks is not None
        checks = core.camera_checks.service
        time.sleep(1.0)
        assert checks.of_case(case_id)[0].status is VerificationStatus.PENDING  # nobody there
        back = VideoGateway(config)
        back.start()
        try:
            answer = wait_answered(checks, case_id, 90)
            # the same command again (as a relay sends it after a reconnect): the gateway
            # repeats its stored answer without looking again; the core keeps the first
            case = service.store.get_case(case_id)
            assert case is not None
            again = request_for(
                case, 1, source=service.source, now=case.created_at, requested_by="core"
            )
            assert again.id == answer.id
            core.connection.publish(
                service.topics.verification_request(CAMERA), again.to_json(), qos=1
            )
            consumer = core.camera_checks.consumer
            deadline = time.monotonic() + 20
            while consumer.stored < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert back.checks.repeated == 1 and back.checks.answered == 1
            assert consumer.stored == 2  # received twice ...
            assert checks.of_case(case_id) == [answer]  # ... kept once, unchanged
        finally:
            back.stop()
    finally:
        core.stop()
    assert answer.verdict == "still_present", answer
    assert answer.facts["late"] is False and answer.facts["passes"] == 2
