"""The hotline's AMI side in the `citygw agi` metrics: callbacks (paused or running, by
state, dials), the agents' queue figures per queue, and the screen pops sent.

Read at scrape time from the `CallbackRunner` (no counting of our own): a scrape sees
what ``health`` says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.observability import Kind, Metrics

if TYPE_CHECKING:
    from gateway.telephony.callback_daemon import CallbackRunner

_QUEUE_GAUGES = (
    ("waiting", "citygw_queue_calls_waiting", "Calls waiting in the agents' queue"),
    ("longest_wait_s", "citygw_queue_longest_wait_seconds", "The longest wait among them"),
    ("answered", "citygw_queue_answered", "Calls answered, as Asterisk counts since its start"),
    ("abandoned", "citygw_queue_abandoned", "Calls abandoned, as Asterisk counts since its start"),
    ("agents_logged_in", "citygw_queue_agents_logged_in", "Queue members"),
    ("agents_available", "citygw_queue_agents_available", "Members free and not paused"),
    ("agents_paused", "citygw_queue_agents_paused", "Members paused"),
)


def export_callbacks(metrics: Metrics, runner: CallbackRunner) -> None:
    def paused() -> list[tuple[tuple[str, ...], float]]:
        return [((), 0.0 if runner.service.dialer.ready else 1.0)]

    metrics.collect(
        "citygw_callbacks_paused",
        "1 while callbacks are paused (AMI unreachable or refusing the login)",
        Kind.GAUGE,
        (),
        paused,
    )
    metrics.collect(
        "citygw_callbacks",
        "Callbacks by state",
        Kind.GAUGE,
        ("state",),
        lambda: [((state,), float(n)) for state, n in sorted(runner.store.counts().items())],
    )
    metrics.collect(
        "citygw_callback_dials_total",
        "Originates started",
        Kind.COUNTER,
        (),
        lambda: [((), float(runner.service.dials_started))],
    )
    for key, name, doc in _QUEUE_GAUGES:
        metrics.collect(
            name,
            doc,
            Kind.GAUGE,
            ("queue",),
            lambda key=key: [  # type: ignore[misc]
                ((queue,), float(figure[key]))
                for queue, figure in sorted(runner.queues.snapshot()["queues"].items())
            ],
        )
    metrics.collect(
        "citygw_queue_figures_age_seconds",
        "How old the last queue figures are (none before the first answer)",
        Kind.GAUGE,
        (),
        lambda: (
            [((), float(age))] if (age := runner.queues.snapshot()["age_s"]) is not None else []
        ),
    )
    metrics.collect(
        "citygw_agent_screen_pops_total",
        "Agent calls sent to the core for a screen pop",
        Kind.COUNTER,
        (),
        lambda: [((), float(runner.desk.popped if runner.desk else 0))],
    )
