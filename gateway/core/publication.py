"""Published evaluation (日考网上公布、月考媒介公布、季考会议点评): rankings and period
reports built from the same step log and the same `evaluate` as ``citygw core metrics``.

- A `Period` is a day, a month or a quarter of the centre's own calendar (its time zone),
  as a half-open UTC interval ``[start, end)``.
- The daily ranking is published each day over the month to date, up to the start of
  today (on the 1st: the whole previous month), so a day's ranking never changes after
  it is published and every district has enough cases to be ranked.
- A `PeriodReport` holds the totals, the rankings of districts and departments, the
  figures by event class and the day-by-day counts of the period, and the previous
  period's totals for comparison. It is reproducible for any past period: it is a pure
  function of the step log.

Nothing here carries personal data: only counts and rates by district, department and
event class; case ids stay inside `Metrics` and are never published.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from gateway.core.metrics import (
    ALREADY_CLOSED,
    NO_GROUP,
    CaseHistories,
    Metrics,
    evaluate_groupings,
)
from gateway.core.org_evaluation import LevelReport, evaluate_level, level_weights
from gateway.core.organisation import NodeKind, Organisation, OrgNode
from gateway.core.organisation_settings import OrganisationConfig
from gateway.core.settings import MetricWeights
from gateway.core.workflow import Action, CaseState, Step

PeriodKind = Literal["day", "month", "quarter", "month_to_date"]

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")

#: the group name `evaluate` gives cases without a district or department
_NO_GROUP = "(none)"
#: without an organisation tree the city ranks by the cases' own district and department:
#: the cases without one are named as ``citygw core metrics`` names them (never "(none)")
_NO_DISTRICT = {_NO_GROUP: NO_GROUP["district"]}
_NO_DEPARTMENT = {_NO_GROUP: NO_GROUP["department"]}
#: a step into 结案 from these is not a new closing (a reopening request kept closed)


class ReportUnavailable(RuntimeError):
    """A report file could not be made (no browser to print with, it failed): the reason
    is in the message."""


class ReportFiles(Protocol):
    """What turns a report into files (adapters/reports)."""

    def workbook(self, report: PeriodReport) -> bytes:
        """The report as an Excel workbook (.xlsx)."""
        ...

    def pdf(self, html: str) -> bytes:
        """A printable HTML page as PDF; raise `ReportUnavailable` with the reason."""
        ...


@dataclass(frozen=True)
class Period:
    kind: PeriodKind
    label: str  # for people: 2026年11月, 2026年第4季度, 2026年12月1日—3日
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive
    first_day: date  # local
    last_day: date  # local, inclusive
    key: str  # for files and URLs: 2026-11, 2026-Q4, 2026-12-03

    def days(self) -> list[date]:
        count = (self.last_day - self.first_day).days + 1
        return [self.first_day + timedelta(days=i) for i in range(count)]


def _at_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(UTC)


def _period(
    kind: PeriodKind, label: str, key: str, first: date, last: date, zone: ZoneInfo
) -> Period:
    return Period(
        kind=kind,
        label=label,
        start=_at_midnight(first, zone),
        end=_at_midnight(last + timedelta(days=1), zone),
        first_day=first,
        last_day=last,
        key=key,
    )


def _month_end(year: int, month: int) -> date:
    following = date(year + month // 12, month % 12 + 1, 1)
    return following - timedelta(days=1)


def month_period(year: int, month: int, zone: ZoneInfo) -> Period:
    if not 1 <= month <= 12:
        raise ValueError(f"month is 1..12, got {month}")
    return _period(
        "month",
        f"{year}年{month}月",
        f"{year}-{month:02d}",
        date(year, month, 1),
        _month_end(year, month),
        zone,
    )


def quarter_period(year: int, quarter: int, zone: ZoneInfo) -> Period:
    if not 1 <= quarter <= 4:
        raise ValueError(f"quarter is 1..4, got {quarter}")
    first_month = 3 * quarter - 2
    return _period(
        "quarter",
        f"{year}年第{quarter}季度",
        f"{year}-Q{quarter}",
        date(year, first_month, 1),
        _month_end(year, first_month + 2),
        zone,
    )


def day_period(day: date, zone: ZoneInfo) -> Period:
    return _period("day", f"{day.year}年{day.month}月{day.day}日", day.isoformat(), day, day, zone)


def parse_period(text: str, zone: ZoneInfo) -> Period:
    """``2026-11`` (a month), ``2026-Q4`` (a quarter) or ``2026-11-30`` (a day); raise
    ValueError saying what is accepted."""
    text = text.strip()
    try:
        if match := _MONTH.fullmatch(text):
            return month_period(int(match[1]), int(match[2]), zone)
        if match := _QUARTER.fullmatch(text):
            return quarter_period(int(match[1]), int(match[2]), zone)
        if match := _DAY.fullmatch(text):
            return day_period(date(int(match[1]), int(match[2]), int(match[3])), zone)
    except ValueError as exc:
        raise ValueError(f"no such period {text!r}: {exc}") from exc
    raise ValueError(
        f"a period is a month (2026-11), a quarter (2026-Q4) or a day (2026-11-30), got {text!r}"
    )


def previous_period(period: Period, zone: ZoneInfo) -> Period:
    """The period of the same kind just before ``period`` (for a month to date: the whole
    previous month)."""
    if period.kind == "day":
        return day_period(period.first_day - timedelta(days=1), zone)
    if period.kind == "quarter":
        quarter = (period.first_day.month - 1) // 3 + 1
        year = period.first_day.year
        return (
            quarter_period(year - 1, 4, zone)
            if quarter == 1
            else quarter_period(year, quarter - 1, zone)
        )
    before = period.first_day - timedelta(days=1)
    return month_period(before.year, before.month, zone)


def daily_ranking_period(now: datetime, zone: ZoneInfo) -> Period:
    """The period the ranking published on ``now``'s local day covers: the month to date up
    to the start of that day; on the 1st, the whole previous month."""
    today = now.astimezone(zone).date()
    yesterday = today - timedelta(days=1)
    if today.day == 1:
        return month_period(yesterday.year, yesterday.month, zone)
    first = today.replace(day=1)
    label = f"{first.year}年{first.month}月1日至{yesterday.day}日"
    return _period("month_to_date", label, yesterday.isoformat(), first, yesterday, zone)


@dataclass(frozen=True)
class RankedRow:
    rank: int | None  # None: not ranked (no score: nothing due yet, or no group)
    group: str  # the id evaluate grouped by (department id, district name, event code)
    name: str  # what people read
    figures: Metrics


def rank(groups: Iterable[Metrics], names: Mapping[str, str] | None = None) -> list[RankedRow]:
    """Rows by score, best first; equal scores share a rank (1, 2, 2, 4). Groups without a
    score, and cases without a group, come last, unranked."""
    names = names or {}
    groups = list(groups)
    scored = sorted(
        (g for g in groups if g.score is not None and g.group != _NO_GROUP),
        key=lambda g: (-(g.score or 0.0), -g.registered, g.group),
    )
    rows: list[RankedRow] = []
    previous_score: float | None = None
    current_rank = 0
    for position, metrics in enumerate(scored, start=1):
        if metrics.score != previous_score:
            current_rank, previous_score = position, metrics.score
        rows.append(
            RankedRow(current_rank, metrics.group, names.get(metrics.group, metrics.group), metrics)
        )
    ranked = {id(row.figures) for row in rows}
    for metrics in sorted(groups, key=lambda g: g.group):
        if id(metrics) not in ranked:
            name = names.get(metrics.group) or (
                "未归属" if metrics.group == _NO_GROUP else metrics.group
            )
            rows.append(RankedRow(None, metrics.group, name, metrics))
    return rows


@dataclass(frozen=True)
class DayCount:
    day: date
    registered: int
    closed: int


@dataclass(frozen=True)
class Ranking:
    period: Period
    generated_at: datetime
    total: Metrics
    districts: list[RankedRow]
    departments: list[RankedRow]
    #: the weights of the rankings' scores (the city level's, else ``core.metric_weights``)
    weights: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PeriodReport:
    period: Period
    generated_at: datetime
    total: Metrics
    districts: list[RankedRow]
    departments: list[RankedRow]
    event_classes: list[RankedRow]
    days: list[DayCount]
    previous: Metrics | None = None
    previous_period: Period | None = None
    #: the weights the rankings' scores were computed with: the evaluating level's
    #: (``core.organisation.weights``), else ``core.metric_weights``
    weights: dict[str, float] = field(default_factory=dict)
    #: the weights of the totals' score (``core.metric_weights``, as ``citygw core
    #: metrics``), when they are not ``weights``; None: the same
    total_weights: dict[str, float] | None = None
    #: the district or street whose cases it counts (its name heads the report: a district's
    #: report is its own document); None: the city's report, every case
    unit: str | None = None
    #: what ``districts`` ranks: the city's districts, a district's streets (and
    #: ``departments`` its departments), a street's communities (no ``departments``)
    ranked: Literal["districts", "streets", "communities"] = "districts"


#: what a level's report ranks first (三级考核): a district its streets, a street its communities
_RANKED: dict[str, Literal["districts", "streets", "communities"]] = {
    "city": "districts",
    "district": "streets",
    "street": "communities",
}


def level_rankings(level: LevelReport) -> tuple[list[RankedRow], list[RankedRow]]:
    """The units a level evaluates (`gateway.core.org_evaluation.evaluate_level`: the same
    figures, the level's weights) as ranked rows: its territorial units (and, unranked
    last, its cases on none of their grids, so the rows add up), its departments."""
    names = {u.node.id: u.node.name for u in level.units}
    departments = [u.metrics for u in level.units if u.node.kind is NodeKind.DEPARTMENT]
    territorial = [u.metrics for u in level.units if u.node.kind is not NodeKind.DEPARTMENT]
    rows = rank(territorial, names)
    if level.outside is not None:
        rows.append(RankedRow(None, level.outside.group, level.outside_name, level.outside))
    return rows, rank(departments, names)


def build_ranking(
    steps: Sequence[Step] | CaseHistories,
    period: Period,
    weights: MetricWeights,
    department_names: Mapping[str, str],
    now: datetime,
    levels: LevelReport | None = None,
) -> Ranking:
    """The daily ranking; ``levels``: the city's organisation evaluation over ``period``
    (its districts and departments are ranked), None without an organisation tree."""
    tables = evaluate_groupings(
        steps, period.start, period.end, weights, ("none", "district", "department")
    )
    if levels is None:
        districts, departments = _case_rankings(tables, department_names)
    else:
        districts, departments = level_rankings(levels)
    return Ranking(
        period=period,
        generated_at=now,
        total=_only(tables["none"], weights),
        districts=districts,
        departments=departments,
        weights=(levels.weights if levels is not None else weights).model_dump(),
    )


def _case_rankings(
    tables: Mapping[str, list[Metrics]], department_names: Mapping[str, str]
) -> tuple[list[RankedRow], list[RankedRow]]:
    """Without an organisation tree: the cases' own district and department fields."""
    return (
        rank(tables["district"], _NO_DISTRICT),
        rank(tables["department"], {**_NO_DEPARTMENT, **department_names}),
    )


