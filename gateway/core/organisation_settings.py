"""Configuration of the organisation tree (``core.organisation``): 两级监督、两级指挥、三级考核.

The city centre (市) has district centres (区); a district has its own departments and
its streets (街道); a street its communities (社区). The territorial nodes are named by
the codes of the grid method (`gateway.gis.codes`): a district by its 6-digit county
code, a street by 9 digits, a community by 12, and each covers the unit grids whose
codes start with its own. The city's departments are ``core.departments``; a district's
departments and the street offices (街道办, which a district dispatches to like a
department) are declared here and join the dispatch table, and so do the communities
(``community-<code>``: units whose users take the cases their street passes on, 四级联动).

The embedded default matches the GIS demo data (`citygw gis demo-data`): 海州区
(320706) with its four streets of four communities, and 连云区 (320703) with one street,
墟沟街道, of four communities, so that two district centres exist. Errors are Chinese and name the key.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.gis.codes import COMMUNITY_CODE_DIGITS, STREET_CODE_DIGITS

_ID = r"^[A-Za-z0-9_\-]{1,64}$"
Level = Literal["city", "district", "street"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScoreWeights(_Section):
    """Weights of the composite score (they need not sum to 1; the score is normalised)."""

    closure_rate: float = Field(default=0.3, ge=0, le=100)
    on_time_closure_rate: float = Field(default=0.3, ge=0, le=100)
    on_time_disposal_rate: float = Field(default=0.3, ge=0, le=100)
    rework_rate: float = Field(default=0.1, ge=0, le=100, description="counts as (1 - rate)")


class OrgDepartment(_Section):
    id: str = Field(pattern=_ID, description="department id (dispatch, users, metrics)")
    name: str = Field(min_length=1, max_length=100, description="name shown to people")


class CommunityConfig(_Section):
    code: str = Field(pattern=r"^\d{12}$", description="社区: county 6 + street 3 + community 3")
    name: str = Field(min_length=1, max_length=100)

    @property
    def department_id(self) -> str:
        """The unit id its users belong to (role department) and its street passes cases
        to (转派社区, 四级联动): community-<code>."""
        return f"community-{self.code}"


class StreetConfig(_Section):
    code: str = Field(pattern=r"^\d{9}$", description="街道: county 6 + street 3")
    name: str = Field(min_length=1, max_length=100)
    department: str | None = Field(
        default=None,
        pattern=_ID,
        description="the street office's dispatch id (default street-<code>)",
    )
    communities: list[CommunityConfig] = Field(default_factory=list, max_length=200)

    @property
    def department_id(self) -> str:
        return self.department or f"street-{self.code}"


class DistrictConfig(_Section):
    code: str = Field(pattern=r"^\d{6}$", description="区: the 6-digit county code of its grids")
    name: str = Field(min_length=1, max_length=100)
    departments: list[OrgDepartment] = Field(
        default_factory=list, max_length=200, description="the district's own departments"
    )
    streets: list[StreetConfig] = Field(default_factory=list, max_length=200)


def _demo_districts() -> list[DistrictConfig]:
    """海州区 and 连云区 (墟沟街道) as `gateway.gis.demo_data` draws them (tests check the
    tree and the demo data agree)."""
    streets = (
        ("001", "海州街道", ("鼓楼社区", "白虎山社区", "孔望山社区", "朐山社区")),
        ("002", "幸福路街道", ("幸福南路社区", "新华社区", "海宁社区", "陇海社区")),
        ("003", "朐阳街道", ("朐阳门社区", "凤凰社区", "南城社区", "西门社区")),
        ("004", "洪门街道", ("洪门社区", "锦屏社区", "花果社区", "新坝社区")),
    )
    haizhou = DistrictConfig(
        code="320706",
        name="海州区",
        departments=[
            OrgDepartment(id="hz-city-management", name="海州区城管局"),
            OrgDepartment(id="hz-sanitation", name="海州区环卫所"),
        ],
        streets=[
            StreetConfig(
                code=f"320706{no}",
                name=name,
                communities=[
                    CommunityConfig(code=f"320706{no}{i:03d}", name=community)
                    for i, community in enumerate(communities, start=1)
                ],
            )
            for no, name, communities in streets
        ],
    )
    lianyun = DistrictConfig(
        code="320703",
        name="连云区",
        departments=[OrgDepartment(id="ly-city-management", name="连云区城管局")],
        streets=[
            StreetConfig(
                code="320703001",
                name="墟沟街道",
                communities=[
                    CommunityConfig(code=f"320703001{i:03d}", name=community)
                    for i, community in enumerate(
                        ("港城社区", "海棠社区", "北固山社区", "平山社区"), start=1
                    )
                ],
            )
        ],
    )
    return [haizhou, lianyun]


class OrganisationConfig(_Section):
    """The organisation tree: the city centre, its districts, their streets and communities."""

    city_name: str = Field(default="连云港市", min_length=1, max_length=100)
    districts: list[DistrictConfig] = Field(
        default_factory=_demo_districts, max_length=100, description="district centres (区)"
    )
    level_limit_hours: float = Field(
        default=4,
        gt=0,
        le=1000,
        description="working hours the receiving centre has to take up an escalated (上报) "
        "or handed-down (下派) case",
    )
    weights: dict[Level, ScoreWeights] = Field(
        default_factory=dict,
        description="composite-score weights of each level's evaluation (city: districts and "
        "city departments; district: streets and district departments; street: communities); "
        "a level not given uses core.metric_weights",
    )

    @model_validator(mode="after")
    def _tree_consistent(self) -> OrganisationConfig:
        seen: dict[str, str] = {}

        def claim(value: str, key: str) -> None:
            if value in seen:
                raise ValueError(f"{key}：编号 {value!r} 与 {seen[value]} 重复")
            seen[value] = key

        for d, district in enumerate(self.districts):
            dkey = f"districts[{d}]"
            claim(district.code, f"{dkey}.code")
            if not district.departments and not district.streets:
                raise ValueError(f"{dkey}：区级中心至少需要一个部门或街道（用于派遣）")
            for i, dept in enumerate(district.departments):
                claim(dept.id, f"{dkey}.departments[{i}].id")
            for s, street in enumerate(district.streets):
                skey = f"{dkey}.streets[{s}]"
                if len(street.code) != STREET_CODE_DIGITS or not street.code.startswith(
                    district.code
                ):
                    raise ValueError(
                        f"{skey}.code：街道编码 {street.code} 应以所属区的编码 {district.code} 开头"
                    )
                claim(street.code, f"{skey}.code")
                claim(street.department_id, f"{skey}.department")
                for c, community in enumerate(street.communities):
                    ckey = f"{skey}.communities[{c}].code"
                    if len(community.code) != COMMUNITY_CODE_DIGITS or not (
                        community.code.startswith(street.code)
                    ):
                        raise ValueError(
                            f"{ckey}：社区编码 {community.code} 应以所属街道的编码 {street.code} 开头"
                        )
                    claim(community.code, ckey)
                    claim(community.department_id, ckey)
        return self

    def department_ids(self) -> dict[str, str]:
        """{id: name} of every unit declared here that department users belong to: the
        dispatch targets (district departments, street offices) and the communities, which
        take cases from their street only (转派社区, never dispatched to by a centre)."""
        found: dict[str, str] = {}
        for district in self.districts:
            found.update((d.id, d.name) for d in district.departments)
            found.update((s.department_id, s.name) for s in district.streets)
            for street in district.streets:
                found.update((c.department_id, c.name) for c in street.communities)
        return found
