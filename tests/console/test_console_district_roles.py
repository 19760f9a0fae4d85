"""两级指挥 in Chromium, each role of the two levels walking its part read as a user reads it
(every page Chinese: no English word, no "null", "NaN" or "undefined"; no browser error on
the way), on a core holding the demo districts' grids:

- 海州区's 受理员 takes a report in its district from the review queue, 立案, and 上报 it to
  the city with a reason;
- the city's 值班长 takes the escalated case and 下派 it back down to 海州区 with a reason;
  the history shows both levels and the time 海州区 has to take it up;
- 海州区's 派遣员 dispatches the handed-down case to a district department (海州区城管局);
- 海州区城管局's user reports its disposal (处理反馈) with an opinion.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.mqtt.broker import free_port
from adapters.storage.case_store import SqlCaseStore
from adapters.storage.gis_store import SqlBaseData
from gateway.config import Config
from gateway.contract import CandidateCase, Location, Source, SourceKind
from gateway.core.daemon import build_core
from gateway.core.workflow import Action, Actor, CaseState, Command, Role
from gateway.gis.codes import load_component_types
from gateway.gis.crs import InputCrs
from gateway.gis.demo_data import DEMO_AREAS, generate
from gateway.gis.features import RawFeature
from gateway.gis.importer import BaseDataImporter
from tests.console.conftest import (
    BYPASS_CSP,
    CORE_SETTINGS,
    PASSWORD,
    USERS,
    RunningCore,
    grids_of,
    screenshot,
)
from tests.console.test_console_workflow import wait_state
from tests.console.test_roles import Watched, assert_reads_chinese, every_view

HAIZHOU = "320706"
DISTRICT_DEPARTMENT = "hz-city-management"  # 海州区城管局, of the default organisation tree
GRID, LIANYUN_GRID = "32070600100101", "32070300100101"
DISTRICT_USERS = {  # name -> (role, department, organisation node)
    "hz-oper": ("operator", None, HAIZHOU),
    "hz-disp": ("dispatcher", None, HAIZHOU),
    "hz-cm": ("department", DISTRICT_DEPARTMENT, None),
}
#: login names the step log shows as they are (ASCII by rule)
NAMES = frozenset(DISTRICT_USERS)
HZ_OPERATOR = Actor("hz-oper", Role.OPERATOR, org_node=HAIZHOU, reach=(HAIZHOU,))
HZ_DISPATCHER = Actor("hz-disp", Role.DISPATCHER, org_node=HAIZHOU, reach=(HAIZHOU,))
CITY_LEAD = Actor("lead", Role.SHIFT_LEAD)
ESCALATED = "占用市政主干道，需市级协调"
HANDED_DOWN = "属区级事权，请海州区按期处置"


@pytest.fixture
def core(make_config: Callable[..., Config], tmp_path: Path) -> Iterator[RunningCore]:
    """The console harness's core on a database holding the demo districts' grids, with a
    受理员 and a 派遣员 of 海州区 and a user of 海州区城管局 beside the city's users."""
    port = free_port()
    url = f"sqlite:///{tmp_path / 'core.sqlite3'}"
    store = SqlCaseStore.open(url)
    try:
        demo = generate(components_per_km=1, areas=DEMO_AREAS)
        raws = [RawFeature(i + 1, f["properties"], f["geometry"]) for i, f in enumerate(demo.grids)]
        importer = BaseDataImporter(SqlBaseData.for_store(store), load_component_types())
        assert importer.import_grids(raws, InputCrs.WGS84).accepted
    finally:
        store.close()
    config = make_config(core={**CORE_SETTINGS, "database_url": url, "http_port": port})
    daemon = build_core(config)
    for role, (name, department) in USERS.items():
        daemon.auth.add_user(name, role, PASSWORD, department, grids_of(role))
    for name, (role, department, node) in DISTRICT_USERS.items():
        daemon.auth.add_user(name, role, PASSWORD, department, org_node=node)
    daemon.start()
    try:
        yield RunningCore(config, daemon, f"http://127.0.0.1:{port}")
    finally:
        daemon.stop()


