"""`citygw agi`: the wiring of the telephony gateway (the one place it meets its adapters).

Start-up reads like the table of contents: check the prompts, open the case-number
counter, connect MQTT (durable outbox out, case events in), start the FastAGI server;
stop in reverse, letting calls in progress finish first. The AMI side (callbacks, call
records of calls the IVR never took, screen pops, queue figures) is a daemon of its own,
`citygw ami` (`gateway.telephony.ami_daemon`), that goes on while this one is down.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from adapters.asterisk.agi_channel import AgiChannel
from adapters.asterisk.agi_session import FastAgiSession
from adapters.asterisk.fastagi_server import FastAgiServer
from adapters.mqtt import OutboxPublisher, ReceivedMessage
from gateway import bootstrap, bootstrap_metrics, sdnotify
from gateway.clock import SYSTEM_CLOCK, Clock
from gateway.config import Config
from gateway.telephony.case_numbers import CaseNumberAllocator
from gateway.telephony.prompts import missing_prompts
from gateway.telephony.service import TelephonyService
from gateway.telephony.status_cache import CaseStatusCache

log = logging.getLogger(__name__)

DAEMON = "agi"


class PromptsMissing(RuntimeError):
    """A prompt the menu needs is not on disk: the gateway must not answer calls."""

    def __init__(self, missing: list[Path]) -> None:
        shown = ", ".join(str(p) for p in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        super().__init__(
            f"{len(missing)} prompt file(s) missing: {shown}{more}; run `citygw prompts build`"
        )
        self.missing = missing


@dataclass(frozen=True)
class AgiRuntime:
    """The running parts, for whoever started the daemon (the CLI, tests, the demo)."""

    server: FastAgiServer
    service: TelephonyService
    cache: CaseStatusCache
    publisher: OutboxPublisher


def check_prompts(config: Config) -> None:
    missing = missing_prompts(config.telephony)
    if missing:
        raise PromptsMissing(missing)


def telephony_dir(config: Config) -> Path:
    return config.state_dir / "telephony"


def run_agi(
    config: Config,
    stop: threading.Event,
    *,
    clock: Clock = SYSTEM_CLOCK,
    ready: Callable[[AgiRuntime], None] | None = None,
) -> None:
    """Serve calls until ``stop`` is set. Raises `PromptsMissing` before listening."""
    settings = config.telephony
    check_prompts(config)
    if settings.callbacks.enabled:  # a host upgraded from when this daemon ran it
        log.info("telephony.callbacks: the AMI side runs in `citygw ami` (citygw-ami.service)")
    try:
        settings.recordings_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # Asterisk may own it; recording then fails and callers go to agents
        log.error("recordings directory %s: %s", settings.recordings_dir, exc.strerror)
    state = telephony_dir(config)
    case_numbers = CaseNumberAllocator(
        state / "case-numbers.sqlite3",
        prefix=settings.case_number_prefix,
        timezone=settings.timezone,
        clock=clock,
    )
    cache = CaseStatusCache(settings.case_cache_size, path=state / "case-status.sqlite3")
    connection = bootstrap.mqtt_connection(config, DAEMON)
    publisher = bootstrap.edge_publisher(config, DAEMON, connection)
    contract = bootstrap.contract_publisher(config, publisher)

    def case_event(message: ReceivedMessage) -> None:
        cache.update_from_payload(message.payload)

    connection.subscribe(contract.topics.all_case_events, case_event)
    metrics = bootstrap_metrics.build_metrics()
    bootstrap_metrics.export_outbox(metrics, DAEMON, publisher, connection)
    service = TelephonyService(
        settings,
        instance=config.instance,
        publisher=contract,
        case_numbers=case_numbers,
        status=cache,
        clock=clock,
        unsent_dir=state / "unsent",
        max_payload_bytes=config.mqtt.max_payload_bytes,
        metrics=metrics,
    )

    def ivr(session: FastAgiSession) -> Callable[[], None]:
        return service.handle_call(AgiChannel(session))

    server = FastAgiServer(
        settings.listen_host,
        settings.listen_port,
        {settings.script: ivr},
        max_calls=settings.max_calls,
        read_timeout_s=settings.read_timeout_s,
        env_timeout_s=settings.env_timeout_s,
        drain_timeout_s=settings.drain_timeout_s,
        name="agi",
        metrics=metrics,
    )
    bootstrap_metrics.export_agi(metrics, server)
    metrics_listener = bootstrap_metrics.listener(config, metrics, config.metrics.agi_port)

    def describe() -> str:
        return (
            f"agi://{server.host}:{server.port}/{settings.script}: {server.active_calls} calls now,"
            f" {service.calls_handled} handled, {publisher.outbox.queued_messages} in the outbox"
        )

    watchdog = sdnotify.Watchdog(server.healthy, name="agi.watchdog")
    if metrics_listener is not None:
        metrics_listener.start()
    publisher.start()
    service.unsent.start("agi.unsent")  # what the outbox refused, this run or an earlier one
    try:
        server.start()
        try:
            bootstrap.settle_heap()
            sdnotify.ready(describe())
            watchdog.start()
            if ready is not None:
                ready(AgiRuntime(server, service, cache, publisher))
            while not stop.wait(10.0):
                sdnotify.status(describe())
        finally:
            sdnotify.stopping()
            watchdog.stop()
            server.stop()
    finally:
        # what is not yet delivered (or confirmed by the core) stays on disk for next time
        service.unsent.stop()
        publisher.stop()
        connection.stop()
        queued = publisher.outbox.queued_messages
        publisher.outbox.close()
        case_numbers.close()
        cache.close()
        if metrics_listener is not None:
            metrics_listener.stop()
        log.info(
            "agi stopped: %d calls, %d candidates, %d feedback, %d unsent; %d queued in the outbox",
            service.calls_handled,
            service.candidates_published,
            service.feedback_published,
            service.messages_unsent,
            queued,
        )
