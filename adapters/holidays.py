"""China's official holiday schedule from the kept `chinesecalendar` library.

The State Council publishes each year's 法定节假日 and the weekend days worked in
exchange (调休) around November of the year before; `chinesecalendar` carries them as
tables (``holidays``, ``workdays``) and refuses a year it does not know
(``NotImplementedError``). `official_days` turns that into the core's `OfficialDays`,
with the years the installed release covers, so the working calendar can refuse a
deadline that reaches an unknown year instead of counting it without holidays. Upgrade
the package when a new year's schedule is out (or list the year in config meanwhile).
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Literal

import chinese_calendar

from gateway.core.calendar import OfficialDays, WorkingCalendar
from gateway.core.settings import CalendarConfig

log = logging.getLogger(__name__)

#: years probed for support (the library knows 2004 onwards)
_PROBE = range(1990, 2101)


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
    )


#: how far ahead start-up looks for a year whose holidays are unknown
WARN_AHEAD = timedelta(days=120)


def working_calendar(config: CalendarConfig, today: date) -> WorkingCalendar:
    """The core's calendar with the official schedule; warns at start-up when a year that
    deadlines will soon reach is unknown (dispatching into it is refused until it is)."""
    calendar = WorkingCalendar.from_config(config, official_days(config.official_holidays))
    for year in calendar.unknown_years(today, today + WARN_AHEAD):
        log.warning(
            "holidays of %d unknown to chinesecalendar %s and not listed in "
            "core.calendar.listed_years: deadlines reaching %d will be refused; upgrade the "
            "package or list %d's holidays and make-up days in core.calendar",
            year,
            library_version(),
            year,
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
