"""`citygw video`: the video gateway's process.

Start-up reads like a table of contents: the MQTT connection and durable outbox, the
evidence ring, live view, analysis (when `gateway.video.analysis.pipeline` is present),
camera-side events, PTZ commands (their cameras' rules paused while looking away), then
one reader per camera under the supervisor. SIGHUP reloads the configuration file and
adds, removes or replaces cameras without a restart.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Any

from gateway import bootstrap, bootstrap_metrics
from gateway.clock import SYSTEM_CLOCK, Clock
from gateway.config import Config, ConfigError, load_config
from gateway.contract import CameraStatus, CandidateCase
from gateway.ports import InboundMessage
from gateway.video.analysis.settings import ZoneConfig
from gateway.video.camera import CameraReader
from gateway.video.camera_events import CameraEvent, CameraEventRules
from gateway.video.event_episodes import FILE_NAME as EPISODES_FILE
from gateway.video.event_episodes import EventEpisodes
from gateway.video.event_handoff import EventHandOff
from gateway.video.evidence import PacketRing
from gateway.video.frame_sink import FrameSink
from gateway.video.main_stream import MainStream, MainUrlResolver
from gateway.video.ports import LiveFeed, StreamError, StreamErrorKind
from gateway.video.ptz import PtzControl, PtzDriver, RulesGate
from gateway.video.settings import CameraConfig, VideoConfig
from gateway.video.stream_addresses import StreamAddressBook, with_last_good
from gateway.video.supervisor import CameraSupervisor
from gateway.video.unsent import FOLDER as UNSENT_FOLDER
from gateway.video.unsent import unsent_candidates
from gateway.video.video_metrics import export_video

log = logging.getLogger(__name__)

DAEMON = "video"

_ONVIF_KINDS = {
    "unauthorized": StreamErrorKind.UNAUTHORIZED,
    "timeout": StreamErrorKind.TIMEOUT,
    "unreachable": StreamErrorKind.UNREACHABLE,
    "no_profile": StreamErrorKind.NOT_FOUND,
}


@contextmanager
def _onvif_errors_as_stream_errors() -> Iterator[None]:
    """An ONVIF failure while finding a stream is a stream failure the reader backs off on."""
    from adapters.onvif.device import OnvifError

    try:
        yield
    except OnvifError as exc:
        kind = _ONVIF_KINDS.get(exc.kind, StreamErrorKind.PROTOCOL)
        raise StreamError(kind, f"ONVIF: {exc.reason}") from None
    except TimeoutError:
        raise StreamError(StreamErrorKind.TIMEOUT, "ONVIF: no answer in time") from None


def _load_pipeline_class() -> Any:
    """`AnalysisPipeline` when the analysis package provides one, else ``None``."""
    try:
        from gateway.video.analysis.pipeline import AnalysisPipeline
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("gateway.video.analysis"):
            return None
        log.error("analysis unavailable (missing module %s): ingest and health only", exc.name)
        return None
    except ImportError as exc:
        log.error("analysis unavailable (%s): ingest and health only", exc)
        return None
    return AnalysisPipeline


def _password(camera: CameraConfig) -> str | None:
    return camera.password.get_secret_value() if camera.password else None


class GatewayState(StrEnum):
    NEW = "new"
    RUNNING = "running"
    STOPPED = "stopped"


class VideoGateway:
    """Everything `citygw video` runs, with an explicit start/stop and live reconfiguration."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock = SYSTEM_CLOCK,
        extra_sink: FrameSink | None = None,
        analysis: bool = True,
    ) -> None:
        self.config = config
        self.clock = clock
        video = config.video
        self.connection = bootstrap.mqtt_connection(config, DAEMON)
        self.publisher = bootstrap.edge_publisher(config, DAEMON, self.connection)
        self.contract = bootstrap.contract_publisher(config, self.publisher)
        self.metrics = bootstrap_metrics.build_metrics()
        bootstrap_metrics.export_outbox(self.metrics, DAEMON, self.publisher, self.connection)
        export_video(self.metrics, lambda: self.supervisor.readers, lambda: self.pipeline)
        self.metrics_listener = bootstrap_metrics.listener(
            config, self.metrics, config.metrics.video_port
        )
        self._instance = config.instance
        self.ring: PacketRing | None = (
            PacketRing(
                max_seconds=video.evidence.clip_buffer_s,
                max_bytes=video.evidence.clip_buffer_bytes,
            )
            if video.evidence.clip_buffer_s > 0
            else None
        )
        self.live: Any = None
        self.pipeline: Any = None
        self._extra_sink = extra_sink
        self._analysis = analysis
        self.events: Any = None
        self.checks: Any = None  # gateway.video.verification.Verifier: camera checks
        self.ptz = PtzControl(
            self._ptz_driver,
            self._analysis_preset,
            clock=clock,
            on_change=self._republish,
            to_check=self._preset_cameras,
        )
        self._early_checks: list[InboundMessage] = []  # came before the checks started
        self._analysis_failure = ""  # why analysis did not start, for the cameras' status
        #: the size each ONVIF camera's analysed profile claims, checked against the stream
        self._claimed_sizes: dict[str, tuple[int, int]] = {}
        #: why each camera's ONVIF event subscription does not work ("" while it does)
        self._event_faults: dict[str, str] = {}
        #: each ONVIF camera's last stream address, used while its ONVIF service is down
        self.addresses = StreamAddressBook(config.state_dir / "stream-addresses.json")
        self._checks_lock = threading.Lock()
        #: candidates the outbox refused (analysis firings and camera rule events alike),
        #: offered again while running and at the next start
        self.unsent = unsent_candidates(config.state_dir, self.contract)
        self.rules = CameraEventRules(
            list(video.cameras),
            clock=clock,
            publish=self._publish_candidate,
            latest_frame=self._latest_frame,
            jpeg_quality=video.evidence.jpeg_quality,
            clips=self.ring,
            # each alarm's state survives restarts: a re-sent active alarm is no new case
            episodes=EventEpisodes(config.state_dir / EPISODES_FILE),
            publish_state=self.contract.camera_event,
            zones=_analysis_zones(video),
        )
        self.camera_events = EventHandOff(self.rules.handle)
        self.supervisor = CameraSupervisor(self._make_reader, on_removed=self._forget)
        self.state = GatewayState.NEW

    def _set_state(self, state: GatewayState) -> None:
        if state != self.state:
            log.info("video gateway %s -> %s", self.state, state)
            self.state = state

    # ---------------------------------------------------------------- wiring
    def _publish_candidate(self, candidate: CandidateCase) -> None:
        """A camera rule's candidate (or its end update): published, or kept in the spill
        folder until the outbox takes it; never lost to a full outbox."""
        self.unsent.offer(candidate, patient=lambda: self.state is GatewayState.RUNNING)

    def _publish_status(self, status: CameraStatus) -> None:
        update: dict[str, Any] = {"gateway": self._instance}
        faults = self.faults_of(status.camera_id)
        if faults:
            update["faults"] = {**status.faults, **faults}
        self.contract.camera_status(status.model_copy(update=update))

    def faults_of(self, camera_id: str) -> dict[str, str]:
        """What does not work for this camera beyond its stream: a stream that is not what
        the camera's ONVIF profile says; its event subscription (cannot be created, pulled
        or renewed); its analysis (failed to start, its threads died, no loaded model
        gives a label its rules need)."""
        faults: dict[str, str] = {}
        if self._event_faults.get(camera_id):
            faults["events"] = self._event_faults[camera_id]
        claimed = self._claimed_sizes.get(camera_id)
        reader = self.supervisor.reader(camera_id)
        actual = reader.picture_size if reader is not None else None
        if claimed is not None and actual is not None and claimed != actual:
            faults["stream"] = (
                f"ONVIF profile says {claimed[0]}x{claimed[1]}, the stream is "
                f"{actual[0]}x{actual[1]}"
            )
        return {**faults, **self._analysis_faults(camera_id), **self.ptz.faults(camera_id)}

    def _analysis_faults(self, camera_id: str) -> dict[str, str]:
        analysis = self.config.video.analysis.cameras.get(camera_id)
        if analysis is None or not analysis.rules or not self._analysis:
            return {}
        if self.pipeline is None:
            return {"analysis": self._analysis_failure or "analysis is not running"}
        problem = self.pipeline.fault(camera_id)
        return {"analysis": problem} if problem else {}

    def analysis_problem(self) -> str:
        """Why analysis as a whole is down ("" while it runs, or when no camera has rules):
        it failed to start, or a thread of it died."""
        video = self.config.video
        if not self._analysis or not any(c.rules for c in video.analysis.cameras.values()):
            return ""
        if self.pipeline is None:
            return self._analysis_failure or "analysis is not running"
        return str(self.pipeline.problem())

    def _latest_frame(self, camera_id: str) -> Any:
        reader = self.supervisor.reader(camera_id)
        return reader.latest_frame if reader is not None else None

    def frame_for_checks(self, camera_id: str) -> Any:
        """The newest frame to judge a camera check by; none while the camera looks away
        from its analysis preset (the zone is not in view: camera_unavailable)."""
        return None if self.ptz.paused(camera_id) else self._latest_frame(camera_id)

    def _forget(self, camera_id: str) -> None:
        if self.ring is not None:
            self.ring.forget(camera_id)

    def _sink(self) -> FrameSink | None:
        # a camera looking away from its analysis preset is not analysed (rules paused)
        analysis = RulesGate(self.pipeline, self.ptz.paused) if self.pipeline else None
        sinks = [s for s in (analysis, self._extra_sink) if s is not None]
        if not sinks:
            return None
        if len(sinks) == 1:
            return sinks[0]
        from gateway.video.frame_sink import FanOut

        return FanOut(sinks)

    def _resolver(self, camera: CameraConfig) -> Callable[[], str]:
        if camera.rtsp_url is not None:
            url = camera.rtsp_url
            return lambda: url
        onvif = camera.onvif
        assert onvif is not None
        timeout_s = self.config.video.onvif_timeout_s

        def resolve() -> str:
            from adapters.onvif.device import resolve_stream_uri

            with _onvif_errors_as_stream_errors():
                profile, uri = resolve_stream_uri(
                    onvif.url,
                    camera.username,
                    _password(camera),
                    profile=onvif.profile,
                    analysis_width=onvif.analysis_width,
                    timeout_s=timeout_s,
                )
            log.info(
                "camera %s: ONVIF profile %s (%sx%s) for analysis",
                camera.id,
                profile.token,
                profile.width,
                profile.height,
            )
            if profile.width and profile.height:
                self._claimed_sizes[camera.id] = (int(profile.width), int(profile.height))
            return uri

        return with_last_good(camera.id, resolve, self.addresses)

    def _main_resolver(self, camera: CameraConfig) -> MainUrlResolver | None:
        """How to find the camera's main stream; ``None``: the analysed stream serves all."""
        if not self.config.video.main_stream.enabled:
            return None
        if camera.main_rtsp_url is not None:
            url = camera.main_rtsp_url
            return lambda: url
        if camera.rtsp_url is not None or camera.onvif is None:
            return None
        onvif = camera.onvif
        timeout_s = self.config.video.onvif_timeout_s

        def resolve() -> str | None:
            from adapters.onvif.device import resolve_main_stream_uri

            with _onvif_errors_as_stream_errors():
                found = resolve_main_stream_uri(
                    onvif.url,
                    camera.username,
                    _password(camera),
                    profile=onvif.profile,
                    main_profile=onvif.main_profile,
                    analysis_width=onvif.analysis_width,
                    timeout_s=timeout_s,
                )
            if found is None:
                log.info("camera %s: one stream profile: it serves analysis and all", camera.id)
                return None
            profile, uri = found
            log.info(
                "camera %s: ONVIF profile %s (%sx%s) for evidence and live view",
                camera.id,
                profile.token,
                profile.width,
                profile.height,
            )
            return uri

        return resolve

    def _make_reader(self, camera: CameraConfig) -> CameraReader:
        from adapters.rtsp.reachability import tcp_reachable
        from adapters.rtsp.rtsp_source import RtspSource

        ingest = self.config.video.ingest

        def factory(url: str, username: str | None, password: str | None) -> RtspSource:
            return RtspSource(
                url,
                username,
                password,
                open_timeout_s=ingest.open_timeout_s,
                read_timeout_s=ingest.watchdog_s,
                decoder_threads=ingest.decoder_threads,
            )

        live: LiveFeed | None = self.live
        main: MainStream | None = None
        main_url = self._main_resolver(camera)
        if main_url is not None:
            settings = self.config.video.main_stream
            main = MainStream(
                camera,
                resolve_url=main_url,
                source_factory=factory,
                ingest=ingest,
                clock=self.clock,
                ring=self.ring if settings.ring else None,
                live=live,
                grace_s=settings.live_grace_s,
            )
        return CameraReader(
            camera,
            resolve_url=self._resolver(camera),
            source_factory=factory,
            ingest=ingest,
            analysis_fps=self.config.video.analysis_fps,
            clock=self.clock,
            report=self._publish_status,
            sink=self._sink(),
            ring=self.ring,
            live=live,
            main=main,
            reachable=tcp_reachable,
        )

    def _event_sources(self, video: VideoConfig) -> list[Any]:
        from adapters.onvif.events import EventSource

        return [
            EventSource(c.id, c.onvif.url, c.username, _password(c))
            for c in video.cameras
            if c.enabled and c.onvif is not None and c.onvif.events
        ]

    def _on_case_event(self, message: InboundMessage) -> None:
        pipeline = self.pipeline
        if pipeline is None:  # analysis failed to start: nothing to learn
            message.ack()
            return
        pipeline.on_case_event_message(message)

    def _on_camera_event(self, event: CameraEvent) -> None:
        """On the ONVIF event loop: handed to the rules' own thread (disk writes there)."""
        self.camera_events.put(event)

    def _on_event_health(self, camera_id: str, fault: str) -> None:
        """A camera's event subscription failed ("": works again): its status says so now."""
        if fault:
            log.warning("camera %s: events fault: %s", camera_id, fault)
        elif self._event_faults.get(camera_id):
            log.info("camera %s: events subscribed again", camera_id)
        self._event_faults[camera_id] = fault
        self._republish(camera_id)

    def _republish(self, camera_id: str) -> None:
        """Publish a camera's status now (one of its parts changed)."""
        reader = self.supervisor.reader(camera_id)
        if reader is not None:
            reader.publish_status()

    def _camera(self, camera_id: str) -> CameraConfig | None:
        return next((c for c in self.config.video.cameras if c.id == camera_id), None)

    def _preset_cameras(self) -> list[str]:
        """The cameras whose rules are drawn for a PTZ preset."""
        cameras = self.config.video.cameras
        return [c.id for c in cameras if c.enabled and c.onvif and c.onvif.analysis_preset]

    def _analysis_preset(self, camera_id: str) -> str | None:
        camera = self._camera(camera_id)
        return camera.onvif.analysis_preset if camera and camera.onvif else None

    def _ptz_driver(self, camera_id: str) -> PtzDriver | None:
        """The camera's ONVIF PTZ service (None: not a camera of this gateway, or no ONVIF)."""
        from adapters.onvif.ptz import OnvifPtz

        camera = self._camera(camera_id)
        if camera is None or not camera.enabled or camera.onvif is None:
            return None
        return OnvifPtz(
            camera.onvif.url,
            camera.username,
            _password(camera),
            profile=camera.onvif.profile,
            timeout_s=self.config.video.onvif_timeout_s,
        )

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        if self.state != GatewayState.NEW:
            return
        self._set_state(GatewayState.RUNNING)
        if self.metrics_listener is not None:
            self.metrics_listener.start()
        video = self.config.video
        if video.camera_check.enabled:
            # before the connection starts: the persistent session hands over at once what
            # waited while this gateway was away, and a message with no handler is dropped
            self.connection.subscribe(
                bootstrap.topics(self.config).all_verification_requests, self._on_check_request
            )
        # a command that waited in the session is dropped by its age, not run late
        self.connection.subscribe(
            bootstrap.topics(self.config).all_ptz_commands, self.ptz.on_command_message
        )
        pipeline_class = _load_pipeline_class() if self._analysis else None
        if pipeline_class is not None:
            self.pipeline = pipeline_class(
                self.config,
                self.contract,
                self.clock,
                self.ring,
                metrics=self.metrics,
                spill=self.unsent,
            )
            # operators' rejections (false detections) teach the pipeline where not to look;
            # subscribed before the connection starts, like the checks: the rejects that
            # waited in the persistent session while this gateway was away are learnt too
            self.connection.subscribe(
                bootstrap.topics(self.config).all_case_events, self._on_case_event
            )
        self.publisher.start()
        self.unsent.start("video.spill")  # what an earlier run kept goes out first
        if video.live_view.enabled:
            from adapters.webrtc.live_view import LiveViewServer

            self.live = LiveViewServer(
                host=video.live_view.host,
                port=video.live_view.port,
                max_viewers=video.live_view.max_viewers,
                fps=video.live_view.fps,
                ice_servers=list(video.live_view.ice_servers),
                allow_origins=list(video.live_view.allow_origins),
                camera_ids=lambda: list(self.supervisor.readers),
                token_secret=(
                    video.live_view.token_secret.get_secret_value()
                    if video.live_view.token_secret is not None
                    else None
                ),
                now=self.clock.now,
            )
            self.live.start()
        if self.pipeline is not None:
            try:
                self.pipeline.start()
                log.info("analysis pipeline started")
            except Exception as exc:
                log.exception("analysis pipeline failed to start: ingest and health only")
                self._analysis_failure = f"analysis failed to start: {exc}"[:300]
                self.pipeline = None
        if any(c.onvif is not None and c.onvif.events for c in video.cameras):
            self._start_events()
        if video.camera_check.enabled:
            self._start_checks()
        self.ptz.start(check=self._preset_cameras())
        self.apply(video)
        log.info(
            "video gateway running: %d camera(s), analysis %s, live view %s",
            len([c for c in video.cameras if c.enabled]),
            "on" if self.pipeline is not None else "off",
            f"http://{self.live.host}:{self.live.port}/live/" if self.live else "off",
        )

    def _start_checks(self) -> None:
        """Answer the core's camera checks (核查) for the cameras in the configuration."""
        from gateway.video.verification import Verifier

        checks = Verifier(
            self.config.video.camera_check,
            self.config.video.analysis,
            state_dir=self.config.state_dir,
            source=bootstrap.daemon_source(self.config, DAEMON),
            cameras=lambda: {c.id for c in self.config.video.cameras if c.enabled},
            latest_frame=self.frame_for_checks,
            detector=self.pipeline,
            publish=self.contract.verification_result,
            clock=self.clock,
            snapshot_quality=self.config.video.analysis.snapshot_quality,
        )
        checks.start()
        with self._checks_lock:
            self.checks = checks
            early, self._early_checks = self._early_checks, []
        for message in early:
            checks.on_request_message(message)

    def _on_check_request(self, message: InboundMessage) -> None:
        """Camera-check requests; those that come before the checks started wait for them."""
        with self._checks_lock:
            if self.checks is None:
                self._early_checks.append(message)
                return
        self.checks.on_request_message(message)

    def _start_events(self) -> None:
        from adapters.onvif.events import EventThread

        self.events = EventThread(
            self._on_camera_event,
            timeout_s=self.config.video.onvif_timeout_s,
            # a device's web server back: its events soon too (first retry 1 s, then backing off)
            retry_s=1.0,
            retry_max_s=30.0,
            on_health=self._on_event_health,
        )
        self.camera_events.start()
        self.events.start()

    def apply(self, video: VideoConfig) -> None:
        """Bring cameras (readers, event subscriptions, rules) in line with ``video``."""
        self.config = self.config.model_copy(update={"video": video})
        if self.pipeline is not None:
            for name in self.pipeline.apply(video.analysis, video.cameras):
                log.error(
                    "reload: video.analysis.%s changed: restart the video gateway to apply it "
                    "(cameras, zones, rules and places were applied)",
                    name,
                )
        self.rules.set_cameras(list(video.cameras), _analysis_zones(video))
        self.supervisor.apply(video.cameras)
        sources = self._event_sources(video)
        if sources and self.events is None:
            self._start_events()
        if self.events is not None:
            self.events.apply(sources)
        self.ptz.forget({c.id for c in video.cameras})
        subscribed = {s.camera_id for s in sources}
        for camera_id in [c for c in list(self._event_faults) if c not in subscribed]:
            self._event_faults.pop(camera_id, None)

    def stop(self) -> None:
        if self.state != GatewayState.RUNNING:
            self._set_state(GatewayState.STOPPED)
            return
        self._set_state(GatewayState.STOPPED)
        if self.checks is not None:
            self.checks.stop()
        self.ptz.stop()
        self.supervisor.stop()
        if self.events is not None:
            self.events.stop()
        self.camera_events.stop()  # what was pulled is handled before the outbox closes
        if self.pipeline is not None:
            self.pipeline.stop()
        self.unsent.stop()  # after the last candidate was made
        if self.live is not None:
            self.live.stop()
        self._wait_sent(5.0)  # the last statuses ("stopped"), if the broker is there
        self.publisher.stop()
        self.connection.stop()
        self.publisher.outbox.close()
        if self.metrics_listener is not None:
            self.metrics_listener.stop()

    def healthy(self) -> bool:
        """For the systemd watchdog: every part's thread runs (cameras may well be offline:
        that is reported on MQTT, and a restart would not bring them back)."""
        if self.state != GatewayState.RUNNING:
            return False
        if not all(reader.alive for reader in self.supervisor.readers.values()):
            return False
        if self.live is not None and self.live.state != "running":
            return False
        if self.pipeline is not None and not self.pipeline.healthy():
            return False  # its threads died: a restart brings analysis back
        if not self.ptz.alive:
            return False
        return self.events is None or (self.events.state == "running" and self.camera_events.alive)

    def describe(self) -> str:
        """The systemd STATUS= line: cameras online, candidates waiting in the spill folder,
        and "degraded" with the reason while analysis is down."""
        readers = self.supervisor.readers.values()
        online = sum(1 for r in readers if r.state == "online")
        parts = [f"{online}/{len(readers)} cameras online"]
        waiting = len(self.unsent.pending())
        if waiting:
            parts.append(f"{waiting} candidate(s) wait in {UNSENT_FOLDER}")
        problem = self.analysis_problem()
        if problem:
            parts.insert(0, f"degraded: {problem}")
        return "; ".join(parts)

    def _wait_sent(self, timeout: float) -> bool:
        """Wait until every message reached the broker; candidates that wait on the core's
        receipt stay in the outbox for the next start (they are durable there)."""
        outbox = self.publisher.outbox
        deadline = time.monotonic() + timeout
        while outbox.queued_messages - outbox.awaiting_receipt() > 0:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True


