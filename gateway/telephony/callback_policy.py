"""Outbound callbacks (回访) as plain data and decisions: no I/O here.

A `Callback` is one case's call back to its reporter, made once per case. It waits
(`WaitReason`: scheduled after the close or a failed try, outside calling hours, the
number on the do-not-call list, the number's daily cap reached), is dialled (an attempt,
counted *before* the Originate is sent, so a crash while dialling never calls twice),
and ends (`CallbackResult`): answered (with the survey's answer if the citizen gave
one), unreached after the last attempt, outcome unknown (the connection to Asterisk was
lost while the call was up: never retried), or expired (still waiting too long after
the close).

`decide` says what to do with a due callback now; `after_dial` what a dial's result
makes of it; `CallingHours` answers "may we call now, and if not, from when".
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from gateway.telephony.callback_settings import CallbackConfig
from gateway.telephony.ivr import SURVEY_KEYS


class CallbackState(StrEnum):
    WAITING = "waiting"
    DIALING = "dialing"
    DONE = "done"


class WaitReason(StrEnum):
    SCHEDULED = "scheduled"  # the pause after the close, or after a try nobody answered
    OUTSIDE_HOURS = "outside_hours"
    DO_NOT_CALL = "do_not_call"
    DAILY_CAP = "daily_cap"
    NOT_SENT = "not_sent"  # Asterisk did not take the Originate (down, shutting down)


#: wait reasons the case is told about (the others are routine)
NOTIFIED_WAITS = frozenset({WaitReason.OUTSIDE_HOURS, WaitReason.DO_NOT_CALL, WaitReason.DAILY_CAP})


class CallbackResult(StrEnum):
    ANSWERED = "answered"
    UNREACHED = "unreached"
    OUTCOME_UNKNOWN = "outcome_unknown"
    EXPIRED = "expired"


class DialOutcome(StrEnum):
    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    CONGESTION = "congestion"
    FAILED = "failed"  # Asterisk could not make the call (bad number, no route)
    NOT_SENT = "not_sent"  # refused before it was queued: nobody was called
    LOST = "lost"  # queued, then the connection ended: the call may have happened


_RETRIED = frozenset(
    {DialOutcome.NO_ANSWER, DialOutcome.BUSY, DialOutcome.CONGESTION, DialOutcome.FAILED}
)
#: how long a callback Asterisk did not take waits before the next try (not an attempt)
NOT_SENT_PAUSE = timedelta(seconds=60)
#: how often a number on the do-not-call list is looked at again
DO_NOT_CALL_RECHECK = timedelta(hours=1)


@dataclass(frozen=True)
class Callback:
    case_id: str
    case_number: str
    number: str
    closed_at: datetime
    next_at: datetime
    state: CallbackState = CallbackState.WAITING
    attempts: int = 0
    wait_reason: WaitReason | None = WaitReason.SCHEDULED
    result: CallbackResult | None = None
    satisfaction: str | None = None
    last_outcome: DialOutcome | None = None
    event_code: str | None = None
    notified: frozenset[str] = frozenset()

    def attempt_id(self, attempt: int) -> str:
        """The id of attempt n: the Originate's ActionID and its channels' uniqueids."""
        return f"cb-{self.case_id[-16:]}-{attempt}"


@dataclass(frozen=True)
class DialRequest:
    attempt_id: str
    case_id: str
    case_number: str
    number: str


@dataclass(frozen=True)
class DialResult:
    outcome: DialOutcome
    survey_key: str | None = None
    uniqueid: str | None = None
    hangup_cause: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class Decision:
    call: bool
    wait_until: datetime | None = None
    reason: WaitReason | None = None
    expire: bool = False


#: the official schedule's ruling on a day: True a holiday, False a make-up working day
#: (调休), None neither (the weekday rule decides)
OfficialRuling = Callable[[date], bool | None]


class CallingHours:
    """Days, local time windows and holidays in which a callback may start: the config's
    holidays first, then the official schedule (no calls on 春节 or 国庆; a 调休 Sunday
    is a working day), then the config's days."""

    def __init__(
        self,
        days: list[int],
        windows: list[tuple[time, time]],
        holidays: list[date],
        timezone: str,
        official: OfficialRuling | None = None,
    ) -> None:
        self.days = frozenset(days)
        self.windows = sorted(windows)
        self.holidays = frozenset(holidays)
        self.zone = ZoneInfo(timezone)
        self._official = official

    @classmethod
    def of(
        cls, config: CallbackConfig, timezone: str, official: OfficialRuling | None = None
    ) -> CallingHours:
        return cls(config.days, config.windows(), config.holidays, timezone, official)

    def _day_open(self, day: date) -> bool:
        if day in self.holidays:
            return False
        ruling = self._official(day) if self._official is not None else None
        if ruling is not None:
            return not ruling
        return day.isoweekday() in self.days

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(self.zone)
        if not self._day_open(local.date()):
            return False
        clock = local.time().replace(tzinfo=None)
        return any(start <= clock < end for start, end in self.windows)

    def next_open(self, now: datetime) -> datetime:
        """``now`` if calls may be made now, else the start of the next window (UTC)."""
        if self.is_open(now):
            return now
        local = now.astimezone(self.zone)
        for offset in range(0, 400):
            day = local.date() + timedelta(days=offset)
            if not self._day_open(day):
                continue
            for start, _ in self.windows:
                begins = datetime.combine(day, start, tzinfo=self.zone)
                if begins > local:
                    return begins.astimezone(now.tzinfo)
        raise ValueError("no calling window in the next 400 days")

    def local_day(self, now: datetime) -> date:
        return now.astimezone(self.zone).date()

    def next_day_open(self, now: datetime) -> datetime:
        """The first window of a later local day (after a number's daily cap)."""
        local = now.astimezone(self.zone)
        midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=self.zone)
        return self.next_open(midnight.astimezone(now.tzinfo))


