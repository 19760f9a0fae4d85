"""The 大屏 of a two-level centre in Chromium, on both demo districts (海州区 and 连云区
墟沟街道): the city's shift lead picks 连云区 and the map jumps to its grids while today's
figures become 连云区's (the same as GET /api/v1/metrics?node=320703 gives), the address
keeps the district through the live reloads and a reload of the page (a wall display
bookmarked to it); 海州区's dispatcher has no picker and sees 海州区's figures, even on
an address bookmarked to 连云区. The 综合评价 page names the unit it counts: 海州区's
dispatcher sees 综合评价 · 海州区 and 海州区's figures, the city's shift lead 综合评价 · 全市;
the page's other sections count the same unit: 海州区's dispatcher sees 监督员考核 · 海州区
with 海州区's inspectors only (not 连云区's) and downloads 海州区's 评价报表, named by it.
Every screen reads Chinese."""

from __future__ import annotations

import io
import json
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl

from gateway.core.workflow import Action, Actor, Command, Role
from tests.console.conftest import RunningCore, screenshot
from tests.console.test_console_levels_page import (  # noqa: F401 (fixtures)
    LY_GRID,
    NAMES,
    cases_of_both_districts,
    core,
    open_as,
    reported,
    run,
)
from tests.console.test_roles import Watched, assert_reads_chinese

#: the 大屏's figures of the evaluation: (key of /api/v1/metrics, its row, how it is shown)
FIGURES = (
    ("registered", "立案数", "count"),
    ("closed", "结案数", "count"),
    ("closed_on_time", "按期结案数", "count"),
    ("overdue_undisposed", "超期未处置", "count"),
    ("on_time_closure_rate", "按期结案率", "rate"),
    ("score", "综合得分", "score"),
)
#: the inspectors 综合评价's 监督员考核 lists by user name
INSPECTORS = frozenset({"insp", "insp-1"})
LY_EXTENT_GRIDS = "100"  # 连云区 墟沟街道's grids; 海州区 has 400