def run_video(config: Config, stop: threading.Event, config_path: Path | None = None) -> None:
    """Run until ``stop`` is set; SIGHUP (main thread only) reloads the cameras."""
    from gateway import sdnotify

    gateway = VideoGateway(config)
    reload = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGHUP, lambda _s, _f: reload.set())
    watchdog = sdnotify.Watchdog(gateway.healthy, name="video.watchdog")
    gateway.start()
    bootstrap.settle_heap()
    sdnotify.ready(gateway.describe())
    watchdog.start()
    next_status = 0.0
    try:
        while not stop.wait(0.5):
            if time.monotonic() >= next_status:
                next_status = time.monotonic() + 10.0
                sdnotify.status(gateway.describe())
            if not reload.is_set():
                continue
            reload.clear()
            if config_path is None:
                log.warning("SIGHUP: no configuration file to reload (embedded defaults)")
                continue
            try:
                fresh = load_config(config_path)
            except ConfigError as exc:
                log.error("SIGHUP: configuration NOT reloaded: %s", exc)
                continue
            log.info("SIGHUP: reloading cameras from %s", config_path)
            try:
                gateway.apply(fresh.video)
            except Exception:  # a reload must never take the running cameras down
                log.exception("SIGHUP: applying the new cameras failed")
    finally:
        sdnotify.stopping()
        watchdog.stop()
        gateway.stop()
        if previous is not None:
            signal.signal(signal.SIGHUP, previous)


def _analysis_zones(video: VideoConfig) -> dict[str, dict[str, ZoneConfig]]:
    """Each camera's analysis zones by id: a camera's own (ONVIF) rule may name one."""
    return {camera_id: dict(c.zones) for camera_id, c in video.analysis.cameras.items()}
