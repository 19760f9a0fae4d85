"""Chinese address strings in one canonical form, and split into their parts.

What a hotline operator types from a caller's words differs from the gazetteer's text
in ways that carry no meaning; `canonical` removes them:

- full-width digits, letters and punctuation (１２号, Ａ座) become half-width, letters
  upper case; traditional forms of the markers (號, 棟, 單元) become simplified;
- Chinese numerals right before a marker become digits (十二号 → 12号, 三〇一室 → 301室,
  第三栋 → 3栋); elsewhere they are part of a name (人民一路, 二十四号路) and stay;
- building markers are one form: 幢, 座, 号楼, #楼 → 栋 (3号楼 is a building only after
  a door number: 朝阳路12号楼 is door 12);
- whitespace and punctuation go.

`normalise` also strips the administrative prefix (江苏省连云港市海州区新南街道…): a
caller may say it or not, and the road and number are what locate an address.
`split_address` cuts a normalised string into road, door number, building, unit, room.

Pure functions, no I/O; `normalise(normalise(x)) == normalise(x)`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# full-width ASCII (U+FF01..U+FF5E) -> ASCII; ideographic space -> space; CJK punctuation
# that can stand for a hyphen -> "-"; traditional marker characters -> simplified
_HALF_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_HALF_WIDTH.update({0x3000: 0x20, ord("－"): ord("-"), ord("—"): ord("-"), ord("–"): ord("-")})
_HALF_WIDTH.update(
    {ord(a): ord(b) for a, b in zip("號棟單區縣鄉鎮樓層門", "号栋单区县乡镇楼层门", strict=True)}
)

_HAN = "\u4e00-\u9fff"
# anything that is not Han, A-Z, 0-9, "-" or "#" (the latter two are read below)
_DROP = re.compile(rf"[^{_HAN}A-Z0-9\-#〇]+")

_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "幺": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_CHARS = "".join(_CN_DIGITS) + "".join(_CN_UNITS)
# a marker after which a number is a door, building, unit, room or floor number;
# 号 followed by a road word (二十四号路) is part of a road name
_MARKER = r"(?:号(?![路街道巷])|弄|栋|幢|座|单元|室|楼|层|户|#)"
_CN_NUMBER = re.compile(rf"第*([{_CN_CHARS}]+)(?={_MARKER})")
_ORDINAL = re.compile(rf"第+(?=\d+{_MARKER})")
_BUILDING_ALT = re.compile(r"(?<=[0-9A-Z])(?:幢|座|#楼|#)")
_NUMBER_THEN_BUILDING = re.compile(r"(\d+(?:-\d+)?[号弄].*?)(\d+|[A-Z])号楼")
_NUMBER_LOU = re.compile(r"(\d+(?:-\d+)?号)楼")
_STRAY_HYPHEN = re.compile(r"(?<!\d)-|-(?!\d)")
_ZERO_BESIDE_DIGIT = re.compile(r"(?<=\d)〇+|〇+(?=\d)")

# administrative prefixes, tried in this order at the start of the string; the lookahead
# keeps words that only begin like one (市场路, 区府路)
_PREFIXES = (
    re.compile(rf"^[{_HAN}]{{2,7}}?(?:省|自治区|特别行政区)"),
    re.compile(rf"^[{_HAN}]{{2,6}}?市(?![场政民府容级])"),
    re.compile(rf"^[{_HAN}]{{2,4}}?(?<!小)(?:区|县)(?![府政委])"),
    re.compile(rf"^[{_HAN}]{{2,5}}?(?:街道|镇|乡)(?![路街道巷])"),
    re.compile(rf"^[{_HAN}]{{2,6}}?(?:社区|村)(?:居委会|村委会|委会)?(?![路街道巷])"),
)
# a prefix is stripped only if what stays begins with two Han characters (a road name)
_MIN_REST = re.compile(rf"^[{_HAN}]{{2}}")

_DOOR = re.compile(r"\d+(?:-\d+)?[号弄]")
_DIGITS = re.compile(r"\d+(?:-\d+)?")
_TAIL = re.compile(
    r"(?P<building>(?:\d+|[A-Z])栋)|(?P<unit>\d+单元)|(?P<floor>\d+[楼层])|(?P<room>\d+室?)"
)


@dataclass(frozen=True, slots=True)
class AddressParts:
    """A normalised address cut into what locates it. Empty strings where absent."""

    road: str  # 朝阳中路 (a lane 88弄 joins the road when a 号 follows it)
    number: str = ""  # 12号, 12-1号, 88弄
    building: str = ""  # 3栋, A栋
    unit: str = ""  # 2单元
    room: str = ""  # 301室 (the gazetteer has no rooms: kept for the record only)
    rest: str = ""  # what could not be read as one of the above (附近, 对面, a shop name)

    @property
    def key(self) -> str:
        """Road, number, building and unit: the text a gazetteer address is matched on."""
        return self.road + self.number + self.building + self.unit


def to_half_width(text: str) -> str:
    """Full-width ASCII and the ideographic space as half-width; traditional markers simplified."""
    return text.translate(_HALF_WIDTH)


def chinese_number(numeral: str) -> int | None:
    """The value of a Chinese numeral (十二 → 12, 一百零五 → 105, 三〇一 → 301, 两 → 2);
    None when it does not read as one number (十十, 百二十)."""
    if not numeral or any(ch not in _CN_DIGITS and ch not in _CN_UNITS for ch in numeral):
        return None
    if not any(ch in _CN_UNITS for ch in numeral):  # read digit by digit: 三〇一 -> 301
        return int("".join(str(_CN_DIGITS[ch]) for ch in numeral))
    total, digit, last_unit, pending_zero = 0, None, 10_000, False
    for ch in numeral:
        if ch in _CN_DIGITS:
            value = _CN_DIGITS[ch]
            if value == 0:
                if digit is not None:
                    return None
                pending_zero = True
                continue
            if digit is not None:
                return None  # two digits in a row with a unit form: 十二三
            digit = value
        else:
            unit = _CN_UNITS[ch]
            if unit >= last_unit or (digit is None and (unit != 10 or total)):
                return None  # 十二 is 12, but 百二十 and 一百十 are not how numbers are said
            total += (1 if digit is None else digit) * unit
            digit, last_unit, pending_zero = None, unit, False
    if digit is not None:
        if pending_zero or last_unit == 10:
            total += digit
        else:
            # 一百二 means 120 in speech; too easy to misread for an address: refuse
            return None
    return total


def _replace_numeral(match: re.Match[str]) -> str:
    value = chinese_number(match.group(1))
    return match.group(0) if value is None else str(value)


def canonical(text: str) -> str:
    """The canonical form of an address text, prefixes kept (see the module's notes).

    The steps are repeated until nothing changes (once more for everyday text): one step
    can make work for an earlier one (第0第0号 -> 第00号 -> 00号)."""
    s = to_half_width(text).upper()
    for _ in range(8):
        again = _canonical_step(s)
        if again == s:
            break
        s = again
    return s


def _canonical_step(s: str) -> str:
    s = _STRAY_HYPHEN.sub("", _DROP.sub("", s))
    s = _CN_NUMBER.sub(_replace_numeral, s)
    # 3〇1号: a Chinese zero typed among digits
    s = _ZERO_BESIDE_DIGIT.sub(lambda m: "0" * len(m.group(0)), s)
    s = _ORDINAL.sub("", s)
    s = _BUILDING_ALT.sub(_building_marker, s)
    s = _NUMBER_THEN_BUILDING.sub(r"\1\2栋", s)
    return _NUMBER_LOU.sub(r"\1", s)


def _building_marker(match: re.Match[str]) -> str:
    # "#" alone after a number is a door number (12# -> 12号) unless a door came before;
    # "#楼", 幢 and 座 always mark a building
    if match.group(0) != "#":
        return "栋"
    before = match.string[: match.start()]
    return "栋" if _DOOR.search(before) else "号"


def strip_admin_prefix(text: str, districts: Iterable[str] = ()) -> str:
    """``text`` (canonical) without its leading province, city, district, street and
    community names. ``districts`` are names known to be districts (海州区); the general
    patterns catch the rest. A prefix stays unless two Han characters (a road name) follow it."""
    known = sorted((d for d in districts if d), key=len, reverse=True)
    s = text
    changed = True
    while changed:
        changed = False
        for name in known:
            if s.startswith(name) and _MIN_REST.match(s[len(name) :]):
                s, changed = s[len(name) :], True
        for pattern in _PREFIXES:
            match = pattern.match(s)
            if match and _MIN_REST.match(s[match.end() :]):
                s, changed = s[match.end() :], True
    return s


def normalise(text: str, districts: Iterable[str] = ()) -> str:
    """`canonical` without the administrative prefix: what to match on."""
    return strip_admin_prefix(canonical(text), districts)


def split_address(text: str, districts: Iterable[str] = ()) -> AddressParts:
    """Normalise ``text`` and cut it into road, door number, building, unit and room."""
    s = normalise(text, districts)
    door = _DOOR.search(s)
    if door is not None:
        road, number, tail = s[: door.start()], door.group(0), s[door.end() :]
        if number.endswith("弄"):  # a lane: 88弄5号 is door 5 of lane 88
            inner = _DOOR.match(tail)
            if inner is not None and inner.group(0).endswith("号"):
                road, number, tail = road + number, inner.group(0), tail[inner.end() :]
    else:
        digits = _DIGITS.search(s)
        if digits is None:
            return AddressParts(road=s)
        road, tail, number = s[: digits.start()], s[digits.start() :], ""
        first = _TAIL.match(tail)
        if first is None or (first.lastgroup == "room" and not first.group(0).endswith("室")):
            # bare digits after the road: the door number (朝阳中路12 -> 12号)
            number, tail = digits.group(0) + "号", s[digits.end() :]
    building = unit = room = ""
    rest: list[str] = []
    pos = 0
    for match in _TAIL.finditer(tail):
        rest.append(tail[pos : match.start()])
        pos = match.end()
        kind, value = match.lastgroup, match.group(0)
        if kind == "building" and not building:
            building = value
        elif kind == "unit" and not unit:
            unit = value
        elif kind == "room" and not room:
            room = value if value.endswith("室") else value + "室"
        elif kind == "floor":
            continue
        else:
            rest.append(value)
    rest.append(tail[pos:])
    return AddressParts(road, number, building, unit, room, "".join(rest))
