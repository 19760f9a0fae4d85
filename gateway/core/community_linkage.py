"""四级联动, the fourth level: a street office passes a case to one of its communities.

A district centre dispatches a case to a street office (街道, a unit like a department);
the street office may pass it on to one of its communities (转派社区: 社区居委会 / 网格员)
with a reason, and take it back (收回). The case stays in 处置 and the street office stays
the responsible unit (``case.department``: the centre's deadline, 派遣 figures and the
district's evaluation of its streets); ``case.community`` names who holds it now.

One holder acts at a time:

- the community's users (role department, their unit ``community-<12 digits>``) act on
  the cases passed to them as a department does on its own: 处理反馈 (report, straight
  to the centre, which verifies and closes), 申请延时, 申请回退, 申请挂账;
- the street office acts on its cases that are with no community, passes them down, and
  takes back the ones that are; it does not report a case its community holds;
- a community may not act on another community's case nor on the street's own
  (``not_your_community``), nor pass cases on (``street_office_only``).

Pure: the refusals and the effects; `gateway.core.workflow` applies them.
"""

from __future__ import annotations

from typing import Any

from gateway.core.case_model import Action, Actor, Case, Command, TransitionRefused
from gateway.core.organisation import Organisation

#: the street office's steps of the fourth level
COMMUNITY_ACTIONS = frozenset({Action.ASSIGN_COMMUNITY, Action.RECALL_COMMUNITY})


def holder_refusal(
    org: Organisation | None, case: Case, action: Action, actor: Actor
) -> tuple[str, str] | None:
    """(code, reason) when the department-role ``actor`` (a department, a street office
    or a community) may not take ``action`` on ``case`` now; None when they may."""
    unit = actor.department
    if org is not None and org.is_community(unit):
        if action in COMMUNITY_ACTIONS:
            return (
                "street_office_only",
                "only the street office passes a case to a community or takes it back",
            )
        if case.community is None or case.community != unit:
            return "not_your_community", f"case {case.number} is not passed to {unit}"
        return None
    if unit is None or unit != case.department:
        return "not_your_case", f"case {case.number} is not your department's"
    if action in COMMUNITY_ACTIONS:
        if org is None or not org.is_street_office(unit):
            return "not_a_street_office", f"{unit} is not a street office: it has no communities"
        if action is Action.RECALL_COMMUNITY:
            if case.community is None:
                return "not_with_community", f"case {case.number} is with no community"
            return None
        if not org.communities_of(unit):
            return "community_required", f"street office {unit} has no community"
    if case.community is not None:
        return (
            "with_community",
            f"case {case.number} is with community {case.community}: take it back first",
        )
    return None


def pass_down(
    org: Organisation | None, case: Case, command: Command
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(case changes, step facts) of 转派社区, already allowed by `holder_refusal`: to the
    community named, else to the street's community whose grid prefix holds the case's
    grid. `TransitionRefused` when there is none, or the one named is not the street's."""
    assert org is not None  # checked by holder_refusal (not_a_street_office)
    street_office = case.department
    communities = org.communities_of(street_office)
    by_grid = command.community is None
    community = command.community or org.community_of_grid(street_office, case.grid_code)
    if community is None:
        raise TransitionRefused(
            "community_required",
            f"grid {case.grid_code} lies in none of the street's communities: name one",
        )
    if community not in communities:
        raise TransitionRefused(
            "community_not_in_street", f"{community} is not a community of {street_office}"
        )
    facts = {"community": community, "community_name": communities[community], "by_grid": by_grid}
    return {"community": community}, facts


def take_back(org: Organisation | None, case: Case) -> tuple[dict[str, Any], dict[str, Any]]:
    """(case changes, step facts) of 收回: the case is the street office's again."""
    node = org.node_of_department(case.community) if org is not None else None
    facts = {
        "from_community": case.community,
        "community_name": node.name if node is not None else case.community,
    }
    return {"community": None}, facts


def holder_facts(case: Case, actor: Actor) -> dict[str, Any]:
    """What a step taken by a community's user records of it (``by_community``)."""
    if case.community is not None and actor.department == case.community:
        return {"by_community": case.community}
    return {}
