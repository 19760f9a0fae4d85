"""`citygw core`: the core's process, wired in one place.

Reads like a table of contents: open the database (migrating it), build the workflow
from the config tables, then start the parts, each owning its thread(s):

- candidate ingest (MQTT ``candidates/#``, persistent session, ack after commit);
- feedback consumer (MQTT ``feedback/#``);
- with ``core.intake.share_group``, several cores split those two and the camera-check
  results (MQTT shared subscriptions), each on a clean session;
- event relay (committed case events → the durable MQTT outbox → broker, and to the
  console's live stream);
- camera health (MQTT ``cameras/+/status`` and ``status/#``, retained, into a registry);
- overdue watch;
- the HTTP API (uvicorn) with the console's live routes.

Stopping stops them in reverse order. ``run_core`` keeps the foundation's signature
(the demo calls it); ``echo`` prints one line per candidate stored.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from adapters.holidays import working_calendar
from adapters.mqtt import MqttConnection, OutboxPublisher, PublishRefused
from adapters.prometheus import MetricsListener
from adapters.reports import ReportFileWriter
from adapters.storage.call_record_store import SqlCallRecords
from adapters.storage.case_map_store import SqlCaseMap
from adapters.storage.case_store import SqlCaseStore
from adapters.storage.database import is_outage
from adapters.storage.dead_letter_store import SqlDeadLetters
from adapters.storage.evidence_store import EvidenceStore
from adapters.storage.gis_store import SqlBaseData
from adapters.storage.login_failure_store import SqlLoginFailures
from adapters.storage.patrol_store import SqlPatrols
from adapters.storage.session_changes import SessionChangeListener, listens
from adapters.storage.user_store import SqlUsers
from gateway import bootstrap, bootstrap_metrics, sdnotify
from gateway.cli_texts import INTAKE
from gateway.clock import SYSTEM_CLOCK, Clock
from gateway.config import Config, resolve_state_path
from gateway.contract import CandidateCase, Source, SourceKind, Topics
from gateway.core.agent_desk import AgentDesk
from gateway.core.api import ApiContext, create_app
from gateway.core.auth import Authenticator
from gateway.core.cameras import CameraStatusConsumer
from gateway.core.codes import load_event_names
from gateway.core.core_metrics import CountingDeadLetters
from gateway.core.dispatch import ResponsibilityTable, known_grids
from gateway.core.feedback import FeedbackConsumer
from gateway.core.gis_reload import BaseDataReload
from gateway.core.gis_routes import MapSource, camera_places, load_map_data
from gateway.core.handoff import HandoffRelay
from gateway.core.http_server import ApiServer, ServerState
from gateway.core.live import LiveParts
from gateway.core.organisation import Organisation
from gateway.core.outgoing import EventRelay, OverdueWatch
from gateway.core.ptz import PtzCommands
from gateway.core.recordings import RecordingFolder, RecordingSweeper
from gateway.core.service import CaseService
from gateway.core.verification_consumer import CameraCheckParts
from gateway.core.workflow import Case, Workflow
from gateway.gis.index import GridIndex
from gateway.ingest import CandidateIngest
from gateway.observability import NO_METRICS, Metrics
from gateway.ports import InboundMessage
from gateway.publishing import ContractPublisher

log = logging.getLogger(__name__)

#: how often the core looks for a new GIS import (one indexed read)
GIS_RELOAD_S = 10.0


def describe(
    candidate: CandidateCase, new: bool, case: Case | None = None, outcome: str = ""
) -> str:
    where = (
        candidate.location.grid_code
        or candidate.location.camera_id
        or candidate.location.address
        or "?"
    )
    line = INTAKE["candidate"].format(
        ts=f"{candidate.ts:%Y-%m-%d %H:%M:%S}Z",
        id=candidate.id,
        flag=INTAKE["new"] if new else INTAKE["duplicate"],
        source=f"{candidate.source.kind}/{candidate.source.id}",
        event=candidate.event_code,
        where=where,
        marks=(INTAKE["partial"] if candidate.partial else "")
        + (INTAKE["urgent"] if candidate.urgent else ""),
        evidence=len(candidate.evidence),
    )
    if case is not None:
        line += INTAKE["case"].format(number=case.number, outcome=outcome)
    return line


def database_url(config: Config) -> str:
    """The configured URL; a relative SQLite path lives under ``state_dir``."""
    url = config.core.database_url
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        from pathlib import Path

        return prefix + str(resolve_state_path(config, Path(url[len(prefix) :])))
    return url


def build_service(config: Config, clock: Clock = SYSTEM_CLOCK) -> tuple[CaseService, Authenticator]:
    """The database (migrated), the evidence store, the workflow and the service on them."""
    core = config.core
    store = SqlCaseStore.open(database_url(config), timeout_s=core.db_timeout_s)
    evidence = EvidenceStore(resolve_state_path(config, core.evidence_dir))
    table = ResponsibilityTable.from_config(core)
    organisation = Organisation.from_config(
        core.organisation, {d.id: d.name for d in core.departments}
    )
    workflow = Workflow(
        table,
        working_calendar(core.calendar, clock.now().date()),
        core.time_limits,
        organisation=organisation,
    )
    # the imported unit grids (`citygw gis import grids`): points are located in them
    grids = GridIndex(SqlBaseData.for_store(store).grids())
    log.info("%d imported unit grids for locating points", len(grids))
    service = CaseService(
        store,
        evidence,
        workflow,
        clock,
        bootstrap.topics(config),
        Source(kind=SourceKind.CORE, id=f"core-{config.instance}"[:64]),
        duplicates=core.duplicates,
        number_prefix=core.case_number_prefix,
        case_score=core.case_score,
        grids=grids if len(grids) else None,
    )
    auth = Authenticator(
        SqlUsers.for_store(store),
        clock,
        token_ttl=timedelta(hours=core.token_ttl_hours),
        departments=set(table.departments),
        organisation=organisation,
    )
    return service, auth


@dataclass
class CoreDaemon:
    """The running parts of `citygw core` (see the module docstring)."""

    service: CaseService
    auth: Authenticator
    connection: MqttConnection
    publisher: OutboxPublisher
    ingest: CandidateIngest
    feedback: FeedbackConsumer
    relay: EventRelay
    overdue: OverdueWatch
    api: ApiServer | None
    live: LiveParts
    camera_checks: CameraCheckParts | None = None
    metrics: Metrics = NO_METRICS
    metrics_listener: MetricsListener | None = None
    handoff: HandoffRelay | None = None  # urgent cases to the emergency command centre
    sweeper: RecordingSweeper | None = None  # agent calls' recordings past their retention
    gis_reload: BaseDataReload | None = None  # a new GIS import, picked up without a restart
    sessions: SessionChangeListener | None = None  # other cores' session changes (PostgreSQL)

    def start(self) -> None:
        if self.metrics_listener is not None:
            self.metrics_listener.start()
        if self.sessions is not None:
            self.sessions.start()
        self.publisher.start()
        self.relay.start()
        self.overdue.start()
        if self.handoff is not None:
            self.handoff.start()
        if self.sweeper is not None:
            self.sweeper.start()
        if self.gis_reload is not None:
            self.gis_reload.start()
        self.ingest.start()
        self.feedback.start()
        if self.camera_checks is not None:
            self.camera_checks.start()
        if self.api is not None:
            try:
                self.api.start()
            except (RuntimeError, TimeoutError):
                # intake must go on: candidates keep being stored and events published
                log.error("the API is not available; the core runs on without it", exc_info=True)
        self.connection.start()

    def stop(self) -> None:
        self.connection.stop()
        self.live.hub.close()  # open event streams end now, so the API stops at once
        if self.api is not None:
            self.api.stop()
        self.ingest.stop()
        self.feedback.stop()
        if self.camera_checks is not None:
            self.camera_checks.stop()
        self.overdue.stop()
        if self.handoff is not None:
            self.handoff.stop()
        if self.sweeper is not None:
            self.sweeper.stop()
        if self.gis_reload is not None:
            self.gis_reload.stop()
        if self.sessions is not None:
            self.sessions.stop()
        self.relay.stop()
        self.publisher.stop()
        self.publisher.outbox.close()
        self.service.store.close()  # type: ignore[attr-defined]
        if self.metrics_listener is not None:
            self.metrics_listener.stop()


def build_core(
    config: Config,
    *,
    clock: Clock = SYSTEM_CLOCK,
    echo: Callable[[str], None] | None = None,
    with_api: bool = True,
) -> CoreDaemon:
    service, auth = build_service(config, clock)
    # several cores split the work topics; each still gets every status (see IntakeConfig)
    share = config.core.intake.share_group
    connection = bootstrap.mqtt_connection(
        config, "core", manual_ack=True, clean_session=share is not None
    )
    publisher = bootstrap.edge_publisher(config, "core", connection)
    contract = bootstrap.contract_publisher(config, publisher)
    consumer = bootstrap.daemon_source(config, "core")

    if echo is not None:

        def on_intake(candidate: CandidateCase, case: Case, outcome: str) -> None:
            echo(describe(candidate, True, case, outcome))

        service.on_intake = on_intake

    def on_stored(candidate: CandidateCase, new: bool) -> None:
        if echo is not None and not new:
            echo(describe(candidate, False))

    dead_letters = SqlDeadLetters.for_store(
        service.store, keep=config.core.intake.dead_letters_keep
    )
    metrics = bootstrap_metrics.build_metrics()
    kept = CountingDeadLetters(dead_letters, metrics)
    ingest = CandidateIngest(
        service,
        contract,
        consumer,
        max_batch=config.core.ingest_batch,
        max_payload_bytes=config.mqtt.max_payload_bytes,
        on_stored=on_stored,
        # end-to-end: the producing edge outboxes forget a candidate once it is committed here
        receipts=bootstrap.MqttReceipts(config, connection, "core"),
        kept=kept,
        is_outage=is_outage,
        clock=clock.now,
    )
    feedback = FeedbackConsumer(
        service,
        contract,
        consumer,
        kept=kept,
        is_outage=is_outage,
        clock=clock.now,
        receipts=bootstrap.MqttReceipts(config, connection, "core"),
    )
    connection.subscribe(contract.topics.all_candidates, ingest.submit, qos=1, share_group=share)
    connection.subscribe(contract.topics.all_feedback, feedback.submit, qos=1, share_group=share)
    checks = build_camera_checks(config, service, contract, consumer, connection)
    bootstrap_metrics.export_core(
        metrics, service.store, ingest, clock, calendar=service.workflow.calendar
    )
    bootstrap_metrics.export_outbox(metrics, "core", publisher, connection)
    live = LiveParts.create(config.core)
    cameras = CameraStatusConsumer(live.cameras, clock.now, on_change=live.cameras_changed)
    # retained and refreshed by the gateways: QoS 0, nothing queued for the core while away
    connection.subscribe(contract.topics.all_camera_status, cameras.camera_status, qos=0)
    connection.subscribe(contract.topics.all_daemon_status, cameras.daemon_status, qos=0)
    # the agents' screen pops (every core: the agent's browser may be on any) and recordings
    desk, recordings = build_agent_desk(config, service, live, connection, contract.topics, clock)
    # the live view's PTZ buttons: commands to the camera's video gateway
    ptz = PtzCommands(contract.ptz_command, consumer, live.cameras, clock.now)
    # the console's map and the operator's geocoding, and the intake's grids: as imported
    # now, and again after each import (the base data's version, read every 10 s)
    base_data, case_map = SqlBaseData.for_store(service.store), SqlCaseMap.for_store(service.store)
    places = camera_places(config.video.cameras, config.video.analysis.cameras)
    map_source = (
        MapSource(load_map_data(base_data, case_map, service.grids, places)) if with_api else None
    )
    gis_reload = BaseDataReload(
        base_data,
        set_grids=lambda grids: setattr(service, "grids", grids),
        map_source=map_source,
        cases=case_map,
        cameras=places,
        interval_s=GIS_RELOAD_S,
    )
    api = None
    if with_api:
        context = ApiContext(
            service,
            auth,
            config.core,
            clock,
            load_event_names(),
            live,
            call_records=SqlCallRecords.for_store(service.store),
            dead_letters=dead_letters,
            grids=known_grids(config.core, service.grids.grids if service.grids else ()),
            intake_health=lambda: ingest.health_problem(config.core.intake.stall_after_s),
            verifications=checks.service,
            ptz=ptz,
            desk=desk,
            recordings=recordings,
            report_files=ReportFileWriter(),
            patrols=SqlPatrols.for_store(service.store),  # inspectors' patrol tracks
            login_failures=SqlLoginFailures.for_store(service.store),  # shared by the cores
            gis=map_source,
        )
        app = create_app(
            context,
            metrics=metrics,
            metrics_route=config.metrics.core_on_api,
            metrics_token=bootstrap_metrics.metrics_token(config),
        )
        api = ApiServer(
            app,
            config.core.http_host,
            config.core.http_port,
            tls=config.core.http_tls,
            trusted_proxies=config.core.trusted_proxies,
        )
    daemon = CoreDaemon(
        service,
        auth,
        connection,
        publisher,
        ingest,
        feedback,
        EventRelay(
            service,
            connection,
            window=config.outbox.inflight_window,
            permanent_errors=(PublishRefused,),
            on_committed=live.cases_committed,
        ),
        OverdueWatch(service, config.core.overdue_scan_s),
        api,
        live,
        checks,
        metrics,
        bootstrap_metrics.listener(config, metrics, config.metrics.core_port),
        build_handoff(config, service),
        RecordingSweeper(recordings, clock.now) if config.core.recordings.retention_days else None,
    )
    daemon.gis_reload = gis_reload
    # a password reset, role change, deactivation or logout on another core (or by the
    # CLI) ends the sessions here at once: tokens are kept in memory only while heard
    engine = service.store.engine  # type: ignore[attr-defined]
    if listens(engine):
        daemon.sessions = SessionChangeListener(engine, auth.forget_cached)
        auth.cache_while = daemon.sessions.listening
    else:  # SQLite announces nothing: a change by the CLI beside this core must hold at
        # once too, so every request reads its token (a key lookup in a local file)
        auth.cache_while = lambda: False
    return daemon


def build_agent_desk(
    config: Config,
    service: CaseService,
    live: LiveParts,
    connection: MqttConnection,
    topics: Topics,
    clock: Clock,
) -> tuple[AgentDesk, RecordingFolder]:
    """The agent's desk on the live hub, fed by ``agent-calls/+`` (QoS 1, acknowledged
    once handled; a late one is dropped by the desk), and the recordings folder."""
    from adapters.storage.caller_history_store import SqlCallerHistory

    recordings = RecordingFolder(config.core.recordings)

    def publish(kind: str, data: Mapping[str, Any], user: str | None) -> object:
        return live.hub.publish(kind, data, user=user)

    def recording_link(uniqueid: str) -> dict[str, Any] | None:
        found = recordings.find(uniqueid)
        return found.link() if found else None

    desk = AgentDesk(
        config.core.agent_desk,
        SqlCallerHistory.for_store(service.store),
        publish,
        clock,
        recording_link=recording_link,
    )

    def on_agent_call(message: InboundMessage) -> None:
        try:
            desk.on_payload(message.payload)
        except Exception:
            log.exception("agent call on %s not handled", message.topic)
        finally:
            message.ack()

    def on_agent_queues(message: InboundMessage) -> None:
        try:
            desk.on_queues_payload(message.payload)
        except Exception:
            log.exception("agent queues on %s not handled", message.topic)

    connection.subscribe(topics.all_agent_calls, on_agent_call, qos=1)
    # retained and refreshed by the gateways, as camera health: QoS 0
    connection.subscribe(topics.all_agent_queues, on_agent_queues, qos=0)
    return desk, recordings


def build_handoff(config: Config, service: CaseService) -> HandoffRelay | None:
    """The webhook to the emergency command centre, when one is configured."""
    from adapters.emergency_webhook import WebhookPoster
    from adapters.storage.handoff_store import SqlHandoffs

    emergency = config.core.emergency
    if not emergency.webhook_url or emergency.secret is None:
        return None
    return HandoffRelay(
        SqlHandoffs.for_store(service.store),
        WebhookPoster(emergency.webhook_url, emergency.timeout_s),
        secret=emergency.secret.get_secret_value(),
        prefixes=emergency.event_prefixes,
        now=service.clock.now,
        interval_s=emergency.scan_s,
        backoff_s=emergency.backoff_s,
        max_backoff_s=emergency.max_backoff_s,
        on_acknowledged=service.note_handoff,
    )


def build_camera_checks(
    config: Config,
    service: CaseService,
    contract: ContractPublisher,
    consumer: Source,
    connection: MqttConnection,
) -> CameraCheckParts:
    """Camera-assisted verification: requests with reports, answers from the gateways."""
    from adapters.storage.verification_store import SqlVerificationStore
    from gateway.core.verification import VerificationService
    from gateway.core.verification_consumer import VerificationResultConsumer, VerificationWatch

    settings = config.core.camera_check
    checks = VerificationService(service, SqlVerificationStore.for_store(service.store), settings)
    service.on_transition = checks.on_transition
    results = VerificationResultConsumer(
        checks,
        contract,
        consumer,
        receipts=bootstrap.MqttReceipts(config, connection, "core"),
    )
    connection.subscribe(
        contract.topics.all_verification_results,
        results.submit,
        qos=1,
        share_group=config.core.intake.share_group,
    )
    return CameraCheckParts(checks, results, VerificationWatch(checks, settings.scan_s))


def run_core(
    config: Config, stop: threading.Event, *, echo: Callable[[str], None] | None = None
) -> None:
    daemon = build_core(config, echo=echo)
    daemon.start()

    def healthy() -> bool:
        # the broker may be away (the core runs on); a dead ingest worker or API is not fine
        api_ok = daemon.api is None or daemon.api.state == ServerState.SERVING
        return daemon.ingest.running and api_ok

    def describe() -> str:
        return (
            f"{daemon.ingest.stats.stored} candidates stored, {daemon.ingest.stats.duplicates} duplicates, "
            f"broker {'up' if daemon.connection.connected else 'DOWN'}"
        )

    watchdog = sdnotify.Watchdog(healthy, name="core.watchdog")
    bootstrap.settle_heap()
    sdnotify.ready(describe())
    watchdog.start()
    log.info(
        "core listening on %s at %s:%d; API on %s://%s:%d",
        daemon.connection.client_id,
        config.mqtt.host,
        config.mqtt.port,
        "https" if config.core.http_tls is not None else "http",
        config.core.http_host,
        config.core.http_port,
    )
    try:
        while not stop.wait(10.0):
            sdnotify.status(describe())
    finally:
        sdnotify.stopping()
        watchdog.stop()
        daemon.stop()
