"""Prometheus adapter: the `gateway.observability.Metrics` port on ``prometheus-client``
(the only code that imports it), and the small HTTP listener the gateways expose it on."""

from adapters.prometheus.listener import MetricsListener
from adapters.prometheus.registry import PrometheusMetrics

__all__ = ["MetricsListener", "PrometheusMetrics"]
