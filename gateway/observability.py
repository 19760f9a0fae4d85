"""The metrics port: what the services count and time, without knowing who scrapes it.

Services take a `Metrics` and ask it once, when they are built, for the instruments they
update (`counter`, `gauge`, `histogram`, each bound to its label values then, so a hot
loop only calls ``inc``/``observe`` on an object it holds). Values that a service
already keeps (queue depths, counts in the database, a camera's frame rate) are not
pushed at all: `collect` registers a function the scraper calls at scrape time, so
they cost nothing between scrapes.

`NO_METRICS` is the default everywhere: every instrument is a no-op and nothing is
collected. The Prometheus implementation lives in ``adapters/prometheus`` and is chosen
in the daemons' bootstrap. Metric names follow Prometheus' conventions
(``citygw_<what>_<unit>``, counters end in ``_total``); the dashboard and alert rules in
``docs/`` name them, and a test checks that each one they name is exported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Protocol

Labels = Mapping[str, str]
#: one sample read at scrape time: its label values (in the order of its label names), value
Sample = tuple[Sequence[str], float]
Reader = Callable[[], Iterable[Sample]]

#: seconds; a detector pass, an HTTP request, an AGI command
LATENCY_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
#: seconds; an AGI command's reply comes after the prompt was played or digits typed
AGI_COMMAND_BUCKETS: tuple[float, ...] = (0.005, 0.025, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Kind(StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"


class Counter(Protocol):
    def inc(self, amount: float = 1.0) -> None: ...


class Gauge(Protocol):
    def set(self, value: float) -> None: ...

    def inc(self, amount: float = 1.0) -> None: ...

    def dec(self, amount: float = 1.0) -> None: ...


class Histogram(Protocol):
    def observe(self, value: float) -> None: ...


class Metrics(Protocol):
    """Where a process's metrics go. Asking twice for one name and labels gives the same
    instrument; one name always has the same label names."""

    def counter(self, name: str, doc: str, labels: Labels | None = None) -> Counter: ...

    def gauge(self, name: str, doc: str, labels: Labels | None = None) -> Gauge: ...

    def histogram(
        self,
        name: str,
        doc: str,
        labels: Labels | None = None,
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> Histogram: ...

    def collect(
        self, name: str, doc: str, kind: Kind, label_names: Sequence[str], read: Reader
    ) -> None:
        """Call ``read()`` at each scrape for the samples of ``name`` (a counter's values
        only ever grow). A ``read`` that raises is logged and gives no samples."""
        ...

    def render(self) -> tuple[bytes, str]:
        """The exposition text of everything registered, and its content type."""
        ...


class _Nothing:
    """Every instrument in one: it does nothing."""

    __slots__ = ()

    def inc(self, amount: float = 1.0) -> None:
        return None

    def dec(self, amount: float = 1.0) -> None:
        return None

    def set(self, value: float) -> None:
        return None

    def observe(self, value: float) -> None:
        return None


_NOTHING = _Nothing()


class NoMetrics:
    """Counts nothing (the default): what services get when no scraper is wired."""

    def counter(self, name: str, doc: str, labels: Labels | None = None) -> Counter:
        return _NOTHING

    def gauge(self, name: str, doc: str, labels: Labels | None = None) -> Gauge:
        return _NOTHING

    def histogram(
        self,
        name: str,
        doc: str,
        labels: Labels | None = None,
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> Histogram:
        return _NOTHING

    def collect(
        self, name: str, doc: str, kind: Kind, label_names: Sequence[str], read: Reader
    ) -> None:
        return None

    def render(self) -> tuple[bytes, str]:
        return b"", "text/plain; version=0.0.4; charset=utf-8"


NO_METRICS: Metrics = NoMetrics()
