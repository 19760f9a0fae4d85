"""One camera's reader: connect, read, decode at the analysis rate, watch, reconnect, report.

A `CameraReader` owns one thread (``camera[<id>].reader``) that loops: resolve the
stream URL, open a `StreamSource`, feed every encoded packet to the evidence ring, decode
every packet (later ones refer to it) but convert to BGR only the frames due at the
analysis rate, and hand those to the `FrameSink` (keep-newest: never blocks). Live
viewers get decoded pictures only while someone watches.

With a `MainStream` (the camera's full-resolution stream, in a thread of its own) this
reader is the analysis (sub-)stream's: the main stream feeds the ring and the viewers
while it is up, and this reader takes both over again whenever it is not.

Health: no picture for ``watchdog_s`` (or a read stalls that long) ends the connection;
reconnects back off from ``reconnect_min_s`` doubling to ``reconnect_max_s``. Each state
change is reported (``CameraStatus``, retained), and again every ``status_interval_s``.
A runaway incoming rate (above ``max_fps_in``) is reported in the status detail.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime

from gateway.clock import Clock
from gateway.contract import CameraState, CameraStatus, Source, SourceKind
from gateway.video.evidence import PacketRing
from gateway.video.frame import Frame
from gateway.video.frame_sink import FrameSink
from gateway.video.main_stream import MainStream
from gateway.video.ports import (
    LiveFeed,
    Picture,
    SourceFactory,
    SourcePacket,
    StreamError,
    StreamErrorKind,
    StreamInfo,
    StreamSource,
)
from gateway.video.settings import CameraConfig, IngestConfig
from gateway.video.stream_clock import StreamClock

log = logging.getLogger(__name__)

#: Errors a retry alone will not fix: reported as ERROR (still retried, at the backoff).
_CONFIG_ERRORS = frozenset({StreamErrorKind.UNAUTHORIZED, StreamErrorKind.NOT_FOUND})

StatusCallback = Callable[[CameraStatus], None]
UrlResolver = Callable[[], str]


class RateMeter:
    """Events per second over a sliding window (thread-safe enough: one writer)."""

    def __init__(self, window_s: float = 5.0) -> None:
        self._window_s = window_s
        self._times: deque[float] = deque()

    def add(self, at: float) -> None:
        self._times.append(at)
        self._trim(at)

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self._window_s:
            self._times.popleft()

    def rate(self, now: float) -> float:
        self._trim(now)
        if len(self._times) < 2:
            return 0.0
        span = max(now - self._times[0], 1e-6)
        return round(len(self._times) / max(span, min(self._window_s, 1.0)), 2)

    def reset(self) -> None:
        self._times.clear()


#: a stream more than this share of whose packets the decoder refuses over the window
#: (and at least DAMAGED_MIN of them) is reported as a stream fault: degraded, not online
DAMAGED_SHARE = 0.2
DAMAGED_MIN = 5
DAMAGE_WINDOW_S = 10.0
#: how often a camera waiting to retry probes whether its stream server is back
PROBE_EVERY_S = 0.5


def backoff_delays(minimum: float, maximum: float) -> Callable[[int], float]:
    """Delay before retry ``n`` (0-based): ``minimum`` doubling up to ``maximum``."""

    def delay(attempt: int) -> float:
        return float(min(maximum, minimum * (2 ** min(attempt, 30))))

    return delay


class CameraReader:
    """Reads one camera until stopped; never raises out of its thread."""

    def __init__(
        self,
        camera: CameraConfig,
        *,
        resolve_url: UrlResolver,
        source_factory: SourceFactory,
        ingest: IngestConfig,
        analysis_fps: float,
        clock: Clock,
        report: StatusCallback,
        sink: FrameSink | None = None,
        ring: PacketRing | None = None,
        live: LiveFeed | None = None,
        main: MainStream | None = None,
        reachable: Callable[[str], bool] | None = None,
    ) -> None:
        """``reachable(url)``: whether the stream's server answers now (a cheap probe, e.g.
        `adapters.rtsp.reachability.tcp_reachable`); while waiting to retry a server that
        did not answer, it is asked every ``PROBE_EVERY_S`` and a server back cuts the wait
        short."""
        self.camera = camera
        self._reachable = reachable
        self.camera_id = camera.id
        self._resolve_url = resolve_url
        self._factory = source_factory
        self._ingest = ingest
        self._period = 1.0 / analysis_fps
        self._clock = clock
        self._report = report
        self._sink = sink
        self._ring = ring
        self._live = live
        self.main = main
        if main is not None:
            main.on_change = self.publish_status
        self._info: StreamInfo | None = None
        self.picture_size: tuple[int, int] | None = None  # (width, height) as decoded
        self._ring_session: int | None = None
        self._source_id = Source(kind=SourceKind.CAMERA, id=camera.id)
        self._delay = backoff_delays(ingest.reconnect_min_s, ingest.reconnect_max_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.state = CameraState.STARTING
        self.detail = ""
        self._fps_in = RateMeter()
        self._fps_analysed = RateMeter()
        self._last_frame_at: datetime | None = None
        self._last_picture_mono: float | None = None
        self._latest: Frame | None = None
        # without a sink nothing is converted ahead: the newest picture waits for a caller
        self._latest_picture: tuple[Picture, float, datetime] | None = None
        self._convert_lock = threading.Lock()
        self._seq = 0
        self._stream_clock = StreamClock()  # the camera's own time, from picture timestamps
        self._runaway = False
        #: (monotonic, packets, damaged) once a second over the last DAMAGE_WINDOW_S
        self._damage: deque[tuple[float, int, int]] = deque()
        self.stream_fault = ""  # why the stream, though online, is not sound
        self.connects = 0
        self.frames_analysed = 0
        self.decode_errors = 0  # packets the decoder refused, all connections together
        self._silent = False

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name=f"camera[{self.camera_id}].reader", daemon=True
            )
            self._thread.start()
        if self.main is not None:
            self.main.start()

    def request_stop(self, *, silent: bool = False) -> None:
        """Ask the thread to end (it notices within a packet, or the read timeout).

        ``silent``: publish nothing more (a replacement reader reports this camera now).
        """
        self._silent = self._silent or silent
        self._stop.set()
        if self.main is not None:
            self.main.request_stop()

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop and wait; True when the threads ended within ``timeout``."""
        self._stop.set()
        main_stopped = True
        if self.main is not None:
            self.main.request_stop()
            main_stopped = self.main.stop(timeout)
        with self._lock:
            thread = self._thread
        if thread is None:
            return main_stopped
        thread.join(timeout)
        if thread.is_alive():
            log.warning(
                "camera %s: reader still busy after %.0fs",
                self.camera_id,
                timeout,
                extra={"camera": self.camera_id},
            )
            return False
        with self._lock:
            self._thread = None
        return main_stopped

    @property
    def finished(self) -> bool:
        """Whether its threads (the reader's and the main stream's) have all ended."""
        return not self.alive and (self.main is None or not self.main.alive)

    @property
    def alive(self) -> bool:
        """Whether the reader's own thread runs (its main stream may end by itself: a
        camera with one profile has none to pull)."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def latest_frame(self) -> Frame | None:
        """The newest analysed frame (for snapshots of camera-side events).

        Without an analysis sink, it is the newest decoded picture (converted when read).
        """
        if self._sink is not None:
            return self._latest
        with self._convert_lock:
            held = self._latest_picture
            if held is None:
                return None
            picture, monotonic, captured_at = held
            if self._latest is None or self._latest.monotonic != monotonic:
                self._latest = Frame(
                    camera_id=self.camera_id,
                    seq=self._seq,
                    captured_at=captured_at,
                    monotonic=monotonic,
                    picture=picture,
                )
            return self._latest

    # ---------------------------------------------------------------- status
    def status(self) -> CameraStatus:
        now = self._clock.monotonic()
        return CameraStatus.create(
            source=self._source_id,
            ts=self._clock.now(),
            camera_id=self.camera_id,
            state=self.state,
            fps_in=self._fps_in.rate(now),
            fps_analysed=self._fps_analysed.rate(now),
            last_frame_at=self._last_frame_at,
            detail=self._detail()[:500],
            faults={"stream": self.stream_fault} if self.stream_fault else {},
        )

    def _detail(self) -> str:
        if self.main is None:
            return self.detail
        return f"{self.detail}; {self.main.summary()}" if self.detail else self.main.summary()

    def publish_status(self) -> None:
        """Publish the status now (the main stream asks when its own state changed)."""
        if self.state != CameraState.STARTING and not self._stop.is_set():
            self._publish()  # (once stopping, the reader's own last word is the final one)

    def _publish(self) -> None:
        if self._silent:
            return
        try:
            self._report(self.status())
        except Exception:  # the outbox may be full or closing: health must not kill ingest
            log.exception(
                "camera %s: could not publish its status",
                self.camera_id,
                extra={"camera": self.camera_id},
            )

    def _set_state(self, state: CameraState, detail: str = "") -> None:
        if state == self.state and detail == self.detail:
            return
        if state != self.state:
            log.info(
                "camera %s: %s -> %s %s",
                self.camera_id,
                self.state,
                state,
                detail,
                extra={"camera": self.camera_id},
            )
        self.state, self.detail = state, detail
        self._publish()

    # ---------------------------------------------------------------- the loop
    def _run(self) -> None:
        attempt = 0
        first = True
        next_status = self._clock.monotonic()
        self._publish()  # STARTING
        while not self._stop.is_set():
            if not first:
                self._set_state(CameraState.RECONNECTING, f"attempt {attempt + 1}")
            first = False
            source: StreamSource | None = None
            error: StreamError | None = None
            try:
                url = self._resolve_url()
                source = self._factory(
                    url,
                    self.camera.username,
                    self.camera.password.get_secret_value() if self.camera.password else None,
                )
                info = source.open()
                self.connects += 1
                self._info, self._ring_session = info, None  # a new session at the first packet
                log.info(
                    "camera %s: connected (%s %dx%d)",
                    self.camera_id,
                    info.codec,
                    info.width,
                    info.height,
                    extra={"camera": self.camera_id},
                )
                next_status = self._stream(source, next_status)
                if self.state == CameraState.ONLINE:
                    attempt = 0
            except StreamError as exc:
                error = exc
                if self.state == CameraState.ONLINE:
                    attempt = 0  # it worked until now: retry soon
            except Exception as exc:  # a bug or an unexpected library error: keep the camera alive
                log.exception(
                    "camera %s: reader failed", self.camera_id, extra={"camera": self.camera_id}
                )
                error = StreamError(
                    StreamErrorKind.PROTOCOL, f"internal error: {type(exc).__name__}"
                )
            finally:
                if source is not None:
                    source.close()
            if self._stop.is_set():
                break
            delay = self._delay(attempt)
            attempt += 1
            # a server that was gone is probed while we wait: when it is back, so are we
            probe_url = self._probe_url(error)
            reason = error.reason if error is not None else "stream ended"
            kind = error.kind if error is not None else StreamErrorKind.ENDED
            state = CameraState.ERROR if kind in _CONFIG_ERRORS else CameraState.OFFLINE
            log.warning(
                "camera %s: %s (%s); retrying in %.0fs",
                self.camera_id,
                state,
                reason,
                delay,
                extra={"camera": self.camera_id},
            )
            self._fps_in.reset()
            self._fps_analysed.reset()
            self._set_state(state, f"{reason}; retry in {delay:.0f}s")
            self._wait_to_retry(delay, probe_url)
        self._set_state(CameraState.OFFLINE, "stopped")

    def _probe_url(self, error: StreamError | None) -> str | None:
        """The URL to probe while waiting, when the failure looks like the server being
        gone (it does not answer now) and a probe is wired; else None."""
        if self._reachable is None or error is None or error.kind in _CONFIG_ERRORS:
            return None
        try:
            url = self._resolve_url()
        except Exception:  # the ONVIF side may be down too: the last good URL is in it
            return None
        return None if self._reachable(url) else url

    def _wait_to_retry(self, delay: float, probe_url: str | None) -> None:
        """Sleep ``delay`` (or until stopped); with ``probe_url``, wake early once its
        server answers again."""
        if probe_url is None or self._reachable is None:
            self._stop.wait(delay)
            return
        deadline = self._clock.monotonic() + delay
        while not self._stop.is_set():
            left = deadline - self._clock.monotonic()
            if left <= 0:
                return
            if self._stop.wait(min(PROBE_EVERY_S, left)):
                return
            if self._reachable(probe_url):
                log.info(
                    "camera %s: its stream server answers again: reconnecting",
                    self.camera_id,
                    extra={"camera": self.camera_id},
                )
                return

    def _stream(self, source: StreamSource, next_status: float) -> float:
        """Read until the stream fails (raises) or a stop is asked (returns)."""
        ingest = self._ingest
        opened = self._clock.monotonic()
        self._last_picture_mono = None
        self._stream_clock.reset()
        next_due = opened
        next_rate_check = opened + 1.0
        self._damage.clear()
        self.stream_fault = ""
        counted = 0  # of source.damaged, in decode_errors already
        for packets, packet in enumerate(source.packets(), start=1):
            now = self._clock.monotonic()
            if self._stop.is_set():
                return next_status
            if self._ring is not None:
                self._to_ring(packet, now)
            for picture in source.decode(packet):
                next_due = self._on_picture(picture, now, next_due)
            last = self._last_picture_mono or opened
            if now - last > ingest.watchdog_s:
                raise StreamError(
                    StreamErrorKind.STALLED, f"no picture for {now - last:.0f}s (watchdog)"
                )
            if now >= next_rate_check:
                next_rate_check = now + 1.0
                self.decode_errors += source.damaged - counted
                counted = source.damaged
                changed = self._check_damage(now, packets, source.damaged)
                if self.state == CameraState.ONLINE and (self._check_rate(now) or changed):
                    self._publish()
            if now >= next_status:
                next_status = now + ingest.status_interval_s
                if self.state == CameraState.ONLINE:
                    self._publish()
        return next_status

    def _to_ring(self, packet: SourcePacket, now: float) -> None:
        """The packet into the evidence ring, unless the main stream feeds it now."""
        ring, main = self._ring, self.main
        assert ring is not None and self._info is not None
        if main is None:
            if self._ring_session is None:
                self._ring_session = ring.begin_session(self.camera_id, self._info)
            ring.add_packet(self.camera_id, packet, now, self._ring_session)
            return
        with main.ring_lock:  # the main stream may take the ring over (or give it back) now
            if main.feeds_ring:
                self._ring_session = None
                return
            if self._ring_session is None:
                self._ring_session = ring.begin_session(self.camera_id, self._info)
            ring.add_packet(self.camera_id, packet, now, self._ring_session)

    def _on_picture(self, picture: Picture, now: float, next_due: float) -> float:
        self._last_picture_mono = now
        self._last_frame_at = self._clock.now()
        self._fps_in.add(now)
        if self.state != CameraState.ONLINE:
            self.picture_size = (picture.width, picture.height)
            self._set_state(CameraState.ONLINE, f"{picture.width}x{picture.height}")
        if (
            self._live is not None
            and self._live.wants_frames(self.camera_id)
            and (self.main is None or not self.main.serving_live)
        ):  # the sub-stream's pictures until (or while not) the main stream's come
            self._live.offer(self.camera_id, picture)
        if self._sink is None:  # no analysis: keep the picture, convert only if asked
            self._seq += 1
            self._latest_picture = (picture, now, self._last_frame_at)
            return next_due
        # decode everything, hand over only what analysis is due (converted to BGR when a
        # detector or evidence reads it: motion reads the luma plane); the
        # cadence runs on the camera's own clock, so a burst keeps the video's spacing
        taken = self._stream_clock.time_of(picture.time_s, now)
        if taken < next_due - self._period * 0.25:
            return next_due
        self._seq += 1
        frame = Frame(
            camera_id=self.camera_id,
            seq=self._seq,
            captured_at=self._last_frame_at,
            monotonic=now,
            stream_time=taken,
            picture=picture,  # converted to BGR only if analysis reads its image
        )
        self._latest = frame
        self.frames_analysed += 1
        self._fps_analysed.add(now)
        if self._sink is not None:
            self._sink.submit(frame)
        next_due += self._period
        return next_due if next_due > taken - self._period else taken + self._period

    def _check_damage(self, now: float, packets: int, damaged: int) -> bool:
        """Flag (or clear) a stream whose packets the decoder keeps refusing (garbage on
        the wire, a failing encoder): more than ``DAMAGED_SHARE`` of them over the last
        ``DAMAGE_WINDOW_S``. True when that changed."""
        self._damage.append((now, packets, damaged))
        while self._damage and now - self._damage[0][0] > DAMAGE_WINDOW_S:
            self._damage.popleft()
        _, first_packets, first_damaged = self._damage[0]
        seen, bad = packets - first_packets, damaged - first_damaged
        fault = ""
        if bad >= DAMAGED_MIN and bad > DAMAGED_SHARE * seen:
            fault = f"{bad} of {seen} packets undecodable in {DAMAGE_WINDOW_S:.0f} s"
        changed = bool(fault) != bool(self.stream_fault)
        if changed:
            log.warning(
                "camera %s: stream %s",
                self.camera_id,
                fault or "decodes cleanly again",
                extra={"camera": self.camera_id},
            )
        self.stream_fault = fault
        return changed

    def _check_rate(self, now: float) -> bool:
        """Flag (or clear) a runaway incoming rate; True when that changed."""
        fps = self._fps_in.rate(now)
        runaway = fps > self._ingest.max_fps_in
        if runaway and not self._runaway:
            log.warning(
                "camera %s: runaway stream: %.1f fps in (limit %.0f)",
                self.camera_id,
                fps,
                self._ingest.max_fps_in,
                extra={"camera": self.camera_id},
            )
            self.detail = f"runaway: {fps:.0f} fps in > {self._ingest.max_fps_in:.0f}"
        elif not runaway and self._runaway:
            log.info(
                "camera %s: incoming rate back to %.1f fps",
                self.camera_id,
                fps,
                extra={"camera": self.camera_id},
            )
            self.detail = ""
        changed = runaway != self._runaway
        self._runaway = runaway
        return changed
