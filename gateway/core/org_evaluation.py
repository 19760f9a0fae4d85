"""Three-level evaluation (三级考核) on the organisation tree.

The city evaluates its districts and the city's departments, a district its streets and
its departments, a street its communities. Every unit gets the same indicators as
`gateway.core.metrics` (立案数, 应结案数, 结案率, 按期结案率, 按期处置率, 返工率, 超期未处置,
composite score): the counts of the grids a territorial unit covers are added up (a case
lies in one grid, so the sums are exact), a department's are its cases' (the department
each case was last dispatched to); the rates and the score are computed from the sums
with the weights of the evaluating level (``core.organisation.weights``, else
``core.metric_weights``).

四级联动: a street evaluates each community twice, side by side. Its indicators (and the
rank, by their score) are those of the cases on the community's grids, as for every
territorial unit; ``passed`` beside them has the same indicators over the cases its
street office passed to it (转派社区) and that it held last, as a department's cases are
those last dispatched to it: a case taken back (收回) or returned is no longer counted
there. The CSV of ``citygw core metrics --level <street>`` gives these in ``passed_*``
columns (headed 街道转派·…) after the grid ones.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from gateway.core.metrics import CSV_COLUMNS, CaseHistories, Metrics, evaluate_groupings
from gateway.core.metrics import CSV_HEADERS as _METRICS_HEADERS
from gateway.core.organisation import KIND_LABELS, NodeKind, Organisation, OrgNode
from gateway.core.organisation_settings import OrganisationConfig
from gateway.core.settings import CoreConfig, MetricWeights
from gateway.core.workflow import Step

#: the counts that add up (the rates and the score are computed from them)
_COUNTS = tuple(f.name for f in fields(Metrics) if f.type in ("int", int) and f.name != "group")


@dataclass(frozen=True)
class UnitMetrics:
    node: OrgNode
    metrics: Metrics
    #: a community's: the cases passed to it by its street office (四级联动); else None
    passed: Metrics | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {
            "id": self.node.id,
            "name": self.node.name,
            "kind": str(self.node.kind),
            "kind_label": KIND_LABELS[self.node.kind],
            **_figures(self.metrics),
        }
        if self.passed is not None:
            out["passed"] = _figures(self.passed)
        return out


def _figures(metrics: Metrics) -> dict[str, Any]:
    return {k: v for k, v in metrics.as_dict().items() if k != "group"}


@dataclass(frozen=True)
class LevelReport:
    node: OrgNode
    level: str
    start: datetime
    end: datetime
    weights: MetricWeights
    units: list[UnitMetrics]
    #: the node's cases on grids of none of its territorial units (the city's: a grid of
    #: no district of the tree, or no grid), so that the rows add up to the node's total;
    #: None when there are none
    outside: Metrics | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "node": self.node.as_dict(),
            "level": self.level,
            "start": self.start,
            "end": self.end,
            "weights": self.weights.model_dump(),
            "units": [u.as_dict() for u in self.units],
            "outside": (
                {**self.outside.as_dict(), "name": self.outside_name}
                if self.outside is not None
                else None
            ),
        }

    @property
    def outside_name(self) -> str:
        """What `outside`'s row is called: 不属任何区 in the city's report, and so on."""
        return OUTSIDE_NAMES.get(self.level, "其他")


def level_weights(config: OrganisationConfig, level: str, default: MetricWeights) -> MetricWeights:
    given = config.weights.get(level)  # type: ignore[call-overload]
    return MetricWeights(**given.model_dump()) if given is not None else default


def evaluate_level(
    histories: CaseHistories,
    org: Organisation,
    node: OrgNode,
    start: datetime,
    end: datetime,
    weights: MetricWeights,
) -> LevelReport:
    """The units ``node`` evaluates, each with the indicators of the cases registered in
    [start, end), ranked by score (best first; units without a score last, by name)."""
    level = org.level_of(node)
    groupings = ("grid", "department", "community")
    tables = evaluate_groupings(histories, start, end, weights, groupings)
    by_grid, by_department, by_community = (tables[g] for g in groupings)
    units = []
    for unit in org.evaluated_units(node):
        passed = None
        if unit.kind is NodeKind.DEPARTMENT:
            parts = [m for m in by_department if m.group == unit.department]
        else:
            parts = [m for m in by_grid if unit.covers(m.group if m.group != "(none)" else None)]
        if unit.kind is NodeKind.COMMUNITY:
            held = [m for m in by_community if m.group == unit.department]
            passed = _summed(held, unit.id, weights)
        units.append(UnitMetrics(unit, _summed(parts, unit.id, weights), passed))
    units.sort(key=lambda u: (u.metrics.score is None, -(u.metrics.score or 0), u.node.id))
    territorial = [u.node for u in units if u.node.kind is not NodeKind.DEPARTMENT]
    stray = [
        m
        for m in by_grid
        if node.covers(grid := (m.group if m.group != "(none)" else None))
        and not any(unit.covers(grid) for unit in territorial)
    ]
    outside = _summed(stray, OUTSIDE, weights) if territorial and stray else None
    return LevelReport(node, level, start, end, weights, units, outside)


#: the group id of `LevelReport.outside`
OUTSIDE = "(outside)"
#: the name of `LevelReport.outside`'s row by the evaluating level: its cases on grids of
#: none of the units it ranks
OUTSIDE_NAMES = {"city": "不属任何区", "district": "不属任何街道", "street": "不属任何社区"}


def _summed(parts: list[Metrics], group: str, weights: MetricWeights) -> Metrics:
    total = Metrics(group=group)
    for part in parts:
        for name in _COUNTS:
            setattr(total, name, getattr(total, name) + getattr(part, name))
        total.case_ids.extend(part.case_ids)
    return total.finish(weights)


def level_csv(
    core: CoreConfig, steps: Iterable[Step], node: str, start: datetime, end: datetime
) -> str:
    """``citygw core metrics --level NODE``: the units of ``node`` as `report_csv`; times
    without a zone are UTC. ValueError: no such node or one that evaluates nothing."""
    org = Organisation.from_config(core.organisation, {d.id: d.name for d in core.departments})
    found = org.get(node)
    if found is None:
        raise ValueError(f"no organisation node {node!r}")
    start, end = (t if t.tzinfo else t.replace(tzinfo=UTC) for t in (start, end))
    weights = level_weights(core.organisation, org.level_of(found), core.metric_weights)
    return report_csv(evaluate_level(CaseHistories(steps), org, found, start, end, weights))


#: the columns a street's CSV adds after the metrics CSV's: its communities' figures over
#: the cases passed to them
PASSED_COLUMNS = [f"passed_{c}" for c in CSV_COLUMNS if c != "group"]

#: the level CSV's header row, column by column: the metrics CSV's names, the unit column
#: 考核对象 and each ``passed_x`` 街道转派·<x's name>, as the console's 分级考核 says them
CSV_HEADERS = {
    **_METRICS_HEADERS,
    "group": "考核对象",
    **{p: f"街道转派·{_METRICS_HEADERS[p.removeprefix('passed_')]}" for p in PASSED_COLUMNS},
}


def report_csv(report: LevelReport) -> str:
    """A level's units as the metrics CSV, ranked, with `CSV_HEADERS` (the group column
    ``<id> <name>``; a street's communities also the ``passed_*`` columns, their figures over
    the cases passed to them): what the CLI prints and
    ``/api/v1/organisation/evaluation?format=csv`` gives."""
    passed = report.node.kind is NodeKind.STREET
    columns = CSV_COLUMNS + (PASSED_COLUMNS if passed else [])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADERS[k] for k in columns)
    for unit in report.units:
        row = {**unit.metrics.as_dict(), "group": f"{unit.node.id} {unit.node.name}"}
        if unit.passed is not None:
            row.update((f"passed_{k}", v) for k, v in unit.passed.as_dict().items())
        writer.writerow("" if row.get(k) is None else row[k] for k in columns)
    if report.outside is not None:  # unranked, last: the rows add up to the level's total
        row = {**report.outside.as_dict(), "group": report.outside_name}
        writer.writerow("" if row.get(k) is None else row[k] for k in columns)
    return out.getvalue()
