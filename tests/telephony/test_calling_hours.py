"""Callbacks (回访) keep to the official holiday schedule: no calls on 春节 or 国庆, a 调休
Sunday is a calling day, a year chinesecalendar does not know yet keeps its statutory
holidays (adapters.holidays.official_ruling), and the config's own holidays come first.
Expected days come from the library's tables and lunardate, not from typed dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from lunardate import LunarDate

from adapters.holidays import official_ruling
from gateway.clock import FakeClock
from gateway.telephony.ami_side import AmiSide
from gateway.telephony.callback_policy import CallingHours
from gateway.telephony.settings import TelephonyConfig
from tests.telephony.conftest import MemoryPublisher

ZONE = ZoneInfo("Asia/Shanghai")
DAYS = [1, 2, 3, 4, 5, 6]  # the default: Monday to Saturday
WINDOWS = [(time(9), time(12)), (time(14), time(18))]


def hours(holidays: list[date] | None = None, source: str = "chinese_calendar") -> CallingHours:
    return CallingHours(
        DAYS,
        WINDOWS,
        holidays or [],
        "Asia/Shanghai",
        official_ruling(source),  # type: ignore[arg-type]
    )


def ten_am(day: date) -> datetime:
    return datetime.combine(day, time(10), tzinfo=ZONE).astimezone(UTC)


def test_no_callback_on_national_day_and_the_next_is_the_first_calling_day_after() -> None:
    national_day = date(2026, 10, 1)
    assert chinese_calendar.is_holiday(national_day)
    rule = hours()
    assert not rule.is_open(ten_am(national_day))
    first = next(
        national_day + timedelta(days=n)
        for n in range(1, 30)
        if not chinese_calendar.is_holiday(national_day + timedelta(days=n))
        and (
            (national_day + timedelta(days=n)).isoweekday() in DAYS
            or national_day + timedelta(days=n) in chinese_calendar.workdays
        )
    )
    opens = rule.next_open(ten_am(national_day))
    assert opens == datetime.combine(first, time(9), tzinfo=ZONE).astimezone(UTC)
    # without the official schedule 1 October (a Thursday) would be a calling day
    assert hours(source="none").is_open(ten_am(national_day))


def test_a_make_up_sunday_is_a_calling_day_and_spring_festival_is_not() -> None:
    sunday = min(d for d in chinese_calendar.workdays if d.year == 2026 and d.isoweekday() == 7)
    assert hours().is_open(ten_am(sunday))
    assert not hours(source="none").is_open(ten_am(sunday))
    new_year = LunarDate(2026, 1, 1).to_solar_date()
    assert not hours().is_open(ten_am(new_year))


def test_a_year_the_library_does_not_know_keeps_its_statutory_holidays() -> None:
    year = max(d.year for d in chinese_calendar.holidays) + 1
    spring = LunarDate(year, 1, 1).to_solar_date()
    first_weekday_of_festival = next(
        spring + timedelta(days=n)
        for n in range(-1, 3)
        if (spring + timedelta(days=n)).weekday() < 5
    )
    rule = hours()
    assert not rule.is_open(ten_am(first_weekday_of_festival))
    assert not any(rule.is_open(ten_am(date(year, 10, day))) for day in (1, 2, 3))
    ordinary = date(year, 3, 10)
    while ordinary.isoweekday() != 2:
        ordinary += timedelta(days=1)
    assert rule.is_open(ten_am(ordinary))


def test_the_configs_own_holiday_wins_over_a_make_up_working_day() -> None:
    sunday = min(d for d in chinese_calendar.workdays if d.year == 2026 and d.isoweekday() == 7)
    assert not hours(holidays=[sunday]).is_open(ten_am(sunday))


@pytest.mark.parametrize(
    ("source", "open_on_national_day"), [("chinese_calendar", False), ("none", True)]
)
def test_the_hotline_daemon_wires_the_schedule_its_config_names(
    tmp_path: Path, source: str, open_on_national_day: bool
) -> None:
    settings = TelephonyConfig.model_validate(
        {
            "callbacks": {
                "enabled": True,
                "official_holidays": source,
                "ami": {"secret": "s3cret", "port": 9},
            }
        }
    )
    runner = AmiSide(
        settings,
        instance="agi-1",
        state_dir=tmp_path,
        publisher=MemoryPublisher(),
        clock=FakeClock(datetime(2026, 9, 30, tzinfo=UTC)),
    )
    try:
        assert runner.service.hours.is_open(ten_am(date(2026, 10, 1))) is open_on_national_day
    finally:
        runner.store.close()
