"""`PrometheusMetrics`: the metrics port on a ``prometheus_client`` registry of its own.

Each daemon has one (no process-wide default registry, so tests may build several in
one process). An instrument is a family's child bound to its label values once, when a
service asks for it; `collect` wraps a reader in a collector called at scrape time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry
from prometheus_client import Counter as _Counter
from prometheus_client import Gauge as _Gauge
from prometheus_client import Histogram as _Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.observability import (
    LATENCY_BUCKETS,
    Counter,
    Gauge,
    Histogram,
    Kind,
    Labels,
    Reader,
)

log = logging.getLogger(__name__)


class _ReadCollector(Collector):
    """Samples of one metric read at scrape time."""

    def __init__(
        self, name: str, doc: str, kind: Kind, label_names: Sequence[str], read: Reader
    ) -> None:
        self._name, self._doc, self._kind = name, doc, kind
        self._label_names = list(label_names)
        self._read = read

    def _family(self) -> GaugeMetricFamily | CounterMetricFamily:
        if self._kind is Kind.COUNTER:
            return CounterMetricFamily(self._name, self._doc, labels=self._label_names)
        return GaugeMetricFamily(self._name, self._doc, labels=self._label_names)

    def describe(self) -> Iterator[Metric]:
        yield self._family()  # registration checks names without reading anything

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        try:
            for values, value in self._read():
                family.add_metric([str(v) for v in values], float(value))
        except Exception:  # a scrape must never fail because one reader did
            log.exception("metrics: reading %s failed", self._name)
            return
        yield family


class PrometheusMetrics:
    """Implements `gateway.observability.Metrics`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # the ``*_created`` series double every counter and histogram; nobody graphs them
        prometheus_client.disable_created_metrics()
        self.registry = registry if registry is not None else CollectorRegistry()
        self._families: dict[str, tuple[type, tuple[str, ...], Any]] = {}
        self._lock = threading.Lock()

    def _family(self, kind: type, name: str, doc: str, labels: Labels, **extra: Any) -> Any:
        names = tuple(sorted(labels))
        with self._lock:
            known = self._families.get(name)
            if known is None:
                family = kind(name, doc, labelnames=names, registry=self.registry, **extra)
                self._families[name] = (kind, names, family)
            else:
                known_kind, known_names, family = known
                if known_kind is not kind or known_names != names:
                    raise ValueError(
                        f"metric {name} is a {known_kind.__name__} with labels {known_names}; "
                        f"asked for a {kind.__name__} with {names}"
                    )
        return family.labels(**labels) if names else family

    def counter(self, name: str, doc: str, labels: Labels | None = None) -> Counter:
        child: Counter = self._family(_Counter, name, doc, labels or {})
        return child

    def gauge(self, name: str, doc: str, labels: Labels | None = None) -> Gauge:
        child: Gauge = self._family(_Gauge, name, doc, labels or {})
        return child

    def histogram(
        self,
        name: str,
        doc: str,
        labels: Labels | None = None,
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> Histogram:
        child: Histogram = self._family(_Histogram, name, doc, labels or {}, buckets=tuple(buckets))
        return child

    def collect(
        self, name: str, doc: str, kind: Kind, label_names: Sequence[str], read: Reader
    ) -> None:
        self.registry.register(_ReadCollector(name, doc, kind, label_names, read))

    def render(self) -> tuple[bytes, str]:
        return prometheus_client.generate_latest(
            self.registry
        ), prometheus_client.CONTENT_TYPE_LATEST

    def sample(self, name: str, labels: Labels | None = None) -> float | None:
        """One sample's value (tests and tools), or None."""
        return self.registry.get_sample_value(name, dict(labels or {}))
