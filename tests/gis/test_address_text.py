"""Address text: the canonical form and the split into road, door, building, unit, room."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.gis.address_text import (
    AddressParts,
    canonical,
    chinese_number,
    normalise,
    split_address,
    strip_admin_prefix,
    to_half_width,
)


def test_full_width_digits_letters_and_space_become_half_width() -> None:
    assert to_half_width("朝阳中路１２号Ａ座　２单元") == "朝阳中路12号A座 2单元"
    assert canonical("朝阳中路１２－１号") == "朝阳中路12-1号"


def test_traditional_markers_become_simplified() -> None:
    assert normalise("東海縣牛山鎮和平路22號3棟2單元") == "和平路22号3栋2单元"


@pytest.mark.parametrize(
    ("numeral", "value"),
    [
        ("十二", 12),
        ("十", 10),
        ("二十", 20),
        ("二十五", 25),
        ("一百零五", 105),
        ("一百一十", 110),
        ("三〇一", 301),
        ("两", 2),
        ("幺零二", 102),
        ("一千零八", 1008),
    ],
)
def test_chinese_numerals_read_as_numbers(numeral: str, value: int) -> None:
    assert chinese_number(numeral) == value


@pytest.mark.parametrize("numeral", ["十十", "百二十", "一百十", "十二三", "一百二", "", "路"])
def test_chinese_numerals_that_do_not_read_as_one_number_are_refused(numeral: str) -> None:
    assert chinese_number(numeral) is None


def test_chinese_numerals_before_markers_become_digits() -> None:
    assert canonical("朝阳中路十二号三幢二单元三〇一室") == "朝阳中路12号3栋2单元301室"
    assert canonical("朝阳中路第三栋") == "朝阳中路3栋"


def test_numerals_inside_road_names_stay() -> None:
    assert normalise("人民一路一百零五号") == "人民一路105号"
    assert normalise("二十四号路五号") == "二十四号路5号"


def test_an_ambiguous_numeral_is_left_as_it_was() -> None:
    assert canonical("朝阳中路一百二号") == "朝阳中路一百二号"


def test_building_markers_are_one_form() -> None:
    assert canonical("朝阳中路12号3幢") == "朝阳中路12号3栋"
    assert canonical("朝阳中路12号A座") == "朝阳中路12号A栋"
    assert canonical("朝阳中路12号5#楼") == "朝阳中路12号5栋"
    assert canonical("朝阳中路12号3号楼2单元") == "朝阳中路12号3栋2单元"


def test_a_number_building_without_a_door_before_it_is_the_door() -> None:
    # 朝阳中路12号楼: the building at door 12, not building 12 of an unnamed door
    assert split_address("朝阳中路12号楼") == AddressParts(road="朝阳中路", number="12号")
    assert split_address("朝阳中路12#").number == "12号"


def test_whitespace_and_punctuation_go() -> None:
    assert normalise(" 海州区，朝阳中路 12 号（3栋）。") == "朝阳中路12号3栋"


@pytest.mark.parametrize(
    "text",
    [
        "江苏省连云港市海州区朝阳中路12号",
        "连云港市海州区朝阳中路12号",
        "海州区朝阳中路12号",
        "连云港市海州区新南街道朝阳社区朝阳中路12号",
        "江苏省连云港市东海县牛山镇朝阳中路12号",
        "朝阳中路12号",
    ],
)
def test_administrative_prefixes_are_stripped(text: str) -> None:
    assert normalise(text) == "朝阳中路12号"


def test_words_that_only_begin_like_a_prefix_stay() -> None:
    assert normalise("市场路3号") == "市场路3号"
    assert normalise("连云港市场路3号") == "连云港市场路3号"
    assert normalise("花园小区5栋2单元") == "花园小区5栋2单元"


def test_a_prefix_without_a_road_after_it_stays() -> None:
    assert normalise("朝阳新村12号") == "朝阳新村12号"


def test_known_district_names_are_stripped_first() -> None:
    assert strip_admin_prefix("开发区朝阳中路12号", ["开发区"]) == "朝阳中路12号"


def test_a_full_address_splits_into_its_parts() -> None:
    parts = split_address("江苏省连云港市海州区 朝阳中路１２号３幢２单元３０１室")
    assert parts == AddressParts(
        road="朝阳中路", number="12号", building="3栋", unit="2单元", room="301室"
    )
    assert parts.key == "朝阳中路12号3栋2单元"


def test_bare_digits_after_the_road_are_the_door_number() -> None:
    assert split_address("朝阳中路12") == AddressParts(road="朝阳中路", number="12号")
    assert split_address("朝阳中路12号3栋2单元301").room == "301室"


def test_a_lane_joins_the_road_when_a_door_follows() -> None:
    assert split_address("建国路88弄5号") == AddressParts(road="建国路88弄", number="5号")
    assert split_address("建国路88弄") == AddressParts(road="建国路", number="88弄")


def test_words_after_the_address_are_kept_apart() -> None:
    parts = split_address("朝阳中路十二号附近")
    assert (parts.road, parts.number, parts.rest) == ("朝阳中路", "12号", "附近")


def test_a_text_without_numbers_is_all_road() -> None:
    assert split_address("苏宁广场") == AddressParts(road="苏宁广场")


# -- properties ---------------------------------------------------------------------

_ADDRESS_ALPHABET = st.sampled_from(
    list("朝阳中路解放东西南北街道巷号弄栋幢座单元室楼层第十百千零〇一二两三四五六七八九")
    + list("0123456789０１２３４５６７８９AＡa#＃-－ ，。()（）")
    + ["江苏省", "连云港市", "海州区", "新南街道", "社区", "小区", "號", "棟"]
)
_ADDRESS_TEXT = st.lists(_ADDRESS_ALPHABET, max_size=24).map("".join)


@settings(max_examples=400, deadline=None)
@given(_ADDRESS_TEXT)
def test_normalising_twice_changes_nothing(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once


@settings(max_examples=300, deadline=None)
@given(_ADDRESS_TEXT)
def test_splitting_loses_nothing_that_locates(text: str) -> None:
    parts = split_address(text)
    norm = normalise(text)
    # every part comes from the normalised text, in order (the room may gain its 室,
    # bare digits their 号)
    for piece in (parts.road, parts.number.rstrip("号"), parts.building, parts.unit):
        assert piece in norm
    assert split_address(norm) == parts


@settings(max_examples=200, deadline=None)
@given(
    road=st.sampled_from(["朝阳中路", "解放东路", "人民一路", "海连西路", "通灌北路"]),
    number=st.integers(min_value=1, max_value=999),
    building=st.integers(min_value=0, max_value=30),
)
def test_full_width_and_chinese_forms_split_like_the_plain_form(
    road: str, number: int, building: int
) -> None:
    plain = f"{road}{number}号" + (f"{building}栋" if building else "")
    full = to_full_width(plain).replace("栋", "幢")
    expected = AddressParts(
        road=road, number=f"{number}号", building=f"{building}栋" if building else ""
    )
    assert split_address(plain) == expected
    assert split_address("江苏省连云港市海州区" + full) == expected


def to_full_width(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)
