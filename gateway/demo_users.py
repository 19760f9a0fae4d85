"""The demo's users: one per role at the city centre (连云港市), the desk and a department
of the 海州区 district centre, so that both levels (两级指挥) can be tried, and the office of
海州街道 with one of its communities, 鼓楼社区, for the street and community levels
(四级联动: the district dispatches to the street office, which passes cases to the community).
The second district centre, 连云区 (its 墟沟街道 is the demo area's second piece), has the
same desk roles and department, and an inspector (监督员) of its grids, so that each
district sees only its own cases and the city ranks two districts.

`gateway.demo` creates them (``auth.add_user``, which places a user at an organisation
node) and prints `DemoUser.login_text` of each: name, level and role in Chinese.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core.organisation import KIND_LABELS, NodeKind
from gateway.gis.demo_data import COUNTY_CODE, DISTRICT, LIANYUN

DEMO_PASSWORD = "citygw-demo"
#: the Chinese names of the roles, for the login line
ROLE_NAMES = {
    "operator": "受理员",
    "shift_lead": "值班长",
    "dispatcher": "派遣员",
    "department": "专业部门",
    "inspector": "监督员",
    "admin": "管理员",
}
CITY_LEVEL = KIND_LABELS[NodeKind.CITY]  # 市级中心
DISTRICT_LEVEL = f"{DISTRICT}{KIND_LABELS[NodeKind.DISTRICT]}"  # 海州区区级中心
#: the second district centre of the demo: 连云区 (320703)
LY_CODE = LIANYUN.county
LY_LEVEL = f"{LIANYUN.district}{KIND_LABELS[NodeKind.DISTRICT]}"  # 连云区区级中心


@dataclass(frozen=True)
class DemoUser:
    name: str
    role: str
    level: str  # where they sit, for people: 市级中心, 海州区区级中心, a department's name
    department: str | None = None
    org_node: str | None = None  # None: the city centre (a department user: its department's)
    grids: tuple[str, ...] = ()  # an inspector's

    def login_text(self) -> str:
        return f"{self.name}（{self.level} {ROLE_NAMES[self.role]}）"


#: the street office of 海州街道 and its 鼓楼社区 (`gateway.core.organisation_settings`)
DEMO_STREET = f"{COUNTY_CODE}001"
DEMO_COMMUNITY = f"{DEMO_STREET}001"

#: one user per role at the city centre, the 海州区 centre's desk and department, a street
#: office's and a community's user (department users sit at their unit's node), and the
#: 连云区 centre's desk, department and an inspector of its grids
DEMO_USERS = (
    DemoUser("operator", "operator", CITY_LEVEL),
    DemoUser("lead", "shift_lead", CITY_LEVEL),
    DemoUser("dispatcher", "dispatcher", CITY_LEVEL),
    DemoUser("dept", "department", "城管执法", department="city-management"),
    DemoUser("inspector", "inspector", CITY_LEVEL, grids=(COUNTY_CODE,)),
    DemoUser("admin", "admin", CITY_LEVEL),
    DemoUser("hz-operator", "operator", DISTRICT_LEVEL, org_node=COUNTY_CODE),
    DemoUser("hz-dispatcher", "dispatcher", DISTRICT_LEVEL, org_node=COUNTY_CODE),
    DemoUser("hz-dept", "department", "海州区城管局", department="hz-city-management"),
    DemoUser("hz-street", "department", "海州街道", department=f"street-{DEMO_STREET}"),
    DemoUser("hz-gulou", "department", "鼓楼社区", department=f"community-{DEMO_COMMUNITY}"),
    DemoUser("ly-operator", "operator", LY_LEVEL, org_node=LY_CODE),
    DemoUser("ly-dispatcher", "dispatcher", LY_LEVEL, org_node=LY_CODE),
    DemoUser("ly-dept", "department", "连云区城管局", department="ly-city-management"),
    DemoUser("ly-inspector", "inspector", CITY_LEVEL, grids=(LY_CODE,)),
)
