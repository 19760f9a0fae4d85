"""The organisation tree (两级监督、两级指挥): its config, its nodes, their grids."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.core.organisation import CITY_ID, NodeKind, Organisation
from gateway.core.settings import CoreConfig
from gateway.gis import demo_data
from tests.core.helpers import core_config

HAIZHOU, LIANYUN = "320706", "320703"
#: a grid of 赣榆区: in the default grid table, in no district of the tree
HZ_GRID, GY_GRID = "32070600100101", "32070700100101"


def org_of(config: CoreConfig) -> Organisation:
    return Organisation.from_config(config.organisation, {d.id: d.name for d in config.departments})


CONFIG = core_config()
ORG = org_of(CONFIG)


def test_the_default_tree_is_the_gis_demo_area_and_a_second_district() -> None:
    streets = ORG.children(HAIZHOU, NodeKind.STREET)
    assert [(s.id, s.name) for s in streets] == [
        (demo_data.COUNTY_CODE + no, name) for no, name in demo_data.STREETS
    ]
    for street, communities in zip(streets, demo_data.COMMUNITIES, strict=True):
        assert [(c.id, c.name) for c in ORG.children(street.id)] == [
            (street.id + no, name) for no, name in communities
        ]
    assert ORG.node(HAIZHOU).name == demo_data.DISTRICT
    assert [d.id for d in ORG.children(CITY_ID, NodeKind.DISTRICT)] == [HAIZHOU, LIANYUN]
    # 连云区 is the demo data's second piece: its street and communities as drawn there
    plan = demo_data.LIANYUN
    assert (plan.county, plan.district) == (LIANYUN, ORG.node(LIANYUN).name)
    [xugou] = ORG.children(LIANYUN, NodeKind.STREET)
    assert [(xugou.id, xugou.name)] == [(LIANYUN + no, name) for no, name in plan.streets]
    assert [(c.id, c.name) for c in ORG.children(xugou.id)] == [
        (xugou.id + no, name) for no, name in plan.communities[0]
    ]
    # the city's departments are core.departments
    assert {d.id for d in ORG.children(CITY_ID, NodeKind.DEPARTMENT)} == {
        d.id for d in CONFIG.departments
    }


def test_grids_place_cases_in_their_district_street_and_community() -> None:
    assert ORG.district_of_grid(HZ_GRID).id == HAIZHOU  # type: ignore[union-attr]
    assert ORG.district_of_grid(GY_GRID) is None
    assert ORG.street_office(HZ_GRID) == "street-320706001"
    assert ORG.centre_of("320706001001").id == HAIZHOU
    assert ORG.centre_of("hz-sanitation").id == HAIZHOU
    assert ORG.centre_of(None).id == CITY_ID
    assert ORG.reach("320706002") == (HAIZHOU,)
    assert ORG.reach(None) == ()


@pytest.mark.parametrize(
    ("tree", "key", "words"),
    [
        (
            {
                "districts": [
                    {
                        "code": "320706",
                        "name": "海州区",
                        "streets": [{"code": "320707001", "name": "错街道"}],
                    }
                ]
            },
            "districts[0].streets[0].code",
            "应以所属区的编码 320706 开头",
        ),
        (
            {
                "districts": [
                    {
                        "code": "320706",
                        "name": "海州区",
                        "streets": [
                            {
                                "code": "320706001",
                                "name": "街道",
                                "communities": [{"code": "320706002001", "name": "社区"}],
                            }
                        ],
                    }
                ]
            },
            "districts[0].streets[0].communities[0].code",
            "应以所属街道的编码 320706001 开头",
        ),
        (
            {"districts": [{"code": "320706", "name": "海州区"}]},
            "districts[0]",
            "至少需要一个部门或街道",
        ),
        (
            {
                "districts": [
                    {
                        "code": "320706",
                        "name": "海州区",
                        "departments": [{"id": "a", "name": "甲"}],
                    },
                    {
                        "code": "320706",
                        "name": "又一个",
                        "departments": [{"id": "b", "name": "乙"}],
                    },
                ]
            },
            "districts[1].code",
            "重复",
        ),
        (
            {
                "districts": [
                    {
                        "code": "320706",
                        "name": "海州区",
                        "departments": [{"id": "sanitation", "name": "环卫"}],
                    }
                ]
            },
            "organisation",
            "已是市级部门",
        ),
    ],
)
def test_a_bad_tree_is_refused_in_chinese_naming_the_key(tree: dict, key: str, words: str) -> None:
    with pytest.raises(ValidationError) as refused:
        core_config(organisation=tree)
    text = str(refused.value)
    assert key in text and words in text
