"""两级指挥 in Chromium: a district centre's operator sees only its district's cases and
escalates one to the city (上报市级), whose shift lead may hand it down (下派区级)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.mqtt.broker import free_port
from gateway.config import Config
from gateway.contract import CandidateCase, Location, Source, SourceKind
from gateway.core.daemon import build_core
from gateway.core.workflow import Action, Actor, Command, Role
from tests.console.conftest import (
    BYPASS_CSP,
    CORE_SETTINGS,
    PASSWORD,
    USERS,
    RunningCore,
    grids_of,
    screenshot,
    sign_in,
)
from tests.console.test_console_workflow import do


def report(n: int, grid: str) -> CandidateCase:
    return CandidateCase.create(
        source=Source(kind=SourceKind.INSPECTOR, id="insp-1"),
        event_code="0507",
        title=f"乱堆物堆料 {n}",
        location=Location(grid_code=grid),
    )


def test_a_district_operator_sees_its_district_and_escalates_to_the_city(
    core: RunningCore, browser: Any, login: Any
) -> None:
    haizhou, lianyun = report(1, "32070600100101"), report(2, "32070300100101")
    core.publish_candidates([haizhou, lianyun])
    mine, theirs = core.wait_for_case(haizhou.id), core.wait_for_case(lianyun.id)
    core.daemon.auth.add_user("hz-oper", "operator", PASSWORD, org_node="320706")

    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN",
                                  bypass_csp=True)  # fmt: skip
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{core.url}/console/")
    page.fill("#login-form input[name=name]", "hz-oper")
    page.fill("#login-form input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#who-name")

    # the review queue holds the district's case only
    page.wait_for_selector(f'.queue-item[data-id="{mine.id}"]')
    assert page.locator(".queue-item").count() == 1
    assert page.locator(f'.queue-item[data-id="{theirs.id}"]').count() == 0

    page.goto(f"{core.url}/console/#/case/{mine.id}")
    button = '#case-actions button[data-action="escalate"]'
    page.wait_for_selector(button)
    assert page.inner_text(button) == "上报市级"
    assert "海州区" in page.inner_text("body")
    do(page, "escalate", "涉及市政主干道，需市级协调")
    row = '#step-log tr[data-action="escalate"]'
    page.wait_for_selector(row)
    assert "海州区 → 连云港市" in page.inner_text(row)
    assert "涉及市政主干道" in page.inner_text(row)
    page.wait_for_function(
        "document.querySelector('#case-actions')?.textContent.includes('没有可执行的操作')"
    )
    text = page.inner_text("body")
    for word in ("null", "undefined", "NaN", "escalate"):
        assert word not in text
    screenshot(page, "levels-district-escalated")
    assert errors == []
    context.close()

    # the city's shift lead takes it and may hand it down
    lead = login("shift_lead")
    lead.goto(f"{core.url}/console/#/case/{mine.id}")
    lead.wait_for_selector('#case-actions button[data-action="hand_down"]')
    assert lead.inner_text('#case-actions button[data-action="hand_down"]') == "下派区级"
    assert core.case(mine.id).centre == "city"


@pytest.fixture
def quick_core(make_config: Callable[..., Config], tmp_path: Path) -> Iterator[RunningCore]:
    """The console harness's core with a take-up time of 3.6 s on a calendar that works
    round the clock, so that a missed 上报 deadline happens during the test."""
    port = free_port()
    config = make_config(
        core={
            **CORE_SETTINGS,
            "database_url": f"sqlite:///{tmp_path / 'core.sqlite3'}",
            "http_port": port,
            "calendar": {
                "workdays": [0, 1, 2, 3, 4, 5, 6],
                "periods": ["00:00-24:00"],
                "official_holidays": "none",
            },
            "organisation": {"level_limit_hours": 0.001},
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


def test_the_city_board_shows_a_case_escalated_to_it_past_its_take_up_deadline(
    quick_core: RunningCore, browser: Any
) -> None:
    """海州区 escalates a case; the city lets the take-up time pass: its board shows the
    case red, tagged 超过上报/下派期限 and counted; the red filter finds it; the case page
    says 已超过上报/下派期限. The city registering it takes it up: the tag goes."""
    core = quick_core
    haizhou = report(1, "32070600100101")
    core.publish_candidates([haizhou])
    case_id = core.wait_for_case(haizhou.id).id
    district = Actor("hz-oper", Role.OPERATOR, org_node="320706", reach=("320706",))
    core.daemon.service.transition(
        case_id, Command(Action.ESCALATE, opinion="涉及市政主干道，需市级协调"), district
    )
    time.sleep(4)  # past the 3.6 s the city had

    context = browser.new_context(
        viewport={"width": 1366, "height": 768}, locale="zh-CN", bypass_csp=BYPASS_CSP
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, core.url, "shift_lead")
    page.click("#nav a[data-view=board]")
    card = page.locator(f'.card[data-id="{case_id}"]')
    card.wait_for()
    assert "light-red" in (card.get_attribute("class") or "")
    assert card.locator(".tag.level-overdue").inner_text() == "超过上报/下派期限"
    assert card.locator(".level-deadline").inner_text().startswith("受理期限 ")
    assert "超过上报/下派期限 1 件" in page.inner_text("#board-status")
    page.select_option("#light-filter", "red")
    page.wait_for_function("() => document.querySelectorAll('#board .card').length === 1")
    screenshot(page, "board-level-overdue")

    card.click()
    page.wait_for_selector("#case-level-overdue")
    assert page.inner_text("#case-level-overdue") == "已超过上报/下派期限"
    body = page.inner_text("body")
    assert "已超过上报/下派期限，承办中心尚未受理" in body
    for word in ("null", "undefined", "NaN", "level_"):
        assert word not in body

    do(page, "register")
    page.wait_for_selector('#step-log tr[data-action="register"]')
    assert "超过上报/下派期限后受理" in page.inner_text('#step-log tr[data-action="register"]')
    assert page.locator("#case-level-overdue").count() == 0
    assert errors == []
    context.close()
