"""Three-level evaluation (三级考核): the indicators of each level's units, against counts
made by hand from a small log."""

from __future__ import annotations

from datetime import timedelta

from gateway.core.metrics import CSV_COLUMNS, CaseHistories
from gateway.core.org_evaluation import (
    CSV_HEADERS,
    PASSED_COLUMNS,
    evaluate_level,
    level_csv,
    level_weights,
)
from gateway.core.organisation import Organisation
from gateway.core.settings import MetricWeights
from gateway.core.workflow import Action, CaseState, Role, Step
from tests.core.helpers import MONDAY_10, core_config
from tests.csv_rows import keyed_rows

T0 = MONDAY_10
DEADLINE = T0 + timedelta(days=2)
END = T0 + timedelta(days=7)
S = CaseState


def step(case: str, hours: float, action: Action, to: CaseState, **facts: object) -> Step:
    department = facts.pop("department", None)
    return Step(case, T0 + timedelta(hours=hours), action, None, to, "u", Role.SYSTEM,
                department=department, facts=dict(facts))  # fmt: skip


def lifecycle(case: str, grid: str, *rest: tuple[float, Action, CaseState, dict]) -> list[Step]:
    return [
        step(case, 0, Action.CREATE, S.CANDIDATE, grid_code=grid, event_code="0102"),
        step(case, 0.5, Action.REGISTER, S.REGISTERED),
        *(step(case, h, a, to, **f) for h, a, to, f in rest),
    ]


def dispatched(department: str) -> tuple[float, Action, CaseState, dict]:
    return (1, Action.DISPATCH, S.PROCESSING, {"department": department,
            "deadline": DEADLINE.isoformat()})  # fmt: skip


LOG = [
    # a: 海州街道 鼓楼社区, closed on time by 海州区环卫所
    *lifecycle(
        "a",
        "32070600100101",
        dispatched("hz-sanitation"),
        (5, Action.REPORT, S.REPORTED, {}),
        (6, Action.VERIFY_PASS, S.VERIFIED, {}),
        (7, Action.CLOSE, S.CLOSED, {}),
    ),
    # b: 海州街道 白虎山社区, dispatched to 海州区环卫所, never disposed (overdue)
    *lifecycle("b", "32070600100201", dispatched("hz-sanitation")),
    # c: 幸福路街道, only registered
    *lifecycle("c", "32070600200105"),
    # d: 连云区, the city's 城管执法: one rework, closed after the deadline
    *lifecycle(
        "d",
        "32070300100101",
        dispatched("city-management"),
        (5, Action.REPORT, S.REPORTED, {}),
        (6, Action.VERIFY_FAIL, S.PROCESSING, {}),
        (8, Action.REPORT, S.REPORTED, {}),
        (9, Action.VERIFY_PASS, S.VERIFIED, {}),
        (60, Action.CLOSE, S.CLOSED, {}),
    ),
]
CONFIG = core_config()
ORG = Organisation.from_config(CONFIG.organisation, {d.id: d.name for d in CONFIG.departments})
W = MetricWeights()


def units(node: str, weights: MetricWeights = W) -> dict[str, dict]:
    report = evaluate_level(CaseHistories(LOG), ORG, ORG.node(node), T0, END, weights)
    return {u.node.id: u.as_dict() for u in report.units}


def figures(unit: dict) -> tuple:
    keys = ("registered", "due", "closed", "closed_on_time", "disposals", "due_disposal",
            "disposed_on_time", "rework", "overdue_undisposed")  # fmt: skip
    return tuple(unit[k] for k in keys)


def test_the_city_evaluates_districts_and_city_departments() -> None:
    city = units("city")
    assert list(city) == ["320703", "city-management", "320706", "sanitation", "traffic"]
    assert figures(city["320706"]) == (3, 2, 1, 1, 1, 2, 1, 0, 1)
    # rates 0.5, 0.5, 0.5, rework 0: (0.3*0.5*3 + 0.1*1) / 1.0
    assert city["320706"]["score"] == 55.0
    assert figures(city["320703"]) == (1, 1, 1, 0, 2, 1, 1, 1, 0)
    # rates 1, 0, 1, rework 1/2: (0.3 + 0 + 0.3 + 0.1*0.5) / 1.0
    assert city["320703"]["score"] == 65.0
    assert figures(city["city-management"]) == figures(city["320703"])
    assert city["sanitation"]["registered"] == 0 and city["sanitation"]["score"] is None


def test_a_district_evaluates_its_streets_and_departments() -> None:
    district = units("320706")
    assert figures(district["320706001"]) == (2, 2, 1, 1, 1, 2, 1, 0, 1)
    assert district["320706001"]["score"] == 55.0
    assert figures(district["320706002"])[:2] == (1, 0)
    assert district["320706002"]["score"] is None
    assert figures(district["hz-sanitation"]) == figures(district["320706001"])
    assert district["hz-city-management"]["registered"] == 0
    assert {"320706003", "320706004"} <= set(district)


def test_a_street_evaluates_its_communities() -> None:
    street = units("320706001")
    assert list(street)[:2] == ["320706001001", "320706001002"]
    assert street["320706001001"]["score"] == 100.0
    assert figures(street["320706001002"]) == (1, 1, 0, 0, 0, 1, 0, 0, 1)
    assert street["320706001002"]["score"] == 0.0
    assert sum(u["registered"] for u in street.values()) == 2


def test_each_level_has_its_own_weights() -> None:
    config = core_config(
        organisation={"weights": {"district": {"closure_rate": 0, "on_time_closure_rate": 0,
                                               "on_time_disposal_rate": 0, "rework_rate": 1}}}
    )  # fmt: skip
    weights = level_weights(config.organisation, "district", config.metric_weights)
    assert units("320706", weights)["320706001"]["score"] == 100.0  # no rework
    assert level_weights(config.organisation, "city", config.metric_weights) == W


def test_the_cli_prints_a_levels_units_as_csv() -> None:
    text = level_csv(CONFIG, LOG, "320706", T0, END)
    assert text.startswith("考核对象,立案数,应结案数,")
    rows = {r["group"]: r for r in keyed_rows(text, CSV_HEADERS)}
    assert rows["320706001 海州街道"]["registered"] == "2"
    assert rows["320706001 海州街道"]["score"] == "55.0"
    assert rows["hz-sanitation 海州区环卫所"]["overdue_undisposed"] == "1"


def test_every_column_of_the_level_csv_has_a_chinese_header() -> None:
    assert list(CSV_HEADERS) == CSV_COLUMNS + PASSED_COLUMNS
    assert CSV_HEADERS["group"] == "考核对象"
    assert CSV_HEADERS["passed_on_time_closure_rate"] == "街道转派·按期结案率"
    for key, name in CSV_HEADERS.items():
        assert any("\u4e00" <= c <= "\u9fff" for c in name), key
