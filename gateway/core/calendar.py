"""The working calendar: deadlines in 工作时/工作日/自然时, suspended time, traffic lights.

Pure functions over timezone-aware datetimes. A working day is a weekday listed in
``workdays`` that is not a holiday, or a make-up day (调休); it has the working periods
of the config (e.g. 09:00-12:00 and 13:00-18:00 local time). One 工作日 is the working
minutes of one such day, so "2 work days from Monday 10:00" is Wednesday 10:00. A limit
in 自然时 (natural hours) runs on the clock: nights, weekends and holidays count, so an
urgent case reported on Friday evening is due that night, not on Monday.

Which days are holidays: the config's own lists first (``holidays``, ``extra_workdays``:
overrides), then the official schedule (`OfficialDays`, read from a kept library by an
adapter), then the weekday rule. A year that neither the schedule nor the config's
``listed_years`` covers (the State Council announces each year's 调休 around November of
the year before, and the library needs a release) is counted provisionally (暂算): the
statutory holidays of the 全国年节及纪念日放假办法 that fall on working weekdays, without
调休 swaps, which nobody can know before they are announced. The calendar says which years
it counts so (`provisional_years`, `warnings`: for health, metrics and the log, at most
once a day). A schedule without a provisional rule, or a year the rule cannot count, still
raises `CalendarNotCovered`: counting such a year as if it had no holidays would give wrong
deadlines without anyone noticing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from gateway.core.settings import CalendarConfig, TimeLimit, parse_period

Light = Literal["green", "yellow", "red"]

log = logging.getLogger(__name__)

#: how far ahead the calendar warns of a year whose holidays are not known
WARN_AHEAD = timedelta(days=120)

#: what health and metrics say of such a year (people read it: Chinese)
PROVISIONAL_WARNING = (
    "{year} 年节假日安排未知：按法定节日暂算，未含调休；"
    "请升级 chinesecalendar 或在 core.calendar 中列出"
)
REFUSED_WARNING = (
    "{year} 年节假日安排未知：时限跨入该年的派遣将被拒绝；"
    "请升级 chinesecalendar 或在 core.calendar 中列出"
)

#: the statutory holidays of a year by a fixed rule (None: the rule cannot count that year)
ProvisionalRule = Callable[[int], frozenset[date] | None]


class CalendarNotCovered(ValueError):
    """A day of a year whose holidays are not known (neither officially nor in config)."""

    def __init__(self, year: int, known: frozenset[int]) -> None:
        span = f"{min(known)}-{max(known)}" if known else "none"
        super().__init__(
            f"the holidays of {year} are not known (official schedule covers {span}): "
            f"update the holiday library, or list {year}'s holidays and make-up days in "
            f"core.calendar (holidays, extra_workdays) and add {year} to listed_years"
        )
        self.year = year


@dataclass(frozen=True)
class OfficialDays:
    """The State Council's holiday schedule for the years a library knows."""

    holidays: frozenset[date]
    workdays: frozenset[date]  # make-up working days (调休) on weekends
    years: frozenset[int]
    #: a year outside ``years``: its statutory holidays, counted provisionally (no 调休);
    #: None: such a year is refused (`CalendarNotCovered`)
    provisional: ProvisionalRule | None = None


@dataclass(frozen=True)
class CalendarWarning:
    """A year soon reached whose holidays are not known: counted provisionally, or refused."""

    year: int
    provisional: bool

    @property
    def code(self) -> str:
        return "calendar_provisional" if self.provisional else "calendar_not_covered"

    @property
    def message(self) -> str:
        """For people (health, metrics): Chinese."""
        text = PROVISIONAL_WARNING if self.provisional else REFUSED_WARNING
        return text.format(year=self.year)

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "year": self.year, "detail": self.message}


