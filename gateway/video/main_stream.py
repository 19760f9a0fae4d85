"""A camera's main (full-resolution) stream: demuxed for evidence clips, decoded for live view.

Analysis decodes the camera's sub-stream (`gateway.video.camera.CameraReader`); the main
stream is never decoded for analysis. A `MainStream` owns one thread
(``camera[<id>].main``) with a connection of its own that

- feeds the main stream's *encoded* packets to the evidence ring (demuxing only: cheap),
  all the time when ``keep_ring``, so a clip holds the seconds before an event at full
  resolution;
- decodes only while a live viewer watches (from the next keyframe), and keeps decoding
  ``grace_s`` after the last viewer left; without ``keep_ring`` it connects for the first
  viewer and disconnects once the grace period is over.

It has its own watchdog (no picture for ``watchdog_s`` while decoding, or no data for as
long: the source's read timeout) and backoff, so a failing main stream never touches
analysis: while it is down, the sub-stream reader feeds the ring and the viewers again.
Its state is part of the camera's status (``on_change`` asks for a republish).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from enum import StrEnum

from gateway.clock import Clock
from gateway.video.evidence import PacketRing
from gateway.video.ports import (
    LiveFeed,
    SourceFactory,
    SourcePacket,
    StreamError,
    StreamErrorKind,
    StreamInfo,
    StreamSource,
)
from gateway.video.settings import CameraConfig, IngestConfig

log = logging.getLogger(__name__)

#: How often an idle main stream looks whether a viewer arrived.
_IDLE_POLL_S = 0.2
#: The main stream counts as serving live view while its last picture is this recent.
_LIVE_FRESH_S = 1.0
_CONFIG_ERRORS = frozenset({StreamErrorKind.UNAUTHORIZED, StreamErrorKind.NOT_FOUND})

#: The main stream's URL, or ``None`` when the camera has no stream bigger than the analysed one.
MainUrlResolver = Callable[[], str | None]


class MainStreamState(StrEnum):
    NONE = "none"  # the camera has no separate main stream: the sub-stream serves all
    IDLE = "idle"  # not pulled: no ring to feed and nobody watches
    CONNECTING = "connecting"
    ONLINE = "online"
    OFFLINE = "offline"  # failed; retried at the backoff
    ERROR = "error"  # refused credentials or a wrong path (still retried, at the backoff)
    STOPPED = "stopped"


def _delay(ingest: IngestConfig, attempt: int) -> float:
    return float(min(ingest.reconnect_max_s, ingest.reconnect_min_s * (2 ** min(attempt, 30))))


class MainStream:
    """Pulls one camera's main stream beside its analysis reader; never raises out of its thread."""

    def __init__(
        self,
        camera: CameraConfig,
        *,
        resolve_url: MainUrlResolver,
        source_factory: SourceFactory,
        ingest: IngestConfig,
        clock: Clock,
        ring: PacketRing | None,
        live: LiveFeed | None,
        grace_s: float,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.camera = camera
        self.camera_id = camera.id
        self._resolve_url = resolve_url
        self._factory = source_factory
        self._ingest = ingest
        self._clock = clock
        self._ring = ring
        self._live = live
        self._grace_s = grace_s
        self.on_change = on_change  # the camera reader sets it: republish the camera status
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        #: held while the ring changes hands between this stream and the sub-stream reader
        self.ring_lock = threading.Lock()
        self._ring_session: int | None = None
        self._decoding = False
        self._last_wanted: float | None = None
        self._last_offer: float | None = None
        self.state = MainStreamState.IDLE
        self.detail = ""
        self.connects = 0
        self.pictures = 0  # decoded main-stream pictures (live view only)
        self.size: tuple[int, int] | None = None

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name=f"camera[{self.camera_id}].main", daemon=True
            )
            self._thread.start()

    def request_stop(self) -> None:
        self._stop.set()

    def stop(self, timeout: float = 30.0) -> bool:
        self._stop.set()
        with self._lock:
            thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        if thread.is_alive():
            log.warning("camera %s: main stream still busy after %.0fs", self.camera_id, timeout)
            return False
        with self._lock:
            self._thread = None
        return True

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ---------------------------------------------------------------- for the sub-stream reader
    @property
    def feeds_ring(self) -> bool:
        """Whether the ring takes this stream's packets now (read under `ring_lock`)."""
        return self._ring_session is not None

    @property
    def serving_live(self) -> bool:
        """Whether viewers get this stream's pictures now (else the sub-stream's)."""
        last = self._last_offer
        return last is not None and self._clock.monotonic() - last < _LIVE_FRESH_S

    @property
    def decoding(self) -> bool:
        return self._decoding

    def summary(self) -> str:
        """One phrase for the camera's status detail."""
        text = f"main {self.state}"
        if self.state == MainStreamState.ONLINE and self.size is not None:
            text += f" {self.size[0]}x{self.size[1]}" + (
                " (decoding: live)" if self._decoding else ""
            )
        if self.detail and self.state != MainStreamState.ONLINE:
            text += f": {self.detail}"
        return text

    def _set_state(self, state: MainStreamState, detail: str = "") -> None:
        if state == self.state and detail == self.detail:
            return
        if state != self.state:
            log.info(
                "camera %s: main stream %s -> %s %s", self.camera_id, self.state, state, detail
            )
        self.state, self.detail = state, detail
        try:
            self.on_change()
        except Exception:  # reporting must never end the main stream
            log.exception("camera %s: main stream status report failed", self.camera_id)

    # ---------------------------------------------------------------- the loop
    def _wanted(self, now: float) -> bool:
        """Whether live view wants main-stream pictures now, or did within the grace period."""
        if self._live is not None and self._live.wants_frames(self.camera_id):
            self._last_wanted = now
            return True
        return self._last_wanted is not None and now - self._last_wanted < self._grace_s

    def _needed(self) -> bool:
        return self._ring is not None or self._wanted(self._clock.monotonic())

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            if not self._needed():
                self._set_state(MainStreamState.IDLE)
                self._stop.wait(_IDLE_POLL_S)
                continue
            if self.state != MainStreamState.OFFLINE:
                self._set_state(MainStreamState.CONNECTING)
            source: StreamSource | None = None
            error: StreamError | None = None
            try:
                url = self._resolve_url()
                if url is None:
                    self._set_state(MainStreamState.NONE, "one profile: the sub-stream serves all")
                    return
                source = self._factory(
                    url,
                    self.camera.username,
                    self.camera.password.get_secret_value() if self.camera.password else None,
                )
                info = source.open()
                self.connects += 1
                log.info(
                    "camera %s: main stream connected (%s %dx%d)",
                    self.camera_id,
                    info.codec,
                    info.width,
                    info.height,
                )
                self._stream(source, info)
            except StreamError as exc:
                error = exc
            except Exception as exc:  # a bug or a library surprise: keep the camera alive
                log.exception("camera %s: main stream failed", self.camera_id)
                error = StreamError(
                    StreamErrorKind.PROTOCOL, f"internal error: {type(exc).__name__}"
                )
            finally:
                with self.ring_lock:
                    self._ring_session = None  # the sub-stream reader feeds the ring again
                self._decoding = False
                self._last_offer = None
                if source is not None:
                    source.close()
            if self._stop.is_set():
                break
            if error is None:
                attempt = 0
                continue  # nobody needs it any more: idle, without a connection
            if self.state == MainStreamState.ONLINE:
                attempt = 0  # it worked until now: retry soon
            delay = _delay(self._ingest, attempt)
            attempt += 1
            state = (
                MainStreamState.ERROR if error.kind in _CONFIG_ERRORS else MainStreamState.OFFLINE
            )
            log.warning(
                "camera %s: main stream %s (%s); retrying in %.0fs",
                self.camera_id,
                state,
                error.reason,
                delay,
            )
            self._set_state(state, f"{error.reason}; retry in {delay:.0f}s")
            self._stop.wait(delay)
        self._set_state(MainStreamState.STOPPED)

    def _stream(self, source: StreamSource, info: StreamInfo) -> None:
        """Demux (and decode while wanted) until the stream fails (raises), a stop is asked,
        or, without a ring, nobody needs the stream any more (returns)."""
        if self._ring is not None:
            with self.ring_lock:
                self._ring_session = self._ring.begin_session(self.camera_id, info)
        online = False
        decode_since = 0.0
        last_picture: float | None = None
        for packet in source.packets():
            if self._stop.is_set():
                return
            now = self._clock.monotonic()
            if not online:
                online = True
                self.size = (info.width, info.height)
                self._set_state(MainStreamState.ONLINE)
            if self._ring is not None:
                self._ring.add_packet(self.camera_id, packet, now, self._ring_session)
            if not self._wanted(now):
                if self._decoding:
                    self._decoding = False
                    self._set_state(MainStreamState.ONLINE)  # republish: decoding stopped
                if self._ring is None:
                    return  # pulled for live view only, and the grace period is over
                continue
            if not self._decoding:
                if not packet.keyframe:
                    continue  # a decoder (re)starts at a keyframe
                self._decoding = True
                decode_since, last_picture = now, None
                self._set_state(MainStreamState.ONLINE, "decoding")
            last_picture = self._decode(source, packet, now) or last_picture
            silent = now - (last_picture if last_picture is not None else decode_since)
            if silent > self._ingest.watchdog_s:
                raise StreamError(
                    StreamErrorKind.STALLED, f"no picture for {silent:.0f}s (watchdog)"
                )

    def _decode(self, source: StreamSource, packet: SourcePacket, now: float) -> float | None:
        """Decode one packet and offer its pictures to the viewers; the time of the last."""
        pictures = source.decode(packet)
        if not pictures:
            return None
        live = self._live
        for picture in pictures:
            self.pictures += 1
            self.size = (picture.width, picture.height)
            if live is not None and live.wants_frames(self.camera_id):
                live.offer(self.camera_id, picture)
                self._last_offer = now
        return now
