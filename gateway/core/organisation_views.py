"""How the organisation shows on a case and to a user (JSON for the console and the API).

- `centre_out`: the centre handling a case (``centre``, ``centre_name``), for every case
  in a list and on the case page;
- `levels_out`: every level a case passed, from its log: the centre that first had it,
  then each 上报 / 下派 with who, when, why and by when the receiving centre must act;
- `community_out`: the community a street office passed the case to (四级联动);
- `me_out`: where a user sits, what they see, whom they dispatch to and, a street office's
  users, the communities they pass cases to.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gateway.core.organisation import KIND_LABELS, Organisation
from gateway.core.workflow import Action, Actor, Case, Role, Step


def centre_out(org: Organisation | None, case: Case) -> dict[str, Any]:
    if org is None:
        return {"centre": None, "centre_name": None}
    centre = org.handling_centre(case.centre, case.grid_code)
    return {"centre": centre.id, "centre_name": centre.name}


def community_out(org: Organisation | None, case: Case) -> dict[str, Any]:
    node = org.node_of_department(case.community) if org is not None else None
    return {
        "community": case.community,
        "community_name": node.name if node is not None else case.community,
    }


def levels_out(org: Organisation | None, case: Case, steps: Iterable[Step]) -> list[dict[str, Any]]:
    """[{centre, centre_name, action, at, actor, reason, level_deadline}], first the
    centre that had the case when it came in."""
    if org is None:
        return []
    moves = [s for s in steps if s.action in (Action.ESCALATE, Action.HAND_DOWN)]
    first = (
        org.get(str(moves[0].facts.get("from_centre")))
        if moves
        else org.handling_centre(case.centre, case.grid_code)
    ) or org.city
    levels: list[dict[str, Any]] = [
        {"centre": first.id, "centre_name": first.name, "action": "create", "at": case.created_at}
    ]
    for step in moves:
        node = org.get(str(step.facts.get("to_centre"))) or org.city
        levels.append(
            {
                "centre": node.id,
                "centre_name": node.name,
                "action": str(step.action),
                "at": step.at,
                "actor": step.actor,
                "reason": step.opinion,
                "level_deadline": step.facts.get("level_deadline"),
            }
        )
    return levels


def me_out(org: Organisation | None, actor: Actor) -> dict[str, Any]:
    """The user's node and centre, the departments and streets they dispatch to, and the
    communities a street office's users pass cases to (转派社区)."""
    if org is None:
        return {"node": None, "centre": None, "dispatch_targets": [], "communities": []}
    node = org.get(actor.org_node) or org.city
    centre = org.centre_of(actor.org_node)
    desk = actor.role in (Role.OPERATOR, Role.SHIFT_LEAD, Role.DISPATCHER)
    targets = org.dispatch_targets(centre) if desk else {}
    communities = [
        n for k in org.communities_of(actor.department) if (n := org.node_of_department(k))
    ]
    return {
        "node": {**node.as_dict(), "kind_label": KIND_LABELS[node.kind]},
        "centre": centre.as_dict(),
        "dispatch_targets": [{"id": k, "name": v} for k, v in targets.items()],
        "communities": [
            {"id": c.department, "name": c.name, "grids": list(c.grids)} for c in communities
        ],
    }
