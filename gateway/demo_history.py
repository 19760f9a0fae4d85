"""The demo's yesterday: a few cases of each district taken through the workflow by the
demo's users, so that the evaluations have figures on the demo's first day.

The daily ranking (`/public/ranking`) covers the month up to the start of today, and the
three-level evaluation (`GET /api/v1/organisation/evaluation`) scores only cases that are
due or closed: today's fresh candidates, waiting in 待审核, count in neither. So before the
core starts, `replay_yesterday` takes `PAST_CASES` (three in 海州区, three in 连云区) through
the service the API drives, on a clock set to yesterday (08:00 to 17:00): an inspector's candidate
(intake), 立案 by the district's operator, 派遣 by its dispatcher to its 城管局, 处理反馈 by
that department, 核查 by the inspector of the grid (a 连云区 case fails once: 返工), 结案 by
the operator; one case of each district is still with the department (处置). The actors are
the demo users, logged in as the console logs them in (`gateway.demo_users`), so every step
passes the same rules (roles, levels, the department's own cases, the inspector's task).

The candidates' ids carry the day: a second run on the same day replays nothing, a run on
a later day adds that day's yesterday.
"""

from __future__ import annotations

import time as monotonic_time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from gateway.contract import CandidateCase, Location, Source, SourceKind
from gateway.core.case_model import Action, Actor, Command

if TYPE_CHECKING:
    from gateway.config import Config
    from gateway.core.auth import Authenticator
    from gateway.core.service import CaseService
    from gateway.demo_area import DemoArea


@dataclass(frozen=True)
class PastCase:
    """One case of yesterday: where, what, who handled it and how it went."""

    key: str  # stable part of the candidate's id
    grid_code: str
    district: str
    event_code: str
    title: str
    inspector: str  # the demo user who reported it (and checks it: the grid's inspector)
    operator: str  # 立案 and 结案
    dispatcher: str
    department: str  # the unit it is dispatched to
    handler: str  # the department's demo user who reports 处理反馈
    rework: bool = False  # the first 核查 fails (返工)
    still_open: bool = False  # dispatched, not yet reported at the end of the day


def _haizhou(key: str, grid: str, event: str, title: str, **how: bool) -> PastCase:
    return PastCase(
        key, grid, "海州区", event, title, "inspector", "hz-operator", "hz-dispatcher",
        "hz-city-management", "hz-dept", **how,
    )  # fmt: skip


def _lianyun(key: str, grid: str, event: str, title: str, **how: bool) -> PastCase:
    return PastCase(
        key, grid, "连云区", event, title, "ly-inspector", "ly-operator", "ly-dispatcher",
        "ly-city-management", "ly-dept", **how,
    )  # fmt: skip


PAST_CASES = (
    _haizhou("hz-1", "32070600100107", "0102", "暴露垃圾（示例）"),
    _haizhou("hz-2", "32070600300109", "0504", "店外经营（示例）"),
    _haizhou("hz-3", "32070600400121", "0507", "乱堆物堆料（示例）", still_open=True),
    _lianyun("ly-1", "32070300100107", "0102", "暴露垃圾（示例）", rework=True),
    _lianyun("ly-2", "32070300100309", "0505", "机动车乱停放（示例）"),
    _lianyun("ly-3", "32070300100417", "0501", "无照经营游商（示例）", still_open=True),
)
#: minutes after the case's start at which each step happens (a rework adds its 核查, a
#: second report and the second 核查)
_REGISTER, _DISPATCH, _REPORT, _VERIFY, _REWORK_REPORT, _REVERIFY, _CLOSE = (
    5,
    10,
    40,
    50,
    70,
    80,
    85,
)
#: a case every 90 minutes from 08:00 local time, each done before the next starts (the
#: log's times only go forwards): the last by 17:00
_FIRST, _EVERY_MIN = time(8, 0), 90


class _ScriptClock:
    """The past's clock: it is what the script sets it to."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return monotonic_time.monotonic()


@dataclass(frozen=True)
class PastResult:
    day: date
    cases: int  # made now (0: that day was replayed already)


def candidate_id(day: date, past: PastCase) -> str:
    return f"demo-past-{day:%Y%m%d}-{past.key}"


def replay_yesterday(
    config: Config, area: DemoArea, password: str, now: datetime | None = None
) -> PastResult:
    """Make yesterday's `PAST_CASES` in the core's database (nothing if they are there)."""
    from gateway.core.daemon import build_service
    from gateway.core.inspector_tasks import InspectorRoster
    from gateway.core.intake import case_id_for

    zone = ZoneInfo(config.core.calendar.timezone)
    day = (now or datetime.now(UTC)).astimezone(zone).date() - timedelta(days=1)
    morning = datetime.combine(day, _FIRST, zone).astimezone(UTC)
    clock = _ScriptClock(morning)
    service, auth = build_service(config, clock)
    try:
        if service.store.get_case(case_id_for(candidate_id(day, PAST_CASES[0]))) is not None:
            return PastResult(day, 0)
        service.inspectors = lambda: InspectorRoster.from_users(auth.users())
        actors = _logged_in(auth, password)
        for n, past in enumerate(PAST_CASES):
            start = morning + timedelta(minutes=_EVERY_MIN * n)
            _replay(service, clock, start, day, past, actors, area)
    finally:
        service.store.close()  # type: ignore[attr-defined]
    return PastResult(day, len(PAST_CASES))


def _logged_in(auth: Authenticator, password: str) -> dict[str, Actor]:
    names = {
        name
        for past in PAST_CASES
        for name in (past.inspector, past.operator, past.dispatcher, past.handler)
    }
    actors = {}
    for name in sorted(names):
        token, actors[name] = auth.login(name, password)
        auth.logout(token)
    return actors


def _replay(
    service: CaseService,
    clock: _ScriptClock,
    start: datetime,
    day: date,
    past: PastCase,
    actors: Mapping[str, Actor],
    area: DemoArea,
) -> None:
    from gateway.core.intake import case_id_for

    point = area.polygons[past.grid_code].representative_point()
    clock.at = start
    candidate = CandidateCase.create(
        source=Source(kind=SourceKind.INSPECTOR, id=past.inspector),
        id=candidate_id(day, past),
        ts=start,
        event_code=past.event_code,
        title=past.title,
        location=Location(
            grid_code=past.grid_code,
            district=past.district,
            lat=round(point.y, 7),
            lon=round(point.x, 7),
        ),
        facts={"sample": True, "demo_past": day.isoformat()},
    )
    service.store_candidates([candidate])
    case_id = case_id_for(candidate.id)

    def step(minutes: int, who: str, command: Command) -> None:
        clock.at = start + timedelta(minutes=minutes)
        service.transition(case_id, command, actors[who])

    step(_REGISTER, past.operator, Command(Action.REGISTER))
    step(_DISPATCH, past.dispatcher, Command(Action.DISPATCH, department=past.department))
    if past.still_open:
        return
    step(_REPORT, past.handler, Command(Action.REPORT, opinion="已处置完毕"))
    if past.rework:
        step(_VERIFY, past.inspector, Command(Action.VERIFY_FAIL, opinion="现场仍未清理干净"))
        step(_REWORK_REPORT, past.handler, Command(Action.REPORT, opinion="已重新处置"))
    step(_REVERIFY if past.rework else _VERIFY, past.inspector, Command(Action.VERIFY_PASS))
    step(_CLOSE, past.operator, Command(Action.CLOSE))
