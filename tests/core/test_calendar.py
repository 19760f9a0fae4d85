import logging
from datetime import UTC, date, datetime, timedelta

import pytest

from adapters.holidays import official_days, working_calendar
from gateway.core.calendar import CalendarNotCovered, OfficialDays, WorkingCalendar, pick_limit
from gateway.core.settings import CalendarConfig, TimeLimit
from gateway.core.workflow import Action, Actor, CaseState, Command, Role, TransitionRefused
from tests.core.helpers import MONDAY_10, case, core_config, workflow


def cal(**calendar: object) -> WorkingCalendar:
    config = CalendarConfig.model_validate({**core_config().calendar.model_dump(), **calendar})
    return WorkingCalendar.from_config(config, official_days(config.official_holidays))


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
    c = cal(official_holidays="none")  # the config's lists alone
    # 2026-02-13 Friday 17:00 + 2h: the make-up Saturday 2026-02-14 09:00-10:00
    assert c.add_working_minutes(shanghai(2026, 2, 13, 17), 120) == shanghai(2026, 2, 14, 10)
    # 2026-02-16 Monday 17:00 + 2h: Tuesday the 17th is a holiday -> Wednesday 10:00
    assert c.add_working_minutes(shanghai(2026, 2, 16, 17), 120) == shanghai(2026, 2, 18, 10)
    assert not c.is_working_day(datetime(2026, 1, 1).date())


def test_the_official_schedule_knows_the_spring_festival_and_its_make_up_days() -> None:
    c = cal(holidays=[], extra_workdays=[])  # nothing typed into the config
    # 2026: 15-23 Feb off (the config above listed only the 17th); Sat 14 and 28 Feb worked
    assert [c.is_working_day(date(2026, 2, d)) for d in (13, 14, 16, 20, 23, 24, 28)] == [
        True, True, False, False, False, True, True,
    ]  # fmt: skip
    # Friday 13 Feb 17:00 + 2 working hours: the make-up Saturday 14 Feb 10:00
    assert c.add_working_minutes(shanghai(2026, 2, 13, 17), 120) == shanghai(2026, 2, 14, 10)
    # Saturday 14 Feb 17:00 + 2 working hours: after the whole holiday, Tuesday 24 Feb 10:00
    assert c.add_working_minutes(shanghai(2026, 2, 14, 17), 120) == shanghai(2026, 2, 24, 10)
    assert not c.is_working_day(date(2026, 10, 1)) and c.is_working_day(date(2026, 10, 10))


def test_the_configs_lists_override_the_official_schedule() -> None:
    c = cal(holidays=["2026-03-02"], extra_workdays=["2026-02-23"])
    assert not c.is_working_day(date(2026, 3, 2))  # a Monday the city gives off
    assert c.is_working_day(date(2026, 2, 23))  # an official holiday the centre works


def test_a_year_the_library_does_not_know_is_counted_provisionally_not_refused() -> None:
    c = cal()
    assert c.known_years is not None and 2026 in c.known_years and 2027 not in c.known_years
    assert c.unknown_years(date(2026, 12, 1), date(2027, 3, 1)) == [2027]
    assert c.provisional_years(date(2026, 12, 1), date(2027, 3, 1)) == [2027]
    # Thursday 31 Dec 17:00 + 2h: 1 Jan 2027 (元旦, a Friday) is off, then the weekend
    assert c.add_working_minutes(shanghai(2026, 12, 31, 17), 120) == shanghai(2027, 1, 4, 10)
    # listing the year in config makes it known: its lists alone decide (no 元旦 typed in)
    listed = cal(listed_years=[2027], holidays=[])
    assert not listed.is_provisional(2027) and listed.is_working_day(date(2027, 1, 1))


def test_a_schedule_without_a_provisional_rule_still_refuses_an_unknown_year() -> None:
    official = OfficialDays(frozenset(), frozenset(), frozenset({2026}))
    c = WorkingCalendar.from_config(core_config().calendar, official)
    with pytest.raises(CalendarNotCovered, match="holidays of 2027 are not known") as unknown:
        c.add_working_minutes(shanghai(2026, 12, 31, 17), 120)
    assert (
        unknown.value.year == 2027 and c.provisional_years(date(2027, 1, 1), date(2027, 2, 1)) == []
    )


def test_dispatch_into_an_unknown_year_without_a_rule_is_refused_and_the_light_stays_dark() -> None:
    official = OfficialDays(frozenset(), frozenset(), frozenset({2026}))
    config = core_config()
    wf = workflow(config)
    narrow = WorkingCalendar.from_config(config.calendar, official)
    wf = type(wf)(wf.table, narrow, wf.limits)
    registered = case(CaseState.REGISTERED, event_code="0102")  # 2 work days
    friday = shanghai(2026, 12, 31, 17)
    with pytest.raises(TransitionRefused) as refused:
        wf.apply(registered, Command(Action.DISPATCH), Actor("d", Role.DISPATCHER), friday)
    assert refused.value.code == "calendar_not_covered" and "2027" in refused.value.reason
    dispatched = case(
        CaseState.PROCESSING, dispatched_at=friday, deadline=friday + timedelta(days=3)
    )
    assert wf.light(dispatched, friday + timedelta(days=2)) is None


