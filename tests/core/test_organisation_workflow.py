"""Two levels of command in the state machine: who acts at which level, 上报 and 下派."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.core.level_deadline import level_overdue, level_window
from gateway.core.organisation import CITY_ID, Organisation
from gateway.core.settings import CoreConfig
from gateway.core.workflow import Action, Actor, CaseState, Command, Role, TransitionRefused
from tests.core.helpers import MONDAY_10, case, core_config, workflow

HAIZHOU = "320706"
#: GY_GRID: 赣榆区, in the default grid table, in no district of the tree
HZ_GRID, LY_GRID, GY_GRID = "32070600100101", "32070300100101", "32070700100101"
NOW = MONDAY_10 + timedelta(hours=1)


def org_of(config: CoreConfig) -> Organisation:
    return Organisation.from_config(config.organisation, {d.id: d.name for d in config.departments})


CONFIG = core_config()
ORG = org_of(CONFIG)
WF = workflow(CONFIG)
WF.organisation = ORG


def desk(role: Role, node: str | None) -> Actor:
    return Actor(f"{role}-{node}", role, org_node=node, reach=ORG.reach(node))


def test_a_district_desk_acts_on_its_own_cases_and_not_on_anothers() -> None:
    mine = case(CaseState.CANDIDATE, grid_code=HZ_GRID)
    theirs = case(CaseState.CANDIDATE, grid_code=LY_GRID)
    operator = desk(Role.OPERATOR, HAIZHOU)
    assert (
        WF.apply(mine, Command(Action.REGISTER), operator, NOW).case.state is CaseState.REGISTERED
    )
    with pytest.raises(TransitionRefused) as refused:
        WF.apply(theirs, Command(Action.REGISTER), operator, NOW)
    assert refused.value.code == "not_your_level"
    assert WF.allowed_actions(theirs, operator) == []
    assert Action.ESCALATE in WF.allowed_actions(mine, operator)
    # the city acts on every case but escalates nothing
    city = desk(Role.OPERATOR, None)
    assert Action.REGISTER in WF.allowed_actions(theirs, city)
    assert Action.ESCALATE not in WF.allowed_actions(theirs, city)


def test_a_district_dispatches_to_its_departments_and_streets_only() -> None:
    registered = case(CaseState.REGISTERED, grid_code="32070600200105", event_code="0505")
    dispatcher = desk(Role.DISPATCHER, HAIZHOU)
    # no department named: the table's choice (a city department) is not the district's,
    # so the street office of the grid gets it
    done = WF.apply(registered, Command(Action.DISPATCH), dispatcher, NOW)
    assert done.case.department == "street-320706002"
    named = WF.apply(
        registered, Command(Action.DISPATCH, department="hz-sanitation"), dispatcher, NOW
    )
    assert named.case.department == "hz-sanitation"
    for other in ("city-management", "ly-city-management", "street-320703001"):
        with pytest.raises(TransitionRefused) as refused:
            WF.apply(registered, Command(Action.DISPATCH, department=other), dispatcher, NOW)
        assert refused.value.code == "department_not_in_level"
    # the city dispatches to the city's departments, not a district's
    city = desk(Role.DISPATCHER, None)
    assert WF.apply(registered, Command(Action.DISPATCH), city, NOW).case.department == (
        "city-management"  # the table's catch-all
    )
    with pytest.raises(TransitionRefused) as refused:
        WF.apply(registered, Command(Action.DISPATCH, department="hz-sanitation"), city, NOW)
    assert refused.value.code == "department_not_in_level"


def test_escalation_and_hand_down_need_a_reason_set_a_deadline_and_move_the_case() -> None:
    start = case(CaseState.REGISTERED, grid_code=HZ_GRID)
    district, city = desk(Role.SHIFT_LEAD, HAIZHOU), desk(Role.SHIFT_LEAD, None)
    with pytest.raises(TransitionRefused) as refused:
        WF.apply(start, Command(Action.ESCALATE), district, NOW)
    assert refused.value.code == "opinion_required"
    up = WF.apply(start, Command(Action.ESCALATE, opinion="跨区，需市级协调"), district, NOW)
    assert (up.case.centre, up.case.state) == (CITY_ID, CaseState.REGISTERED)
    assert up.step.facts["from_centre"] == HAIZHOU and up.step.facts["to_centre"] == CITY_ID
    # 4 working hours from Monday 11:00 (Shanghai): 11-12, 13-16 -> 16:00 = 08:00 UTC
    assert up.step.facts["level_deadline"] == "2026-01-05T08:00:00+00:00"
    assert up.case.facts["level_deadline"] == up.step.facts["level_deadline"]
    # now the district may not act on it any more; the city takes it
    assert WF.allowed_actions(up.case, district) == []
    with pytest.raises(TransitionRefused) as refused:
        WF.apply(up.case, Command(Action.DISPATCH), district, NOW)
    assert refused.value.code == "not_your_level"
    assert Action.HAND_DOWN in WF.allowed_actions(up.case, city)
    down = WF.apply(up.case, Command(Action.HAND_DOWN, opinion="属区级事权"), city, NOW)
    assert down.case.centre == HAIZHOU
    assert (down.step.facts["from_centre"], down.step.facts["to_centre"]) == (CITY_ID, HAIZHOU)
    assert Action.DISPATCH in WF.allowed_actions(down.case, district)


def test_a_case_outside_every_district_cannot_be_handed_down() -> None:
    city = desk(Role.OPERATOR, None)
    with pytest.raises(TransitionRefused) as refused:
        WF.apply(case(grid_code=GY_GRID), Command(Action.HAND_DOWN, opinion="x"), city, NOW)
    assert refused.value.code == "no_district"


def test_without_an_organisation_nothing_is_escalated() -> None:
    plain = workflow(CONFIG)
    with pytest.raises(TransitionRefused) as refused:
        plain.apply(
            case(grid_code=HZ_GRID),
            Command(Action.ESCALATE, opinion="x"),
            desk(Role.OPERATOR, HAIZHOU),
            NOW,
        )
    assert refused.value.code == "not_your_level"


def test_a_missed_escalation_deadline_turns_the_case_red_until_the_city_takes_it_up() -> None:
    """上报 at Monday 11:00 gives the city 4 working hours, to 16:00: the case's light is
    that window's (green, yellow past 80 %, red past 16:00, `level_overdue`); the city's
    first step ends it, recorded as late; afterwards the disposal deadline's light rules."""
    district, city = desk(Role.SHIFT_LEAD, HAIZHOU), desk(Role.DISPATCHER, None)
    start = case(CaseState.REGISTERED, grid_code=HZ_GRID)
    up = WF.apply(start, Command(Action.ESCALATE, opinion="跨区，需市级协调"), district, NOW)
    due = MONDAY_10 + timedelta(hours=6)  # 16:00 Shanghai
    assert level_window(up.case.facts) == (NOW, due)
    assert WF.light(up.case, NOW) == "green"
    assert WF.light(up.case, due - timedelta(minutes=30)) == "yellow"  # 3.5 of 4 hours
    assert WF.light(up.case, due) == "yellow" and not level_overdue(up.case.facts, due)
    late = due + timedelta(minutes=1)
    assert WF.light(up.case, late) == "red" and level_overdue(up.case.facts, late)
    taken = WF.apply(up.case, Command(Action.DISPATCH), city, late)
    assert taken.step.facts["level_on_time"] is False
    assert level_window(taken.case.facts) is None
    assert taken.case.facts["to_centre"] == CITY_ID  # the move itself stays on the case
    assert WF.light(taken.case, late) == "green"  # now the disposal deadline's


