"""Evaluation (综合评价) from the append-only step log alone.

For a period [start, end), the cohort is the cases registered (立案) in it; each case is
replayed from its steps up to ``end``:

- 立案数 ``registered``: cases in the cohort;
- 应结案数 ``due``: cohort cases not voided/merged whose deadline passed before ``end``,
  or that were closed by then;
- 结案数 ``closed``: due cases closed (the centre's 结案 step after a passed 核查) by
  ``end``; 按期结案数 ``closed_on_time``: of those, closed by their deadline (extensions
  and suspended time already moved it). Logs written before the 结案 step existed
  closed a case with the passed verification itself (a ``verify_pass`` step landing in
  ``closed``): such a step counts as the 结案;
- 结案率 = closed / due; 按期结案率 = closed_on_time / due;
- 处置数 ``disposals``: 处理反馈 (report) steps; 按期处置数 ``disposed_on_time``: cases
  whose first report came by the deadline; 应处置数 ``due_disposal``: dispatched cases
  whose deadline passed or that reported; 按期处置率 = disposed_on_time / due_disposal;
- 返工数 ``rework``: failed verifications and reopenings; 返工率 = rework / disposals;
- 超期未处置 ``overdue_undisposed``: cases still with the department (处置 or 挂账)
  at ``end`` with the deadline passed;
- 回访数 ``surveyed``: cohort cases whose reporter answered the satisfaction survey by
  ``end`` (the hotline's callback or a status call: a ``feedback`` step; the last answer
  counts); 满意数 ``satisfied``: of those, 满意 or 基本满意; 满意率 = satisfied / surveyed.
  满意率 is shown beside the composite score, not weighed into it.

Groups: department, district, grid, event code, community (四级联动: the community that
held the case last: passed to it by its street office, not taken back nor returned, as
a department's cases are those last dispatched to it), or none; ``role_activity`` counts
the steps each role took. The composite score weighs the rates (weights from config).
"""

from __future__ import annotations

import csv
import gc
import io
from collections import defaultdict
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Literal

from gateway.core.settings import MetricWeights
from gateway.core.workflow import Action, CaseState, Step

GroupBy = Literal["none", "department", "district", "grid", "event_code", "community"]
GROUPINGS: tuple[str, ...] = ("none", "department", "district", "grid", "event_code", "community")

_WITH_DEPARTMENT = {CaseState.PROCESSING, CaseState.SUSPENDED}
_DROPPED = {CaseState.VOIDED, CaseState.MERGED, CaseState.REJECTED}
#: survey answers that count as satisfied (满意率): 满意 and 基本满意
_SATISFIED = frozenset({"satisfied", "basically_satisfied"})


@dataclass
class CaseReplay:
    """One case as its steps say it was at the end of the period."""

    case_id: str
    event_code: str | None = None
    grid_code: str | None = None
    district: str | None = None
    department: str | None = None
    community: str | None = None  # 四级联动: the community holding it (转派社区)
    registered_at: datetime | None = None
    dispatched: bool = False
    deadline: datetime | None = None
    first_report_at: datetime | None = None
    reports: int = 0
    rework: int = 0
    closed: bool = False
    closed_on_time: bool = False
    satisfaction: str | None = None  # the reporter's last survey answer
    state: CaseState | None = None


