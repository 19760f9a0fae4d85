"""四级联动 in the state machine: a street office passes its case to one of its communities
(转派社区), the community acts on it as a department does, the street takes it back (收回);
nobody acts on a case they do not hold."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.core.metrics import evaluate
from gateway.core.organisation import Organisation
from gateway.core.settings import MetricWeights
from gateway.core.workflow import (
    Action,
    Actor,
    Case,
    CaseState,
    Command,
    PendingKind,
    Role,
    Step,
    TransitionRefused,
)
from tests.core.helpers import MONDAY_10, case, core_config, workflow

CONFIG = core_config()
ORG = Organisation.from_config(CONFIG.organisation, {d.id: d.name for d in CONFIG.departments})
WF = workflow(CONFIG)
WF.organisation = ORG
NOW = MONDAY_10 + timedelta(hours=1)

STREET = "street-320706001"  # 海州街道
GULOU, BAIHU = "community-320706001001", "community-320706001002"  # 鼓楼社区, 白虎山社区
OTHER_STREETS_COMMUNITY = "community-320706002001"  # 幸福南路社区 (幸福路街道)
GULOU_GRID = "32070600100101"


def unit(name: str, department: str) -> Actor:
    node = ORG.node_of_department(department)
    return Actor(name, Role.DEPARTMENT, department, org_node=node.id if node else None)


STREET_USER = unit("hz-street", STREET)
GULOU_USER = unit("gulou", GULOU)
BAIHU_USER = unit("baihu", BAIHU)
DEPT_USER = unit("hz-dept", "hz-sanitation")


def with_street(**fields: object) -> Case:
    values: dict[str, object] = {"department": STREET, "grid_code": GULOU_GRID}
    values.update(fields)
    return case(CaseState.PROCESSING, deadline=MONDAY_10 + timedelta(days=2), **values)


def refused(case_: Case, command: Command, actor: Actor) -> str:
    with pytest.raises(TransitionRefused) as caught:
        WF.apply(case_, command, actor, NOW)
    return caught.value.code


def test_communities_are_units_of_their_street_with_community_ids() -> None:
    assert ORG.communities_of(STREET) == {
        GULOU: "鼓楼社区",
        BAIHU: "白虎山社区",
        "community-320706001003": "孔望山社区",
        "community-320706001004": "朐山社区",
    }
    assert ORG.community_of_grid(STREET, GULOU_GRID) == GULOU
    assert ORG.community_of_grid(STREET, "32070600200105") is None  # another street's grid
    assert ORG.street_office_of(GULOU) == STREET and ORG.is_community(GULOU)
    assert not ORG.is_community(STREET) and ORG.communities_of("hz-sanitation") == {}
    # a community's users are department users, known to the dispatch table (users, names)
    assert WF.table.is_department(GULOU)
    # ... but no centre dispatches to a community
    assert GULOU not in ORG.dispatch_targets(ORG.node("320706"))


def test_the_street_office_passes_its_case_to_the_grids_community_by_default() -> None:
    start = with_street()
    assert Action.ASSIGN_COMMUNITY in WF.allowed_actions(start, STREET_USER)
    assert Action.RECALL_COMMUNITY not in WF.allowed_actions(start, STREET_USER)
    done = WF.apply(
        start, Command(Action.ASSIGN_COMMUNITY, opinion="网格员就近处置"), STREET_USER, NOW
    )
    assert done.case.community == GULOU
    assert done.case.state is CaseState.PROCESSING  # still 处置
    # the street office stays the responsible unit, the deadline unchanged
    assert done.case.department == STREET and done.case.deadline == start.deadline
    assert done.step.department == STREET
    assert done.step.facts == {"community": GULOU, "community_name": "鼓楼社区", "by_grid": True}
    assert done.step.opinion == "网格员就近处置"


def test_the_street_office_may_name_another_of_its_communities_but_not_a_foreign_one() -> None:
    start = with_street()
    named = Command(Action.ASSIGN_COMMUNITY, opinion="白虎山社区人手充足", community=BAIHU)
    done = WF.apply(start, named, STREET_USER, NOW)
    assert done.case.community == BAIHU and done.step.facts["by_grid"] is False
    foreign = Command(Action.ASSIGN_COMMUNITY, opinion="x", community=OTHER_STREETS_COMMUNITY)
    assert refused(start, foreign, STREET_USER) == "community_not_in_street"
    # a case on another street's grid has no community of this street to default to
    elsewhere = with_street(grid_code="32070600200105")
    command = Command(Action.ASSIGN_COMMUNITY, opinion="x")
    assert refused(elsewhere, command, STREET_USER) == "community_required"


def test_passing_down_needs_a_reason_a_street_office_and_a_case_in_disposal() -> None:
    start = with_street()
    assert refused(start, Command(Action.ASSIGN_COMMUNITY), STREET_USER) == "opinion_required"
    # a department is no street office: it has no communities
    departments = with_street(department="hz-sanitation")
    command = Command(Action.ASSIGN_COMMUNITY, opinion="x")
    assert refused(departments, command, DEPT_USER) == "not_a_street_office"
    assert Action.ASSIGN_COMMUNITY not in WF.allowed_actions(departments, DEPT_USER)
    # another street office's case is not this one's
    assert refused(with_street(department="street-320706002"), command, STREET_USER) == (
        "not_your_case"
    )
    for state in (CaseState.REGISTERED, CaseState.REPORTED, CaseState.SUSPENDED):
        moved = case(state, department=STREET, grid_code=GULOU_GRID)
        assert refused(moved, command, STREET_USER) == "wrong_state"
    # the desk does not pass cases to communities
    dispatcher = Actor("hz-disp", Role.DISPATCHER, org_node="320706", reach=("320706",))
    assert refused(start, command, dispatcher) == "forbidden_role"


def test_the_community_acts_on_the_cases_passed_to_it_as_a_department() -> None:
    passed = with_street(community=GULOU)
    allowed = WF.allowed_actions(passed, GULOU_USER)
    assert set(allowed) == {
        Action.REPORT,
        Action.REQUEST_EXTENSION,
        Action.REQUEST_RETURN,
        Action.REQUEST_SUSPENSION,
    }
    reported = WF.apply(passed, Command(Action.REPORT, opinion="已清理"), GULOU_USER, NOW)
    assert reported.case.state is CaseState.REPORTED
    assert reported.case.department == STREET and reported.case.community == GULOU
    assert reported.step.facts["by_community"] == GULOU
    assert reported.step.department == STREET  # the unit answerable to the centre
    asked = Command(Action.REQUEST_EXTENSION, opinion="需协调物业", extension_hours=8)
    pending = WF.apply(passed, asked, GULOU_USER, NOW).case.pending
    assert pending is not None and pending.kind is PendingKind.EXTENSION
    assert pending.requested_by == "gulou"


def test_a_community_may_not_act_on_another_communitys_or_the_streets_case() -> None:
    report = Command(Action.REPORT)
    assert refused(with_street(community=BAIHU), report, GULOU_USER) == "not_your_community"
    assert refused(with_street(), report, GULOU_USER) == "not_your_community"  # the street's
    assert WF.allowed_actions(with_street(community=BAIHU), GULOU_USER) == []
    # nor pass a case on, nor take one back
    for action in (Action.ASSIGN_COMMUNITY, Action.RECALL_COMMUNITY):
        command = Command(action, opinion="x")
        assert refused(with_street(community=GULOU), command, GULOU_USER) == "street_office_only"


def test_the_street_does_not_act_on_a_case_its_community_holds_but_takes_it_back() -> None:
    passed = with_street(community=GULOU)
    assert WF.allowed_actions(passed, STREET_USER) == [Action.RECALL_COMMUNITY]
    assert refused(passed, Command(Action.REPORT), STREET_USER) == "with_community"
    again = Command(Action.ASSIGN_COMMUNITY, opinion="x", community=BAIHU)
    assert refused(passed, again, STREET_USER) == "with_community"
    assert refused(passed, Command(Action.RECALL_COMMUNITY), STREET_USER) == "opinion_required"
    back = WF.apply(
        passed, Command(Action.RECALL_COMMUNITY, opinion="社区无法处置"), STREET_USER, NOW
    )
    assert back.case.community is None and back.case.state is CaseState.PROCESSING
    assert back.step.facts == {"from_community": GULOU, "community_name": "鼓楼社区"}
    assert back.case.deadline == passed.deadline
    # the street reports it itself now, the community no longer acts on it
    assert Action.REPORT in WF.allowed_actions(back.case, STREET_USER)
    assert refused(back.case, Command(Action.REPORT), GULOU_USER) == "not_your_community"
    command = Command(Action.RECALL_COMMUNITY, opinion="x")
    assert refused(back.case, command, STREET_USER) == "not_with_community"
    # a suspended case is taken back too (the clock stays stopped)
    suspended = case(CaseState.SUSPENDED, department=STREET, community=GULOU)
    assert WF.apply(suspended, command, STREET_USER, NOW).case.state is CaseState.SUSPENDED


def test_a_return_and_a_new_dispatch_leave_no_community_rework_keeps_it() -> None:
    lead = Actor("hz-lead", Role.SHIFT_LEAD, org_node="320706", reach=("320706",))
    returning = WF.apply(
        with_street(community=GULOU),
        Command(Action.REQUEST_RETURN, opinion="不属社区职责"),
        GULOU_USER,
        NOW,
    ).case
    returned = WF.apply(returning, Command(Action.APPROVE), lead, NOW).case
    assert returned.state is CaseState.REGISTERED
    assert returned.department is None and returned.community is None
    redispatched = WF.apply(
        case(CaseState.REGISTERED, community=GULOU, grid_code=GULOU_GRID),
        Command(Action.DISPATCH, department=STREET),
        lead,
        NOW,
    ).case
    assert redispatched.community is None
    inspector = Actor("insp", Role.INSPECTOR)
    reported = case(CaseState.REPORTED, department=STREET, community=GULOU)
    rework = WF.apply(reported, Command(Action.VERIFY_FAIL, opinion="未清理干净"), inspector, NOW)
    assert rework.case.state is CaseState.PROCESSING and rework.case.community == GULOU


def test_without_an_organisation_nobody_passes_cases_to_communities() -> None:
    plain = workflow(CONFIG)
    start = with_street()
    with pytest.raises(TransitionRefused) as caught:
        plain.apply(start, Command(Action.ASSIGN_COMMUNITY, opinion="x"), STREET_USER, NOW)
    assert caught.value.code == "not_a_street_office"


def _log(*steps: tuple[float, Action, CaseState, dict]) -> list[Step]:
    return [
        Step(
            "k",
            MONDAY_10 + timedelta(hours=h),
            a,
            None,
            to,
            "u",
            Role.SYSTEM,
            department=f.pop("department", None),
            facts=f,
        )
        for h, a, to, f in steps
    ]


def test_the_community_grouping_counts_the_community_holding_a_case_last() -> None:
    S = CaseState
    start = [
        (0, Action.CREATE, S.CANDIDATE, {"grid_code": GULOU_GRID, "event_code": "0102"}),
        (0.5, Action.REGISTER, S.REGISTERED, {}),
        (1, Action.DISPATCH, S.PROCESSING, {"department": STREET}),
        (2, Action.ASSIGN_COMMUNITY, S.PROCESSING, {"community": GULOU}),
    ]
    end = MONDAY_10 + timedelta(days=7)

    def groups(*rest: tuple[float, Action, CaseState, dict]) -> list[str]:
        steps = _log(*[(h, a, s, dict(f)) for h, a, s, f in (*start, *rest)])
        return [m.group for m in evaluate(steps, MONDAY_10, end, MetricWeights(), "community")]

    assert groups() == [GULOU]
    assert groups((3, Action.REPORT, S.REPORTED, {})) == [GULOU]
    assert groups((3, Action.RECALL_COMMUNITY, S.PROCESSING, {"from_community": GULOU})) == [
        "(none)"
    ]
    assert groups(
        (3, Action.RECALL_COMMUNITY, S.PROCESSING, {}),
        (4, Action.ASSIGN_COMMUNITY, S.PROCESSING, {"community": BAIHU}),
    ) == [BAIHU]
    assert groups((3, Action.APPROVE, S.REGISTERED, {"request": "return"})) == ["(none)"]
