"""The inspectors' figures for the evaluation (监督员考核, issue 19 §1): per inspector and
period, from the append-only step log and the patrol points. Pure: no I/O.

Reports (上报): the cases opened from the inspector's own candidates (source
``inspector/<id>``) in the period. Each is, as the log stands now, *valid* (有效上报: the
centre registered it, 立案, at some point), *rejected* (不予立案, or voided before it was
registered), a *duplicate* (merged into a case already open) or *pending* (not decided
yet). ``valid_rate`` = valid / decided (valid + rejected + duplicate): a report the
operator has not looked at yet counts neither way.

Tasks (核实 / 核查): the inspector's answers in the period (``confirm_*`` and
``verify_*`` steps they took), on time or late by the task's due time (the answer step's
``task_on_time``; an answer to a task without a due time, a 核查 of a case reported
before tasks were kept, is counted as answered only), and the tasks still open at the
period's end past their due time, given to them (``tasks_overdue``). ``on_time_rate`` =
on time / (on time + late + overdue).

Patrols (巡查): per day of the period (the centre's days), `gateway.core.patrols.
patrol_figures`; summed: days with a patrol, minutes, distance, the unit grids visited
in the whole period, ``grids_visited_per_day`` (the distinct grids of each day, summed,
over the period's days: a day without a patrol counts 0), ``coverage`` (the share of the
assigned unit grids visited at least once in the period: 巡查覆盖率) and
``daily_coverage`` (each day's coverage, averaged over the period's days).
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from gateway.core.patrols import PatrolPoint, patrol_figures
from gateway.core.workflow import Action, CaseState, Step

_ANSWERS = frozenset(
    {Action.CONFIRM_PASS, Action.CONFIRM_FAIL, Action.VERIFY_PASS, Action.VERIFY_FAIL}
)
_OPENS_TASK = frozenset({Action.REPORT, Action.REQUEST_CONFIRMATION, Action.ASSIGN_TASK})
_TASK_STATES = frozenset({CaseState.CANDIDATE, CaseState.REPORTED})
_INSPECTOR_SOURCE = "inspector/"


@dataclass(frozen=True)
class PatrolDay:
    """One inspector's patrol of one day, reduced to what the figures need (kept for days
    that will not change: `gateway.core.inspector_routes` caches them)."""

    minutes: float
    distance_km: float
    visited: frozenset[str]


def patrol_day(points: Sequence[PatrolPoint]) -> PatrolDay:
    figures = patrol_figures(points, set())
    visited = frozenset(p.grid_code for p in points if p.grid_code)
    return PatrolDay(figures["minutes"], figures["distance_km"], visited)


def day_to_json(day: Mapping[str, PatrolDay]) -> str:
    """A day's `PatrolDay` s by inspector as JSON text (kept by `PatrolStore.keep_day`)."""
    return json.dumps(
        {
            name: {"minutes": d.minutes, "distance_km": d.distance_km, "visited": sorted(d.visited)}
            for name, d in sorted(day.items())
        },
        ensure_ascii=False,
    )


def day_from_json(text: str) -> dict[str, PatrolDay]:
    """The inverse of `day_to_json`."""
    return {
        name: PatrolDay(float(d["minutes"]), float(d["distance_km"]), frozenset(d["visited"]))
        for name, d in json.loads(text).items()
    }


def patrol_days_of(
    days: Iterable[Mapping[str, Sequence[PatrolPoint]]],
) -> list[dict[str, PatrolDay]]:
    """Each day's points by inspector (`PatrolStore.points_between`) as `PatrolDay` s."""
    return [{name: patrol_day(p) for name, p in day.items() if p} for day in days]


