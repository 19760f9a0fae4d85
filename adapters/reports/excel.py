"""A period report as an Excel workbook (openpyxl): the sheets officials work in.

Sheets: 汇总 (the period's totals beside the previous period's), 各区排名, 各部门排名,
按事件类别, 每日 (registered and closed a day). Rates are numbers with a percent format,
so a sheet sums and charts like any other; nothing but counts and rates is written. The
columns are `report_html.FIGURES`: the weighted indicators, then 回访数 and 满意率.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from gateway.core.metrics import Metrics
from gateway.core.publication import PeriodReport, RankedRow
from gateway.core.report_html import (
    FIGURES,
    TEXT,
    ranking_sections,
    report_method,
    report_title,
)

_HEAD_FILL = PatternFill("solid", fgColor="E4E7EB")
_PERCENT = "0.0%"


def _heading(sheet: Worksheet, row: int, values: Sequence[str]) -> None:
    for column, value in enumerate(values, start=1):
        cell = sheet.cell(row=row, column=column, value=value)
        cell.font = Font(bold=True)
        cell.fill = _HEAD_FILL
        cell.alignment = Alignment(horizontal="center")


def _figures(sheet: Worksheet, row: int, first_column: int, metrics: Metrics) -> None:
    for offset, (name, _heading_text, is_rate) in enumerate(FIGURES):
        cell = sheet.cell(row=row, column=first_column + offset, value=getattr(metrics, name))
        if is_rate:
            cell.number_format = _PERCENT


def _widths(sheet: Worksheet, widths: Sequence[int]) -> None:
    for column, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width


def _ranking_sheet(
    book: Workbook, title: str, rows: Sequence[RankedRow], group_heading: str, *, ranked: bool
) -> None:
    sheet = book.create_sheet(title)
    first = TEXT["rank"] if ranked else TEXT["code"]
    _heading(sheet, 1, [first, group_heading, *(h for _n, h, _r in FIGURES)])
    for index, row in enumerate(rows, start=2):
        lead: object = (
            (row.rank if row.rank is not None else TEXT["unranked"]) if ranked else row.group
        )
        sheet.cell(row=index, column=1, value=lead)
        sheet.cell(row=index, column=2, value=row.name)
        _figures(sheet, index, 3, row.figures)
    sheet.freeze_panes = "C2"
    _widths(sheet, [8, 22] + [12] * len(FIGURES))


def report_workbook(report: PeriodReport) -> bytes:
    """The workbook's bytes (.xlsx)."""
    book = Workbook()
    summary = book.active
    assert summary is not None
    summary.title = "汇总"
    summary["A1"] = report_title(report)
    summary["A1"].font = Font(bold=True, size=14)
    summary["A2"] = (
        f"{TEXT['period']}：{report.period.first_day:%Y-%m-%d} 至 {report.period.last_day:%Y-%m-%d}"
    )
    previous_label = report.previous_period.label if report.previous_period else TEXT["previous"]
    _heading(summary, 4, ["指标", report.period.label, f"{TEXT['previous']}（{previous_label}）"])
    for index, (name, heading, is_rate) in enumerate(FIGURES, start=5):
        summary.cell(row=index, column=1, value=heading)
        for column, metrics in ((2, report.total), (3, report.previous)):
            value = getattr(metrics, name) if metrics is not None else None
            cell = summary.cell(row=index, column=column, value=value)
            if is_rate:
                cell.number_format = _PERCENT
    # 计算方法 with the weights the rankings and the totals were scored with, as the page says
    method = summary.cell(row=len(FIGURES) + 6, column=1, value=report_method(report))
    method.alignment = Alignment(wrap_text=True, vertical="top")
    summary.merge_cells(
        start_row=len(FIGURES) + 6, end_row=len(FIGURES) + 6, start_column=1, end_column=3
    )
    summary.row_dimensions[len(FIGURES) + 6].height = 120
    summary.cell(row=len(FIGURES) + 7, column=1, value=TEXT["privacy"])
    _widths(summary, [16, 18, 24])

    for section in ranking_sections(report):
        # the city's sheets keep their names (各区排名, 各部门排名); a unit's are its headings
        title = "各部门排名" if section.title == TEXT["departments"] else section.title
        _ranking_sheet(book, title, section.rows, section.group_heading, ranked=True)
    _ranking_sheet(book, "按事件类别", report.event_classes, TEXT["event_class"], ranked=False)

    daily = book.create_sheet("每日")
    _heading(daily, 1, ["日期", TEXT["legend_registered"], TEXT["legend_closed"]])
    for index, day in enumerate(report.days, start=2):
        daily.cell(row=index, column=1, value=day.day).number_format = "yyyy-mm-dd"
        daily.cell(row=index, column=2, value=day.registered)
        daily.cell(row=index, column=3, value=day.closed)
    _widths(daily, [14, 10, 10])

    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
