"""Report files: Excel workbooks (openpyxl) and PDF (a headless browser prints the HTML)."""

from __future__ import annotations

from adapters.reports.excel import report_workbook
from adapters.reports.pdf import html_to_pdf
from gateway.core.publication import PeriodReport


class ReportFileWriter:
    """`gateway.core.publication.ReportFiles` with openpyxl and Chromium."""

    def __init__(self, *, chromium: str | None = None, timeout_s: float = 60.0) -> None:
        self._chromium = chromium
        self._timeout_s = timeout_s

    def workbook(self, report: PeriodReport) -> bytes:
        return report_workbook(report)

    def pdf(self, html: str) -> bytes:
        return html_to_pdf(html, chromium=self._chromium, timeout_s=self._timeout_s)