@dataclass
class InspectorFigures:
    inspector: str
    reports: int = 0
    reports_valid: int = 0
    reports_rejected: int = 0
    reports_duplicate: int = 0
    reports_pending: int = 0
    valid_rate: float | None = None
    tasks_answered: int = 0
    answered_on_time: int = 0
    answered_late: int = 0
    tasks_overdue: int = 0
    on_time_rate: float | None = None
    days: int = 0
    patrol_days: int = 0
    patrol_minutes: float = 0.0
    distance_km: float = 0.0
    grids_visited: int = 0
    grids_visited_per_day: float | None = None
    assigned_grids: int = 0
    coverage: float | None = None
    daily_coverage: float | None = None
    _visited: set[str] = field(default_factory=set, repr=False)
    _grids_day_sum: int = field(default=0, repr=False)
    _coverage_day_sum: float = field(default=0.0, repr=False)

    def finish(self) -> InspectorFigures:
        decided = self.reports_valid + self.reports_rejected + self.reports_duplicate
        self.valid_rate = _ratio(self.reports_valid, decided)
        counted = self.answered_on_time + self.answered_late + self.tasks_overdue
        self.on_time_rate = _ratio(self.answered_on_time, counted)
        self.grids_visited = len(self._visited)
        self.patrol_minutes = round(self.patrol_minutes, 1)
        self.distance_km = round(self.distance_km, 2)
        if self.days:
            self.grids_visited_per_day = round(self._grids_day_sum / self.days, 2)
            if self.assigned_grids:
                self.daily_coverage = round(self._coverage_day_sum / self.days, 4)
        return self

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def report_outcomes(
    steps: Iterable[Step], source_names: Mapping[str, str], start: datetime, end: datetime
) -> dict[str, dict[str, int]]:
    """Per inspector: ``reports``, ``valid``, ``rejected``, ``duplicate``, ``pending`` of the
    cases opened from their reports in [start, end). ``source_names``: source id -> user
    name (an id not in it stands for itself)."""
    reporter: dict[str, str] = {}
    registered: set[str] = set()
    ended: dict[str, str] = {}  # case -> "rejected" / "duplicate"
    for step in steps:
        if step.action is Action.CREATE:
            source = str(step.facts.get("source") or "")
            if source.startswith(_INSPECTOR_SOURCE) and start <= step.at < end:
                source_id = source[len(_INSPECTOR_SOURCE) :]
                reporter[step.case_id] = source_names.get(source_id, source_id)
        elif step.case_id not in reporter:
            continue
        elif step.action is Action.REGISTER:
            registered.add(step.case_id)
        elif step.to_state is CaseState.MERGED:
            ended.setdefault(step.case_id, "duplicate")
        elif step.to_state in (CaseState.REJECTED, CaseState.VOIDED):
            ended.setdefault(step.case_id, "rejected")
    out: dict[str, dict[str, int]] = defaultdict(
        lambda: {"reports": 0, "valid": 0, "rejected": 0, "duplicate": 0, "pending": 0}
    )
    for case_id, name in reporter.items():
        counts = out[name]
        counts["reports"] += 1
        if case_id in registered:
            counts["valid"] += 1
        else:
            counts[ended.get(case_id, "pending")] += 1
    return dict(out)


def task_outcomes(
    steps: Iterable[Step], start: datetime, end: datetime
) -> dict[str, dict[str, int]]:
    """Per inspector: ``answered``, ``on_time``, ``late`` (answers taken in [start, end))
    and ``overdue`` (tasks given to them, still open at ``end``, due before it)."""
    out: dict[str, dict[str, int]] = defaultdict(
        lambda: {"answered": 0, "on_time": 0, "late": 0, "overdue": 0}
    )
    open_task: dict[str, dict[str, Any] | None] = {}
    for step in steps:
        if step.at >= end:
            continue
        if step.action in _ANSWERS:
            open_task[step.case_id] = None
            if step.at >= start:
                counts = out[step.actor]
                counts["answered"] += 1
                on_time = step.facts.get("task_on_time")
                if on_time is True:
                    counts["on_time"] += 1
                elif on_time is False:
                    counts["late"] += 1
        elif step.action in _OPENS_TASK and isinstance(step.facts.get("task"), dict):
            open_task[step.case_id] = step.facts["task"]
        elif step.to_state not in _TASK_STATES:
            open_task[step.case_id] = None
    for task in open_task.values():
        if task is None or not task.get("assignee") or not isinstance(task.get("due"), str):
            continue
        if datetime.fromisoformat(task["due"]) < end:
            out[str(task["assignee"])]["overdue"] += 1
    return dict(out)


def inspector_figures(
    steps: Sequence[Step],
    *,
    start: datetime,
    end: datetime,
    assigned: Mapping[str, set[str]],
    source_names: Mapping[str, str],
    patrol_days: Sequence[Mapping[str, PatrolDay]] = (),
) -> list[InspectorFigures]:
    """Every inspector's figures for [start, end), sorted by name: those in ``assigned``
    (name -> their unit grids: the active inspectors) and anyone else the log or the
    patrols name. ``patrol_days``: each of the period's days, in order, by inspector
    (`patrol_days_of`); its length is the period's number of days."""
    reports = report_outcomes(steps, source_names, start, end)
    tasks = task_outcomes(steps, start, end)
    names = set(assigned) | set(reports) | set(tasks)
    for day in patrol_days:
        names |= set(day)
    rows = {n: InspectorFigures(n, assigned_grids=len(assigned.get(n, ()))) for n in names}
    for name, counts in reports.items():
        row = rows[name]
        row.reports = counts["reports"]
        row.reports_valid = counts["valid"]
        row.reports_rejected = counts["rejected"]
        row.reports_duplicate = counts["duplicate"]
        row.reports_pending = counts["pending"]
    for name, counts in tasks.items():
        row = rows[name]
        row.tasks_answered = counts["answered"]
        row.answered_on_time = counts["on_time"]
        row.answered_late = counts["late"]
        row.tasks_overdue = counts["overdue"]
    for row in rows.values():
        row.days = len(patrol_days)
    for day in patrol_days:
        for name, patrol in day.items():
            row = rows[name]
            grids = assigned.get(name, set())
            row.patrol_days += 1
            row.patrol_minutes += patrol.minutes
            row.distance_km += patrol.distance_km
            row._visited |= patrol.visited
            row._grids_day_sum += len(patrol.visited)
            if grids:
                row._coverage_day_sum += len(patrol.visited & grids) / len(grids)
    for row in rows.values():
        grids = assigned.get(row.inspector, set())
        if grids:
            row.coverage = round(len(row._visited & grids) / len(grids), 4)
        row.finish()
    return [rows[n] for n in sorted(rows)]


