"""四级联动 in Chromium: the 海州区 district desk dispatches a case to 海州街道's office, the
street office passes it to 鼓楼社区 (转派社区, the community picked from its grid), the
community's user finds it in their list and reports 处理反馈, and the district sees it
reported, has it verified and closes it. Every page on the way reads Chinese."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gateway.contract import CandidateCase, Location, Source, SourceKind
from gateway.core.workflow import Action, Actor, CaseState, Command, Role
from tests.console.conftest import BYPASS_CSP, PASSWORD, RunningCore, screenshot
from tests.console.test_console_workflow import do, wait_state
from tests.console.test_roles import Watched, assert_reads_chinese

STREET, GULOU = "street-320706001", "community-320706001001"
GULOU_GRID = "32070600100101"  # 海州街道 鼓楼社区
USERS = {  # name -> (role, department, organisation node, grids)
    "hz-op": ("operator", None, "320706", ()),
    "hz-disp": ("dispatcher", None, "320706", ()),
    "hz-insp": ("inspector", None, "320706", ("320706",)),
    "hz-street": ("department", STREET, None, ()),
    "gulou": ("department", GULOU, None, ()),
}
#: data shown as it is: the login names and the reporting inspector's source id
NAMES = frozenset({*USERS, "insp-1"})


@pytest.fixture
def open_as(browser: Any, core: RunningCore) -> Iterator[Callable[[str], Watched]]:
    for name, (role, department, node, grids) in USERS.items():
        core.daemon.auth.add_user(name, role, PASSWORD, department, grids, org_node=node)
    contexts: list[Any] = []

    def open_page(name: str) -> Watched:
        context = browser.new_context(
            viewport={"width": 1366, "height": 900}, locale="zh-CN", bypass_csp=BYPASS_CSP
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        watched = Watched(page)
        page.on("pageerror", lambda exc: watched.errors.append(f"exception: {exc}"))
        page.on("console", lambda msg: watched.console(msg.type, msg.text))
        page.goto(f"{core.url}/console/")
        page.fill("#login-form input[name=name]", name)
        page.fill("#login-form input[name=password]", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_selector("#who-name")
        return watched

    yield open_page
    for context in contexts:
        context.close()


def reads_chinese(watched: Watched, where: str) -> None:
    assert_reads_chinese(watched, where, NAMES)


def test_a_case_goes_down_to_a_community_and_its_report_comes_back_to_the_district(
    core: RunningCore, open_as: Callable[[str], Watched]
) -> None:
    report = CandidateCase.create(
        source=Source(kind=SourceKind.INSPECTOR, id="insp-1"),
        event_code="0507",
        title="楼道口乱堆物堆料",
        location=Location(grid_code=GULOU_GRID),
    )
    core.publish_candidates([report])
    case_id = core.wait_for_case(report.id).id
    operator = Actor("hz-op", Role.OPERATOR, org_node="320706", reach=("320706",))
    core.daemon.service.transition(case_id, Command(Action.REGISTER), operator)

    # the district desk dispatches to the street office
    desk = open_as("hz-disp")
    page = desk.page
    page.goto(f"{core.url}/console/#/case/{case_id}")
    page.wait_for_selector('#case-actions button[data-action="dispatch"]')
    do(page, "dispatch", department=STREET)
    wait_state(page, "处置")
    assert core.case(case_id).department == STREET
    assert page.locator('#case-actions button[data-action="assign_community"]').count() == 0

    # the street office passes it to the community of its grid
    street = open_as("hz-street")
    page = street.page
    page.wait_for_selector(f'.card[data-id="{case_id}"]')
    page.click(f'.card[data-id="{case_id}"]')
    button = '#case-actions button[data-action="assign_community"]'
    page.wait_for_selector(button)
    assert page.inner_text(button) == "转派社区"
    page.click(button)
    picker = page.locator('dialog[open] select[name="community"]')
    assert picker.input_value() == GULOU  # the community whose grids hold the case
    options = picker.locator("option").all_inner_texts()
    assert options == ["按案件所在网格自动匹配", "鼓楼社区", "白虎山社区", "孔望山社区", "朐山社区"]
    reads_chinese(street, "转派社区对话框")
    page.locator('dialog[open] [name="opinion"]').fill("请社区网格员到场清理")
    page.locator("dialog[open] button[type=submit]").click()
    page.wait_for_selector("dialog[open]", state="detached")
    row = '#step-log tr[data-action="assign_community"]'
    page.wait_for_selector(row)
    assert "海州街道 → 鼓楼社区" in page.inner_text(row)
    assert "请社区网格员到场清理" in page.inner_text(row)
    assert "承办社区\t鼓楼社区" in page.inner_text(".case-side")
    page.wait_for_selector('#case-actions button[data-action="recall_community"]')
    assert page.locator("#case-actions button").all_inner_texts() == ["收回社区案件"]
    assert core.case(case_id).community == GULOU and core.case(case_id).department == STREET
    screenshot(page, "community-passed")
    reads_chinese(street, "案件详情（转派社区后）")

    # the community's user finds it in their list and reports 处理反馈
    community = open_as("gulou")
    page = community.page
    page.wait_for_selector(f'.card[data-id="{case_id}"]')
    assert page.locator(".card").count() == 1
    assert "鼓楼社区" in page.inner_text(f'.card[data-id="{case_id}"]')
    reads_chinese(community, "社区的案件列表")
    page.click(f'.card[data-id="{case_id}"]')
    page.wait_for_selector('#case-actions button[data-action="report"]')
    assert "assign_community" not in page.inner_text("#case-actions")
    do(page, "report", "堆物已清理，楼道畅通")
    wait_state(page, "处理反馈")
    report_row = page.inner_text('#step-log tr[data-action="report"]')
    assert "gulou（专业部门 · 鼓楼社区）" in report_row
    screenshot(page, "community-reported")
    reads_chinese(community, "案件详情（社区处理反馈）")

    # the district sees it reported; its inspector verifies and the desk closes it
    inspector = open_as("hz-insp")
    page = inspector.page
    page.wait_for_selector(f'.card[data-id="{case_id}"][data-state="reported"]')
    page.click(f'.card[data-id="{case_id}"]')
    page.wait_for_selector('#case-actions button[data-action="verify_pass"]')
    do(page, "verify_pass", "现场已清理")
    wait_state(page, "待结案")
    close = open_as("hz-op")
    page = close.page
    page.goto(f"{core.url}/console/#/case/{case_id}")
    page.wait_for_selector('#case-actions button[data-action="close"]')
    assert "鼓楼社区" in page.inner_text(".case-side")
    do(page, "close")
    wait_state(page, "结案")
    assert core.case(case_id).state is CaseState.CLOSED
    actions = [s.action for s in core.steps(case_id)]
    assert actions[-5:] == [
        Action.DISPATCH,
        Action.ASSIGN_COMMUNITY,
        Action.REPORT,
        Action.VERIFY_PASS,
        Action.CLOSE,
    ]
    reads_chinese(close, "案件详情（结案）")
