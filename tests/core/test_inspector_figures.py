"""The inspectors' figures for the evaluation: valid reports, tasks answered on time and
patrol coverage per day, counted by hand on a small log, then through the API (JSON and
CSV) on a real database with a report, a rejection, a 核查 answered from the phone and a
day's patrol."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.contract import Location, SourceKind
from gateway.core.inspector_figures import (
    CSV_COLUMNS,
    CSV_HEADERS,
    inspector_figures,
    patrol_days_of,
)
from gateway.core.inspector_routes import PatrolDayCache, day_spans
from gateway.core.intake import case_id_for
from gateway.core.patrols import PatrolPoint
from gateway.core.workflow import Action, Actor, CaseState, Command, Role, Step
from gateway.gis.features import GridFeature
from gateway.gis.index import GridIndex
from tests.core.api_harness import PASSWORD, Api, make_api
from tests.core.helpers import MONDAY_10, candidate
from tests.csv_rows import keyed_rows
from tests.gis.conftest import demo, demo_grids  # noqa: F401

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 1, 5, tzinfo=SHANGHAI)  # Monday 00:00 in the centre
END = START + timedelta(days=2)
S = CaseState


def step(case: str, minutes: float, action: Action, to: CaseState, **kw: Any) -> Step:
    return Step(
        case,
        START + timedelta(minutes=minutes),
        action,
        kw.pop("from_state", None),
        to,
        kw.pop("actor", "olga"),
        kw.pop("role", Role.OPERATOR),
        facts=kw.pop("facts", {}),
    )


def created(case: str, minutes: float, source: str) -> Step:
    return step(
        case,
        minutes,
        Action.CREATE,
        S.CANDIDATE,
        actor="system",
        role=Role.SYSTEM,
        facts={"source": source},
    )


def task(assignee: str, due_minutes: float) -> dict[str, Any]:
    due = (START + timedelta(minutes=due_minutes)).isoformat()
    return {"kind": "verify", "assignee": assignee, "due": due}


def answer(case: str, minutes: float, action: Action, who: str, on_time: bool | None) -> Step:
    facts = {} if on_time is None else {"task_on_time": on_time}
    return step(case, minutes, action, S.PROCESSING, actor=who, role=Role.INSPECTOR, facts=facts)


LOG = [
    # reports: ivan 4 in the period (valid, rejected, duplicate, pending), 1 before it
    created("c1", 10, "inspector/ivan"),
    step("c1", 20, Action.REGISTER, S.REGISTERED),
    created("c2", 11, "inspector/ivan"),
    step("c2", 21, Action.REJECT, S.REJECTED),
    created("c3", 12, "inspector/ivan"),
    step("c3", 22, Action.MERGE, S.MERGED),
    created("c4", 13, "inspector/ivan"),
    created("c5", -60, "inspector/ivan"),
    step("c5", 30, Action.REGISTER, S.REGISTERED),
    # ines: registered, then voided: still a valid report
    created("c6", 14, "inspector/ines-1"),
    step("c6", 24, Action.REGISTER, S.REGISTERED),
    step("c6", 90, Action.APPROVE, S.VOIDED),
    created("c7", 15, "camera/cam-1"),  # not an inspector's
    # tasks
    step("c8", 0, Action.REPORT, S.REPORTED, facts={"task": task("ivan", 60)}),
    answer("c8", 30, Action.VERIFY_FAIL, "ivan", True),  # on time
    step("c9", 0, Action.REQUEST_CONFIRMATION, S.CANDIDATE, facts={"task": task("ivan", 120)}),
    answer("c9", 180, Action.CONFIRM_PASS, "ivan", False),  # late
    step("c10", 0, Action.REPORT, S.REPORTED, facts={"task": task("ines", 60)}),  # overdue
    step("c11", 0, Action.REPORT, S.REPORTED, facts={"task": task("ines", 3000)}),  # not due
    step("c12", 0, Action.REQUEST_CONFIRMATION, S.CANDIDATE, facts={"task": task("ivan", 60)}),
    step("c12", 5, Action.ASSIGN_TASK, S.CANDIDATE, facts={"task": task("ines", 60)}),  # overdue
    step("c13", 0, Action.REQUEST_CONFIRMATION, S.CANDIDATE, facts={"task": task("ivan", 60)}),
    step("c13", 10, Action.REGISTER, S.REGISTERED),  # the operator went ahead: task ended
    answer("c14", 40, Action.VERIFY_PASS, "ivan", None),  # a 核查 without a due time
    answer("c15", -60, Action.VERIFY_PASS, "ivan", True),  # before the period
    step("c16", 3000, Action.REPORT, S.REPORTED, facts={"task": task("ivan", 3010)}),  # after
]


def points(day: int, minutes_and_grids: list[tuple[float, str | None]]) -> list[PatrolPoint]:
    at = START + timedelta(days=day, hours=9)
    return [
        PatrolPoint(
            f"pt-{day}-{i:04d}", "patrol-1", at + timedelta(minutes=m), 34.6, 119.2, None, grid
        )
        for i, (m, grid) in enumerate(minutes_and_grids)
    ]


def test_figures_counted_by_hand() -> None:
    days = [
        {"ivan": points(0, [(0, "G1"), (1, "G1"), (2, "G2"), (3, "Z9")])},
        {"ivan": points(1, [(0, "G3"), (2, "G3"), (4, None)])},
    ]
    rows = inspector_figures(
        LOG,
        start=START,
        end=END,
        assigned={"ivan": {"G1", "G2", "G3", "G4"}, "ines": {"G5"}, "idle": set()},
        source_names={"ivan": "ivan", "ines-1": "ines"},
        patrol_days=patrol_days_of(days),
    )
    by_name = {r.inspector: r.as_dict() for r in rows}
    assert sorted(by_name) == ["idle", "ines", "ivan"]
    ivan = by_name["ivan"]
    assert (ivan["reports"], ivan["reports_valid"], ivan["reports_rejected"]) == (4, 1, 1)
    assert (ivan["reports_duplicate"], ivan["reports_pending"]) == (1, 1)
    assert ivan["valid_rate"] == 0.3333  # 1 of the 3 decided
    assert (ivan["tasks_answered"], ivan["answered_on_time"], ivan["answered_late"]) == (3, 1, 1)
    assert ivan["tasks_overdue"] == 0 and ivan["on_time_rate"] == 0.5
    assert (ivan["days"], ivan["patrol_days"], ivan["patrol_minutes"]) == (2, 2, 7.0)
    assert ivan["grids_visited"] == 4  # G1 G2 Z9 G3
    assert ivan["grids_visited_per_day"] == 2.0  # (3 + 1) / 2 days
    assert ivan["coverage"] == 0.75  # G1 G2 G3 of 4
    assert ivan["daily_coverage"] == 0.375  # (2/4 + 1/4) / 2
    ines = by_name["ines"]  # the user behind source id ines-1
    assert (ines["reports"], ines["reports_valid"], ines["valid_rate"]) == (1, 1, 1.0)
    assert (ines["tasks_answered"], ines["tasks_overdue"], ines["on_time_rate"]) == (0, 2, 0.0)
    assert (ines["assigned_grids"], ines["patrol_days"], ines["grids_visited_per_day"]) == (
        1,
        0,
        0.0,
    )
    assert (ines["coverage"], ines["daily_coverage"]) == (0.0, 0.0)  # G5, never there
    idle = by_name["idle"]  # no grids, no reports, no tasks
    assert idle["reports"] == 0 and idle["valid_rate"] is None and idle["on_time_rate"] is None
    assert (idle["grids_visited_per_day"], idle["coverage"], idle["daily_coverage"]) == (
        0.0,
        None,
        None,
    )


def test_a_period_is_cut_at_the_centres_midnights() -> None:
    spans = day_spans(START + timedelta(hours=20), START + timedelta(days=2, hours=3), SHANGHAI)
    assert [(s.hour, e.day) for s, e in spans] == [(20, 6), (0, 7), (0, 7)]
    assert spans[-1][1] - spans[-1][0] == timedelta(hours=3)


@pytest.fixture
def api(tmp_path: Path, demo_grids: list[GridFeature]) -> Iterator[Api]:  # noqa: F811
    harness = make_api(f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path)
    harness.service.grids = GridIndex(demo_grids)
    harness.auth.add_user("ines", "inspector", PASSWORD, None, (demo_grids[0].code,))
    harness.tokens["ines"] = harness.auth.login("ines", PASSWORD)[0]
    yield harness
    harness.close()


def test_the_route_gives_each_inspectors_figures_as_json_and_csv(
    api: Api,
    demo_grids: list[GridFeature],  # noqa: F811
) -> None:
    inspector = {"Authorization": f"Bearer {api.tokens['ines']}"}
    for n in (1, 2):
        response = api.client.post(
            "/api/v1/mobile/reports",
            data={"request_id": f"phone-fig-{n:04d}", "event_code": "0507"},
            headers=inspector,
        )
        assert response.status_code == 201, response.text
    olga = Actor("olga", Role.OPERATOR)
    api.service.transition(case_id_for("phone-fig-0001"), Command(Action.REGISTER), olga)
    api.service.transition(
        case_id_for("phone-fig-0002"), Command(Action.REJECT, opinion="不属实"), olga
    )
    # a case in ivan's grids reported done: a 核查 for ivan, answered from the phone at once
    cand = candidate(
        31, kind=SourceKind.CAMERA, source_id="cam-9", location=Location(grid_code="32070690100101")
    )
    api.service.store_candidates([cand])
    case_id = case_id_for(cand.id)
    api.service.transition(case_id, Command(Action.REGISTER), olga)
    api.service.transition(case_id, Command(Action.DISPATCH), Actor("dan", Role.DISPATCHER))
    api.service.transition(
        case_id, Command(Action.REPORT), Actor("sam", Role.DEPARTMENT, "sanitation")
    )
    answered = api.client.post(
        f"/api/v1/mobile/tasks/{case_id}/answer",
        data={"request_id": "answer-fig-0001", "verdict": "pass"},
        headers=api.headers("inspector"),
    )
    assert answered.status_code == 200, answered.text
    # ines walks her one grid for 10 minutes
    centre = demo_grids[0].geometry.representative_point()
    batch = {
        "patrol_id": "patrol-ines-01",
        "points": [
            {
                "id": f"pt-ines-{i:04d}",
                "lat": centre.y,
                "lon": centre.x,
                "at": (MONDAY_10 - timedelta(minutes=10 - i)).isoformat(),
            }
            for i in range(11)
        ],
    }
    assert (
        api.client.post("/api/v1/mobile/patrol", json=batch, headers=inspector).status_code == 200
    )
    period = {"start": START.isoformat(), "end": (START + timedelta(days=1)).isoformat()}
    response = api.client.get(
        "/api/v1/metrics/inspectors", params=period, headers=api.headers("shift_lead")
    )
    assert response.status_code == 200, response.text
    rows = {r["inspector"]: r for r in response.json()["inspectors"]}
    assert sorted(rows) == ["ines", "ivan"]
    ines, ivan = rows["ines"], rows["ivan"]
    assert (ines["reports"], ines["reports_valid"], ines["reports_rejected"]) == (2, 1, 1)
    assert ines["valid_rate"] == 0.5
    assert (ines["patrol_days"], ines["patrol_minutes"], ines["grids_visited"]) == (1, 10.0, 1)
    assert (ines["grids_visited_per_day"], ines["coverage"], ines["daily_coverage"]) == (
        1.0,
        1.0,
        1.0,
    )
    assert (ivan["tasks_answered"], ivan["answered_on_time"], ivan["on_time_rate"]) == (1, 1, 1.0)
    assert ivan["reports"] == 0 and ivan["patrol_days"] == 0
    csv_response = api.client.get(
        "/api/v1/metrics/inspectors.csv", params=period, headers=api.headers("shift_lead")
    )
    assert csv_response.status_code == 200
    assert csv_response.content.startswith(b"\xef\xbb\xbf")  # a BOM, for spreadsheets
    text = csv_response.content.decode("utf-8-sig")
    assert text.startswith("监督员,上报数,有效上报,不予立案,")
    assert text.splitlines()[1].startswith("ines,2,1,1,0,0,0.5,")
    exported = {r["inspector"]: r for r in keyed_rows(text, CSV_HEADERS)}
    assert sorted(exported) == sorted(rows)
    for name, row in exported.items():  # every figure as the JSON gives it
        for key in CSV_COLUMNS:
            value = rows[name][key]
            assert row[key] == ("" if value is None else str(value)), (name, key)


def test_every_column_of_the_inspectors_csv_has_a_chinese_header() -> None:
    assert list(CSV_HEADERS) == CSV_COLUMNS
    for key, name in CSV_HEADERS.items():
        assert any("\u4e00" <= c <= "\u9fff" for c in name), key


def test_the_route_is_the_evaluators_and_bounds_the_period(api: Api) -> None:
    refused = api.client.get("/api/v1/metrics/inspectors", headers=api.headers("inspector"))
    assert refused.status_code == 403
    too_long = {"start": START.isoformat(), "end": (START + timedelta(days=63)).isoformat()}
    response = api.client.get(
        "/api/v1/metrics/inspectors", params=too_long, headers=api.headers("admin")
    )
    assert response.status_code == 422 and response.json()["error"] == "period_too_long"


class CountingStore:
    """Ivan's points by day (two a day unless ``late`` adds more), counting the reads."""

    def __init__(self) -> None:
        self.reads: list[datetime] = []
        self.late: dict[int, list[tuple[int, str]]] = {}
        self.kept: dict[tuple[datetime, datetime], tuple[int, str]] = {}  # patrol_day_figures

    def _of(self, s: datetime) -> list[PatrolPoint]:
        day = (s - START).days
        return points(day, [(0, "G1"), (1, "G2"), *self.late.get(day, [])])

    def points_between(self, s: datetime, e: datetime) -> dict[str, list[PatrolPoint]]:
        self.reads.append(s)
        return {"ivan": self._of(s)}

    def count_between(self, s: datetime, e: datetime) -> int:
        return len(self._of(s))

    def kept_day(self, s: datetime, e: datetime) -> tuple[int, str] | None:
        return self.kept.get((s, e))

    def keep_day(self, s: datetime, e: datetime, points: int, figures: str, now: datetime) -> None:
        self.kept[(s, e)] = (points, figures)