def active_on(
    steps: Iterable[Step],
    covers: Callable[[str | None], bool],
    *,
    start: datetime,
    end: datetime,
    source_names: Mapping[str, str],
    patrol_days: Sequence[Mapping[str, PatrolDay]] = (),
) -> set[str]:
    """The inspectors who worked on the grids ``covers`` accepts in [start, end) (an
    organisation unit's, `OrgNode.covers`): reported a case there, answered a task on a
    case there, or visited one of them on patrol. ``source_names`` as `report_outcomes`."""
    names: set[str] = set()
    grid_of: dict[str, str | None] = {}
    for step in steps:
        if step.action is Action.CREATE:
            grid = step.facts.get("grid_code")
            grid_of[step.case_id] = str(grid) if grid else None
            source = str(step.facts.get("source") or "")
            if source.startswith(_INSPECTOR_SOURCE) and start <= step.at < end and covers(grid):
                source_id = source[len(_INSPECTOR_SOURCE) :]
                names.add(source_names.get(source_id, source_id))
        elif (
            step.action in _ANSWERS and start <= step.at < end and covers(grid_of.get(step.case_id))
        ):
            names.add(step.actor)
    for day in patrol_days:
        names |= {name for name, patrol in day.items() if any(map(covers, patrol.visited))}
    return names


def assigned_within(assigned: Iterable[str], unit_prefixes: Iterable[str]) -> bool:
    """Whether an inspector's assignment (grid codes or code prefixes) meets a unit's
    grids (its code prefixes): an assigned grid inside the unit, or a prefix wider than
    the unit (an inspector of the whole district, for one of its streets)."""
    units = tuple(unit_prefixes)
    return any(a.startswith(units) or any(u.startswith(a) for u in units) for a in assigned if a)


CSV_COLUMNS = [
    "inspector",
    "reports",
    "reports_valid",
    "reports_rejected",
    "reports_duplicate",
    "reports_pending",
    "valid_rate",
    "tasks_answered",
    "answered_on_time",
    "answered_late",
    "tasks_overdue",
    "on_time_rate",
    "days",
    "patrol_days",
    "patrol_minutes",
    "distance_km",
    "grids_visited",
    "grids_visited_per_day",
    "assigned_grids",
    "coverage",
    "daily_coverage",
]


#: the CSV's header row, column by column: the names of the console's 监督员考核 table, and
#: of the columns it leaves out (超时答复, 统计天数, 巡查网格数, 责任网格数) as its hint says them
CSV_HEADERS = {
    "inspector": "监督员",
    "reports": "上报数",
    "reports_valid": "有效上报",
    "reports_rejected": "不予立案",
    "reports_duplicate": "重复上报",
    "reports_pending": "待受理",
    "valid_rate": "有效上报率",
    "tasks_answered": "核实核查数",
    "answered_on_time": "按时答复",
    "answered_late": "超时答复",
    "tasks_overdue": "超时未答",
    "on_time_rate": "按时答复率",
    "days": "统计天数",
    "patrol_days": "巡查天数",
    "patrol_minutes": "巡查时长（分）",
    "distance_km": "巡查里程（公里）",
    "grids_visited": "巡查网格数",
    "grids_visited_per_day": "日均巡查网格",
    "assigned_grids": "责任网格数",
    "coverage": "巡查覆盖率",
    "daily_coverage": "日均覆盖率",
}


def to_csv(rows: Iterable[InspectorFigures]) -> str:
    """The inspectors' figures as CSV with `CSV_HEADERS`: ``/api/v1/metrics/inspectors.csv``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADERS[k] for k in CSV_COLUMNS)
    for row in rows:
        data = row.as_dict()
        writer.writerow("" if data[k] is None else data[k] for k in CSV_COLUMNS)
    return out.getvalue()
