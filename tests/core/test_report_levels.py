"""The period report at each level of the organisation tree (issue 18): the city's ranks
the tree's districts (every one, its cases found by their grids) and the city's
departments, as the city's evaluation does; without a tree no row is named "(none)"; every
report states the weights its level scores with; ``citygw core report --node`` gives a
district's or a street's report."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from gateway.cli_texts import MESSAGES
from gateway.core.metrics import CaseHistories, evaluate
from gateway.core.org_evaluation import CSV_HEADERS as LEVEL_HEADERS
from gateway.core.org_evaluation import evaluate_level
from gateway.core.organisation import Organisation
from gateway.core.publication import (
    PeriodReport,
    build_ranking,
    city_levels,
    month_period,
    unit_report,
)
from gateway.core.publication_routes import report_json
from gateway.core.report_html import ranking_page, report_page
from gateway.core.settings import CoreConfig, MetricWeights
from tests.core.api_harness import make_api
from tests.core.helpers import CORE_SETTINGS, core_config
from tests.core.test_org_evaluation import CONFIG, LOG, ORG, lifecycle
from tests.core.test_publication import visible_text, worked_case
from tests.csv_rows import keyed_rows

SHANGHAI = ZoneInfo("Asia/Shanghai")
JANUARY = month_period(2026, 1, SHANGHAI)
NOW = datetime(2026, 2, 10, tzinfo=UTC)
W = MetricWeights()
#: LOG's four cases (海州区 a, b, c; 连云区 d) and e on 赣榆区's grid: in no district of the tree
CASES = [*LOG, *lifecycle("e", "32070700100101")]
CITY_DEPARTMENTS = {d.id: d.name for d in CONFIG.departments}


def report_of(
    unit: str | None = None,
    org: Organisation | None = ORG,
    config: CoreConfig = CONFIG,
    log: list = CASES,
) -> PeriodReport:
    return unit_report(
        CaseHistories(log),
        org,
        config.organisation,
        org.node(unit) if org is not None and unit is not None else None,
        JANUARY,
        config.metric_weights,
        CITY_DEPARTMENTS,
        {"0102": "暴露垃圾"},
        SHANGHAI,
        NOW,
    )


def test_the_citys_report_ranks_the_trees_districts_and_departments_as_its_evaluation() -> None:
    report = report_of()
    level = evaluate_level(CaseHistories(CASES), ORG, ORG.city, JANUARY.start, JANUARY.end, W)
    evaluated = {u.node.id: u for u in level.units}
    rows = {r.group: r for r in (*report.districts, *report.departments)}
    assert set(rows) == set(evaluated) | {"(outside)"}
    for unit_id, unit in evaluated.items():
        assert rows[unit_id].name == unit.node.name
        assert rows[unit_id].figures.as_dict() == unit.metrics.as_dict(), unit_id
    # by their grids: 海州区 a, b, c; 连云区 d; e (赣榆区) in no district: an unranked row
    # of its own, last, so the rows add up to the city's total; no "(none)" row
    assert {r.name: r.figures.registered for r in report.districts} == {
        "海州区": 3,
        "连云区": 1,
        "不属任何区": 1,
    }
    assert report.districts[-1].name == "不属任何区" and report.districts[-1].rank is None
    assert sum(r.figures.registered for r in report.districts) == report.total.registered
    # the city's departments only: d's 城管执法; 海州区环卫所 is 海州区's to rank
    assert {r.group for r in report.departments} == set(CITY_DEPARTMENTS)
    assert {r.group: r.figures.registered for r in report.departments}["city-management"] == 1
    # the totals are every case's, as core metrics gives them
    whole = evaluate(CASES, JANUARY.start, JANUARY.end, W, "none")[0]
    assert report.total.as_dict() == whole.as_dict() and report.total.registered == 5
    page = report_page(report, SHANGHAI)
    assert "<h2>各区排名</h2>" in page and "<h2>各专业部门排名</h2>" in page
    assert "(none)" not in page and "未归属" not in page


def test_every_district_of_the_tree_has_a_row_in_the_citys_report_even_without_cases() -> None:
    report = report_of(log=[s for s in CASES if s.case_id != "d"])
    rows = {r.name: r for r in report.districts}
    assert set(rows) == {"海州区", "连云区", "不属任何区"}  # e: on no district's grid
    assert rows["连云区"].figures.registered == 0 and rows["连云区"].rank is None
    assert rows["海州区"].rank == 1
    document = json.loads(report_json(report))
    assert [d["name"] for d in document["districts"]][-2:] == ["连云区", "不属任何区"]


def test_without_a_tree_cases_without_a_district_are_named_as_core_metrics_names_them() -> None:
    report = report_of(org=None)  # the log's cases carry no district
    assert [(r.group, r.name) for r in report.districts] == [("(none)", "未填区域")]
    names = {r.group: r.name for r in report.departments}
    assert names["(none)"] == "未派遣" and names["city-management"] == "城管执法"
    assert report.total.registered == 5
    text = visible_text(report_page(report, SHANGHAI))
    assert "未填区域" in text and "(none)" not in text


CLOSURE_ONLY = {
    "closure_rate": 1,
    "on_time_closure_rate": 0,
    "on_time_disposal_rate": 0,
    "rework_rate": 0,
}
REWORK_ONLY = {**CLOSURE_ONLY, "closure_rate": 0, "rework_rate": 1}


def footer(report: PeriodReport) -> str:
    page = report_page(report, SHANGHAI)
    found = re.search(r"<footer><p>(.*?)</p>", page)
    assert found is not None
    return found[1]


def test_a_report_states_and_scores_with_the_weights_of_its_level() -> None:
    config = core_config(organisation={"weights": {"city": CLOSURE_ONLY, "district": REWORK_ONLY}})
    org = Organisation.from_config(config.organisation, CITY_DEPARTMENTS)
    city = report_of(org=org, config=config)
    assert city.weights == MetricWeights(**CLOSURE_ONLY).model_dump()
    for row in city.districts:  # scored by closure alone (e, outside, is not due yet)
        if row.group == "(outside)":
            continue
        assert row.figures.score == pytest.approx(100 * (row.figures.closure_rate or 0))
    said = footer(city)
    assert (
        "综合得分按权重加权：结案率 1.0，按期结案率 0.0，按期处置率 0.0，1 − 返工率 0.0。" in said
    )
    # the totals keep core.metric_weights (as core metrics): the footer says so
    assert city.total_weights == W.model_dump()
    assert (
        city.total.as_dict() == evaluate(CASES, JANUARY.start, JANUARY.end, W, "none")[0].as_dict()
    )
    assert "全市汇总与上期的综合得分按全市基本权重加权：结案率 0.3，" in said
    district = report_of("320706", org=org, config=config)
    assert district.weights == MetricWeights(**REWORK_ONLY).model_dump()
    said = footer(district)
    assert (
        "综合得分按权重加权：结案率 0.0，按期结案率 0.0，按期处置率 0.0，1 − 返工率 1.0。" in said
    )
    assert "海州区汇总与上期的综合得分按全市基本权重加权" in said
    document = json.loads(report_json(district))
    assert document["weights"] == MetricWeights(**REWORK_ONLY).model_dump()
    # a level without weights of its own: core.metric_weights, stated once
    street = report_of("320706001", org=org, config=config)
    assert street.weights == W.model_dump() and street.total_weights is None
    assert "基本权重" not in footer(street) and "结案率 0.3，按期结案率 0.3" in footer(street)


def test_the_cli_report_takes_a_node_as_the_api_does(tmp_path: Path) -> None:
    db = tmp_path / "core.sqlite3"
    made = make_api(f"sqlite:///{db}", tmp_path)
    try:
        for n in range(2):
            worked_case(made, f"node-req-{n:04d}")  # on 海州区's grid 32070690100101
        month = made.clock.now().astimezone(SHANGHAI)
    finally:
        made.close()
    config = tmp_path / "citygw.yaml"
    config.write_text(
        yaml.safe_dump(
            {"core": {**CORE_SETTINGS, "database_url": f"sqlite:///{db}"}}, allow_unicode=True
        ),
        encoding="utf-8",
    )
    period = month_period(month.year, month.month, SHANGHAI)

    def citygw(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gateway", "-c", str(config), "core", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )

    def report(*node: str) -> dict:
        out = tmp_path / "report.json"
        done = citygw("report", period.key, "--out", str(out), *node)
        assert done.returncode == 0, done.stderr
        unit = "海州区" if node == ("--node", "320706") else ""
        if not node or unit:
            assert done.stdout.startswith(f"{unit}{period.label}：2 件立案，已写入 ")
        return json.loads(out.read_text(encoding="utf-8"))

    def level(node: str) -> dict[str, dict[str, str]]:
        done = citygw(
            "metrics",
            "--start",
            period.start.strftime("%Y-%m-%dT%H:%M:%S"),
            "--end",
            period.end.strftime("%Y-%m-%dT%H:%M:%S"),
            "--level",
            node,
        )
        assert done.returncode == 0, done.stderr
        return {r["group"].split(" ")[0]: r for r in keyed_rows(done.stdout, LEVEL_HEADERS)}

    city = report()
    assert city["unit"] is None
    assert {d["name"]: d["registered"] for d in city["districts"]} == {"海州区": 2, "连云区": 0}
    district = report("--node", "320706")
    assert district["title"] == f"海州区{period.label}月度综合评价报告"
    assert district["total"]["registered"] == 2
    assert [s["key"] for s in district["sections"]] == ["streets", "departments"]
    expected = level("320706")
    rows = {r["group"]: r for r in (*district["streets"], *district["departments"])}
    # the streets' rows and, unranked, the district's cases on no street's grid: they add up
    outside = rows.pop("(outside)", None)
    listed = expected.pop("不属任何街道", None)  # the CLI's table has the same unranked row
    assert (listed is None) == (outside is None)
    assert outside is None or int(listed["registered"]) == outside["registered"]
    assert set(rows) == set(expected)
    for unit_id, row in rows.items():
        assert row["registered"] == int(expected[unit_id]["registered"]), unit_id
    streets = sum(r["registered"] for r in district["streets"])
    assert streets == district["total"]["registered"]
    assert outside is None or outside["name"] == "不属任何街道"
    street = report("--node", "320706001")
    assert [s["title"] for s in street["sections"]] == ["社区排名"]
    assert {r["group"] for r in street["communities"]} == set(level("320706001"))
    for wrong in ("nowhere", "320706001001"):  # no such node; a community ranks nothing
        out = tmp_path / f"{wrong}.json"
        refused = citygw("report", period.key, "--out", str(out), "--node", wrong)
        assert refused.returncode == 2
        assert refused.stderr.strip() == MESSAGES["report_node"].format(node=wrong)
        assert not out.exists()


def test_the_public_daily_ranking_ranks_the_trees_districts_with_the_city_levels_weights() -> None:
    config = core_config(organisation={"weights": {"city": CLOSURE_ONLY}})
    org = Organisation.from_config(config.organisation, CITY_DEPARTMENTS)
    histories = CaseHistories(CASES)
    levels = city_levels(histories, org, config.organisation, JANUARY, W)
    ranking = build_ranking(histories, JANUARY, W, CITY_DEPARTMENTS, NOW, levels)
    assert {r.name: r.figures.registered for r in ranking.districts} == {
        "海州区": 3,
        "连云区": 1,
        "不属任何区": 1,
    }
    assert {r.group for r in ranking.departments} == set(CITY_DEPARTMENTS)
    assert ranking.weights == MetricWeights(**CLOSURE_ONLY).model_dump()
    page = ranking_page(ranking, SHANGHAI, ranking.weights)
    assert "综合得分按权重加权：结案率 1.0，按期结案率 0.0" in page
    # without a tree: the cases' own fields, never "(none)"
    assert city_levels(histories, None, config.organisation, JANUARY, W) is None
    plain = build_ranking(histories, JANUARY, W, CITY_DEPARTMENTS, NOW)
    assert [r.name for r in plain.districts] == ["未填区域"]
    assert "(none)" not in visible_text(ranking_page(plain, SHANGHAI, plain.weights))