def decide(
    callback: Callback,
    now: datetime,
    *,
    config: CallbackConfig,
    hours: CallingHours,
    do_not_call: bool,
    calls_today: int,
) -> Decision:
    """What to do with a due, waiting callback now."""
    if now - callback.closed_at > timedelta(seconds=config.expire_after_s):
        return Decision(call=False, expire=True)
    if do_not_call:
        return Decision(False, now + DO_NOT_CALL_RECHECK, WaitReason.DO_NOT_CALL)
    if not hours.is_open(now):
        return Decision(False, hours.next_open(now), WaitReason.OUTSIDE_HOURS)
    if calls_today >= config.daily_cap_per_number:
        return Decision(False, hours.next_day_open(now), WaitReason.DAILY_CAP)
    return Decision(call=True)


def after_dial(
    callback: Callback, result: DialResult, now: datetime, config: CallbackConfig
) -> Callback:
    """The callback after one dial (its attempt already counted when it started)."""
    done = functools.partial(dataclasses.replace, callback, last_outcome=result.outcome)
    if result.outcome is DialOutcome.ANSWERED:
        satisfaction = SURVEY_KEYS.get(result.survey_key or "")
        return done(
            state=CallbackState.DONE,
            wait_reason=None,
            result=CallbackResult.ANSWERED,
            satisfaction=satisfaction.value if satisfaction else None,
        )
    if result.outcome is DialOutcome.LOST:
        return done(
            state=CallbackState.DONE, wait_reason=None, result=CallbackResult.OUTCOME_UNKNOWN
        )
    if result.outcome is DialOutcome.NOT_SENT:
        return done(
            state=CallbackState.WAITING,
            attempts=max(0, callback.attempts - 1),
            next_at=now + NOT_SENT_PAUSE,
            wait_reason=WaitReason.NOT_SENT,
        )
    assert result.outcome in _RETRIED
    if callback.attempts >= config.max_attempts:
        return done(state=CallbackState.DONE, wait_reason=None, result=CallbackResult.UNREACHED)
    return done(
        state=CallbackState.WAITING,
        next_at=now + timedelta(seconds=config.retry_after_s),
        wait_reason=WaitReason.SCHEDULED,
    )


def expired(callback: Callback) -> Callback:
    return dataclasses.replace(
        callback, state=CallbackState.DONE, wait_reason=None, result=CallbackResult.EXPIRED
    )
