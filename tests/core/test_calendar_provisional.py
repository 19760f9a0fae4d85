"""A year the holiday library does not know yet: its statutory holidays counted
provisionally (全国年节及纪念日放假办法, 2024 amendment), no 调休 invented, and said in
the calendar's warnings."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import chinese_calendar
import pytest

from adapters.holidays import festival_days, official_days, statutory_days, statutory_holidays
from gateway.core.calendar import OfficialDays, WorkingCalendar
from gateway.core.settings import CalendarConfig
from tests.core.helpers import core_config


def cal(**calendar: object) -> WorkingCalendar:
    config = CalendarConfig.model_validate({**core_config().calendar.model_dump(), **calendar})
    return WorkingCalendar.from_config(config, official_days(config.official_holidays))


def shanghai(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=UTC) - timedelta(hours=8)


def days_of(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=n) for n in range((date(year + 1, 1, 1) - first).days)]


@pytest.mark.parametrize("year", [2025, 2026])
def test_the_rule_gives_thirteen_days_and_their_bujia_each_an_official_holiday_of_its_festival(
    year: int,
) -> None:
    festivals, days = festival_days(year), statutory_days(year)
    assert festivals is not None and len(festivals) == 13 and days is not None
    # one 补假 on a weekday for each festival day on a weekend
    weekend = sum(d.weekday() >= 5 for d in festivals)
    assert len(days) == 13 + weekend and all(d.weekday() < 5 for d in days.keys() - festivals)
    for day, festival in days.items():
        assert chinese_calendar.get_holiday_detail(day) == (True, festival), day
    # every festival the State Council gave that year is among them
    official = {
        chinese_calendar.get_holiday_detail(d)[1]
        for d in chinese_calendar.holidays
        if d.year == year
    }
    assert official == set(days.values())


@pytest.mark.parametrize("year", [2025, 2026])
def test_a_known_year_counted_provisionally_differs_from_the_official_one_only_by_tiaoxiu(
    year: int,
) -> None:
    official = cal()
    rule_only = WorkingCalendar.from_config(
        core_config().calendar,
        OfficialDays(frozenset(), frozenset(), frozenset({year - 1}), statutory_holidays),
    )
    assert rule_only.is_provisional(year) and not official.is_provisional(year)
    for day in days_of(year):
        guess, truth = rule_only.is_working_day(day), official.is_working_day(day)
        if guess and not truth:  # a bridge day off, paid back on a weekend
            assert chinese_calendar.is_in_lieu(day), day
        elif truth and not guess:  # a weekend make-up day (调休) the rule cannot know
            assert day in chinese_calendar.workdays and day.weekday() >= 5, day


def test_a_deadline_across_the_2027_spring_festival_skips_chuxi_to_chusan_and_its_bujia() -> None:
    c = cal()
    # 2027: 除夕 Fri 5 Feb, 正月初一 Sat 6 Feb .. 初三 Mon 8 Feb; 初一 and 初二 on the weekend
    # give 补假 on Tue 9 and Wed 10 Feb
    days = (4, 5, 6, 7, 8, 9, 10, 11)
    assert [c.is_working_day(date(2027, 2, d)) for d in days] == [
        True, False, False, False, False, False, False, True,
    ]  # fmt: skip
    # Thursday 4 Feb 17:00 + 2 working hours: Thursday 11 Feb 10:00
    assert c.add_working_minutes(shanghai(2027, 2, 4, 17), 120) == shanghai(2027, 2, 11, 10)


def test_the_first_of_january_2027_is_not_a_working_day_and_no_tiaoxiu_is_invented() -> None:
    c = cal()
    assert not c.is_working_day(date(2027, 1, 1))
    days = days_of(2027)
    statutory = statutory_holidays(2027)
    assert statutory is not None
    # no weekend day is made a working day, every other weekday works
    assert not any(c.is_working_day(d) for d in days if d.weekday() >= 5)
    assert all(c.is_working_day(d) for d in days if d.weekday() < 5 and d not in statutory)
    # 261 weekdays in 2027: 7 of the 13 festival days fall on one, 6 on a weekend (补假)
    assert sum(c.is_working_day(d) for d in days) == 261 - 7 - 6


def test_the_configs_lists_win_over_provisional_days() -> None:
    c = cal(holidays=["2027-03-01"], extra_workdays=["2027-02-05", "2027-02-20"])
    assert c.is_working_day(date(2027, 2, 5))  # 除夕, worked anyway
    assert c.is_working_day(date(2027, 2, 20))  # a Saturday the centre works
    assert not c.is_working_day(date(2027, 3, 1))  # a local holiday on a Monday


def test_without_official_holidays_nothing_is_provisional_nor_warned() -> None:
    c = cal(official_holidays="none", holidays=[], extra_workdays=[])
    assert c.is_working_day(date(2027, 2, 5)) and not c.is_provisional(2027)
    assert c.warnings(shanghai(2026, 12, 5, 12)) == []


def test_the_rule_does_not_reach_years_before_the_amendment_or_beyond_its_tables() -> None:
    assert statutory_holidays(2024) is None and statutory_holidays(2100) is None
    assert statutory_holidays(2099) is not None


def test_warnings_look_120_days_ahead_at_each_call_and_log_once_a_day(
    caplog: pytest.LogCaptureFixture,
) -> None:
    c = cal()
    assert c.warnings(shanghai(2026, 9, 2, 12)) == []  # 2 Sep + 120 days: 31 Dec
    with caplog.at_level(logging.WARNING, logger="gateway.core.calendar"):
        first = c.warnings(shanghai(2026, 9, 3, 12))  # + 120 days: 1 Jan 2027
        again = c.warnings(shanghai(2026, 9, 3, 18))
    assert [w.to_dict() for w in first] == [
        {
            "code": "calendar_provisional",
            "year": 2027,
            "detail": "2027 年节假日安排未知：按法定节日暂算，未含调休；"
            "请升级 chinesecalendar 或在 core.calendar 中列出",
        }
    ]
    assert again == first
    assert len(caplog.records) == 1 and "provisionally" in caplog.records[0].getMessage()
    with caplog.at_level(logging.WARNING, logger="gateway.core.calendar"):
        c.warnings(shanghai(2026, 9, 4, 9))  # the next day
    assert len(caplog.records) == 2
    # a listed year is known: no warning
    assert cal(listed_years=[2027]).warnings(shanghai(2026, 12, 5, 12)) == []


def test_a_span_into_a_provisional_year_is_flagged() -> None:
    c = cal()
    assert c.provisional_between(shanghai(2026, 12, 30, 10), shanghai(2027, 1, 5, 10))
    assert not c.provisional_between(shanghai(2026, 12, 1, 10), shanghai(2026, 12, 3, 10))