def test_dispatch_into_an_unknown_year_counts_it_provisionally() -> None:
    wf = workflow(core_config())
    registered = case(CaseState.REGISTERED, event_code="0102")  # 2 work days
    thursday = shanghai(2026, 12, 31, 17)
    done = wf.apply(registered, Command(Action.DISPATCH), Actor("d", Role.DISPATCHER), thursday)
    # 31 Dec 17-18 (1h), 1 Jan off (元旦), weekend, Mon 4 Jan (8h), Tue 5 Jan to 17:00 (7h)
    assert done.case.deadline == shanghai(2027, 1, 5, 17)
    assert done.step.facts["deadline_provisional"] is True  # the case page says so
    within = wf.apply(registered, Command(Action.DISPATCH), Actor("d", Role.DISPATCHER), MONDAY_10)
    assert "deadline_provisional" not in within.step.facts
    assert wf.light(done.case, shanghai(2027, 1, 4, 10)) == "green"


def test_an_extension_or_a_resumed_suspension_into_an_unknown_year_is_marked_provisional() -> None:
    wf = workflow(core_config())
    lead = Actor("s", Role.SHIFT_LEAD)
    registered = case(CaseState.REGISTERED, event_code="0102")  # 2 work days
    monday = shanghai(2026, 12, 21, 10)  # due Wednesday 23 Dec 10:00: inside 2026
    dispatched = wf.apply(registered, Command(Action.DISPATCH), Actor("d", Role.DISPATCHER), monday)
    assert "deadline_provisional" not in dispatched.step.facts
    dept = Actor("t", Role.DEPARTMENT, dispatched.case.department)

    def extended(hours: int) -> dict[str, object]:
        asked = wf.apply(
            dispatched.case,
            Command(Action.REQUEST_EXTENSION, opinion="吊车", extension_hours=hours),
            dept,
            monday,
        ).case
        return wf.apply(asked, Command(Action.APPROVE), lead, monday).step.facts

    assert "deadline_provisional" not in extended(8)  # Thursday 24 Dec: still 2026
    into_2027 = extended(64)  # eight working days more: past New Year
    assert into_2027["deadline"] > "2027" and into_2027["deadline_provisional"] is True

    suspend = Command(Action.REQUEST_SUSPENSION, opinion="业主外出")
    asked = wf.apply(dispatched.case, suspend, dept, monday).case
    suspended = wf.apply(asked, Command(Action.APPROVE), lead, monday).case
    back_soon = wf.apply(suspended, Command(Action.RESUME), lead, shanghai(2026, 12, 21, 15))
    assert "deadline_provisional" not in back_soon.step.facts  # 5 h later: Wed 23 Dec 15:00
    back_late = wf.apply(suspended, Command(Action.RESUME), lead, shanghai(2026, 12, 30, 10))
    assert back_late.case.deadline is not None and back_late.case.deadline.year == 2027
    assert back_late.step.facts["deadline_provisional"] is True


def test_start_up_warns_of_a_year_deadlines_will_soon_reach(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="adapters.holidays"):
        working_calendar(core_config().calendar, date(2026, 12, 1))
    assert "holidays of 2027 unknown" in caplog.text and "provisionally" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="adapters.holidays"):
        working_calendar(core_config().calendar, date(2026, 6, 1))
    assert caplog.text == ""


def test_the_official_schedule_must_be_given_when_the_config_names_one() -> None:
    with pytest.raises(ValueError, match="schedule must be given"):
        WorkingCalendar.from_config(CalendarConfig())


def test_natural_hours_run_through_nights_weekends_and_holidays() -> None:
    c = cal()
    friday_19 = shanghai(2026, 1, 9, 19)
    urgent = TimeLimit(event_prefix="04", condition="urgent", amount=2, unit="natural_hours")
    assert c.deadline(friday_19, urgent) == shanghai(2026, 1, 9, 21)  # not Monday
    working = TimeLimit(event_prefix="", condition="urgent", amount=2, unit="work_hours")
    assert c.deadline(friday_19, working) == shanghai(2026, 1, 12, 11)
    # through the Spring Festival too
    eve = shanghai(2026, 2, 16, 22)
    assert c.deadline(eve, urgent) == shanghai(2026, 2, 17, 0)
    assert c.light(eve, shanghai(2026, 2, 17, 0), shanghai(2026, 2, 16, 23), natural=True) == (
        "green"
    )
    assert c.light(eve, shanghai(2026, 2, 17, 0), shanghai(2026, 2, 16, 23, 45), natural=True) == (
        "yellow"
    )


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