@dataclass
class Metrics:
    group: str = ""
    registered: int = 0
    due: int = 0
    closed: int = 0
    closed_on_time: int = 0
    disposals: int = 0
    due_disposal: int = 0
    disposed_on_time: int = 0
    rework: int = 0
    overdue_undisposed: int = 0
    surveyed: int = 0
    satisfied: int = 0
    closure_rate: float | None = None
    on_time_closure_rate: float | None = None
    on_time_disposal_rate: float | None = None
    rework_rate: float | None = None
    satisfaction_rate: float | None = None
    score: float | None = None
    case_ids: list[str] = field(default_factory=list, repr=False)

    def finish(self, weights: MetricWeights) -> Metrics:
        self.closure_rate = _ratio(self.closed, self.due)
        self.on_time_closure_rate = _ratio(self.closed_on_time, self.due)
        self.on_time_disposal_rate = _ratio(self.disposed_on_time, self.due_disposal)
        self.rework_rate = _ratio(self.rework, self.disposals)
        self.satisfaction_rate = _ratio(self.satisfied, self.surveyed)
        parts = [
            (weights.closure_rate, self.closure_rate),
            (weights.on_time_closure_rate, self.on_time_closure_rate),
            (weights.on_time_disposal_rate, self.on_time_disposal_rate),
            (weights.rework_rate, None if self.rework_rate is None else 1 - self.rework_rate),
        ]
        known = [(w, v) for w, v in parts if v is not None and w > 0]
        total_weight = sum(w for w, _ in known)
        self.score = (
            round(100 * sum(w * v for w, v in known) / total_weight, 2) if total_weight else None
        )
        return self

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data.pop("case_ids")
        return data


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def replay(steps: Iterable[Step], end: datetime) -> dict[str, CaseReplay]:
    """Each case's state at ``end`` from its steps (in log order)."""
    cases: dict[str, CaseReplay] = {}
    for step in steps:
        if step.at >= end:
            continue
        case = cases.get(step.case_id)
        if case is None:
            case = cases[step.case_id] = CaseReplay(step.case_id)
        case.state = step.to_state
        if step.department:
            case.department = step.department
        if step.facts.get("deadline"):
            case.deadline = datetime.fromisoformat(str(step.facts["deadline"]))
        action = step.action
        if action is Action.CREATE:
            case.event_code = step.facts.get("event_code")
            case.grid_code = step.facts.get("grid_code")
            case.district = step.facts.get("district")
        elif action is Action.REGISTER and case.registered_at is None:
            case.registered_at = step.at
        elif action is Action.DISPATCH:
            case.dispatched = True
            case.community = None
        elif action is Action.ASSIGN_COMMUNITY:
            case.community = step.facts.get("community")
        elif action is Action.RECALL_COMMUNITY:
            case.community = None
        elif action is Action.REPORT:
            case.reports += 1
            if case.first_report_at is None:
                case.first_report_at = step.at
        elif action in (Action.VERIFY_FAIL, Action.REOPEN):
            case.rework += 1
            case.closed = case.closed_on_time = False
        elif action is Action.CLOSE or (
            action is Action.VERIFY_PASS and step.to_state is CaseState.CLOSED
        ):
            case.closed = True
            case.closed_on_time = case.deadline is None or step.at <= case.deadline
        elif action is Action.FEEDBACK and step.facts.get("satisfaction"):
            case.satisfaction = str(step.facts["satisfaction"])
        elif action is Action.APPROVE and step.to_state is CaseState.REGISTERED:
            case.dispatched = False  # returned: waits for a new dispatch
            case.deadline = None
            case.community = None
    return cases


def _group_key(case: CaseReplay, group_by: str) -> str:
    if group_by == "department":
        return case.department or "(none)"
    if group_by == "district":
        return case.district or "(none)"
    if group_by == "grid":
        return case.grid_code or "(none)"
    if group_by == "event_code":
        return case.event_code or "(none)"
    if group_by == "community":
        return case.community or "(none)"
    return "all"


def evaluate(
    steps: Iterable[Step] | CaseHistories,
    start: datetime,
    end: datetime,
    weights: MetricWeights,
    group_by: str = "none",
) -> list[Metrics]:
    """The metrics of the cases registered in [start, end), per group, sorted by group."""
    return evaluate_groupings(steps, start, end, weights, (group_by,))[group_by]


#: states a case is already closed in: a step from one of them to 结案 is no new closing
ALREADY_CLOSED = frozenset({CaseState.CLOSED, CaseState.REOPEN_REQUESTED})


@contextmanager
def collection_paused() -> Generator[None, None, None]:
    """Python's cyclic garbage collector paused while a replay allocates its tens of
    thousands of small objects (no cycles among them): the collections those allocations
    set off walk every object in memory, the whole step log included, which doubled the
    replay of a previous month in bench/publication.py. Reference counting frees as
    before, and the collector runs again afterwards (a pause inside another, or beside
    one in another thread, leaves it to the first)."""
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


