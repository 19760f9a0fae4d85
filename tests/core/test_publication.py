"""Published evaluation: periods of the centre's calendar, rankings, the printable report
in HTML, Excel and PDF, and the public page, all from the same step log and the same
`evaluate` as ``citygw core metrics``."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import yaml

from adapters.reports import ReportFileWriter
from gateway.contract import CaseFeedback, Source, SourceKind
from gateway.core.metrics import CSV_HEADERS, CaseHistories, Metrics, evaluate
from gateway.core.org_evaluation import CSV_HEADERS as LEVEL_HEADERS
from gateway.core.publication import (
    build_ranking,
    build_report,
    daily_ranking_period,
    day_counts,
    month_period,
    parse_period,
    previous_period,
    quarter_period,
    rank,
)
from gateway.core.report_html import ranking_page, report_method, report_page
from gateway.core.settings import MetricWeights
from gateway.core.workflow import Action, CaseState, Role, Step
from tests.core.api_harness import Api, make_api
from tests.core.helpers import CORE_SETTINGS
from tests.core.test_metrics import history
from tests.csv_rows import keyed_rows

SHANGHAI = ZoneInfo("Asia/Shanghai")
WEIGHTS = MetricWeights()
DEPARTMENTS = {"sanitation": "环卫处", "traffic": "交警大队"}
#: what must never appear on a page people read
LEAKS = re.compile(r"\b(None|null|NaN|undefined)\b|[A-Za-z]{4,}")


def visible_text(html: str) -> str:
    body = re.sub(r"<style>.*?</style>", "", html, flags=re.S)
    body = re.sub(r"<[^>]+>", " ", body)
    return re.sub(r"&[a-z]+;", " ", body)


# ---------------------------------------------------------------- periods


def test_a_month_is_the_centres_local_month_as_utc() -> None:
    november = month_period(2026, 11, SHANGHAI)
    assert november.start == datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
    assert november.end == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert (november.first_day, november.last_day) == (date(2026, 11, 1), date(2026, 11, 30))
    assert november.label == "2026年11月" and len(november.days()) == 30
    assert month_period(2026, 12, SHANGHAI).last_day == date(2026, 12, 31)


def test_quarters_and_their_previous_periods_cross_the_year() -> None:
    q1 = quarter_period(2027, 1, SHANGHAI)
    assert (q1.first_day, q1.last_day, q1.label) == (
        date(2027, 1, 1),
        date(2027, 3, 31),
        "2027年第1季度",
    )
    assert previous_period(q1, SHANGHAI).key == "2026-Q4"
    assert previous_period(month_period(2027, 1, SHANGHAI), SHANGHAI).key == "2026-12"
    assert parse_period("2026-q4", SHANGHAI) == quarter_period(2026, 4, SHANGHAI)
    assert parse_period("2026-11-30", SHANGHAI).kind == "day"


@pytest.mark.parametrize("text", ["2026-13", "2026-Q5", "2026/11", "", "2026-02-30", "11-2026"])
def test_a_period_that_does_not_exist_is_refused_with_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="period"):
        parse_period(text, SHANGHAI)


def test_the_daily_ranking_covers_the_month_to_yesterday_and_on_the_first_the_last_month() -> None:
    # 2026-12-04 01:00 in Shanghai is 12-03 17:00 UTC: the local day decides
    mid = daily_ranking_period(datetime(2026, 12, 3, 17, 0, tzinfo=UTC), SHANGHAI)
    assert (mid.first_day, mid.last_day) == (date(2026, 12, 1), date(2026, 12, 3))
    assert mid.end == datetime(2026, 12, 3, 16, 0, tzinfo=UTC)
    first = daily_ranking_period(datetime(2026, 12, 1, 2, 0, tzinfo=UTC), SHANGHAI)
    assert first.kind == "month" and first.key == "2026-11"


# ---------------------------------------------------------------- ranking


def figures(group: str, score: float | None, registered: int = 10) -> Metrics:
    return Metrics(group=group, registered=registered, score=score)


def test_equal_scores_share_a_rank_and_groups_without_a_score_come_last_unranked() -> None:
    rows = rank(
        [
            figures("b", 80.0),
            figures("(none)", 99.0),
            figures("a", 90.0),
            figures("c", 80.0, registered=30),
            figures("d", None),
            figures("e", 70.0),
        ],
        {"a": "甲区"},
    )
    assert [(r.rank, r.group) for r in rows] == [
        (1, "a"),
        (2, "c"),  # same score as b, more cases first
        (2, "b"),
        (4, "e"),
        (None, "(none)"),
        (None, "d"),
    ]
    assert rows[0].name == "甲区" and rows[4].name == "未归属"


def test_the_ranking_and_the_report_match_the_metrics_of_the_same_period() -> None:
    steps = history()
    january = month_period(2026, 1, SHANGHAI)
    now = datetime(2026, 2, 10, tzinfo=UTC)
    report = build_report(steps, january, WEIGHTS, DEPARTMENTS, {"0102": "暴露垃圾"}, SHANGHAI, now)
    whole = evaluate(steps, january.start, january.end, WEIGHTS, "none")[0]
    assert report.total.as_dict() == whole.as_dict()
    assert report.total.registered == 1010  # the 10 voided count; February's 7 do not
    by_department = {
        g.group: g for g in evaluate(steps, january.start, january.end, WEIGHTS, "department")
    }
    assert {r.group: r.figures.as_dict() for r in report.departments} == {
        k: v.as_dict() for k, v in by_department.items()
    }
    assert {r.name for r in report.departments} == {"环卫处", "交警大队"}
    assert [r.rank for r in report.departments] in ([1, 2], [1, 1])
    assert report.event_classes[0].name == "暴露垃圾"
    assert report.previous_period is not None and report.previous_period.key == "2025-12"
    assert report.previous is not None and report.previous.registered == 0
    ranking = build_ranking(steps, january, WEIGHTS, DEPARTMENTS, now)
    assert ranking.total.as_dict() == whole.as_dict()


def test_day_counts_add_up_to_the_registrations_and_closings_of_the_period() -> None:
    steps = history()
    january = month_period(2026, 1, SHANGHAI)
    days = day_counts(steps, january, SHANGHAI)
    assert len(days) == 31
    registered = sum(
        1 for s in steps if s.action is Action.REGISTER and january.start <= s.at < january.end
    )
    assert sum(d.registered for d in days) == registered == 1010
    closed_in_january = sum(
        1 for s in steps if s.to_state is CaseState.CLOSED and january.start <= s.at < january.end
    )
    assert sum(d.closed for d in days) == closed_in_january > 0
    # the history registers at 03:00 UTC (11:00 in Shanghai) on days 5..24
    assert days[4].registered == 50 and days[0].registered == 0
    # a report counts from the times its cut log keeps, not by walking it: the same days,
    # for the whole log and for a unit's cases (`CaseHistories.on_grids`)
    histories = CaseHistories(steps)
    assert day_counts(histories, january, SHANGHAI) == days
    some = histories.on_grids(lambda grid: bool(grid) and grid.endswith("01"))
    assert 0 < len(some.registered_at) < len(histories.registered_at)
    assert day_counts(some, january, SHANGHAI) == day_counts(some.steps(), january, SHANGHAI)
    grown = histories.extended([])
    assert day_counts(grown, january, SHANGHAI) == days


def test_a_case_reopened_and_kept_closed_is_closed_once_a_day_count() -> None:
    at = datetime(2026, 1, 10, 3, 0, tzinfo=UTC)
    steps = [
        Step(
            "x", at, Action.REGISTER, CaseState.CANDIDATE, CaseState.REGISTERED, "o", Role.OPERATOR
        ),
        Step("x", at, Action.CLOSE, CaseState.VERIFIED, CaseState.CLOSED, "o", Role.OPERATOR),
        Step(
            "x",
            at + timedelta(hours=1),
            Action.KEEP_CLOSED,
            CaseState.REOPEN_REQUESTED,
            CaseState.CLOSED,
            "l",
            Role.SHIFT_LEAD,
        ),
    ]
    days = day_counts(steps, month_period(2026, 1, SHANGHAI), SHANGHAI)
    assert sum(d.closed for d in days) == 1
    kept = day_counts(CaseHistories(steps), month_period(2026, 1, SHANGHAI), SHANGHAI)
    assert kept == days


# ---------------------------------------------------------------- pages and files


def january_report():  # type: ignore[no-untyped-def]
    return build_report(
        history(),
        month_period(2026, 1, SHANGHAI),
        WEIGHTS,
        DEPARTMENTS,
        {"0102": "暴露垃圾"},
        SHANGHAI,
        datetime(2026, 2, 10, tzinfo=UTC),
    )


def test_the_report_page_is_chinese_with_charts_and_its_figures() -> None:
    report = january_report()
    html = report_page(report, SHANGHAI, inline_style=True)
    text = visible_text(html)
    assert not LEAKS.search(text), LEAKS.search(text)
    assert "2026年1月月度综合评价报告" in text and "环卫处" in text and "暴露垃圾" in text
    assert html.count("<svg") >= 3  # days, districts, departments
    assert f"{report.total.score:.2f}" in text
    assert f"{100 * (report.total.closure_rate or 0):.1f}%" in text
    assert "<link" not in html  # a file or a print needs nothing from the server


def test_the_ranking_page_links_the_cores_style_sheet_and_shows_no_english() -> None:
    ranking = build_ranking(
        history(),
        month_period(2026, 1, SHANGHAI),
        WEIGHTS,
        DEPARTMENTS,
        datetime(2026, 2, 1, tzinfo=UTC),
    )
    html = ranking_page(ranking, SHANGHAI, WEIGHTS.model_dump())
    assert '<link rel="stylesheet" href="/console/report.css">' in html
    assert "<script" not in html and "<style" not in html  # the console's CSP allows neither inline
    text = visible_text(html)
    assert not LEAKS.search(text), LEAKS.search(text)
    assert "海州" in text and "不含任何个人信息" in text
    assert "<th>满意率</th>" in html and "<th>回访数</th>" in html  # beside the other indicators


def test_the_workbook_holds_the_same_figures_as_the_report() -> None:
    report = january_report()
    book = openpyxl.load_workbook(io.BytesIO(ReportFileWriter().workbook(report)))
    assert book.sheetnames == ["汇总", "各区排名", "各部门排名", "按事件类别", "每日"]
    summary = {
        row[0]: row[1] for row in book["汇总"].iter_rows(min_row=5, max_col=2, values_only=True)
    }
    assert summary["立案数"] == report.total.registered
    assert summary["结案率"] == pytest.approx(report.total.closure_rate)
    assert book["汇总"]["B9"].number_format == "0.0%"
    # the footer's 计算方法, weights included, as the page prints it
    texts = [c for row in book["汇总"].iter_rows(values_only=True) for c in row if c]
    assert report_method(report) in texts and "综合得分按权重加权" in report_method(report)
    departments = list(book["各部门排名"].iter_rows(min_row=2, values_only=True))
    assert {(r[1], r[3]) for r in departments} == {
        (row.name, row.figures.registered) for row in report.departments
    }
    daily = list(book["每日"].iter_rows(min_row=2, values_only=True))
    assert len(daily) == 31 and sum(r[1] for r in daily) == 1010


def test_the_pdf_is_the_printed_report_with_its_chinese_text() -> None:
    pdf = ReportFileWriter(timeout_s=120).pdf(
        report_page(january_report(), SHANGHAI, inline_style=True)
    )
    assert pdf.startswith(b"%PDF-") and len(pdf) > 10_000
    # Chromium embeds the CJK font it printed with: the report's text is really in it
    assert b"FontFile" in pdf or b"/FontFile2" in pdf


# ---------------------------------------------------------------- over the API


@pytest.fixture
def api(db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    made = make_api(db_url, tmp_path)
    yield made
    made.close()


def worked_case(api: Api, request_id: str) -> str:
    created = api.client.post(
        "/api/v1/cases",
        headers=api.headers("operator"),
        json={
            "event_code": "0102",
            "grid_code": "32070690100101",
            "request_id": request_id,
            "reporter_name": "王小明",
            "callback_number": "13912345678",
        },
    )
    assert created.status_code == 201, created.text
    case_id = created.json()["id"]
    for role, action in (
        ("operator", "register"),
        ("dispatcher", "dispatch"),
        ("department", "report"),
    ):
        done = api.client.post(
            f"/api/v1/cases/{case_id}/transitions",
            headers=api.headers(role),
            json={"action": action, "opinion": "处理完毕"},
        )
        assert done.status_code == 200, done.text
    return case_id


def test_the_public_ranking_needs_no_login_and_carries_no_personal_data(api: Api) -> None:
    for n in range(3):
        worked_case(api, f"pub-req-{n:04d}")
    api.clock.advance(86_400)  # the ranking covers the days before today
    page = api.client.get("/public/ranking")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    body = api.client.get("/api/v1/public/ranking")
    assert body.status_code == 200
    data = body.json()
    assert data["total"]["registered"] == 3
    assert [d["name"] for d in data["districts"]] == ["海州区"]
    for text in (page.text, body.text):
        assert "王小明" not in text and "13912345678" not in text and "1391" not in text
    assert "case_ids" not in body.text


def test_the_monthly_report_is_served_to_evaluators_in_each_format(api: Api) -> None:
    worked_case(api, "rep-req-0001")
    month = f"{api.clock.now().astimezone(SHANGHAI):%Y-%m}"
    html = api.client.get(f"/api/v1/reports/{month}", headers=api.headers("shift_lead"))
    assert html.status_code == 200 and "月度综合评价报告" in html.text
    xlsx = api.client.get(
        f"/api/v1/reports/{month}", params={"format": "xlsx"}, headers=api.headers("dispatcher")
    )
    assert xlsx.status_code == 200
    assert f'filename="citygw-report-{month}.xlsx"' in xlsx.headers["content-disposition"]
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    assert book["各区排名"]["B2"].value == "海州区"
    refused = api.client.get(f"/api/v1/reports/{month}", headers=api.headers("department"))
    assert refused.status_code == 403
    bad = api.client.get("/api/v1/reports/2026-13", headers=api.headers("shift_lead"))
    assert bad.status_code == 422 and bad.json()["error"] == "bad_period"
    future = api.client.get("/api/v1/reports/2099-01", headers=api.headers("shift_lead"))
    assert future.status_code == 422 and future.json()["error"] == "period_not_started"


def test_the_cli_report_has_the_same_figures_as_core_metrics(tmp_path: Path) -> None:
    """``citygw core report`` and ``citygw core metrics`` read one database and agree."""
    db = tmp_path / "core.sqlite3"
    made = make_api(f"sqlite:///{db}", tmp_path)
    try:
        for n in range(4):
            worked_case(made, f"cli-req-{n:04d}")
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

    def citygw(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "gateway", "-c", str(config), "core", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    out = tmp_path / "report.json"
    citygw("report", period.key, "--out", str(out))
    report = json.loads(out.read_text(encoding="utf-8"))
    metrics_csv = citygw(
        "metrics",
        "--start",
        period.start.strftime("%Y-%m-%dT%H:%M:%S"),
        "--end",
        period.end.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    (row,) = keyed_rows(metrics_csv, CSV_HEADERS)
    assert row["group"] == "全部"
    assert report["total"]["registered"] == int(row["registered"]) == 4
    for name in ("due", "closed", "disposals", "rework", "overdue_undisposed"):
        assert report["total"][name] == int(row[name]), name
    # --output: the same CSV for Excel, with a byte-order mark (printed: none)
    saved = tmp_path / "metrics.csv"
    said = citygw(
        "metrics",
        "--start",
        period.start.strftime("%Y-%m-%dT%H:%M:%S"),
        "--end",
        period.end.strftime("%Y-%m-%dT%H:%M:%S"),
        "--output",
        str(saved),
    )
    assert said.strip() == f"1 行（另有表头）已写入 {saved}（UTF-8，带 BOM，可直接用 Excel 打开）"
    assert not metrics_csv.startswith("\ufeff")
    assert saved.read_bytes() == b"\xef\xbb\xbf" + metrics_csv.encode("utf-8")
    xlsx = tmp_path / "report.xlsx"
    citygw("report", period.key, "--out", str(xlsx))
    assert openpyxl.load_workbook(xlsx)["汇总"]["B6"].value == 4  # 立案数 (B5 is the score)


def closed_case(api: Api, request_id: str) -> str:
    """A case worked through to 结案 over the API; its number."""
    case_id = worked_case(api, request_id)
    for role, action in (("inspector", "verify_pass"), ("operator", "close")):
        done = api.client.post(
            f"/api/v1/cases/{case_id}/transitions",
            headers=api.headers(role),
            json={"action": action, "opinion": "已核实"},
        )
        assert done.status_code == 200, done.text
    case = api.service.store.get_case(case_id)
    assert case is not None
    return case.number


def test_the_published_satisfaction_rate_is_the_one_core_metrics_gives(tmp_path: Path) -> None:
    """满意率 in the report's workbook and page equals ``citygw core metrics`` for the period."""
    db = tmp_path / "core.sqlite3"
    made = make_api(f"sqlite:///{db}", tmp_path)
    try:
        numbers = [closed_case(made, f"sat-req-{n:04d}") for n in range(4)]
        answers = ["satisfied", "basically_satisfied", "dissatisfied"]  # the 4th never answers
        for number, satisfaction in zip(numbers, answers, strict=False):
            feedback = CaseFeedback.create(
                source=Source(kind=SourceKind.CALL, id="agi-1"),
                case_number=number,
                satisfaction=satisfaction,  # type: ignore[arg-type]
            )
            assert made.service.feedback(feedback) is not None
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

    def citygw(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "gateway", "-c", str(config), "core", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def metrics(group_by: str) -> list[dict[str, str]]:
        text = citygw(
            "metrics",
            "--start",
            period.start.strftime("%Y-%m-%dT%H:%M:%S"),
            "--end",
            period.end.strftime("%Y-%m-%dT%H:%M:%S"),
            *(("--level", "city") if group_by == "level" else ("--group-by", group_by)),
        )
        return keyed_rows(text, LEVEL_HEADERS if group_by == "level" else CSV_HEADERS)

    (whole,) = metrics("none")
    assert (whole["surveyed"], whole["satisfied"]) == ("3", "2")
    rate = float(whole["satisfaction_rate"])
    assert rate == pytest.approx(2 / 3, abs=1e-6)

    xlsx = tmp_path / "report.xlsx"
    citygw("report", period.key, "--out", str(xlsx))
    book = openpyxl.load_workbook(xlsx)
    summary = {
        row[0]: row[1] for row in book["汇总"].iter_rows(min_row=5, max_col=2, values_only=True)
    }
    assert summary["满意率"] == pytest.approx(rate) and summary["回访数"] == 3
    heads = [cell.value for cell in book["各区排名"][1]]
    # the districts of the organisation tree, as the city's evaluation gives them
    by_district = {r["group"].split(" ", 1)[1]: r for r in metrics("level")}
    rows = [
        dict(zip(heads, r, strict=True))
        for r in book["各区排名"].iter_rows(min_row=2, values_only=True)
    ]
    assert {str(r["区"]) for r in rows} == {"海州区", "连云区"}
    for figures in rows:
        expected = by_district[str(figures["区"])]
        if expected["satisfaction_rate"]:
            assert figures["满意率"] == pytest.approx(float(expected["satisfaction_rate"]))
        else:
            assert figures["满意率"] is None
    assert next(r for r in rows if r["区"] == "海州区")["满意率"] == pytest.approx(rate)
    cell = next(c for c in book["汇总"]["A"] if c.value == "满意率")
    assert book["汇总"].cell(row=cell.row, column=2).number_format == "0.0%"

    page = tmp_path / "report.html"
    citygw("report", period.key, "--out", str(page))
    html = page.read_text(encoding="utf-8")
    shown = re.search(r"<tr><th>满意率</th><td class=\"num\">([^<]+)</td>", html)
    assert shown is not None and shown[1] == f"{100 * rate:.1f}%" == "66.7%"
    assert "不计入综合得分" in visible_text(html)