def _only(groups: list[Metrics], weights: MetricWeights) -> Metrics:
    return groups[0] if groups else Metrics(group="all").finish(weights)


def day_counts(
    steps: Iterable[Step] | CaseHistories, period: Period, zone: ZoneInfo
) -> list[DayCount]:
    """Per local day of the period: cases registered (立案, first time) and cases that
    reached 结案 (the closed state) that day; from the log, or from the times a
    `CaseHistories` keeps (the same counts without walking every step)."""
    days = period.days()
    # the UTC instants the local days start at: a step's day by bisection, not by zone maths
    bounds = [_at_midnight(day, zone) for day in days]
    registered = [0] * len(days)
    closed = [0] * len(days)
    start, end = period.start, period.end
    if isinstance(steps, CaseHistories):
        for counts, times in ((registered, steps.registered_at.values()), (closed, steps.closings)):
            for at in times:
                if start <= at < end:
                    counts[bisect_right(bounds, at) - 1] += 1
        return [DayCount(day, registered[i], closed[i]) for i, day in enumerate(days)]
    seen_registered: set[str] = set()
    register, closed_state = Action.REGISTER, CaseState.CLOSED
    for step in steps:
        if step.action is register:
            if step.case_id in seen_registered or not start <= step.at < end:
                continue
            seen_registered.add(step.case_id)
            registered[bisect_right(bounds, step.at) - 1] += 1
        elif (
            step.to_state is closed_state
            and step.from_state not in ALREADY_CLOSED
            and start <= step.at < end
        ):
            closed[bisect_right(bounds, step.at) - 1] += 1
    return [DayCount(day, registered[i], closed[i]) for i, day in enumerate(days)]