@pytest.fixture
def open_as(browser: Any, core: RunningCore) -> Iterator[Callable[[str], Watched]]:
    """``open_as(login name)``: a page signed in through the form, watched for exceptions
    and console errors, in a browser on UTC (the console must still show Asia/Shanghai)."""
    contexts: list[Any] = []

    def open_page(name: str) -> Watched:
        context = browser.new_context(
            viewport={"width": 1366, "height": 900},
            locale="zh-CN",
            timezone_id="UTC",
            bypass_csp=BYPASS_CSP,
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


def reported(core: RunningCore, n: int, grid: str) -> str:
    """A supervisor's report (乱堆物堆料) on ``grid``: its case id."""
    report = CandidateCase.create(
        source=Source(kind=SourceKind.INSPECTOR, id="insp"),  # the inspector user's login
        event_code="0507",
        title=f"人行道上堆放建筑材料 {n}",
        location=Location(grid_code=grid),
    )
    core.publish_candidates([report])
    return str(core.wait_for_case(report.id).id)


def run(core: RunningCore, case_id: str, *steps: tuple[Command, Actor]) -> None:
    for command, actor in steps:
        core.daemon.service.transition(case_id, command, actor)


def handed_down(core: RunningCore) -> str:
    """A case of 海州区 registered, escalated to the city and handed back down."""
    case_id = reported(core, 1, GRID)
    run(
        core,
        case_id,
        (Command(Action.REGISTER), HZ_OPERATOR),
        (Command(Action.ESCALATE, opinion=ESCALATED), HZ_OPERATOR),
        (Command(Action.HAND_DOWN, opinion=HANDED_DOWN), CITY_LEAD),
    )
    return case_id


def open_card(page: Any, case_id: str) -> None:
    page.click(f'.card[data-id="{case_id}"]')
    page.wait_for_selector("#case-actions")


def toast_saying(page: Any, words: str) -> str:
    """The text of the success toast that says ``words`` (an earlier one may still show)."""
    toast = page.locator(".toast.ok", has_text=words).last
    toast.wait_for()
    return str(toast.inner_text())


def log_row(page: Any, action: str) -> str:
    row = f'#step-log tr[data-action="{action}"]'
    page.wait_for_selector(row)
    return str(page.inner_text(row))


# --------------------------------------------------------------------------- 区级受理员


def test_a_district_operator_registers_a_report_of_its_district_and_escalates_it(
    core: RunningCore, open_as: Callable[[str], Watched]
) -> None:
    mine, theirs = reported(core, 1, GRID), reported(core, 2, LIANYUN_GRID)
    operator = open_as("hz-oper")
    page = operator.page
    page.wait_for_selector(f'.queue-item[data-id="{mine}"]')
    assert page.locator(f'.queue-item[data-id="{theirs}"]').count() == 0  # 连云区's
    page.click(f'.queue-item[data-id="{mine}"]')
    page.wait_for_selector("#detail-title:has-text('乱堆物堆料')")
    assert_reads_chinese(operator, "待审核（区级）", NAMES)
    page.click("#act-register")
    assert toast_saying(page, "立案")
    page.wait_for_selector(f'.queue-item[data-id="{mine}"]', state="detached")
    assert core.case(mine).state is CaseState.REGISTERED

    page.click("#nav a[data-view=board]")
    page.wait_for_selector(f'.card[data-id="{mine}"]')
    assert_reads_chinese(operator, "案件看板（区级）", NAMES)
    open_card(page, mine)
    assert page.inner_text('#case-actions button[data-action="escalate"]') == "上报市级"
    assert_reads_chinese(operator, "案件详情（区级立案）", NAMES)
    page.click('#case-actions button[data-action="escalate"]')
    page.locator('dialog[open] [name="opinion"]').fill(ESCALATED)
    assert_reads_chinese(operator, "上报市级对话框", NAMES)
    page.locator("dialog[open] button[type=submit]").click()
    page.wait_for_selector("dialog[open]", state="detached")
    said = toast_saying(page, "已上报市级")
    assert said.endswith("已上报市级") and "→" not in said, said
    row = log_row(page, "escalate")
    assert "海州区 → 连云港市，请于 " in row and ESCALATED in row
    page.wait_for_selector("#case-actions p.muted")  # nothing more to do at this level
    assert core.case(mine).centre == "city"
    screenshot(page, "district-operator-escalated")
    assert_reads_chinese(operator, "案件详情（已上报）", NAMES)
    assert every_view(operator, "district operator", NAMES) == [
        "queue",
        "board",
        "map",
        "report",
        "cameras",
    ]


# --------------------------------------------------------------------------- 市级值班长


def test_the_citys_shift_lead_hands_an_escalated_case_down_to_its_district(
    core: RunningCore, open_as: Callable[[str], Watched]
) -> None:
    case_id = reported(core, 1, GRID)
    run(
        core,
        case_id,
        (Command(Action.REGISTER), HZ_OPERATOR),
        (Command(Action.ESCALATE, opinion=ESCALATED), HZ_OPERATOR),
    )
    lead = open_as("lead")  # the city's 值班长
    page = lead.page
    page.click("#nav a[data-view=board]")
    page.wait_for_selector(f'.card[data-id="{case_id}"]')
    assert_reads_chinese(lead, "案件看板（市级）", NAMES)
    open_card(page, case_id)
    assert "承办中心\t连云港市" in page.inner_text(".case-side")
    button = '#case-actions button[data-action="hand_down"]'
    assert page.inner_text(button) == "下派区级"
    assert_reads_chinese(lead, "案件详情（已上报）", NAMES)

    page.click(button)
    dialog = page.locator("dialog[open]")
    assert "下派区级" in dialog.inner_text()
    assert dialog.locator('[name="opinion"]').get_attribute("required") is not None
    dialog.locator('[name="opinion"]').fill(HANDED_DOWN)
    assert dialog.locator(".counter").inner_text() == f"{len(HANDED_DOWN)} / 4000 字"
    assert_reads_chinese(lead, "下派区级对话框", NAMES)
    dialog.locator("button[type=submit]").click()
    page.wait_for_selector("dialog[open]", state="detached")
    said = toast_saying(page, "已下派区级")
    assert said.endswith("已下派区级") and "→" not in said, said

    # the history shows both levels, each with its reason and the time to take it up
    up, down = log_row(page, "escalate"), log_row(page, "hand_down")
    assert "海州区 → 连云港市，请于 " in up and ESCALATED in up and "hz-oper（受理员）" in up
    assert "连云港市 → 海州区，请于 " in down and HANDED_DOWN in down and "（值班长）" in down
    page.wait_for_function(
        "() => document.querySelector('.case-side')?.innerText.includes('承办中心\\t海州区')"
    )
    assert "受理期限\t" in page.inner_text(".case-side")
    case = core.case(case_id)
    assert case.centre == HAIZHOU and case.state is CaseState.REGISTERED
    moves = [s for s in core.steps(case_id) if s.action in (Action.ESCALATE, Action.HAND_DOWN)]
    assert [(s.facts["from_centre"], s.facts["to_centre"]) for s in moves] == [
        (HAIZHOU, "city"),
        ("city", HAIZHOU),
    ]
    screenshot(page, "city-lead-handed-down")
    assert_reads_chinese(lead, "案件详情（已下派）", NAMES)


# --------------------------------------------------------------------------- 区级派遣员


def test_a_district_dispatcher_dispatches_a_handed_down_case_to_a_district_department(
    core: RunningCore, open_as: Callable[[str], Watched]
) -> None:
    case_id = handed_down(core)
    dispatcher = open_as("hz-disp")
    page = dispatcher.page
    page.wait_for_selector(f'.card[data-id="{case_id}"]')
    assert_reads_chinese(dispatcher, "案件看板（区级）", NAMES)
    open_card(page, case_id)
    assert page.get_attribute("#case-actions button.primary", "data-action") == "dispatch"
    assert "连云港市 → 海州区" in log_row(page, "hand_down")
    assert_reads_chinese(dispatcher, "案件详情（已下派）", NAMES)

    page.click('#case-actions button[data-action="dispatch"]')
    options = page.locator('dialog[open] [name="department"] option').all_inner_texts()
    assert "海州区城管局" in options and "城管执法" not in options  # its own, not the city's
    page.locator('dialog[open] [name="department"]').select_option(DISTRICT_DEPARTMENT)
    page.locator('dialog[open] [name="opinion"]').fill("请区城管局清运")
    assert_reads_chinese(dispatcher, "派遣对话框（区级）", NAMES)
    page.locator("dialog[open] button[type=submit]").click()
    page.wait_for_selector("dialog[open]", state="detached")
    said = toast_saying(page, "已派遣")
    assert "已派遣" in said and "→" not in said, said
    wait_state(page, "处置")
    assert "处置部门\t海州区城管局" in page.inner_text(".case-side")
    assert "按期受理" in log_row(page, "dispatch")  # the district took it up in time
    case = core.case(case_id)
    assert case.department == DISTRICT_DEPARTMENT and case.state is CaseState.PROCESSING
    screenshot(page, "district-dispatcher-dispatched")
    assert_reads_chinese(dispatcher, "案件详情（处置）", NAMES)
    assert every_view(dispatcher, "district dispatcher", NAMES) == [
        "board",
        "map",
        "evaluation",
        "levels",
        "cameras",
    ]


# --------------------------------------------------------------------------- 区级专业部门


def test_a_district_department_reports_its_disposal_of_a_handed_down_case(
    core: RunningCore, open_as: Callable[[str], Watched]
) -> None:
    case_id = handed_down(core)
    run(
        core,
        case_id,
        (Command(Action.DISPATCH, department=DISTRICT_DEPARTMENT), HZ_DISPATCHER),
    )
    department = open_as("hz-cm")
    page = department.page
    page.wait_for_selector(f'.card[data-id="{case_id}"]')
    assert_reads_chinese(department, "本部门案件（区级）", NAMES)
    open_card(page, case_id)
    assert page.get_attribute("#case-actions button.primary", "data-action") == "report"
    assert_reads_chinese(department, "案件详情（处置，区级部门）", NAMES)
    page.click('#case-actions button[data-action="report"]')
    page.locator('dialog[open] [name="opinion"]').fill("建筑材料已清运，人行道已恢复通行")
    assert_reads_chinese(department, "处理反馈对话框（区级部门）", NAMES)
    page.locator("dialog[open] button[type=submit]").click()
    page.wait_for_selector("dialog[open]", state="detached")
    said = toast_saying(page, "已处理反馈")
    assert said.endswith("已处理反馈") and "→" not in said, said
    wait_state(page, "处理反馈")
    row = log_row(page, "report")
    assert "建筑材料已清运" in row and "hz-cm（专业部门）" in row
    assert core.case(case_id).state is CaseState.REPORTED
    screenshot(page, "district-department-reported")
    assert_reads_chinese(department, "案件详情（处理反馈，区级部门）", NAMES)
    assert every_view(department, "district department", NAMES) == ["department", "map"]