def test_a_hand_down_is_taken_up_only_by_the_district_or_by_leaving_its_states() -> None:
    city_op, district_op = desk(Role.OPERATOR, None), desk(Role.OPERATOR, HAIZHOU)
    up = WF.apply(
        case(CaseState.CANDIDATE, grid_code=HZ_GRID),
        Command(Action.ESCALATE, opinion="跨区，需市级协调"),
        district_op,
        NOW,
    )
    down = WF.apply(up.case, Command(Action.HAND_DOWN, opinion="属区级事权"), city_op, NOW)
    assert down.step.facts["level_on_time"] is True  # the city took up the escalation
    # the city registering it is no take-up by the district: the window runs on
    registered = WF.apply(down.case, Command(Action.REGISTER), city_op, NOW)
    assert "level_on_time" not in registered.step.facts
    assert level_window(registered.case.facts) is not None
    # the district's first step, in time
    taken = WF.apply(down.case, Command(Action.REGISTER), district_op, NOW + timedelta(minutes=10))
    assert taken.step.facts["level_on_time"] is True
    assert WF.light(taken.case, NOW + timedelta(days=3)) is None  # registered, not dispatched
    # a case the city dispatches itself leaves 立案: the window ends, whoever moved it
    dispatched = WF.apply(
        registered.case, Command(Action.DISPATCH), desk(Role.DISPATCHER, None), NOW
    )
    assert dispatched.step.facts["level_on_time"] is True
    assert level_window(dispatched.case.facts) is None
