"""China's official holiday schedule from the kept `chinesecalendar` library, and the
statutory holidays of a year it does not know yet (counted provisionally).

The State Council publishes each year's 法定节假日 and the weekend days worked in
exchange (调休) around November of the year before; `chinesecalendar` carries them as
tables (``holidays``, ``workdays``) and refuses a year it does not know
(``NotImplementedError``). `official_days` turns that into the core's `OfficialDays`,
with the years the installed release covers, and `statutory_holidays` as the rule for the
others: the 全国年节及纪念日放假办法 as amended in 2024 (in force from 2025), 13 days a
year: 元旦 (1 Jan), 春节 (除夕 and 正月初一 to 初三), 清明节 (the day of the Qingming solar
term), 劳动节 (1-2 May), 端午节 (五月初五), 中秋节 (八月十五), 国庆节 (1-3 Oct); and, by its
article 6, a weekday off (补假) for each of them that falls on a Saturday or Sunday: the
first weekday after it that is not itself a holiday (what the State Council gave in 2025
and 2026). Lunar dates come from `lunardate`, the solar term from `chinesecalendar`'s own
solar-term functions; the 调休 swaps (a bridge day off, paid back on a weekend) are not
invented. Upgrade the package when a new year's schedule is out (or
list the year in config meanwhile).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import date, timedelta
from typing import Literal

import chinese_calendar
from lunardate import LunarDate

from gateway.core.calendar import WARN_AHEAD, OfficialDays, WorkingCalendar
from gateway.core.settings import CalendarConfig

log = logging.getLogger(__name__)

#: years probed for support (the library knows 2004 onwards)
_PROBE = range(1990, 2101)

#: the first year of the amended 放假办法 (13 days; 除夕 a holiday, 劳动节 2 days)
RULE_FROM = 2025

__all__ = [
    "WARN_AHEAD",
    "festival_days",
    "library_version",
    "official_days",
    "statutory_days",
    "statutory_holidays",
    "working_calendar",
]


def official_days(source: Literal["chinese_calendar", "none"]) -> OfficialDays | None:
    """The schedule the config names (``calendar.official_holidays``); None for ``none``."""
    if source == "none":
        return None
    years = frozenset(year for year in _PROBE if _covered(year))
    if not years:
        raise RuntimeError(f"chinesecalendar {chinese_calendar.__version__} covers no year")
    return OfficialDays(
        holidays=frozenset(chinese_calendar.holidays),
        workdays=frozenset(chinese_calendar.workdays),
        years=years,
        provisional=statutory_holidays,
    )


@functools.lru_cache(maxsize=32)
def statutory_holidays(year: int) -> frozenset[date] | None:
    """The statutory holidays of ``year`` by the 放假办法 (no 调休); None for a year the rule
    does not apply to (before 2025) or the lunar and solar-term tables do not reach."""
    days = statutory_days(year)
    return None if days is None else frozenset(days)


def statutory_days(year: int) -> dict[date, str] | None:
    """The same days, each with the name `chinese_calendar.Holiday` gives its festival:
    the festivals' own days, then a 补假 for each of them on a weekend."""
    festivals = festival_days(year)
    if festivals is None:
        return None
    days = dict(festivals)
    for day, festival in sorted(festivals.items()):
        if day.weekday() < 5:
            continue
        make_up = day + timedelta(days=1)
        while make_up.weekday() >= 5 or make_up in days:
            make_up += timedelta(days=1)
        days[make_up] = festival
    return days


def festival_days(year: int) -> dict[date, str] | None:
    """The 13 days of the festivals themselves (no 补假), by festival name."""
    if year < RULE_FROM:
        return None
    try:
        new_year = LunarDate(year, 1, 1).to_solar_date()
        dragon_boat = LunarDate(year, 5, 5).to_solar_date()
        mid_autumn = LunarDate(year, 8, 15).to_solar_date()
        qingming = [
            day
            for day, term in chinese_calendar.get_solar_terms(date(year, 4, 1), date(year, 4, 30))
            if term == "清明"
        ]
    except (ValueError, NotImplementedError):  # beyond lunardate's 2099 or the terms' 2100
        return None
    if len(qingming) != 1:
        return None
    holiday = chinese_calendar.Holiday
    days = {date(year, 1, 1): holiday.new_years_day.value}
    for offset in range(-1, 3):  # 除夕 (the day before 正月初一: the 12th month's last) .. 初三
        days[new_year + timedelta(days=offset)] = holiday.spring_festival.value
    days[qingming[0]] = holiday.tomb_sweeping_day.value
    for day in (1, 2):
        days[date(year, 5, day)] = holiday.labour_day.value
    days[dragon_boat] = holiday.dragon_boat_festival.value
    days[mid_autumn] = holiday.mid_autumn_festival.value
    for day in (1, 2, 3):
        days[date(year, 10, day)] = holiday.national_day.value
    return days


def official_ruling(
    source: Literal["chinese_calendar", "none"],
) -> Callable[[date], bool | None] | None:
    """The official schedule as a ruling on one day, for rules that are not deadlines (the
    hotline's calling hours): True a holiday, False a make-up working day (调休), None
    neither; a year the library does not know: its statutory holidays, no 调休."""
    official = official_days(source)
    if official is None:
        return None
    known = official

    def ruling(day: date) -> bool | None:
        if day.year in known.years:
            if day in known.holidays:
                return True
            return False if day in known.workdays else None
        provisional = statutory_holidays(day.year)
        return True if provisional is not None and day in provisional else None

    return ruling


def working_calendar(config: CalendarConfig, today: date) -> WorkingCalendar:
    """The core's calendar with the official schedule; warns at start-up when a year that
    deadlines will soon reach is unknown (its statutory holidays are counted provisionally
    until the package is upgraded or the year listed). Health and metrics say it too, each
    time they are read (`WorkingCalendar.warnings`)."""
    calendar = WorkingCalendar.from_config(config, official_days(config.official_holidays))
    for year in calendar.unknown_years(today, today + WARN_AHEAD):
        log.warning(
            "holidays of %d unknown to chinesecalendar %s and not listed in "
            "core.calendar.listed_years: deadlines reaching %d %s; upgrade the package or "
            "list %d's holidays and make-up days in core.calendar",
            year,
            library_version(),
            year,
            "count its statutory holidays provisionally, without 调休"
            if calendar.is_provisional(year)
            else "will be refused",
            year,
        )
    return calendar


def library_version() -> str:
    return str(chinese_calendar.__version__)


def _covered(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True
