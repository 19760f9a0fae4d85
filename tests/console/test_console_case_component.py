"""部件问题 on the case page (issue 17 §2) in Debian's Chromium under the console's own
Content-Security-Policy: a case with a point lists the census components of its event's
types near it, nearest first; 关联 links the case to one, which the page then shows
(关联部件: code · type · 权属单位) and the history records; the dispatcher's form names the
component's owner as a hint. Chinese only, no browser error."""

from __future__ import annotations

from typing import Any

from gateway.contract import Location
from gateway.core.intake import case_id_for
from gateway.core.workflow import Action, Actor, Command, Role
from gateway.gis.demo_data import generate
from tests.console.conftest import RunningCore, screenshot
from tests.console.test_console_map import _open_page, core  # noqa: F401 (the demo's core)
from tests.console.test_roles import assert_reads_chinese
from tests.core.helpers import candidate

#: 0404 下水道堵塞或破损: sewer and storm drain covers and gratings
DRAIN_TYPES = {"污水井盖", "雨水井盖", "雨水箅子"}


def test_the_operator_links_a_case_to_its_nearest_component(
    core: RunningCore,  # noqa: F811
    browser: Any,
) -> None:
    # a storm drain cover of the demo area the core's database holds (test_console_map's)
    drain = next(f for f in generate().components if f["properties"]["id"][6:10] == "0103")
    lon, lat = drain["geometry"]["coordinates"]
    report = candidate(
        1,
        event_code="0404",
        title="雨水井堵塞，路面积水",
        location=Location(lon=lon + 0.00003, lat=lat + 0.00002),
    )
    core.daemon.service.store_candidates([report])
    case_id = case_id_for(report.id)

    page, watched = _open_page(browser, core, "operator")
    try:
        page.goto(f"{core.url}/console/#/case/{case_id}")
        page.wait_for_selector("#case-components tr.component")
        note = page.inner_text("#case-components-note")
        assert "50 米内" in note and "雨水井盖" in note and "由近及远" in note
        rows = page.locator("#case-components tr.component")
        assert rows.count() >= 3
        distances = [
            float(rows.nth(i).get_attribute("data-distance") or "inf") for i in range(rows.count())
        ]
        assert distances == sorted(distances) and distances[0] < 5
        types = {rows.nth(i).locator("td").nth(2).inner_text() for i in range(rows.count())}
        assert types <= DRAIN_TYPES
        assert_reads_chinese(watched, "case page with its nearest components")

        first = rows.first
        code = first.get_attribute("data-id")
        kind = first.locator("td").nth(2).inner_text()
        assert code is not None
        first.locator("button", has_text="关联").click()
        page.wait_for_selector("#case-component-linked")
        shown = f"{code} · {kind} · 市政设施管理处"
        assert shown in page.inner_text("#case-component-linked")
        summary = page.locator(".case-side table.facts").first.inner_text()
        assert f"关联部件\t{shown}" in summary
        page.wait_for_selector(f"#case-components tr.component[data-id='{code}'] .tag")
        step = page.locator("#step-log tr[data-action=link_component]")
        assert step.count() == 1
        assert "关联部件" in step.inner_text() and shown in step.inner_text()
        assert "oper（受理员）" in step.inner_text()
        screenshot(page, "case-component")
        assert_reads_chinese(watched, "case page with its linked component")
    finally:
        page.context.close()
    linked = core.case(case_id).facts["component"]
    assert linked["id"] == code and linked["linked_by"] == "oper"

    # the dispatcher sees the component's owner beside the department (a hint only)
    core.daemon.service.transition(case_id, Command(Action.REGISTER), Actor("oper", Role.OPERATOR))
    page, watched = _open_page(browser, core, "dispatcher")
    try:
        page.goto(f"{core.url}/console/#/case/{case_id}")
        page.click("#case-actions button[data-action=dispatch]")
        label = page.inner_text("dialog.ask-dialog form")
        assert "关联部件的权属单位：市政设施管理处" in label
        assert_reads_chinese(watched, "dispatch form with the component's owner")
    finally:
        page.context.close()
