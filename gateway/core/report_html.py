"""The published evaluation as HTML: the public daily ranking page and the printable
monthly/quarterly report (the PDF is this page printed by a browser).

Charts are inline SVG drawn here, so a page needs no script and no network; the style
sheet is ``web/report.css``: linked when the core serves the page (its CSP allows styles
from the core only), inlined when the page is written to a file or printed. Every text a
reader sees comes from `TEXT` and `FIGURES` below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from pathlib import Path
from zoneinfo import ZoneInfo

from gateway.core.metrics import Metrics
from gateway.core.publication import DayCount, PeriodReport, RankedRow, Ranking

STYLE_SHEET = Path(__file__).resolve().parent / "web" / "report.css"
STYLE_URL = "/console/report.css"

TEXT = {
    "centre": "数字化城市管理监督指挥中心",
    "ranking_title": "综合评价每日排名",
    "ranking_note": "每日更新，统计当月1日至昨日立案的案件；当月1日公布上月全月结果。",
    "report_month": "月度综合评价报告",
    "report_quarter": "季度综合评价报告",
    "report_day": "日综合评价报告",
    "report_month_to_date": "综合评价报告（当月累计）",
    "period": "统计期间",
    "generated": "生成时间",
    "districts": "各区排名",
    "departments": "各专业部门排名",
    "streets": "街道排名",
    "communities": "社区排名",
    "unit_departments": "部门排名",
    "event_classes": "按事件类别",
    "totals": "全市汇总",
    "unit_totals": "{unit}汇总",
    "daily": "每日立案与结案",
    "scores": "综合得分",
    "previous": "上期",
    "change": "变化",
    "unranked": "未排名",
    "none_yet": "本期暂无案件。",
    "legend_registered": "立案",
    "legend_closed": "结案",
    "method": (
        "计算方法：立案数为本期立案的案件；应结案数为其中已结案或已过处置时限的案件；"
        "结案率 = 结案数 ÷ 应结案数；按期结案率 = 按期结案数 ÷ 应结案数；"
        "按期处置率 = 按期处置数 ÷ 应处置数；返工率 = 返工数 ÷ 处置数。"
        "综合得分按权重加权：{weights}。"
        "满意率 = 满意数 ÷ 回访数（回访或查询电话中答“满意”或“基本满意”的为满意，以最后一次回答为准），"
        "与综合得分并列公布，不计入综合得分。"
    ),
    "total_weights": "{totals}与上期的综合得分按全市基本权重加权：{weights}。",
    "weight_names": "结案率 {closure_rate}，按期结案率 {on_time_closure_rate}，按期处置率 {on_time_disposal_rate}，1 − 返工率 {rework_rate}",
    "privacy": "本页仅公布统计数字，不含任何个人信息。",
    "rank": "名次",
    "district": "区",
    "street": "街道",
    "community": "社区",
    "department": "部门",
    "event_class": "事件类别",
    "code": "代码",
}

#: the figures of a row, in table order: (field of Metrics, heading, is a rate); 满意率 and
#: its 回访数 come last: shown beside the score, not weighed into it (gateway.core.metrics)
FIGURES: tuple[tuple[str, str, bool], ...] = (
    ("score", "综合得分", False),
    ("registered", "立案数", False),
    ("due", "应结案数", False),
    ("closed", "结案数", False),
    ("closure_rate", "结案率", True),
    ("on_time_closure_rate", "按期结案率", True),
    ("on_time_disposal_rate", "按期处置率", True),
    ("rework_rate", "返工率", True),
    ("overdue_undisposed", "超期未处置", False),
    ("surveyed", "回访数", False),
    ("satisfaction_rate", "满意率", True),
)


def _value(metrics: Metrics, name: str, is_rate: bool) -> str:
    value = getattr(metrics, name)
    if value is None:
        return "—"
    if is_rate:
        return f"{100 * value:.1f}%"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _table(rows: Sequence[RankedRow], group_heading: str, *, ranked: bool = True) -> str:
    if not rows:
        return f'<p class="empty">{TEXT["none_yet"]}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for _n, h, _r in FIGURES)
    first = f"<th>{TEXT['rank']}</th>" if ranked else f"<th>{TEXT['code']}</th>"
    body = []
    for row in rows:
        lead = (
            (str(row.rank) if row.rank is not None else TEXT["unranked"])
            if ranked
            else escape(row.group)
        )
        cells = "".join(f'<td class="num">{_value(row.figures, n, r)}</td>' for n, _h, r in FIGURES)
        body.append(f"<tr><td>{lead}</td><td>{escape(row.name)}</td>{cells}</tr>")
    return (
        f"<table><thead><tr>{first}<th>{escape(group_heading)}</th>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def score_bars(rows: Sequence[RankedRow], width: int = 640) -> str:
    """Horizontal bars of the ranked rows' scores (0–100), best first."""
    ranked = [r for r in rows if r.rank is not None and r.figures.score is not None]
    if not ranked:
        return ""
    bar_h, gap, label_w = 18, 6, 140
    height = len(ranked) * (bar_h + gap) + gap
    usable = width - label_w - 60
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{TEXT["scores"]}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, row in enumerate(ranked):
        y = gap + i * (bar_h + gap)
        score = float(row.figures.score or 0.0)
        length = max(1.0, usable * min(score, 100.0) / 100.0)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + bar_h - 4}" text-anchor="end">{escape(row.name)}</text>'
            f'<rect class="bar" x="{label_w}" y="{y}" width="{length:.1f}" height="{bar_h}"/>'
            f'<text x="{label_w + length + 4:.1f}" y="{y + bar_h - 4}">{score:.2f}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def day_bars(days: Sequence[DayCount], width: int = 720, height: int = 200) -> str:
    """Paired vertical bars a day: registered and closed."""
    if not days:
        return ""
    top = max([1] + [max(d.registered, d.closed) for d in days])
    left, bottom, right = 36, 28, 8
    plot_w, plot_h = width - left - right, height - bottom - 24
    slot = plot_w / len(days)
    bar_w = max(1.0, slot * 0.4)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{TEXT["daily"]}" xmlns="http://www.w3.org/2000/svg">',
        f'<rect class="bar" x="{left}" y="4" width="10" height="10"/>'
        f'<text x="{left + 14}" y="13">{TEXT["legend_registered"]}</text>'
        f'<rect class="bar closed" x="{left + 60}" y="4" width="10" height="10"/>'
        f'<text x="{left + 74}" y="13">{TEXT["legend_closed"]}</text>',
        f'<text x="{left - 4}" y="{24 + 10}" text-anchor="end">{top}</text>',
        f'<text x="{left - 4}" y="{height - bottom}" text-anchor="end">0</text>',
    ]
    label_every = max(1, len(days) // 15)
    for i, day in enumerate(days):
        x = left + i * slot
        for offset, count, css in ((0.0, day.registered, "bar"), (bar_w, day.closed, "bar closed")):
            h = plot_h * count / top
            parts.append(
                f'<rect class="{css}" x="{x + offset:.1f}" y="{height - bottom - h:.1f}" '
                f'width="{bar_w:.1f}" height="{h:.1f}"><title>{day.day:%m-%d} {count}</title></rect>'
            )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + bar_w:.1f}" y="{height - 10}" text-anchor="middle">{day.day.day}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _page(title: str, body: str, *, inline_style: bool) -> str:
    if inline_style:
        style = f"<style>{STYLE_SHEET.read_text(encoding='utf-8')}</style>"
    else:
        style = f'<link rel="stylesheet" href="{STYLE_URL}">'
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>{style}</head><body>{body}</body></html>"
    )


