"""The organisation tree of the centre: 两级监督、两级指挥、三级考核、四级联动.

    市 city centre ─┬─ city departments (core.departments)
                    └─ 区 district centres ─┬─ district departments
                                            └─ 街道 streets (street offices) ── 社区 communities

Each territorial node covers the unit grids whose codes start with its code (grid codes
nest county 6 + street 3 + community 3, `gateway.gis.codes`); the city covers all. A
user belongs to a node; the *centre* above it (the city, or a district) decides what the
user sees and may do:

- a district centre's desk (受理员, 值班长, 派遣员) sees the cases on its district's grids,
  acts on those its district handles, and dispatches to its departments and streets;
- the city centre sees every case, acts on any, dispatches to the city's departments and
  takes the cases a district escalates (上报), or hands one down (下派) to its district;
- a street office passes a case it holds to one of its communities (四级联动,
  `gateway.core.community_linkage`).

A case is handled by the centre on ``case.centre`` (set by 上报/下派), else by the
district whose grids hold it, else by the city. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from gateway.core.organisation_settings import Level, OrganisationConfig

CITY_ID = "city"


class Placed(Protocol):
    """What the level rules read of a case (`gateway.core.workflow.Case`)."""

    @property
    def centre(self) -> str | None: ...
    @property
    def grid_code(self) -> str | None: ...


class NodeKind(StrEnum):
    CITY = "city"  # 市级中心
    DISTRICT = "district"  # 区级中心
    STREET = "street"  # 街道
    COMMUNITY = "community"  # 社区
    DEPARTMENT = "department"  # 专业部门 (of the city or of a district)


KIND_LABELS = {
    NodeKind.CITY: "市级中心",
    NodeKind.DISTRICT: "区级中心",
    NodeKind.STREET: "街道",
    NodeKind.COMMUNITY: "社区",
    NodeKind.DEPARTMENT: "部门",
}


@dataclass(frozen=True)
class OrgNode:
    id: str
    kind: NodeKind
    name: str
    parent: str | None = None
    #: unit grid code prefixes it covers; () for the city (everything) and departments
    grids: tuple[str, ...] = ()
    #: the unit id of a department, a street office or a community (its users' department;
    #: a centre dispatches to departments and street offices, a street passes to communities)
    department: str | None = None

    @property
    def is_centre(self) -> bool:
        return self.kind in (NodeKind.CITY, NodeKind.DISTRICT)

    def covers(self, grid_code: str | None) -> bool:
        if self.kind is NodeKind.CITY:
            return True
        return bool(grid_code) and any(grid_code.startswith(g) for g in self.grids)  # type: ignore[union-attr]

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "kind": str(self.kind),
            "kind_label": KIND_LABELS[self.kind],
            "name": self.name,
            "parent": self.parent,
            "grids": list(self.grids),
            "department": self.department,
        }


class Organisation:
    """The tree, looked up by node id, by department id and by grid code."""

    def __init__(self, nodes: Iterable[OrgNode], limit_hours: float = 4) -> None:
        #: working hours a centre has to take up an escalated / handed-down case
        self.limit_hours = limit_hours
        self._nodes: dict[str, OrgNode] = {}
        self._children: dict[str, list[OrgNode]] = {}
        self._by_department: dict[str, OrgNode] = {}
        for node in nodes:
            if node.id in self._nodes:
                raise ValueError(f"组织节点编号 {node.id!r} 重复")
            self._nodes[node.id] = node
            if node.parent is not None:
                self._children.setdefault(node.parent, []).append(node)
            if node.department is not None:
                self._by_department[node.department] = node
        if CITY_ID not in self._nodes:
            raise ValueError("组织树缺少市级中心")
        self.city = self._nodes[CITY_ID]
        self._districts = self.children(CITY_ID, NodeKind.DISTRICT)

    @classmethod
    def from_config(
        cls, config: OrganisationConfig, city_departments: dict[str, str]
    ) -> Organisation:
        """The tree of ``core.organisation``; ``city_departments``: ``core.departments``."""
        nodes = [OrgNode(CITY_ID, NodeKind.CITY, config.city_name)]
        nodes += [
            OrgNode(d, NodeKind.DEPARTMENT, name, CITY_ID, department=d)
            for d, name in city_departments.items()
        ]
        for district in config.districts:
            nodes.append(
                OrgNode(district.code, NodeKind.DISTRICT, district.name, CITY_ID, (district.code,))
            )
            nodes += [
                OrgNode(d.id, NodeKind.DEPARTMENT, d.name, district.code, department=d.id)
                for d in district.departments
            ]
            for street in district.streets:
                nodes.append(
                    OrgNode(
                        street.code,
                        NodeKind.STREET,
                        street.name,
                        district.code,
                        (street.code,),
                        street.department_id,
                    )
                )
                nodes += [
                    OrgNode(
                        c.code, NodeKind.COMMUNITY, c.name, street.code, (c.code,), c.department_id
                    )
                    for c in street.communities
                ]
        return cls(nodes, config.level_limit_hours)

    # ------------------------------------------------------------------ lookups

    def get(self, node_id: str | None) -> OrgNode | None:
        return self._nodes.get(node_id) if node_id is not None else None

    def node(self, node_id: str) -> OrgNode:
        return self._nodes[node_id]

    def nodes(self) -> list[OrgNode]:
        return list(self._nodes.values())

    def children(self, node_id: str, kind: NodeKind | None = None) -> list[OrgNode]:
        return [n for n in self._children.get(node_id, []) if kind is None or n.kind is kind]

    def node_of_department(self, department: str | None) -> OrgNode | None:
        return self._by_department.get(department) if department is not None else None

    def centre_of(self, node_id: str | None) -> OrgNode:
        """The centre (district or city) a node belongs to; None and unknown: the city."""
        node = self.get(node_id)
        while node is not None and not node.is_centre:
            node = self.get(node.parent)
        return node or self.city

    def within(self, node_id: str | None, unit_id: str) -> bool:
        """Whether ``node_id`` is ``unit_id`` or lies under it (None: the city centre)."""
        node = self.get(node_id) if node_id is not None else self.city
        while node is not None:
            if node.id == unit_id:
                return True
            node = self.get(node.parent)
        return False

    def district_of_grid(self, grid_code: str | None) -> OrgNode | None:
        for district in self._districts:
            if district.covers(grid_code):
                return district
        return None

    def handling_centre(self, centre: str | None, grid_code: str | None) -> OrgNode:
        """Who handles a case: its ``centre`` (after 上报/下派), else its grid's district."""
        return self.get(centre) or self.district_of_grid(grid_code) or self.city

    def reach(self, node_id: str | None) -> tuple[str, ...]:
        """The grid prefixes a user of ``node_id`` sees cases on; () for everything."""
        return self.centre_of(node_id).grids

    def dispatch_targets(self, centre: OrgNode) -> dict[str, str]:
        """{dispatch id: name} a centre dispatches to: the city its departments; a district
        its departments and its streets' offices."""
        targets: dict[str, str] = {}
        for child in self.children(centre.id):
            if child.department is not None and child.kind in (
                NodeKind.DEPARTMENT,
                NodeKind.STREET,
            ):
                targets[child.department] = child.name
        return targets

    def street_office(self, grid_code: str | None) -> str | None:
        """The dispatch id of the street holding ``grid_code``, if it is in the tree."""
        for node in self._nodes.values():
            if node.kind is NodeKind.STREET and node.covers(grid_code):
                return node.department
        return None

    # ------------------------------------------------------------------ 四级联动

    def is_community(self, unit: str | None) -> bool:
        """Whether ``unit`` (a department id) is a community's (社区居委会)."""
        node = self.node_of_department(unit)
        return node is not None and node.kind is NodeKind.COMMUNITY

    def is_street_office(self, unit: str | None) -> bool:
        node = self.node_of_department(unit)
        return node is not None and node.kind is NodeKind.STREET

    def communities_of(self, street_office: str | None) -> dict[str, str]:
        """{community unit id: name} of the street whose office is ``street_office``;
        {} for any other unit."""
        node = self.node_of_department(street_office)
        if node is None or node.kind is not NodeKind.STREET:
            return {}
        return {
            c.department: c.name
            for c in self.children(node.id, NodeKind.COMMUNITY)
            if c.department is not None
        }

    def community_of_grid(self, street_office: str | None, grid_code: str | None) -> str | None:
        """The unit id of the street's community whose grid prefix holds ``grid_code``."""
        node = self.node_of_department(street_office)
        if node is None or node.kind is not NodeKind.STREET:
            return None
        for community in self.children(node.id, NodeKind.COMMUNITY):
            if community.covers(grid_code):
                return community.department
        return None

    def street_office_of(self, community: str | None) -> str | None:
        """The office of the street a community (its unit id) belongs to."""
        node = self.node_of_department(community)
        if node is None or node.kind is not NodeKind.COMMUNITY:
            return None
        street = self.get(node.parent)
        return street.department if street is not None else None

    # ------------------------------------------------------------------ evaluation

    @staticmethod
    def level_of(node: OrgNode) -> Level:
        if node.kind is NodeKind.CITY:
            return "city"
        if node.kind is NodeKind.DISTRICT:
            return "district"
        if node.kind is NodeKind.STREET:
            return "street"
        raise ValueError(f"{KIND_LABELS[node.kind]}不进行下级考核")

    def evaluated_units(self, node: OrgNode) -> list[OrgNode]:
        """三级考核: the city evaluates its districts and departments, a district its
        streets and departments, a street its communities."""
        kinds = {
            NodeKind.CITY: (NodeKind.DISTRICT, NodeKind.DEPARTMENT),
            NodeKind.DISTRICT: (NodeKind.STREET, NodeKind.DEPARTMENT),
            NodeKind.STREET: (NodeKind.COMMUNITY,),
        }.get(node.kind, ())
        return [n for n in self.children(node.id) if n.kind in kinds]

    # ------------------------------------------------------------------ who acts

    def level_refusal(
        self, action: str, actor_node: str | None, case: Placed, department: str | None = None
    ) -> tuple[str, str] | None:
        """(code, reason) when a desk user (受理员, 值班长, 派遣员) of ``actor_node`` may
        not take ``action`` on ``case`` at this level (or dispatch it to ``department``);
        None when they may. The city acts on every case and hands down (下派) the ones it
        handles; a district acts on the cases it handles and escalates (上报) them."""
        mine = self.centre_of(actor_node)
        handling = self.handling_centre(case.centre, case.grid_code)
        if action == "escalate":
            if mine.kind is not NodeKind.DISTRICT or handling.id != mine.id:
                return "not_your_level", "only the district centre handling a case escalates it"
            return None
        if action == "hand_down":
            if mine.kind is not NodeKind.CITY or handling.id != CITY_ID:
                return "not_your_level", "only the city centre hands down the cases it handles"
            if self.district_of_grid(case.grid_code) is None:
                return "no_district", f"grid {case.grid_code} lies in no district to hand down to"
            return None
        if mine.kind is not NodeKind.CITY and handling.id != mine.id:
            return "not_your_level", f"the case is handled by {handling.id}, not {mine.id}"
        targets = self.dispatch_targets(mine) if action == "dispatch" and department else None
        if targets is not None and department not in targets:
            why = f"{mine.id} dispatches only to its own departments and streets"
            return "department_not_in_level", why
        return None

    def dispatch_target(self, actor_node: str | None, choice: str, case: Placed) -> str:
        """Where a desk user of ``actor_node`` dispatches ``case`` when they name no
        department: the responsibility table's ``choice`` if it is one of their centre's
        targets, else the street office of the case's grid, else the centre's first."""
        targets = self.dispatch_targets(self.centre_of(actor_node))
        if choice in targets or not targets:
            return choice
        street = self.street_office(case.grid_code)
        return street if street in targets and street is not None else next(iter(targets))

    def level_change(
        self, action: str, centre: str | None, grid_code: str | None, due: datetime
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(case changes, step facts) of 上报 (to the city) or 下派 (to the grid's district),
        already allowed by `level_refusal`; ``due``: when the receiving centre must take it."""
        source = self.handling_centre(centre, grid_code)
        target = self.city if action == "escalate" else self.district_of_grid(grid_code)
        if target is None:
            raise ValueError(f"grid {grid_code} lies in no district")
        facts = {
            "from_centre": source.id,
            "to_centre": target.id,
            "level_deadline": due.isoformat(),
        }
        return {"centre": target.id}, facts


def level_refusal(
    organisation: Organisation | None,
    action: str,
    actor_node: str | None,
    case: Placed,
    department: str | None = None,
) -> tuple[str, str] | None:
    """`Organisation.level_refusal`; without an organisation (one centre) only 上报/下派
    are refused."""
    if organisation is not None:
        return organisation.level_refusal(action, actor_node, case, department)
    if action in ("escalate", "hand_down"):
        return "not_your_level", "one centre: nowhere to escalate to or hand down from"
    return None
