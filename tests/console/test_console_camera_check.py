"""摄像头核查 on the case page in Chromium: the check the department's report asked for is
shown waiting, then with its verdict and before/after snapshots; the inspector still
decides 核查; an operator asks the camera again, and a request nobody answers is shown
timed out (核查请求超时)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.mqtt.broker import free_port
from gateway.config import Config
from gateway.contract import Evidence, EvidenceRole, Source, SourceKind, VerificationResult
from gateway.core.daemon import build_core
from gateway.core.workflow import Action, Actor, Command, Role
from tests.console.conftest import CORE_SETTINGS, PASSWORD, USERS, RunningCore, grids_of, screenshot
from tests.console.test_console_workflow import camera_candidate, street_jpeg

GATEWAY = Source(kind=SourceKind.DAEMON, id="video-test")


@pytest.fixture
def core(make_config: Callable[..., Config], tmp_path: Path) -> Iterator[RunningCore]:
    """The console's core, with camera checks that time out after 10 s."""
    port = free_port()
    config = make_config(
        core={
            **CORE_SETTINGS,
            "database_url": f"sqlite:///{tmp_path / 'core.sqlite3'}",
            "http_port": port,
            "camera_check": {"timeout_s": 10, "scan_s": 0.5},
        }
    )
    daemon = build_core(config)
    for role, (name, department) in USERS.items():
        daemon.auth.add_user(name, role, PASSWORD, department, grids_of(role))
    daemon.start()
    try:
        yield RunningCore(config, daemon, f"http://127.0.0.1:{port}")
    finally:
        daemon.stop()


def snapshot(name: str, colour: tuple[int, int, int]) -> Evidence:
    return Evidence.from_bytes(
        street_jpeg((100, 250, 300, 380), colour),
        media_type="image/jpeg",
        role=EvidenceRole.SNAPSHOT,
        name=name,
    )


def test_the_case_page_shows_the_camera_check_and_asks_again(core: RunningCore, login: Any) -> None:
    parked = camera_candidate(
        "0505", "机动车乱停放", "vehicle", 0.9, (100, 250, 300, 380),
        track_id=7, grid_code="32070390100101", zone_id="curb",
    )  # fmt: skip
    core.publish_candidates([parked])
    case_id = core.wait_for_case(parked.id).id
    service = core.daemon.service
    service.transition(case_id, Command(Action.REGISTER), Actor("oper", Role.OPERATOR))
    service.transition(case_id, Command(Action.DISPATCH), Actor("disp", Role.DISPATCHER))
    service.transition(
        case_id, Command(Action.REPORT), Actor("dept", Role.DEPARTMENT, "city-management")
    )
    assert core.daemon.camera_checks is not None
    checks = core.daemon.camera_checks.service
    [asked] = checks.of_case(case_id)

    operator = login("operator")
    operator.goto(f"{core.url}/console/#/case/{case_id}")
    operator.wait_for_selector("#camera-checks .camera-check[data-status=pending]")
    assert "摄像头核查中" in operator.inner_text("#camera-checks")
    assert operator.locator("#camera-check-request").count() == 0  # one is waiting

    before, after = (
        snapshot("check-before-x.jpg", (40, 40, 200)),
        snapshot("check-after-x.jpg", (40, 200, 40)),
    )
    assert checks.record_result(
        VerificationResult.create(
            source=GATEWAY,
            request_id=asked.id,
            case_id=case_id,
            camera_id="cam-gate",
            verdict="still_present",
            passes=4,
            passes_present=4,
            evidence=[before, after],
            before_sha256=before.sha256,
            after_sha256=after.sha256,
        )
    )
    # the page asks again while the check waits: the answer shows without a reload
    operator.wait_for_selector("#camera-checks .camera-check[data-verdict=still_present]")
    text = operator.inner_text("#camera-checks")
    assert "摄像头核查：仍存在" in text and "4 次检测中 4 次发现目标" in text
    assert "核查前" in text and "核查后" in text
    operator.wait_for_function(
        "() => [...document.querySelectorAll('#camera-checks img')]"
        ".filter(i => i.complete && i.naturalWidth === 640).length === 2"
    )
    # the check's snapshots are shown with their verdict, not again among the evidence
    assert operator.locator("#camera-checks figure").count() == 2
    assert operator.locator(".case-side .evidence figure").count() == 1  # the candidate's
    screenshot(operator, "30-camera-check-still-present")

    inspector = login("inspector")
    inspector.goto(f"{core.url}/console/#/case/{case_id}")
    inspector.wait_for_selector("#camera-checks .camera-check[data-verdict=still_present]")
    actions = {
        b.get_attribute("data-action")
        for b in inspector.locator("#case-actions button").element_handles()
    }
    assert {"verify_pass", "verify_fail"} <= actions  # the verdict decides nothing
    assert core.case(case_id).state == "reported"

    operator.click("#camera-check-request")
    operator.wait_for_selector("#camera-checks .camera-check[data-status=pending]")
    assert [c.trigger for c in checks.of_case(case_id)] == ["report", "manual"]
    # nobody answers it: the core times it out after 10 s and the page says so
    operator.wait_for_selector(
        "#camera-checks .camera-check[data-status=timed_out]", timeout=30_000
    )
    assert "核查请求超时" in operator.inner_text("#camera-checks")
    screenshot(operator, "31-camera-check-timed-out")
    assert not operator.console_errors  # type: ignore[attr-defined]
