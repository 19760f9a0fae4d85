"""`citygw ami`: the wiring of the hotline's AMI side (the one place it meets its adapters).

A daemon of its own beside `citygw agi`, so that screen pops, queue figures, call records
and callbacks go on while the IVR is down or restarting (when callers fall back to the
agents through the dialplan). Start-up reads like the table of contents: connect MQTT
(a durable outbox out; case events and the IVR's own candidates in, on a normal, not
shared, subscription, so the core's share group still gets every candidate), start the
AMI side (`AmiSide`), serve metrics; stop in reverse.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from adapters.mqtt import MqttConnection, OutboxPublisher, ReceivedMessage
from gateway import bootstrap, bootstrap_metrics, sdnotify
from gateway.clock import SYSTEM_CLOCK, Clock
from gateway.config import Config
from gateway.contract import CandidateCase, CaseFeedback, ContractError, Message, SourceKind
from gateway.mqtt_acl import AMI
from gateway.spill import SpillFolder
from gateway.telephony.ami_side import AmiSide
from gateway.telephony.callback_metrics import export_callbacks
from gateway.telephony.daemon import telephony_dir
from gateway.telephony.unhandled_calls import IvrFeed

log = logging.getLogger(__name__)

DAEMON = AMI


class AmiOff(RuntimeError):
    """``telephony.callbacks.enabled`` is false: there is no AMI side to run."""

    def __init__(self) -> None:
        super().__init__("telephony.callbacks.enabled is false: citygw ami has nothing to run")


@dataclass(frozen=True)
class AmiRuntime:
    """The running parts, for whoever started the daemon (the CLI, tests)."""

    side: AmiSide
    publisher: OutboxPublisher
    connection: MqttConnection
    feed: IvrFeed


def run_ami(
    config: Config,
    stop: threading.Event,
    *,
    clock: Clock = SYSTEM_CLOCK,
    ready: Callable[[AmiRuntime], None] | None = None,
) -> None:
    """Run the AMI side until ``stop`` is set. Raises `AmiOff` when it is not configured."""
    settings = config.telephony
    if not settings.callbacks.enabled:
        raise AmiOff()
    state = telephony_dir(config)
    connection = bootstrap.mqtt_connection(config, DAEMON)
    publisher = bootstrap.edge_publisher(config, DAEMON, connection)
    contract = bootstrap.contract_publisher(config, publisher)

    def resend(message: Message) -> None:
        if isinstance(message, CandidateCase):
            contract.candidate(message)
        elif isinstance(message, CaseFeedback):
            contract.feedback(message)
        else:
            raise ContractError("unexpected_schema", f"{message.SCHEMA} among unsent calls")

    unsent = SpillFolder(state / "unsent-ami", resend)
    feed = IvrFeed()
    connection.add_connection_listener(feed.on_connection)
    side = AmiSide(
        settings,
        instance=config.instance,
        state_dir=state,
        publisher=contract,
        clock=clock,
        keep_unsent=unsent.keep,
        ivr_feed=feed,
    )

    def ivr_candidate(message: ReceivedMessage) -> None:
        side.ivr_candidate(message.payload)

    def case_event(message: ReceivedMessage) -> None:
        side.case_event(message.payload)

    # the IVR's calls (and our own records, passed over); not shared: the core's is
    connection.subscribe(contract.topics.candidate(SourceKind.CALL, config.instance), ivr_candidate)
    connection.subscribe(contract.topics.all_case_events, case_event)
    metrics = bootstrap_metrics.build_metrics()
    bootstrap_metrics.export_outbox(metrics, DAEMON, publisher, connection)
    export_callbacks(metrics, side)
    metrics_listener = bootstrap_metrics.listener(config, metrics, config.metrics.ami_port)

    def describe() -> str:
        return (
            f"{side.describe()}; {publisher.outbox.queued_messages} in the outbox,"
            f" MQTT {'up' if connection.connected else 'down'}"
        )

    watchdog = sdnotify.Watchdog(side.alive, name="ami.watchdog")
    if metrics_listener is not None:
        metrics_listener.start()
    publisher.start()
    unsent.start("ami.unsent")
    side.start()  # AMI down or refusing: callbacks pause, the rest waits for it
    try:
        bootstrap.settle_heap()
        sdnotify.ready(describe())
        watchdog.start()
        if ready is not None:
            ready(AmiRuntime(side, publisher, connection, feed))
        while not stop.wait(10.0):
            sdnotify.status(describe())
    finally:
        sdnotify.stopping()
        watchdog.stop()
        side.stop()  # what is not yet delivered stays in the outbox for next time
        unsent.stop()
        publisher.stop()
        connection.stop()
        queued = publisher.outbox.queued_messages
        publisher.outbox.close()
        if metrics_listener is not None:
            metrics_listener.stop()
        log.info(
            "ami stopped: %d calls recorded from CDRs, %s screen pops; %d queued in the outbox",
            side.unhandled.recorded,
            side.desk.popped if side.desk else 0,
            queued,
        )