def _method(weights: dict[str, float]) -> str:
    return TEXT["method"].format(weights=TEXT["weight_names"].format(**weights))


def report_method(report: PeriodReport) -> str:
    """The report's 计算方法 with the weights its rankings were scored with (the evaluating
    level's), and those of its totals where they differ (``core.metric_weights``)."""
    method = _method(report.weights)
    if report.total_weights is not None:
        method += TEXT["total_weights"].format(
            totals=_totals_title(report),
            weights=TEXT["weight_names"].format(**report.total_weights),
        )
    return method


def _totals_title(report: PeriodReport) -> str:
    return TEXT["totals"] if report.unit is None else TEXT["unit_totals"].format(unit=report.unit)


def ranking_page(
    ranking: Ranking, zone: ZoneInfo, weights: dict[str, float], *, inline_style: bool = False
) -> str:
    period = ranking.period
    body = (
        f'<header><p class="centre">{TEXT["centre"]}</p><h1>{TEXT["ranking_title"]}</h1>'
        f'<p class="period">{TEXT["period"]}：{escape(period.label)}　'
        f"{TEXT['generated']}：{_local(ranking.generated_at, zone)}</p>"
        f'<p class="note">{TEXT["ranking_note"]}</p></header>'
        f"<section><h2>{TEXT['districts']}</h2>{score_bars(ranking.districts)}"
        f"{_table(ranking.districts, TEXT['district'])}</section>"
        f"<section><h2>{TEXT['departments']}</h2>{score_bars(ranking.departments)}"
        f"{_table(ranking.departments, TEXT['department'])}</section>"
        f"<footer><p>{_method(weights)}</p><p>{TEXT['privacy']}</p></footer>"
    )
    return _page(f"{TEXT['ranking_title']} {period.label}", body, inline_style=inline_style)