def build_report(
    steps: Sequence[Step] | CaseHistories,
    period: Period,
    weights: MetricWeights,
    department_names: Mapping[str, str],
    event_names: Mapping[str, str],
    zone: ZoneInfo,
    now: datetime,
    unit: str | None = None,
    levels: LevelReport | None = None,
) -> PeriodReport:
    """The report of ``period``; ``steps``: the log, or the log already cut by case (a
    district's or street's report: its cases only, ``unit`` its name). ``levels``: the
    organisation evaluation of the unit over ``period``; its units are the report's rankings
    (a district's streets and departments, a street's communities)."""
    before = previous_period(period, zone)
    histories = steps if isinstance(steps, CaseHistories) else CaseHistories(steps)
    tables = evaluate_groupings(
        histories,
        period.start,
        period.end,
        weights,
        ("none", "district", "department", "event_code"),
    )
    event_rows = [
        RankedRow(None, m.group, event_names.get(m.group, "未登记事件类别"), m)
        for m in sorted(tables["event_code"], key=lambda m: (-m.registered, m.group))
    ]
    if levels is None:
        ranked_units, ranked_departments = _case_rankings(tables, department_names)
    else:
        ranked_units, ranked_departments = level_rankings(levels)
    ranking_weights = levels.weights if levels is not None else weights
    return PeriodReport(
        period=period,
        generated_at=now,
        total=_only(tables["none"], weights),
        districts=ranked_units,
        departments=ranked_departments,
        event_classes=event_rows,
        days=day_counts(histories, period, zone),
        previous=_only(
            evaluate_groupings(histories, before.start, before.end, weights, ("none",))["none"],
            weights,
        ),
        previous_period=before,
        weights=ranking_weights.model_dump(),
        total_weights=None if ranking_weights == weights else weights.model_dump(),
        unit=unit,
        ranked=_RANKED[levels.level] if levels is not None else "districts",
    )


