"""Benchmark: the published evaluation with 100 000 cases (issue 18 §2: ≤ 1 s each).

    .venv/bin/python bench/publication.py [--cases 100000] [--repeat 3]

A generated step log of ``--cases`` cases over three months (a full six-step life for
most: create, register, dispatch, report, verify, close; some rework, some voided, some
still open), on the grids of an organisation tree of 12 districts (4 streets of 3
communities each) and 8 city departments. Timed, each ``--repeat`` times, median, as the
routes do it (the tree's three-level evaluation included):

- ``public_ranking_page``: `city_levels` + `build_ranking` over the month to date +
  `ranking_page` (what ``GET /public/ranking`` does when its day's ranking is not kept
  yet; after that it is served from memory);
- ``monthly_report_html``: `unit_report` (the city's) for the busiest month + `report_page`;
- ``district_report_html``: the same for one district (its streets and departments);
- ``monthly_report_pdf``: the city's report page rendered to PDF (`adapters.reports`'s
  renderer, as ``format=pdf``);
- ``monthly_report_xlsx``: the same report as a workbook (openpyxl);
- ``monthly_report_html_replays_kept``: the city's report asked again before new steps
  came (the cut keeps its periods' replays); every other figure is of a fresh cut;
- ``metrics_baseline``: `evaluate(..., "none")` alone for the same month: the work
  ``citygw core metrics`` does, so a reader sees what the publication adds to it.

The steps are in memory (the routes keep them in a `StepLog`, read once, and the log cut
by case, `StepLog.histories`: cut once, then only new steps are added); reading them from
the database is not part of the figures, and ``cut_by_case_once`` times the cut a core
makes for its first report or ranking after it starts. ``metrics_baseline`` evaluates
the same kept cut. Results: bench/results/publication.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypedDict
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.reports.excel import report_workbook
from adapters.reports.pdf import html_to_pdf
from gateway.core.metrics import CaseHistories, evaluate
from gateway.core.organisation import Organisation, OrgNode
from gateway.core.organisation_settings import (
    CommunityConfig,
    DistrictConfig,
    OrganisationConfig,
    StreetConfig,
)
from gateway.core.publication import (
    PeriodReport,
    build_ranking,
    city_levels,
    daily_ranking_period,
    month_period,
    unit_report,
)
from gateway.core.report_html import ranking_page, report_page
from gateway.core.settings import MetricWeights
from gateway.core.workflow import Action, CaseState, Role, Step

ZONE = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 9, 1, tzinfo=ZONE).astimezone(UTC)
DISTRICTS = {f"3207{20 + i:02d}": f"{name}区" for i, name in enumerate("东西南北中海连赣灌云港徐")}
DEPARTMENTS = {f"dept-{i}": f"专业部门{i}" for i in range(8)}
#: the tree's community codes: every case is on a grid of one of them (grid = code + 2)
COMMUNITIES = [f"{d}{s:03d}{c:03d}" for d in DISTRICTS for s in range(1, 5) for c in range(1, 4)]


def organisation() -> tuple[OrganisationConfig, Organisation]:
    config = OrganisationConfig(
        city_name="连云港市",
        districts=[
            DistrictConfig(
                code=code,
                name=name,
                streets=[
                    StreetConfig(
                        code=f"{code}{s:03d}",
                        name=f"{name}第{s}街道",
                        communities=[
                            CommunityConfig(code=f"{code}{s:03d}{c:03d}", name=f"第{c}社区")
                            for c in range(1, 4)
                        ],
                    )
                    for s in range(1, 5)
                ],
            )
            for code, name in DISTRICTS.items()
        ],
    )
    return config, Organisation.from_config(config, DEPARTMENTS)


EVENTS = ["0102", "0505", "0501", "0504", "0301", "0206"]


def steps_of(cases: int, seed: int = 7) -> list[Step]:
    rnd = random.Random(seed)
    steps: list[Step] = []
    S = CaseState

    def add(
        case: str,
        at: datetime,
        action: Action,
        to: CaseState,
        role: Role,
        dept: str | None = None,
        **facts: object,
    ) -> None:
        steps.append(Step(case, at, action, None, to, f"{role}-1", role, dept, facts=dict(facts)))

    for n in range(cases):
        case = f"case{n:07d}"
        created = START + timedelta(seconds=rnd.uniform(0, 90 * 86_400))
        add(
            case,
            created,
            Action.CREATE,
            S.CANDIDATE,
            Role.SYSTEM,
            event_code=rnd.choice(EVENTS),
            grid_code=f"{(community := rnd.choice(COMMUNITIES))}{n % 10:02d}",
            district=DISTRICTS[community[:6]],
        )
        if rnd.random() < 0.05:
            add(case, created + timedelta(minutes=5), Action.REJECT, S.REJECTED, Role.OPERATOR)
            continue
        registered = created + timedelta(minutes=rnd.uniform(2, 30))
        add(case, registered, Action.REGISTER, S.REGISTERED, Role.OPERATOR)
        dept = rnd.choice(list(DEPARTMENTS))
        deadline = registered + timedelta(days=2)
        add(
            case,
            registered + timedelta(minutes=10),
            Action.DISPATCH,
            S.PROCESSING,
            Role.DISPATCHER,
            dept,
            deadline=deadline.isoformat(),
        )
        if rnd.random() < 0.08:
            continue  # still with the department
        reported = registered + timedelta(hours=rnd.uniform(1, 72))
        add(case, reported, Action.REPORT, S.REPORTED, Role.DEPARTMENT, dept)
        if rnd.random() < 0.06:
            add(
                case,
                reported + timedelta(hours=2),
                Action.VERIFY_FAIL,
                S.PROCESSING,
                Role.INSPECTOR,
                dept,
            )
            reported += timedelta(hours=10)
            add(case, reported, Action.REPORT, S.REPORTED, Role.DEPARTMENT, dept)
        add(
            case,
            reported + timedelta(hours=2),
            Action.VERIFY_PASS,
            S.VERIFIED,
            Role.INSPECTOR,
            dept,
        )
        add(case, reported + timedelta(hours=3), Action.CLOSE, S.CLOSED, Role.OPERATOR, dept)
    steps.sort(key=lambda s: s.at)
    return steps


class Timing(TypedDict):
    median_s: float
    runs_s: list[float]


def timed(
    repeat: int, work: Callable[[], object], before: Callable[[], object] | None = None
) -> Timing:
    """``work`` ``repeat`` times; ``before`` (not timed) before each run."""
    seconds = []
    for _ in range(repeat):
        if before is not None:
            before()
        began = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - began)
    return {
        "median_s": round(statistics.median(seconds), 3),
        "runs_s": [round(s, 3) for s in seconds],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/results/publication.json"))
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    began = time.perf_counter()
    steps = steps_of(args.cases)
    generated_s = time.perf_counter() - began
    weights = MetricWeights()
    month = month_period(2026, 10, ZONE)
    now = datetime(2026, 10, 20, 9, 0, tzinfo=ZONE)
    ranking_period = daily_ranking_period(now, ZONE)
    events = {code: f"事件{code}" for code in EVENTS}

    # the routes keep the log cut by case (StepLog.histories: cut once, then only new
    # steps added); cutting it is timed on its own. Each timed run gets a copy of the cut
    # that keeps no replays (`CaseHistories.replayed` keeps a report's periods until new
    # steps come): the figures are those of the first request after the log changed
    kept = CaseHistories(steps)
    cut = {"histories": kept}

    def fresh() -> None:
        cut["histories"] = kept.extended([])

    config, org = organisation()
    district = org.node(next(iter(DISTRICTS)))

    def public_page() -> str:
        histories = cut["histories"]
        levels = city_levels(histories, org, config, ranking_period, weights)
        ranking = build_ranking(histories, ranking_period, weights, DEPARTMENTS, now, levels)
        return ranking_page(ranking, ZONE, weights.model_dump())

    def report_of(unit: OrgNode | None) -> PeriodReport:
        return unit_report(
            cut["histories"], org, config, unit, month, weights, DEPARTMENTS, events, ZONE, now
        )

    report = report_of(None)
    figures = {
        "metrics_baseline": timed(
            args.repeat,
            lambda: evaluate(cut["histories"], month.start, month.end, weights, "none"),
            fresh,
        ),
        "cut_by_case_once": timed(args.repeat, lambda: CaseHistories(steps)),
        "public_ranking_page": timed(args.repeat, public_page, fresh),
        "monthly_report_html": timed(
            args.repeat, lambda: report_page(report_of(None), ZONE), fresh
        ),
        "district_report_html": timed(
            args.repeat, lambda: report_page(report_of(district), ZONE), fresh
        ),
        "monthly_report_html_replays_kept": timed(
            args.repeat, lambda: report_page(report_of(None), ZONE)
        ),
        "monthly_report_pdf": timed(
            args.repeat, lambda: html_to_pdf(report_page(report_of(None), ZONE)), fresh
        ),
        "monthly_report_xlsx": timed(args.repeat, lambda: report_workbook(report)),
    }
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_1m_at_start": round(load_start, 2),
            "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
            "note": "measured while other work ran on the same 2 cores (see load averages)",
        },
        "cases": args.cases,
        "steps": len(steps),
        "generated_s": round(generated_s, 2),
        "month": month.key,
        "month_registered": report.total.registered,
        "target_s": 1.0,
        "target_applies_to": "public_ranking_page and monthly_report_html (issue 18: the "
        "public daily ranking page and the monthly report render in <= 1 s); the PDF is the "
        "same page printed by a headless Chromium started for it, reported beside them",
        "organisation": f"{len(DISTRICTS)} districts x 4 streets x 3 communities, "
        f"{len(DEPARTMENTS)} city departments; every case on a community's grid",
        "figures": figures,
        "ratio_report_html_to_metrics": round(
            figures["monthly_report_html"]["median_s"] / figures["metrics_baseline"]["median_s"], 2
        ),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
