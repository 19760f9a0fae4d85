"""Wiring of metrics: the Prometheus registry, what every daemon exports, its listener.

The metrics part of `gateway.bootstrap`: each daemon's ``main`` builds one
`PrometheusMetrics` (`build_metrics`), hands it to its services (which only know the
`gateway.observability.Metrics` port), registers the parts every edge daemon shares
(`export_outbox`: its durable outbox and its broker connection) and serves it: the
gateways on a listener of their own (`listener`, off unless ``metrics.<daemon>_port``
is set), the core on its HTTP server (``metrics.core_on_api``) and/or its own listener.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from adapters.mqtt import MqttConnection, OutboxPublisher
from adapters.prometheus import MetricsListener, PrometheusMetrics
from gateway.clock import Clock
from gateway.config import Config
from gateway.ingest import CandidateIngest
from gateway.observability import Kind, Metrics

if TYPE_CHECKING:  # the core and the video gateway need not load pyst2
    from adapters.asterisk.fastagi_server import FastAgiServer
    from gateway.core.calendar import WorkingCalendar


def build_metrics() -> PrometheusMetrics:
    """A registry of the daemon's own (a process may run several daemons in tests)."""
    return PrometheusMetrics()


def metrics_token(config: Config) -> str | None:
    token = config.metrics.token
    return token.get_secret_value() if token is not None else None


def listener(config: Config, metrics: Metrics, port: int | None) -> MetricsListener | None:
    """The metrics listener on ``metrics.host:port``, not started; None when ``port`` is unset."""
    if port is None:
        return None
    return MetricsListener(metrics, config.metrics.host, port, token=metrics_token(config))


def export_outbox(
    metrics: Metrics, daemon: str, publisher: OutboxPublisher, connection: MqttConnection
) -> None:
    """The outbox's depth, bytes, in-flight window and oldest message, its totals, and
    whether the broker is connected: read at scrape time (nothing per message)."""
    outbox = publisher.outbox
    labels = (daemon,)

    def depth() -> list[tuple[tuple[str, ...], float]]:
        awaiting = outbox.awaiting_receipt()
        return [
            ((daemon, "unsent"), outbox.queued_messages - awaiting),
            ((daemon, "awaiting_receipt"), awaiting),
        ]

    def oldest_age() -> list[tuple[tuple[str, ...], float]]:
        oldest = outbox.oldest_queued_at()
        return [(labels, 0.0 if oldest is None else max(0.0, time.time() - oldest))]

    metrics.collect(
        "citygw_outbox_messages",
        "Messages kept in the durable outbox: unsent (incl. awaiting PUBACK) or awaiting the consumer's receipt",
        Kind.GAUGE,
        ("daemon", "state"),
        depth,
    )
    metrics.collect(
        "citygw_outbox_bytes",
        "Payload bytes kept in the durable outbox",
        Kind.GAUGE,
        ("daemon",),
        lambda: [(labels, outbox.queued_bytes)],
    )
    metrics.collect(
        "citygw_outbox_inflight",
        "Messages handed to the broker and awaiting their PUBACK",
        Kind.GAUGE,
        ("daemon",),
        lambda: [(labels, publisher.inflight)],
    )
    metrics.collect(
        "citygw_outbox_oldest_age_seconds",
        "Age of the oldest message still kept in the outbox (0 when empty)",
        Kind.GAUGE,
        ("daemon",),
        oldest_age,
    )
    metrics.collect(
        "citygw_outbox_max_messages",
        "The outbox's limit: new messages are refused beyond this many",
        Kind.GAUGE,
        ("daemon",),
        lambda: [(labels, outbox.max_messages)],
    )
    for name, doc, read in (
        ("published", "Messages handed to the broker", lambda: publisher.published_total),
        ("acked", "Messages the broker acknowledged (PUBACK)", lambda: publisher.acked_total),
        ("confirmed", "Messages a consumer's receipt confirmed", lambda: publisher.confirmed_total),
        ("resent", "Messages sent again for want of a receipt", lambda: publisher.resent_total),
    ):
        metrics.collect(
            f"citygw_outbox_{name}_total",
            doc,
            Kind.COUNTER,
            ("daemon",),
            lambda read=read: [(labels, read())],  # type: ignore[misc]
        )
    metrics.collect(
        "citygw_mqtt_connected",
        "1 while the broker connection is up",
        Kind.GAUGE,
        ("daemon",),
        lambda: [(labels, 1.0 if connection.connected else 0.0)],
    )


def export_core(
    metrics: Metrics,
    store: object,
    ingest: CandidateIngest,
    clock: Clock,
    calendar: WorkingCalendar | None = None,
) -> None:
    """The core's intake, its workflow's counts read from the store at scrape time, and the
    working calendar's warnings."""
    from adapters.storage.case_counts import SqlCaseCounts
    from gateway.core.core_metrics import export_calendar, export_intake, export_workflow

    export_intake(metrics, ingest)
    export_workflow(metrics, SqlCaseCounts.for_store(store), clock.now)
    if calendar is not None:
        export_calendar(metrics, calendar, clock.now)


def export_agi(metrics: Metrics, server: FastAgiServer) -> None:
    """The FastAGI server's calls: in progress now, refused (all slots busy), failed."""
    metrics.collect(
        "citygw_agi_calls_active",
        "Calls in progress",
        Kind.GAUGE,
        (),
        lambda: [((), server.active_calls)],
    )
    metrics.collect(
        "citygw_agi_calls_refused_total",
        "Calls refused because every call slot was busy (the dialplan falls back to agents)",
        Kind.COUNTER,
        (),
        lambda: [((), server.calls_refused)],
    )
    metrics.collect(
        "citygw_agi_calls_failed_total",
        "Calls that ended on a protocol or connection error",
        Kind.COUNTER,
        (),
        lambda: [((), server.calls_failed)],
    )