def test_a_settled_days_patrol_figures_are_read_once_and_todays_each_time() -> None:
    store = CountingStore()
    now = START + timedelta(days=2, hours=10)  # day 0 settled, day 1 ended 10 h ago, day 2 open
    cache = PatrolDayCache(store, lambda: now)
    spans = day_spans(START, START + timedelta(days=3), SHANGHAI)
    first = cache.days(spans)
    again = cache.days(spans)
    assert first == again and first[0]["ivan"].visited == {"G1", "G2"}
    assert first[0]["ivan"].minutes == 1.0
    # the first call reads all three; the second only the two not settled
    assert store.reads == [START + timedelta(days=d) for d in (0, 1, 2, 1, 2)]


def test_late_points_of_a_settled_day_are_counted_at_the_next_request() -> None:
    """A phone that was offline for days sends its queue: the settled day's count moves,
    so its figures are read again (no restart needed); an unchanged day is not read."""
    store = CountingStore()
    now = START + timedelta(days=3)  # days 0 and 1 settled
    cache = PatrolDayCache(store, lambda: now)
    spans = day_spans(START, START + timedelta(days=2), SHANGHAI)
    before = cache.days(spans)
    assert before[0]["ivan"].visited == {"G1", "G2"}
    store.late[0] = [(5, "G3")]  # day 0 gains a point in a third grid
    store.reads.clear()
    after = cache.days(spans)
    assert after[0]["ivan"].visited == {"G1", "G2", "G3"}
    assert after[0]["ivan"].minutes > before[0]["ivan"].minutes
    assert store.reads == [START]  # day 1 did not move: kept


def test_a_restarted_core_finds_the_settled_days_kept_and_reads_no_point() -> None:
    """The reduced figures of settled days are kept by the store (patrol_day_figures): a
    new cache (a core started again, or another core) checks their counts and reads no
    point of them; a day whose count moved since is read again."""
    store = CountingStore()
    now = START + timedelta(days=3)
    spans = day_spans(START, START + timedelta(days=2), SHANGHAI)
    first = PatrolDayCache(store, lambda: now).days(spans)
    store.reads.clear()
    again = PatrolDayCache(store, lambda: now).days(spans)
    assert again == first and store.reads == []
    store.late[1] = [(7, "G9")]
    moved = PatrolDayCache(store, lambda: now).days(spans)
    assert store.reads == [START + timedelta(days=1)]
    assert moved[1]["ivan"].visited == {"G1", "G2", "G9"} and moved[0] == first[0]
