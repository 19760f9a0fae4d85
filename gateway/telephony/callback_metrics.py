"""The hotline's AMI side in the `citygw ami` metrics (``metrics.ami_port``): the AMI
connection, callbacks (running, paused or off, by state, dials, closing case events
ignored while off), the agents' queue figures per queue, the screen pops sent, the calls
recorded from their CDRs (and IVR candidates that came after such a record), and the
reading of Asterisk's Master.csv (its state, rows read and what became of them) when
configured.

Read at scrape time from the `AmiSide` (no counting of our own): a scrape sees what
``health`` says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.observability import Kind, Metrics
from gateway.telephony.callback_policy import CallbackState

if TYPE_CHECKING:
    from gateway.telephony.ami_side import AmiSide

_QUEUE_GAUGES = (
    ("waiting", "citygw_queue_calls_waiting", "Calls waiting in the agents' queue"),
    ("longest_wait_s", "citygw_queue_longest_wait_seconds", "The longest wait among them"),
    ("answered", "citygw_queue_answered", "Calls answered, as Asterisk counts since its start"),
    ("abandoned", "citygw_queue_abandoned", "Calls abandoned, as Asterisk counts since its start"),
    ("agents_logged_in", "citygw_queue_agents_logged_in", "Queue members"),
    ("agents_available", "citygw_queue_agents_available", "Members free and not paused"),
    ("agents_paused", "citygw_queue_agents_paused", "Members paused"),
)


def export_callbacks(metrics: Metrics, runner: AmiSide) -> None:
    def state_is(state: str) -> list[tuple[tuple[str, ...], float]]:
        return [((), 1.0 if runner.service.state()[0] == state else 0.0)]

    metrics.collect(
        "citygw_ami_ready",
        "1 while the AMI connection is logged in (call records, screen pops, queue figures"
        " and callbacks need it)",
        Kind.GAUGE,
        (),
        lambda: [((), 1.0 if runner.client.state.value == "ready" else 0.0)],
    )
    metrics.collect(
        "citygw_callbacks_paused",
        "1 while callbacks are paused (AMI unreachable or refusing the login)",
        Kind.GAUGE,
        (),
        lambda: state_is("paused"),
    )
    metrics.collect(
        "citygw_callbacks_off",
        "1 while dialling is switched off (telephony.callbacks.originate: false): nobody is"
        " called back, the other AMI features run",
        Kind.GAUGE,
        (),
        lambda: state_is("off"),
    )
    metrics.collect(
        "citygw_callback_events_ignored_total",
        "Closing case events ignored because dialling is off (no callback queued)",
        Kind.COUNTER,
        (),
        lambda: [((), float(runner.service.events_ignored))],
    )
    metrics.collect(
        "citygw_callbacks",
        "Callbacks by state (waiting, dialing, done: 0 when none), done ones also by result"
        " (done:answered) and waiting ones by reason (waiting:do_not_call)",
        Kind.GAUGE,
        ("state",),
        lambda: [
            ((state,), float(n))
            for state, n in sorted(
                ({s.value: 0 for s in CallbackState} | runner.store.counts()).items()
            )
        ],
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
    catchup = runner.cdr_csv
    if catchup is not None:  # telephony.callbacks.cdr_csv.path set
        metrics.collect(
            "citygw_cdr_csv_state",
            "1 for the state of reading Asterisk's Master.csv (reading, up_to_date; missing, "
            "unreadable, held: calls made while the gateway was down are not being counted)",
            Kind.GAUGE,
            ("state",),
            lambda: [((catchup.state.value,), 1.0)],
        )
        metrics.collect(
            "citygw_cdr_csv_rows_total",
            "Master.csv rows read, by what became of them (recorded, ivr_handled, "
            "already_recorded, not_hotline, refused, malformed, too_old)",
            Kind.COUNTER,
            ("outcome",),
            lambda: [
                ((outcome,), float(n))
                for outcome, n in sorted(catchup.counts.items())
                if outcome != "rows"
            ],
        )
    metrics.collect(
        "citygw_agent_screen_pops_total",
        "Agent calls sent to the core for a screen pop",
        Kind.COUNTER,
        (),
        lambda: [((), float(runner.desk.popped if runner.desk else 0))],
    )
    metrics.collect(
        "citygw_unhandled_calls_recorded_total",
        "Hotline calls the IVR never took, recorded from their CDRs (over AMI or Master.csv)",
        Kind.COUNTER,
        (),
        lambda: [((), float(runner.unhandled.recorded))],
    )
    metrics.collect(
        "citygw_ivr_candidates_late_total",
        "IVR candidates that came after their call was recorded from its CDR as one the IVR"
        " never took (raise telephony.callbacks.unhandled_grace_s)",
        Kind.COUNTER,
        (),
        lambda: [((), float(runner.late_ivr_calls))],
    )