class CaseHistories:
    """The log cut by case, read once, for evaluating several periods or groupings of it:
    each case's steps in log order, and when it was first registered (立案)."""

    #: periods whose cohort replay is kept (`replayed`): a report evaluates its period
    #: for its rankings and for its totals, and the previous period beside it
    KEEP_REPLAYS = 8

    def __init__(self, steps: Iterable[Step] = ()) -> None:
        self.by_case: dict[str, list[Step]] = {}
        self.registered_at: dict[str, datetime] = {}
        #: when each 结案 happened (a step to the closed state from one that was not), in
        #: log order: a report's closings a day without walking the log
        self.closings: list[datetime] = []
        self._replays: dict[tuple[datetime, datetime], list[CaseReplay]] = {}
        self.add(steps)

    def replayed(self, start: datetime, end: datetime) -> list[CaseReplay]:
        """The cases first registered in [start, end), each replayed to its state at
        ``end``; kept for the last `KEEP_REPLAYS` periods asked (until steps are added),
        so that the groupings of one report, asked separately (the organisation's
        evaluation, the report's own tables), replay the log once. For reading only."""
        key = (start, end)
        kept = self._replays.get(key)
        if kept is not None:
            return kept
        cohort = self.registered_in(start, end)
        by_case = self.by_case
        with collection_paused():
            cases = [
                case
                for case in replay((step for c in cohort for step in by_case[c]), end).values()
                if case.registered_at is not None and start <= case.registered_at < end
            ]
        # copied, never changed in place: a request thread reading the old one meanwhile
        # is not disturbed
        kept_before = list(self._replays.items())[-(self.KEEP_REPLAYS - 1) :]
        self._replays = {**dict(kept_before), key: cases}
        return cases

    def add(self, steps: Iterable[Step]) -> None:
        """Steps that follow those already added in the log (a log read incrementally)."""
        self._replays = {}
        by_case, registered_at, register = self.by_case, self.registered_at, Action.REGISTER
        closings, closed = self.closings, CaseState.CLOSED
        for step in steps:
            history = by_case.get(step.case_id)
            if history is None:
                history = by_case[step.case_id] = []
            history.append(step)
            if step.action is register and step.case_id not in registered_at:
                registered_at[step.case_id] = step.at
            elif step.to_state is closed and step.from_state not in ALREADY_CLOSED:
                closings.append(step.at)

    def extended(self, steps: Iterable[Step]) -> CaseHistories:
        """A new one with ``steps`` (which follow these in the log) added; this one is left
        as it is, so a reader evaluating it meanwhile is not disturbed."""
        steps = list(steps)
        new = CaseHistories()
        new.by_case = dict(self.by_case)
        new.registered_at = dict(self.registered_at)
        new.closings = list(self.closings)
        for case_id in {step.case_id for step in steps}:
            history = new.by_case.get(case_id)
            if history is not None:
                new.by_case[case_id] = list(history)
        new.add(steps)
        return new

    def steps(self) -> Iterator[Step]:
        """Every step, case by case (each case's in log order)."""
        for history in self.by_case.values():
            yield from history

    def registered_in(self, start: datetime, end: datetime) -> list[str]:
        return [case for case, at in self.registered_at.items() if start <= at < end]

    def on_grids(self, covers: Callable[[str | None], bool]) -> CaseHistories:
        """A new one with the registered cases whose grid (given when the case was made)
        ``covers`` accepts: an organisation unit's cases, by its `OrgNode.covers`. The
        steps are shared, not copied: the new one is for reading."""
        new = CaseHistories()
        for case_id, at in self.registered_at.items():
            history = self.by_case[case_id]
            grid = next(
                (s.facts.get("grid_code") for s in history if s.action is Action.CREATE), None
            )
            if covers(grid):
                new.by_case[case_id] = history
                new.registered_at[case_id] = at
        closed = CaseState.CLOSED
        new.closings = [
            step.at
            for history in new.by_case.values()
            for step in history
            if step.to_state is closed and step.from_state not in ALREADY_CLOSED
        ]
        new.closings.sort()
        return new


def evaluate_groupings(
    steps: Iterable[Step] | CaseHistories,
    start: datetime,
    end: datetime,
    weights: MetricWeights,
    groupings: Sequence[str],
) -> dict[str, list[Metrics]]:
    """`evaluate` for several groupings at once: only the cases registered in the period
    are replayed, once whatever the number of groupings."""
    for group_by in groupings:
        if group_by not in GROUPINGS:
            raise ValueError(f"group_by is one of {', '.join(GROUPINGS)}")
    if end <= start:
        raise ValueError("the period must end after it starts")
    histories = steps if isinstance(steps, CaseHistories) else CaseHistories(steps)
    tables: dict[str, dict[str, Metrics]] = {group_by: {} for group_by in groupings}
    for case in histories.replayed(start, end):
        for group_by, groups in tables.items():
            key = _group_key(case, group_by)
            m = groups.get(key)
            if m is None:
                m = groups[key] = Metrics(group=key)
            _count(m, case, end)
    return {
        group_by: [groups[key].finish(weights) for key in sorted(groups)]
        for group_by, groups in tables.items()
    }


