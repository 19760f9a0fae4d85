"""The working calendar: deadlines in 工作时/工作日, suspended time, traffic lights.

Pure functions over timezone-aware datetimes. A working day is a weekday listed in
``workdays`` that is not a holiday, or a make-up day (调休); it has the working periods
of the config (e.g. 09:00-12:00 and 13:00-18:00 local time). One 工作日 is the working
minutes of one such day, so "2 work days from Monday 10:00" is Wednesday 10:00.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from gateway.core.settings import CalendarConfig, TimeLimit, parse_period

Light = Literal["green", "yellow", "red"]

_MAX_DAYS = 3660  # a limit beyond ten years of working days is a configuration error


@dataclass(frozen=True)
class WorkingCalendar:
    zone: ZoneInfo
    workdays: frozenset[int]
    periods: tuple[tuple[time, time], ...]
    holidays: frozenset[date]
    extra_workdays: frozenset[date]

    @classmethod
    def from_config(cls, config: CalendarConfig) -> WorkingCalendar:
        return cls(
            zone=ZoneInfo(config.timezone),
            workdays=frozenset(config.workdays),
            periods=tuple(parse_period(p) for p in config.periods),
            holidays=frozenset(config.holidays),
            extra_workdays=frozenset(config.extra_workdays),
        )

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
        return day.weekday() in self.workdays and day not in self.holidays

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

    def light(
        self, start: datetime, deadline: datetime, now: datetime, suspended_minutes: float = 0.0
    ) -> Light:
        """green ≤ 80 % of the allowed working time used, yellow ≤ 100 %, red beyond."""
        allowed = self.working_minutes(start, deadline) - suspended_minutes
        used = self.working_minutes(start, now) - suspended_minutes
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