class _DailyLog:
    """Which warnings were logged today (so the log says each at most once a day)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logged: dict[int, date] = {}

    def first_today(self, year: int, today: date) -> bool:
        with self._lock:
            if self._logged.get(year) == today:
                return False
            self._logged[year] = today
            return True


_MAX_DAYS = 3660  # a limit beyond ten years of working days is a configuration error


@dataclass(frozen=True)
class WorkingCalendar:
    zone: ZoneInfo
    workdays: frozenset[int]
    periods: tuple[tuple[time, time], ...]
    holidays: frozenset[date]
    extra_workdays: frozenset[date]
    official: OfficialDays | None = None
    #: years whose holidays are known (official or listed); None: the config's lists alone
    known_years: frozenset[int] | None = None
    _logged: _DailyLog = field(default_factory=_DailyLog, compare=False, repr=False)

    @classmethod
    def from_config(
        cls, config: CalendarConfig, official: OfficialDays | None = None
    ) -> WorkingCalendar:
        """``official``: the library's schedule, required when the config names one."""
        if config.official_holidays != "none" and official is None:
            raise ValueError(
                f"calendar.official_holidays is {config.official_holidays}: "
                "its schedule must be given"
            )
        use = official if config.official_holidays != "none" else None
        return cls(
            zone=ZoneInfo(config.timezone),
            workdays=frozenset(config.workdays),
            periods=tuple(parse_period(p) for p in config.periods),
            holidays=frozenset(config.holidays),
            extra_workdays=frozenset(config.extra_workdays),
            official=use,
            known_years=None if use is None else use.years | frozenset(config.listed_years),
        )

    def unknown_years(self, start: date, end: date) -> list[int]:
        """Years in [start, end] whose holidays are not known (counted provisionally, or
        refused where the schedule has no provisional rule)."""
        if self.known_years is None:
            return []
        return [y for y in range(start.year, end.year + 1) if y not in self.known_years]

    def is_provisional(self, year: int) -> bool:
        """Whether ``year`` is counted by the statutory rule alone (暂算, no 调休)."""
        return (
            self.official is not None
            and self.official.provisional is not None
            and self.known_years is not None
            and year not in self.known_years
            and self.official.provisional(year) is not None
        )

    def provisional_years(self, start: date, end: date) -> list[int]:
        """Years in [start, end] counted provisionally."""
        return [y for y in self.unknown_years(start, end) if self.is_provisional(y)]

    def provisional_between(self, start: datetime, end: datetime) -> bool:
        """Whether a span (a deadline counted from ``start`` to ``end``) crosses such a year."""
        first, last = (m.astimezone(self.zone).date() for m in (start, end))
        return bool(self.provisional_years(first, max(first, last)))

    def warnings(self, now: datetime, ahead: timedelta = WARN_AHEAD) -> list[CalendarWarning]:
        """What health and metrics say now: each year within ``ahead`` of today whose
        holidays are not known. Evaluated at each call (a core running since December says
        it too); logged at most once a day a year."""
        today = now.astimezone(self.zone).date()
        said = []
        for year in self.unknown_years(today, today + ahead):
            provisional = self.is_provisional(year)
            said.append(CalendarWarning(year, provisional))
            if self._logged.first_today(year, today):
                log.warning(
                    "holidays of %d are not known (official schedule nor "
                    "core.calendar.listed_years): %s; upgrade chinesecalendar or list %d's "
                    "holidays and make-up days in core.calendar",
                    year,
                    "deadlines count its statutory holidays provisionally, without 调休"
                    if provisional
                    else "deadlines reaching it are refused",
                    year,
                )
        return said

    # ------------------------------------------------------------------ days

    @property
    def minutes_per_day(self) -> float:
        total = 0.0
        for start, end in self.periods:
            total += _minutes(start, end)
        return total

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_workdays:
            return True
        if day in self.holidays:
            return False
        if self.official is not None:
            assert self.known_years is not None
            if day.year not in self.known_years:
                statutory = (
                    None
                    if self.official.provisional is None
                    else self.official.provisional(day.year)
                )
                if statutory is None:
                    raise CalendarNotCovered(day.year, self.official.years)
                return day.weekday() in self.workdays and day not in statutory
            if day in self.official.workdays:
                return True
            if day in self.official.holidays:
                return False
        return day.weekday() in self.workdays

    def _intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The working periods of one local day as UTC intervals (empty on a day off)."""
        if not self.is_working_day(day):
            return []
        return [
            (
                datetime.combine(day, start, self.zone).astimezone(UTC),
                datetime.combine(day, end, self.zone).astimezone(UTC),
            )
            for start, end in self.periods
        ]

    # ------------------------------------------------------------------ arithmetic

    def working_minutes(self, start: datetime, end: datetime) -> float:
        """Working minutes between two instants (0 if end is not after start)."""
        _aware(start, end)
        if end <= start:
            return 0.0
        total = 0.0
        day = start.astimezone(self.zone).date()
        last = end.astimezone(self.zone).date()
        while day <= last:
            for a, b in self._intervals(day):
                lo, hi = max(a, start), min(b, end)
                if hi > lo:
                    total += (hi - lo).total_seconds() / 60
            day += timedelta(days=1)
        return total

    def add_working_minutes(self, start: datetime, minutes: float) -> datetime:
        """The instant ``minutes`` working minutes after ``start``."""
        _aware(start)
        if minutes <= 0:
            return start
        remaining = minutes
        day = start.astimezone(self.zone).date()
        for _ in range(_MAX_DAYS * 2):
            for a, b in self._intervals(day):
                lo = max(a, start)
                if b <= lo:
                    continue
                available = (b - lo).total_seconds() / 60
                if available >= remaining:
                    return lo + timedelta(minutes=remaining)
                remaining -= available
            day += timedelta(days=1)
        raise ValueError(f"no working time found within {_MAX_DAYS} days: check the calendar")

    def limit_minutes(self, limit: TimeLimit) -> float:
        if limit.unit == "work_days":
            return limit.amount * self.minutes_per_day
        return limit.amount * 60

    # ------------------------------------------------------------------ either clock

    def minutes_between(self, start: datetime, end: datetime, natural: bool = False) -> float:
        """Working minutes, or with ``natural`` clock minutes, between two instants (≥ 0)."""
        if not natural:
            return self.working_minutes(start, end)
        _aware(start, end)
        return max(0.0, (end - start).total_seconds() / 60)

    def add_minutes(self, start: datetime, minutes: float, natural: bool = False) -> datetime:
        """``minutes`` working minutes (clock minutes with ``natural``) after ``start``."""
        if not natural:
            return self.add_working_minutes(start, minutes)
        _aware(start)
        return start + timedelta(minutes=max(0.0, minutes))

    def deadline(self, start: datetime, limit: TimeLimit) -> datetime:
        """When a case dispatched at ``start`` under ``limit`` is due."""
        return self.add_minutes(start, self.limit_minutes(limit), is_natural(limit))

    def light(
        self,
        start: datetime,
        deadline: datetime,
        now: datetime,
        suspended_minutes: float = 0.0,
        natural: bool = False,
    ) -> Light:
        """green ≤ 80 % of the allowed time used, yellow ≤ 100 %, red beyond."""
        allowed = self.minutes_between(start, deadline, natural) - suspended_minutes
        used = self.minutes_between(start, now, natural) - suspended_minutes
        if now > deadline:
            return "red"
        if allowed <= 0:
            return "green" if used <= 0 else "red"
        share = used / allowed
        if share <= 0.8:
            return "green"
        if share <= 1.0:
            return "yellow"
        return "red"


def is_natural(limit: TimeLimit) -> bool:
    """A limit in 自然时: counted on the clock, not the working calendar."""
    return limit.unit == "natural_hours"


def pick_limit(limits: list[TimeLimit], event_code: str, urgent: bool) -> TimeLimit:
    """The row with the longest event prefix for the condition (falls back to 'normal')."""
    for condition in ("urgent", "normal") if urgent else ("normal",):
        matches = [
            limit
            for limit in limits
            if limit.condition == condition and event_code.startswith(limit.event_prefix)
        ]
        if matches:
            return max(matches, key=lambda limit: len(limit.event_prefix))
    raise LookupError(f"no time limit for event {event_code}")


def _minutes(start: time, end: time) -> float:
    anchor = date(2000, 1, 3)
    return (datetime.combine(anchor, end) - datetime.combine(anchor, start)).total_seconds() / 60


def _aware(*moments: datetime) -> None:
    for moment in moments:
        if moment.tzinfo is None:
            raise ValueError("working-calendar arithmetic needs timezone-aware datetimes")