def _count(m: Metrics, case: CaseReplay, end: datetime) -> None:
    m.registered += 1
    m.case_ids.append(case.case_id)
    m.disposals += case.reports
    m.rework += case.rework
    if case.satisfaction:
        m.surveyed += 1
        m.satisfied += int(case.satisfaction in _SATISFIED)
    if case.state in _DROPPED:
        return
    deadline_passed = case.deadline is not None and case.deadline < end
    if case.closed or deadline_passed:
        m.due += 1
        if case.closed:
            m.closed += 1
            m.closed_on_time += int(case.closed_on_time)
    if case.dispatched and (deadline_passed or case.first_report_at is not None):
        m.due_disposal += 1
        if case.first_report_at is not None and (
            case.deadline is None or case.first_report_at <= case.deadline
        ):
            m.disposed_on_time += 1
    if case.state in _WITH_DEPARTMENT and deadline_passed:
        m.overdue_undisposed += 1


def role_activity(
    steps: Iterable[Step], start: datetime, end: datetime
) -> dict[str, dict[str, int]]:
    """Per role: how many steps of each action it took in [start, end)."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for step in steps:
        if start <= step.at < end:
            counts[str(step.role)][str(step.action)] += 1
            counts[str(step.role)]["total"] += 1
    return {role: dict(actions) for role, actions in sorted(counts.items())}


CSV_COLUMNS = [
    "group",
    "registered",
    "due",
    "closed",
    "closed_on_time",
    "disposals",
    "due_disposal",
    "disposed_on_time",
    "rework",
    "overdue_undisposed",
    "closure_rate",
    "on_time_closure_rate",
    "on_time_disposal_rate",
    "rework_rate",
    "score",
    "surveyed",
    "satisfied",
    "satisfaction_rate",
]

#: the CSV's header row, column by column: the names the console (综合评价) and the published
#: reports give the same figures; the group column is the console's 分组
CSV_HEADERS = {
    "group": "分组",
    "registered": "立案数",
    "due": "应结案数",
    "closed": "结案数",
    "closed_on_time": "按期结案数",
    "disposals": "处置数",
    "due_disposal": "应处置数",
    "disposed_on_time": "按期处置数",
    "rework": "返工数",
    "overdue_undisposed": "超期未处置",
    "closure_rate": "结案率",
    "on_time_closure_rate": "按期结案率",
    "on_time_disposal_rate": "按期处置率",
    "rework_rate": "返工率",
    "score": "综合得分",
    "surveyed": "回访数",
    "satisfied": "满意数",
    "satisfaction_rate": "满意率",
}

#: the CSV's group of the cases without the grouping's value (the key ``(none)``), and of
#: all cases (``group_by`` none), as the console says them
NO_GROUP = {
    "department": "未派遣",
    "district": "未填区域",
    "grid": "未填网格",
    "event_code": "未知类型",
    "community": "未转派社区",
}
ALL_CASES = "全部"


def group_label(key: str, group_by: str, names: Mapping[str, str] | None = None) -> str:
    """A group as the CSV gives it: ``<key> <name>`` where ``names`` (e.g. the departments')
    has one, the Chinese of ``(none)`` and ``all``, else the key itself (a grid, a code)."""
    if key == "(none)":
        return NO_GROUP.get(group_by, "未填写")
    if key == "all" and group_by == "none":
        return ALL_CASES
    name = (names or {}).get(key)
    return f"{key} {name}" if name else key


def group_names(
    group_by: str, departments: Mapping[str, str], event_names: Mapping[str, str]
) -> Mapping[str, str]:
    """The names `group_label` adds to a grouping's keys: a department's, an event code's."""
    return {"department": departments, "event_code": event_names}.get(group_by, {})


def to_csv(
    metrics: list[Metrics], group_by: str = "none", names: Mapping[str, str] | None = None
) -> str:
    """The groups as CSV with `CSV_HEADERS` (``names``: a group key's name, see
    `group_label`): what ``GET /api/v1/metrics.csv`` and ``citygw core metrics`` give."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADERS[k] for k in CSV_COLUMNS)
    for m in metrics:
        row = {**m.as_dict(), "group": group_label(m.group, group_by, names)}
        writer.writerow("" if row[k] is None else row[k] for k in CSV_COLUMNS)
    return out.getvalue()
