"""The published evaluation over HTTP.

- ``GET /public/ranking`` (no login): the daily ranking page, HTML; ``GET
  /api/v1/public/ranking``: the same figures as JSON. Public by design: only counts and
  rates by district and department. A day's ranking is computed once and kept for
  ``_PUBLIC_TTL_S``, so the page costs nothing however often it is read.
- ``GET /api/v1/reports/{period}?format=html|xlsx|pdf`` (evaluators): the monthly
  (``2026-11``), quarterly (``2026-Q4``) or daily (``2026-11-30``) report, rebuilt from
  the step log for any past period. It is a unit's (``node``, as ``/api/v1/metrics``: the
  user's own centre by default, 403 ``not_your_level`` outside a district user's district):
  the city's report counts every case; a district's or a street's is its own document,
  counting the cases on its grids, its name heading the title (海州区2026年11月月度综合评价
  报告) and in the file name (``citygw-report-320706-2026-11.xlsx``).

The public ranking stays the city's: published for everyone, it ranks the districts.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, Response

from gateway.core.api_base import (
    EVALUATORS,
    ApiContext,
    ApiError,
    allow,
    evaluated_unit,
    unit_file_part,
)
from gateway.core.metrics import CaseHistories
from gateway.core.publication import (
    PeriodReport,
    Ranking,
    ReportUnavailable,
    build_ranking,
    city_levels,
    daily_ranking_period,
    parse_period,
    unit_report,
)
from gateway.core.report_html import ranking_page, ranking_sections, report_page, report_title
from gateway.core.step_log import StepLog
from gateway.core.workflow import Actor

_PUBLIC_TTL_S = 600.0
_REPORTS_KEPT = 24
_MEDIA = {
    "html": "text/html; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


def _row(row: Any) -> dict[str, Any]:
    return {"rank": row.rank, "group": row.group, "name": row.name, **row.figures.as_dict()}


def ranking_json(ranking: Ranking) -> dict[str, Any]:
    period = ranking.period
    return {
        "period": {
            "label": period.label,
            "start": period.start,
            "end": period.end,
            "first_day": period.first_day,
            "last_day": period.last_day,
        },
        "generated_at": ranking.generated_at,
        "total": ranking.total.as_dict(),
        "districts": [_row(r) for r in ranking.districts],
        "departments": [_row(r) for r in ranking.departments],
        "weights": ranking.weights,
    }


def publication_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter()
    zone = ZoneInfo(ctx.config.calendar.timezone)
    departments = {d.id: d.name for d in ctx.config.departments}
    weights = ctx.config.metric_weights
    step_log = StepLog(ctx.service.store, ctx.clock.monotonic)
    lock = threading.Lock()
    kept: dict[str, tuple[float, Ranking]] = {}
    reports: dict[str, tuple[CaseHistories, PeriodReport]] = {}

    def _ranking() -> Ranking:
        now = ctx.clock.now()
        period = daily_ranking_period(now, zone)
        with lock:
            held = kept.get(period.key)
            if held is not None and ctx.clock.monotonic() - held[0] < _PUBLIC_TTL_S:
                return held[1]
            histories = step_log.histories()
            org = ctx.service.workflow.organisation
            levels = city_levels(histories, org, ctx.config.organisation, period, weights)
            ranking = build_ranking(histories, period, weights, departments, now, levels)
            kept.clear()  # only today's is read
            kept[period.key] = (ctx.clock.monotonic(), ranking)
            return ranking

    @router.get("/public/ranking", tags=["evaluation"], response_class=HTMLResponse)
    def public_ranking_page() -> HTMLResponse:
        """The daily ranking page (public: no login, no personal data)."""
        ranking = _ranking()
        return HTMLResponse(ranking_page(ranking, zone, ranking.weights))

    @router.get("/api/v1/public/ranking", tags=["evaluation"])
    def public_ranking() -> dict[str, Any]:
        """The daily ranking of districts and departments (public: no login, no personal data)."""
        return ranking_json(_ranking())

    @router.get("/api/v1/reports/{period}", tags=["evaluation"])
    def period_report(
        period: str,
        actor: Annotated[Actor, Depends(allow(EVALUATORS))],
        format: Annotated[Literal["html", "xlsx", "pdf", "json"], Query()] = "html",
        node: Annotated[
            str | None,
            Query(
                description="a city, district or street id of the organisation tree: its "
                "report, of the cases on its grids (default: the user's own centre's, the "
                "city's users the city's)",
                max_length=64,
            ),
        ] = None,
    ) -> Response:
        """The report of a month (2026-11), a quarter (2026-Q4) or a day (2026-11-30)."""
        try:
            chosen = parse_period(period, zone)
        except ValueError as exc:
            raise ApiError(422, "bad_period", str(exc)) from exc
        now = ctx.clock.now()
        if chosen.start >= now:
            raise ApiError(422, "period_not_started", f"{chosen.label} has not started yet")
        unit = evaluated_unit(ctx, actor, node)
        histories = step_log.histories()
        # a report is a function of the log: kept while no step was added since (a new step
        # makes a new CaseHistories)
        key = f"{unit_file_part(unit)}{chosen.key}"
        with lock:
            held_report = reports.get(key)
        if held_report is not None and held_report[0] is histories:
            report = held_report[1]
        else:
            # every level ranks the units it evaluates, through the organisation tree: the
            # city its districts and departments, a district its streets and departments, a
            # street its communities
            report = unit_report(
                histories,
                ctx.service.workflow.organisation,
                ctx.config.organisation,
                unit,
                chosen,
                weights,
                departments,
                ctx.event_names,
                zone,
                now,
            )
            with lock:
                if len(reports) >= _REPORTS_KEPT:
                    reports.pop(next(iter(reports)))
                reports[key] = (histories, report)
        name = f"citygw-report-{key}.{format}"
        if format == "json":
            return Response(report_json(report), media_type="application/json")
        if format == "html":
            return HTMLResponse(report_page(report, zone))
        files = ctx.report_files
        if files is None:
            raise ApiError(503, "report_unavailable", "this core was started without report files")
        try:
            if format == "xlsx":
                body = files.workbook(report)
            else:
                body = files.pdf(report_page(report, zone, inline_style=True))
        except ReportUnavailable as exc:
            raise ApiError(503, "report_unavailable", str(exc)) from exc
        return Response(
            body,
            media_type=_MEDIA[format],
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    return router


def report_json(report: PeriodReport) -> bytes:
    def rows(items: Any) -> list[dict[str, Any]]:
        return [_row(r) for r in items]

    document = {
        "period": {"label": report.period.label, "key": report.period.key},
        "title": report_title(report),
        "unit": report.unit,
        "weights": report.weights,
        "total_weights": report.total_weights,
        "total": report.total.as_dict(),
        "previous": report.previous.as_dict() if report.previous else None,
        **(
            {"districts": rows(report.districts), "departments": rows(report.departments)}
            if report.ranked == "districts"
            else {s.key: rows(s.rows) for s in ranking_sections(report)}
        ),
        "sections": [{"key": s.key, "title": s.title} for s in ranking_sections(report)],
        "event_classes": rows(report.event_classes),
        "days": [asdict(d) for d in report.days],
    }
    return json.dumps(document, ensure_ascii=False, default=str).encode("utf-8")