def _totals(report: PeriodReport) -> str:
    previous = report.previous
    rows = []
    for name, heading, is_rate in FIGURES:
        now = _value(report.total, name, is_rate)
        before = _value(previous, name, is_rate) if previous is not None else "—"
        change = "—"
        a = getattr(report.total, name)
        b = getattr(previous, name) if previous is not None else None
        if a is not None and b is not None:
            delta = (a - b) * (100 if is_rate else 1)
            change = f"{delta:+.1f}{' 个百分点' if is_rate else ''}"
        rows.append(
            f'<tr><th>{heading}</th><td class="num">{now}</td><td class="num">{before}</td>'
            f'<td class="num">{change}</td></tr>'
        )
    previous_label = report.previous_period.label if report.previous_period else ""
    return (
        f'<table class="totals"><thead><tr><th></th><th>{escape(report.period.label)}</th>'
        f"<th>{TEXT['previous']}（{escape(previous_label)}）</th><th>{TEXT['change']}</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def report_title(report: PeriodReport) -> str:
    """2026年11月月度综合评价报告; a district's (or a street's) report, its own document,
    names it first: 海州区2026年11月月度综合评价报告. The workbook's title too."""
    return f"{report.unit or ''}{report.period.label}{TEXT[f'report_{report.period.kind}']}"


@dataclass(frozen=True)
class RankingSection:
    key: str  # the JSON key: districts, streets, communities, departments
    title: str  # the heading: 各区排名, 街道排名, 社区排名, 各专业部门排名, 部门排名
    group_heading: str  # the name column's heading
    rows: list[RankedRow]


def ranking_sections(report: PeriodReport) -> list[RankingSection]:
    """The report's rankings, titled for what they rank: the city's 各区排名 and
    各专业部门排名, a district's 街道排名 and 部门排名, a street's 社区排名."""
    if report.ranked == "districts":
        return [
            RankingSection("districts", TEXT["districts"], TEXT["district"], report.districts),
            RankingSection(
                "departments", TEXT["departments"], TEXT["department"], report.departments
            ),
        ]
    if report.ranked == "streets":
        return [
            RankingSection("streets", TEXT["streets"], TEXT["street"], report.districts),
            RankingSection(
                "departments", TEXT["unit_departments"], TEXT["department"], report.departments
            ),
        ]
    return [RankingSection("communities", TEXT["communities"], TEXT["community"], report.districts)]


def report_page(report: PeriodReport, zone: ZoneInfo, *, inline_style: bool = False) -> str:
    title = report_title(report)
    totals = _totals_title(report)
    body = (
        f'<header><p class="centre">{TEXT["centre"]}</p><h1>{escape(title)}</h1>'
        f'<p class="period">{TEXT["period"]}：{report.period.first_day:%Y-%m-%d} 至 '
        f"{report.period.last_day:%Y-%m-%d}　{TEXT['generated']}：{_local(report.generated_at, zone)}</p></header>"
        f"<section><h2>{escape(totals)}</h2>{_totals(report)}</section>"
        f"<section><h2>{TEXT['daily']}</h2>{day_bars(report.days)}</section>"
        + "".join(
            f'<section class="page-break"><h2>{s.title}</h2>{score_bars(s.rows)}'
            f"{_table(s.rows, s.group_heading)}</section>"
            for s in ranking_sections(report)
        )
        + f'<section class="page-break"><h2>{TEXT["event_classes"]}</h2>'
        f"{_table(report.event_classes, TEXT['event_class'], ranked=False)}</section>"
        f"<footer><p>{escape(report_method(report))}</p><p>{TEXT['privacy']}</p></footer>"
    )
    return _page(title, body, inline_style=inline_style)
