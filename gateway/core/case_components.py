"""部件问题: the census component (部件, CJ/T 214) a case is about, and linking it.

For a case at a point the operator is offered the components of the event's component
types within R metres, nearest first (`component_types`), and links the case to one with
a click (`link_component`). The link lives in the case's facts (``facts["component"]``:
the component's 16-digit id, type, name, owner and owner department, its distance from
the case's point, who linked it and when) and every link is a ``link_component`` step of
the case's log with the link and the one it replaced: linking again replaces the link with
a new step, the history keeps both. The case's state does not change; its version does.

Which component types an event is about: a hotline case's caller chose a component
category (the candidate's ``facts["category"]`` names the components table and a class,
`gateway.telephony.call_report`), else the event code's row of
``config/core/cjt214-event-components.csv`` (`gateway.gis.codes.load_event_component_types`);
None: the event is about no component class (the console then lists every class).

Who may link: the desk (受理员, 值班长, 派遣员) of the level handling the case, while the
case is open. The owner department is shown to the dispatcher as a hint; it changes no
dispatch rule. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.core.case_model import (
    OPEN_STATES,
    Action,
    Actor,
    Case,
    Role,
    Step,
    Transition,
    TransitionRefused,
)
from gateway.core.organisation import Organisation, level_refusal

#: who links a case to a component: the centre's desk
LINK_ROLES = frozenset({Role.OPERATOR, Role.SHIFT_LEAD, Role.DISPATCHER})
#: the case's facts key holding the link
FACT = "component"
_CLASS = re.compile(r"^\d{2}$")


@dataclass(frozen=True)
class ComponentLink:
    """The component a case is linked to, as the case keeps it."""

    id: str  # 16 digits: county 6 + class 2 + subclass 2 + serial 6
    type_code: str  # class 2 + subclass 2
    type_name: str  # the CJ/T 214 type's name (上水井盖)
    name: str  # the component's own name (the type's unless the census named it)
    owner: str  # 权属单位 as the census records it
    owner_department: str | None = None  # the dispatch table's department of that owner
    distance_m: float | None = None  # from the case's point, when it has one

    def as_facts(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def component_types(
    case: Case, event_types: Mapping[str, tuple[str, ...]]
) -> tuple[str, ...] | None:
    """The component classes (2 digits) or types (4) the case is about: the caller's
    component category, else the event's row of the table; None: no component class."""
    category = case.facts.get("category")
    if isinstance(category, dict) and category.get("cjt214_table") == "components":
        chosen = category.get("cjt214_class")
        if isinstance(chosen, str) and _CLASS.fullmatch(chosen):
            return (chosen,)
    return event_types.get(case.event_code)


def owner_department(owner: str, departments: Mapping[str, str]) -> str | None:
    """The department (id) of the dispatch table that a component's owner names, by id or
    by name; None when the owner is no department the centre dispatches to."""
    text = owner.strip()
    if not text:
        return None
    if text in departments:
        return text
    return next((d for d, name in departments.items() if name == text), None)


def linked(case: Case) -> dict[str, Any] | None:
    """The case's link as kept in its facts (`ComponentLink.as_facts` + who and when)."""
    found = case.facts.get(FACT)
    return found if isinstance(found, dict) else None


def link_refusal(
    case: Case, actor: Actor, organisation: Organisation | None
) -> tuple[str, str] | None:
    """(code, reason) when ``actor`` may not link ``case`` to a component now, else None."""
    if actor.role not in LINK_ROLES:
        names = ", ".join(sorted(str(r) for r in LINK_ROLES))
        return "forbidden_role", f"a {actor.role} may not link a component (only {names})"
    if case.state not in OPEN_STATES:
        return "wrong_state", f"cannot link a component to a case in state {case.state}"
    return level_refusal(organisation, str(Action.LINK_COMPONENT), actor.org_node, case)


def link_component(
    case: Case,
    link: ComponentLink,
    actor: Actor,
    now: datetime,
    organisation: Organisation | None = None,
) -> Transition:
    """The case linked to ``link`` (replacing any earlier link) and its log step; raises
    `TransitionRefused` (forbidden_role, wrong_state, not_your_level)."""
    refusal = link_refusal(case, actor, organisation)
    if refusal is not None:
        raise TransitionRefused(*refusal)
    earlier = linked(case)
    kept = {**link.as_facts(), "linked_by": actor.name, "linked_at": now.isoformat()}
    changed = dataclasses.replace(case, facts={**case.facts, FACT: kept}, version=case.version + 1)
    facts: dict[str, Any] = {FACT: link.as_facts()}
    if earlier is not None:
        facts["replaced"] = earlier.get("id")
    step = Step(
        case.id,
        now,
        Action.LINK_COMPONENT,
        case.state,
        case.state,
        actor.name,
        actor.role,
        department=case.department,
        facts=facts,
    )
    return Transition(changed, step)