def shown(value: float | None, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "rate":
        return f"{value * 100:.1f}%"
    if kind == "score":
        return f"{value:.1f}"
    return str(value)


def figures_of(page: Any) -> dict[str, str]:
    return dict(
        line.split("\t") for line in page.inner_text("#screen-figures").splitlines() if "\t" in line
    )


def todays_metrics(running: RunningCore, token: str, node: str | None) -> dict[str, Any]:
    """Today's (the centre's day, Asia/Shanghai) figures as the API gives them."""
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    query = {"start": start.isoformat(), "end": (now + timedelta(minutes=1)).isoformat()}
    if node is not None:
        query["node"] = node
    request = urllib.request.Request(
        f"{running.url}/api/v1/metrics?{urllib.parse.urlencode(query)}",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        [group] = json.loads(response.read())["groups"]
    return dict(group)


def assert_figures_are(page: Any, metrics: dict[str, Any]) -> None:
    figures = figures_of(page)
    for key, row, kind in FIGURES:
        assert figures[row] == shown(metrics[key], kind), (row, figures, metrics)


def test_the_citys_big_screen_shows_one_districts_figures_and_keeps_it_in_the_address(
    core: RunningCore,  # noqa: F811
    open_as: Callable[[str], Watched],  # noqa: F811
) -> None:
    cases_of_both_districts(core)  # 海州区 2 立案 (1 结案), 连云区 1 (结案 after a rework)
    lead = open_as("shift_lead")
    page = lead.page
    token = page.evaluate("sessionStorage.getItem('citygw.token')")
    page.click("#nav a[data-view=map]")
    page.click("#map-screen")
    page.wait_for_selector("#screen-figures[data-node='city'] table")
    page.wait_for_selector("#map[data-grids='500']")
    assert page.locator("#map-jump option").all_inner_texts() == ["全市", "海州区", "连云区"]
    assert page.inner_text("#screen-today") == "今日数据 · 全市"
    city = todays_metrics(core, token, None)
    assert city["registered"] == 3
    assert_figures_are(page, city)

    page.select_option("#map-jump", "320703")
    page.wait_for_selector("#screen-figures[data-node='320703'] table")
    page.wait_for_selector(f"#map[data-grids='{LY_EXTENT_GRIDS}']")
    assert page.url.endswith("#/screen/320703")
    assert page.inner_text("#screen-today") == "今日数据 · 连云区"
    lianyun = todays_metrics(core, token, "320703")
    assert (lianyun["registered"], lianyun["closed"]) == (1, 1)
    assert_figures_are(page, lianyun)
    assert figures_of(page)["立案数"] == "1"  # not the city's 3
    assert_reads_chinese(lead, "大屏（连云区）", NAMES)
    screenshot(page, "map-screen-lianyun")

    # a 连云区 case registered now comes over the live stream: the reload keeps 连云区
    late = reported(core, 4, LY_GRID)
    run(core, late, (Command(Action.REGISTER), Actor("oper", Role.OPERATOR)))
    page.wait_for_selector("#screen-figures[data-node='320703'] td:text-is('2')", timeout=20_000)
    assert figures_of(page)["立案数"] == "2"
    assert page.input_value("#map-jump") == "320703"
    assert page.url.endswith("#/screen/320703")
    assert_figures_are(page, todays_metrics(core, token, "320703"))

    # the address bookmarked: a reload opens on 连云区, its grids and its figures
    page.reload()
    page.wait_for_selector("#screen-figures[data-node='320703'] table")
    page.wait_for_selector(f"#map[data-grids='{LY_EXTENT_GRIDS}']")
    assert page.input_value("#map-jump") == "320703"
    assert figures_of(page)["立案数"] == "2"
    # back to 全市: the address drops the district, the figures are the city's again
    page.select_option("#map-jump", "city")
    page.wait_for_selector("#screen-figures[data-node='city'] table")
    assert page.url.endswith("#/screen")
    assert figures_of(page)["立案数"] == "4"
    assert_reads_chinese(lead, "大屏（全市）", NAMES)


def test_a_district_users_big_screen_shows_its_own_district_and_no_picker(
    core: RunningCore,  # noqa: F811
    open_as: Callable[[str], Watched],  # noqa: F811
) -> None:
    cases_of_both_districts(core)
    desk = open_as("hz-disp")
    page = desk.page
    token = page.evaluate("sessionStorage.getItem('citygw.token')")
    # even on an address bookmarked to 连云区: only 海州区, the address put back
    page.goto(f"{core.url}/console/#/screen/320703")
    page.wait_for_selector("#screen-figures[data-node='320706'] table")
    page.wait_for_selector("#map[data-grids='400']")
    assert page.locator("#map-jump-label").is_hidden()
    assert page.url.endswith("#/screen")
    assert page.inner_text("#screen-today") == "今日数据 · 海州区"
    haizhou = todays_metrics(core, token, "320706")
    assert (haizhou["registered"], haizhou["closed"]) == (2, 1)
    assert_figures_are(page, haizhou)
    drawn = page.eval_on_selector_all(
        "path.grid", "ps => ps.map((p) => [...p.classList].find((c) => /^grid-\\d{14}$/.test(c)))"
    )
    assert drawn and all(c.startswith("grid-320706") for c in drawn)
    assert_reads_chinese(desk, "大屏（区级）", NAMES)


def evaluation_figures(page: Any, node: str) -> dict[str, str]:
    """综合评价 over all its cases (分组: 全部), once the core's answer for ``node`` is in."""
    page.click("#nav a[data-view=evaluation]")
    page.wait_for_selector("#metrics-table")
    page.select_option("#eval-group", "none")
    page.wait_for_selector(f"#eval-title[data-node='{node}']")
    page.wait_for_selector("#metrics-table tbody tr:only-child")
    row = page.locator("#metrics-table tbody tr")
    return {
        key: row.locator(f"td[data-metric={key}]").inner_text()
        for key in ("registered", "closed", "closed_on_time")
    }


def test_a_district_users_evaluation_page_shows_its_districts_figures_and_names_it(
    core: RunningCore,  # noqa: F811
    open_as: Callable[[str], Watched],  # noqa: F811
) -> None:
    cases_of_both_districts(core)  # 海州区 2 立案 (1 结案), 连云区 1 (结案)
    desk = open_as("hz-disp")
    page = desk.page
    token = page.evaluate("sessionStorage.getItem('citygw.token')")
    figures = evaluation_figures(page, "320706")
    assert page.inner_text("#eval-title") == "综合评价 · 海州区"
    haizhou = todays_metrics(core, token, "320706")  # all the cases are today's
    assert figures == {k: str(haizhou[k]) for k in figures}
    assert figures["registered"] == "2"  # not the city's 3
    assert_reads_chinese(desk, "综合评价（区级）", NAMES | INSPECTORS)

    lead = open_as("shift_lead")
    figures = evaluation_figures(lead.page, "city")
    assert lead.page.inner_text("#eval-title") == "综合评价 · 全市"
    assert figures["registered"] == "3"
    assert_reads_chinese(lead, "综合评价（全市）", NAMES | INSPECTORS)


def api_get(running: RunningCore, token: str, path: str, **query: str) -> Any:
    request = urllib.request.Request(
        f"{running.url}{path}?{urllib.parse.urlencode(query)}",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def shown_inspectors(page: Any, node: str) -> list[str]:
    """监督员考核's rows, once its heading names ``node``'s answer."""
    page.wait_for_selector(f"#inspector-title[data-node='{node}']")
    page.wait_for_selector("#inspector-table")
    return page.eval_on_selector_all(
        "#inspector-table tbody tr", "rows => rows.map((r) => r.dataset.inspector)"
    )


def test_a_district_users_evaluation_sections_count_its_district_and_name_it(
    core: RunningCore,  # noqa: F811
    open_as: Callable[[str], Watched],  # noqa: F811
) -> None:
    # 连云区's own inspector: the city's 监督员考核 lists it, 海州区's does not
    core.daemon.auth.add_user("ly-insp", "inspector", "console-pass-1", None, org_node="320703")
    cases_of_both_districts(core)  # insp-1 reported in both districts; insp patrols both
    desk = open_as("hz-disp")
    page = desk.page
    token = page.evaluate("sessionStorage.getItem('citygw.token')")
    evaluation_figures(page, "320706")
    shown = shown_inspectors(page, "320706")
    assert page.inner_text("#inspector-title") == "监督员考核 · 海州区"
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    period = {
        "start": (now - timedelta(days=1)).isoformat(),
        "end": (now + timedelta(days=1)).isoformat(),
    }
    haizhou = api_get(core, token, "/api/v1/metrics/inspectors", node="320706", **period)
    assert sorted(shown) == sorted(r["inspector"] for r in haizhou["inspectors"])
    assert "ly-insp" not in shown and {"insp", "insp-1"} <= set(shown)
    # this month's report: 海州区's own, named by it
    month = now.strftime("%Y-%m")
    page.fill("#report-period", month)
    with page.expect_download() as report_info:
        page.click("#report-xlsx")
    assert report_info.value.suggested_filename == f"citygw-评价报表-海州区-{month}.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(Path(report_info.value.path()).read_bytes()))
    assert str(book["汇总"]["A1"].value).startswith("海州区")
    figures = {row[0].value: row[1].value for row in book["汇总"].iter_rows(min_row=5)}
    assert figures["立案数"] == 2  # 海州区's two cases, not the city's three
    with page.expect_download() as csv_info:
        page.click("#inspector-export")
    assert csv_info.value.suggested_filename.startswith("citygw-监督员考核-海州区-")
    assert_reads_chinese(desk, "综合评价（区级，监督员考核）", NAMES | INSPECTORS)

    lead = open_as("shift_lead")
    evaluation_figures(lead.page, "city")
    assert "ly-insp" in shown_inspectors(lead.page, "city")
    assert lead.page.inner_text("#inspector-title") == "监督员考核 · 全市"
