"""两级指挥 in Chromium: a district centre's operator sees only its district's cases and
escalates one to the city (上报市级), whose shift lead may hand it down (下派区级)."""

from __future__ import annotations

from typing import Any

from gateway.contract import CandidateCase, Location, Source, SourceKind
from tests.console.conftest import PASSWORD, RunningCore, screenshot
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
