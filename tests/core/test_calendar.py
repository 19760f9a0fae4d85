from datetime import UTC, datetime, timedelta

import pytest

from gateway.core.calendar import WorkingCalendar, pick_limit
from gateway.core.settings import CalendarConfig, TimeLimit
from tests.core.helpers import MONDAY_10, core_config


def cal() -> WorkingCalendar:
    return WorkingCalendar.from_config(core_config().calendar)


def shanghai(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return (
        datetime(y, m, d, hh - 8, mm, tzinfo=UTC)
        if hh >= 8
        else datetime(y, m, d, hh, mm, tzinfo=UTC) - timedelta(hours=8)
    )


def test_a_working_day_has_eight_hours_in_two_periods() -> None:
    assert cal().minutes_per_day == 8 * 60


def test_four_working_hours_from_monday_ten_skip_the_lunch_break() -> None:
    # 10:00-12:00 (2h), 13:00-15:00 (2h)
    assert cal().add_working_minutes(MONDAY_10, 240) == shanghai(2026, 1, 5, 15)


def test_a_deadline_crossing_friday_evening_lands_on_monday() -> None:
    friday_17 = shanghai(2026, 1, 9, 17)
    assert cal().add_working_minutes(friday_17, 120) == shanghai(2026, 1, 12, 10)


def test_holidays_are_skipped_and_make_up_days_count() -> None:
    c = cal()
    # 2026-02-13 Friday 17:00 + 2h: the make-up Saturday 2026-02-14 09:00-10:00
    assert c.add_working_minutes(shanghai(2026, 2, 13, 17), 120) == shanghai(2026, 2, 14, 10)
    # 2026-02-16 Monday 17:00 + 2h: Tuesday the 17th is a holiday -> Wednesday 10:00
    assert c.add_working_minutes(shanghai(2026, 2, 16, 17), 120) == shanghai(2026, 2, 18, 10)
    assert not c.is_working_day(datetime(2026, 1, 1).date())


def test_working_minutes_between_two_instants_counts_only_working_periods() -> None:
    c = cal()
    assert c.working_minutes(shanghai(2026, 1, 9, 17), shanghai(2026, 1, 12, 10)) == 120
    assert c.working_minutes(shanghai(2026, 1, 12, 10), shanghai(2026, 1, 9, 17)) == 0


def test_lights_are_green_to_eighty_percent_yellow_to_the_deadline_then_red() -> None:
    c = cal()
    start = MONDAY_10
    deadline = c.add_working_minutes(start, 100)
    assert c.light(start, deadline, c.add_working_minutes(start, 80)) == "green"
    assert c.light(start, deadline, c.add_working_minutes(start, 81)) == "yellow"
    assert c.light(start, deadline, deadline) == "yellow"
    assert c.light(start, deadline, deadline + timedelta(minutes=1)) == "red"


def test_the_most_specific_time_limit_wins_and_urgent_falls_back_to_normal() -> None:
    limits = core_config().time_limits
    assert pick_limit(limits, "0505", urgent=False).amount == 4
    assert pick_limit(limits, "0102", urgent=False).unit == "work_days"
    assert pick_limit(limits, "0505", urgent=True).unit == "work_hours"
    only_normal = [TimeLimit(event_prefix="", amount=1)]
    assert pick_limit(only_normal, "0505", urgent=True) is only_normal[0]


def test_a_calendar_with_overlapping_periods_is_refused() -> None:
    with pytest.raises(ValueError, match="overlaps"):
        CalendarConfig(periods=["09:00-12:00", "11:00-13:00"])
    with pytest.raises(ValueError, match="unknown time zone"):
        CalendarConfig(timezone="Mars/Olympus")
