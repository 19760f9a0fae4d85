"""The time a centre has to take up a case escalated (上报) or handed down (下派) to it.

上报 and 下派 (`gateway.core.organisation.Organisation.level_change`) give the receiving
centre ``level_limit_hours`` working hours to act on the case. The case keeps the window
while it runs, in its facts: ``level_since`` (the move) and ``level_deadline``. It ends with
the first step of the receiving centre's desk (受理员, 值班长, 派遣员), or when the case leaves
信息收集 / 立案 (dispatched, rejected, merged) whoever moves it; that step records
``level_on_time``. While it runs, the case's light is the window's (green, yellow, red as a
disposal deadline's, `gateway.core.calendar.WorkingCalendar.light`), and past its deadline
the case is `level_overdue`: red on the board, counted there for the receiving centre, and
said on the case page (已超过上报/下派期限). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

#: the case facts of a running window (the step of the move records ``level_deadline`` too)
LEVEL_SINCE = "level_since"
LEVEL_DEADLINE = "level_deadline"
_WINDOW = (LEVEL_SINCE, LEVEL_DEADLINE)


def window_facts(since: datetime) -> dict[str, Any]:
    """The case facts a move adds beside its step's (``level_deadline``): when it began."""
    return {LEVEL_SINCE: since.isoformat()}


def level_window(facts: Mapping[str, Any]) -> tuple[datetime, datetime] | None:
    """(since, deadline) of the window running on a case with ``facts``; None when none
    runs. A case moved before windows were kept (``level_deadline`` alone, never ended)
    has none: its take-up is not judged."""
    since, due = _moment(facts.get(LEVEL_SINCE)), _moment(facts.get(LEVEL_DEADLINE))
    return (since, due) if since is not None and due is not None else None


def level_overdue(facts: Mapping[str, Any], now: datetime) -> bool:
    """Whether the receiving centre has let the window pass without taking the case up."""
    window = level_window(facts)
    return window is not None and now > window[1]


def level_out(facts: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A case's ``level_deadline`` (None when no window runs) and ``level_overdue``."""
    window = level_window(facts)
    return {
        "level_deadline": window[1] if window is not None else None,
        "level_overdue": window is not None and now > window[1],
    }


def end_window(
    facts: Mapping[str, Any], now: datetime, *, taken_up: bool, moved_on: bool
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(case facts without the window, step facts) when this step ends the running window:
    ``taken_up`` (a step of the receiving centre's desk) or ``moved_on`` (the case leaves
    信息收集 / 立案); None when the window runs on (or none runs)."""
    window = level_window(facts)
    if window is None or not (taken_up or moved_on):
        return None
    kept = {k: v for k, v in facts.items() if k not in _WINDOW}
    return kept, {"level_on_time": now <= window[1]}


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
