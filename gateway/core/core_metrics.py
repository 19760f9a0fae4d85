"""What the core exports as metrics (through the `gateway.observability.Metrics` port).

- intake: candidate messages received, stored (new or duplicate), refused, store failures,
  how long messages have waited without progress (read from `CandidateIngest` at scrape
  time, nothing per candidate);
- dead letters by code (`CountingDeadLetters` wraps the sink every consumer keeps them in);
- the workflow: cases by state and overdue cases, read from the store (`CaseCounts`) at
  scrape time and kept for ``ttl_s`` so that scrapes never add up to a load on the
  database;
- the working calendar: a year deadlines will reach within 120 days whose holidays are not
  known (counted provisionally, or refused), with its warning (Chinese), at scrape time.

HTTP latency by route is `gateway.core.http_metrics`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from gateway.core.calendar import WorkingCalendar
from gateway.core.workflow import CaseState
from gateway.dead_letters import DeadLetterRecord, DeadLetterSink
from gateway.ingest import CandidateIngest
from gateway.observability import Counter, Kind, Metrics, Sample

#: seconds the workflow counts read at a scrape are reused for (several scrapers, one read)
COUNTS_TTL_S = 2.0


class CaseCounts(Protocol):
    """Cheap aggregate reads of the case store (indexes on state and deadline)."""

    def cases_by_state(self) -> dict[str, int]: ...

    def overdue_cases(self, now: datetime) -> int:
        """Cases being processed past their deadline."""
        ...


class CountingDeadLetters:
    """A `DeadLetterSink` that counts what it kept, by code, in ``citygw_dead_letters_total``."""

    def __init__(self, sink: DeadLetterSink, metrics: Metrics) -> None:
        self._sink = sink
        self._metrics = metrics
        self._by_code: dict[str, Counter] = {}

    def store_dead_letters(self, records: Sequence[DeadLetterRecord]) -> None:
        self._sink.store_dead_letters(records)
        for record in records:
            counter = self._by_code.get(record.code)
            if counter is None:
                counter = self._metrics.counter(
                    "citygw_dead_letters_total",
                    "Messages a consumer refused for good and kept as dead letters, by reason code",
                    {"code": record.code},
                )
                self._by_code[record.code] = counter
            counter.inc()


class _CachedCounts:
    """The store's counts, read at most once per ``ttl_s``."""

    def __init__(
        self, counts: CaseCounts, now: Callable[[], datetime], ttl_s: float = COUNTS_TTL_S
    ) -> None:
        self._counts, self._now, self._ttl_s = counts, now, ttl_s
        self._lock = threading.Lock()
        self._read_at = -float("inf")
        self._by_state: dict[str, int] = {}
        self._overdue = 0

    def _fresh(self) -> None:
        with self._lock:
            if time.monotonic() - self._read_at < self._ttl_s:
                return
            self._by_state = self._counts.cases_by_state()
            self._overdue = self._counts.overdue_cases(self._now())
            self._read_at = time.monotonic()

    def by_state(self) -> list[Sample]:
        self._fresh()
        counts = {str(state): 0 for state in CaseState} | self._by_state
        return [((state,), count) for state, count in sorted(counts.items())]

    def overdue(self) -> list[Sample]:
        self._fresh()
        return [((), self._overdue)]


def export_intake(metrics: Metrics, ingest: CandidateIngest) -> None:
    stats = ingest.stats
    metrics.collect(
        "citygw_candidates_received_total",
        "Candidate messages the core's intake took from the broker",
        Kind.COUNTER,
        (),
        lambda: [((), stats.received)],
    )
    metrics.collect(
        "citygw_candidates_ingested_total",
        "Candidates stored: new ones, and copies of ones already stored (redeliveries)",
        Kind.COUNTER,
        ("outcome",),
        lambda: [(("new",), stats.stored), (("duplicate",), stats.duplicates)],
    )
    metrics.collect(
        "citygw_candidates_dead_lettered_total",
        "Candidate messages refused for good (broken contract, or failing alone when stored)",
        Kind.COUNTER,
        (),
        lambda: [((), stats.dead_lettered)],
    )
    metrics.collect(
        "citygw_intake_store_failures_total",
        "Failed attempts to store a batch of candidates (outages are retried)",
        Kind.COUNTER,
        (),
        lambda: [((), stats.store_failures)],
    )
    metrics.collect(
        "citygw_intake_stalled_seconds",
        "How long candidate messages have waited without a batch being stored (0: none wait)",
        Kind.GAUGE,
        (),
        lambda: [((), ingest.stalled_for())],
    )
    metrics.collect(
        "citygw_intake_running",
        "1 while the intake worker runs",
        Kind.GAUGE,
        (),
        lambda: [((), 1.0 if ingest.running else 0.0)],
    )


def export_workflow(
    metrics: Metrics, counts: CaseCounts, now: Callable[[], datetime], ttl_s: float = COUNTS_TTL_S
) -> None:
    cached = _CachedCounts(counts, now, ttl_s)
    metrics.collect(
        "citygw_cases",
        "Cases by workflow state",
        Kind.GAUGE,
        ("state",),
        cached.by_state,
    )
    metrics.collect(
        "citygw_cases_overdue",
        "Cases being processed past their deadline",
        Kind.GAUGE,
        (),
        cached.overdue,
    )


def export_calendar(
    metrics: Metrics, calendar: WorkingCalendar, now: Callable[[], datetime]
) -> None:
    """``citygw_calendar_unknown_year``: 1 for each year soon reached whose holidays are not
    known, labelled with how it is counted and the warning people read; and
    ``citygw_calendar_unknown_years``, how many there are (0 too, so an alert rule has a
    series to watch while none is unknown)."""
    metrics.collect(
        "citygw_calendar_unknown_years",
        "How many years within 120 days have no known holiday schedule "
        "(the years: citygw_calendar_unknown_year)",
        Kind.GAUGE,
        (),
        lambda: [((), float(len(calendar.warnings(now()))))],
    )
    metrics.collect(
        "citygw_calendar_unknown_year",
        "Years within 120 days whose holiday schedule is not known (mode: provisional or "
        "refused), with the warning: upgrade chinesecalendar or list the year in config",
        Kind.GAUGE,
        ("year", "mode", "warning"),
        lambda: [
            ((str(w.year), "provisional" if w.provisional else "refused", w.message), 1.0)
            for w in calendar.warnings(now())
        ],
    )