def city_levels(
    histories: CaseHistories,
    org: Organisation | None,
    config: OrganisationConfig,
    period: Period,
    weights: MetricWeights,
) -> LevelReport | None:
    """The city's organisation evaluation over ``period`` (its districts and departments,
    with the city level's weights); None without an organisation tree."""
    if org is None:
        return None
    city_weights = level_weights(config, org.level_of(org.city), weights)
    return evaluate_level(histories, org, org.city, period.start, period.end, city_weights)


def unit_report(
    histories: CaseHistories,
    org: Organisation | None,
    config: OrganisationConfig,
    unit: OrgNode | None,
    period: Period,
    weights: MetricWeights,
    department_names: Mapping[str, str],
    event_names: Mapping[str, str],
    zone: ZoneInfo,
    now: datetime,
) -> PeriodReport:
    """The report of ``unit`` (the city, a district or a street of ``org``; None: the
    city, or every case without a tree), as the API and ``citygw core report --node`` give
    it: a district's or street's counts the cases on its grids, its name heading it; every
    level ranks the units it evaluates (三级考核: the city its districts and departments, a
    district its streets and departments, a street its communities), each attributed by
    its grids through the tree, with the level's weights."""
    node = unit if unit is not None else (org.city if org is not None else None)
    whole = node is None or node.kind is NodeKind.CITY
    counted = histories if whole or node is None else histories.on_grids(node.covers)
    levels = None
    if org is not None and node is not None:
        level_w = level_weights(config, org.level_of(node), weights)
        levels = evaluate_level(histories, org, node, period.start, period.end, level_w)
    return build_report(
        counted,
        period,
        weights,
        department_names,
        event_names,
        zone,
        now,
        unit=None if whole or node is None else node.name,
        levels=levels,
    )
