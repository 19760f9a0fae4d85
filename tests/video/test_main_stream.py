"""`MainStream` beside a `CameraReader`, with fake sources: the sub-stream is analysed, the
main stream feeds the evidence ring and live viewers, and its failures stay its own."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from fractions import Fraction

import numpy as np

from gateway.clock import SystemClock
from gateway.contract import CameraState
from gateway.video.camera import CameraReader
from gateway.video.evidence import PacketRing
from gateway.video.frame_sink import LatestFrame
from gateway.video.main_stream import MainStream, MainStreamState
from gateway.video.ports import SourcePacket, StreamError, StreamErrorKind, StreamInfo
from gateway.video.settings import CameraConfig, IngestConfig
from tests.video.test_camera_reader import Statuses

SUB, MAIN = (32, 24), (64, 48)


class SizedPicture:
    def __init__(self, size: tuple[int, int], index: int) -> None:
        self.width, self.height = size
        self.index = index
        self.time_s = None

    def to_bgr(self) -> np.ndarray:
        return np.full((self.height, self.width, 3), self.index % 256, np.uint8)

    def grey_sample(self, step: int) -> np.ndarray:
        return np.full((self.height, self.width), self.index % 256, np.uint8)[::step, ::step]

    @property
    def native(self) -> object:
        return self


class Source:
    """Packets at ``fps`` (a keyframe every 10th) of a stream of ``size``; or fails to open."""

    def __init__(
        self, size: tuple[int, int], fps: float = 20.0, open_error: StreamErrorKind | None = None
    ) -> None:
        self.size, self.fps, self.open_error = size, fps, open_error
        self.decoded: list[int] = []
        self.closed = threading.Event()

    def open(self) -> StreamInfo:
        if self.open_error is not None:
            raise StreamError(self.open_error, "fake refusal")
        return StreamInfo("h264", self.size[0], self.size[1], Fraction(1, 90000))

    def packets(self) -> Iterator[SourcePacket]:
        index = 0
        while not self.closed.is_set():
            index += 1
            yield SourcePacket(b"\x00\x00\x00\x01\x65", index, index, index % 10 == 1, index)
            time.sleep(1 / self.fps)
        raise StreamError(StreamErrorKind.ENDED, "closed")

    damaged = 0

    def decode(self, packet: SourcePacket) -> list[SizedPicture]:
        self.decoded.append(int(packet.native))
        return [SizedPicture(self.size, int(packet.native))]

    def close(self) -> None:
        self.closed.set()


class Sources:
    """Hands out the given sources in order (the last one again and again)."""

    def __init__(self, *sources: Source) -> None:
        self.queue = list(sources)
        self.handed: list[Source] = []

    def __call__(self, _url: str, _user: str | None, _password: str | None) -> Source:
        source = self.queue.pop(0) if len(self.queue) > 1 else self.queue[0]
        self.handed.append(source)
        return source


class FakeLive:
    def __init__(self) -> None:
        self.watching: set[str] = set()
        self.offers: list[tuple[int, int]] = []

    def wants_frames(self, camera_id: str) -> bool:
        return camera_id in self.watching

    def offer(self, camera_id: str, picture: SizedPicture) -> None:
        self.offers.append((picture.width, picture.height))


def _wait(condition: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


INGEST = IngestConfig(watchdog_s=1, reconnect_min_s=0.1, reconnect_max_s=0.4)


def _camera(
    main_sources: Sources,
    *,
    ring: PacketRing | None,
    main_ring: bool = True,
    live: FakeLive | None = None,
    statuses: Statuses | None = None,
    sink: LatestFrame | None = None,
    main_url: str | None = "rtsp://127.0.0.1/main",
    grace_s: float = 0.5,
) -> tuple[CameraReader, MainStream, Sources]:
    camera = CameraConfig(
        id="cam-1", rtsp_url="rtsp://127.0.0.1/sub", main_rtsp_url="rtsp://127.0.0.1/main"
    )
    main = MainStream(
        camera,
        resolve_url=lambda: main_url,
        source_factory=main_sources,
        ingest=INGEST,
        clock=SystemClock(),
        ring=ring if main_ring else None,
        live=live,
        grace_s=grace_s,
    )
    sub_sources = Sources(Source(SUB))
    reader = CameraReader(
        camera,
        resolve_url=lambda: "rtsp://127.0.0.1/sub",
        source_factory=sub_sources,
        ingest=INGEST,
        analysis_fps=5,
        clock=SystemClock(),
        report=statuses or Statuses(),
        sink=sink,
        ring=ring,
        live=live,
        main=main,
    )
    return reader, main, sub_sources


def _ring_width(ring: PacketRing) -> int | None:
    info = ring.stream_info("cam-1")
    return info.width if info is not None else None


def test_the_main_stream_feeds_the_ring_and_analysis_decodes_the_sub_stream() -> None:
    ring, sink, statuses = PacketRing(max_seconds=10), LatestFrame(), Statuses()
    main_sources = Sources(Source(MAIN))
    reader, main, _ = _camera(main_sources, ring=ring, sink=sink, statuses=statuses)
    reader.start()
    try:
        _wait(lambda: main.state == MainStreamState.ONLINE, what="main online")
        _wait(lambda: reader.frames_analysed >= 3, what="analysed frames")
        _wait(lambda: ring.buffered_seconds("cam-1") > 0.5, what="ring")
        assert _ring_width(ring) == MAIN[0]
        frame = sink.take(timeout=5)
        assert frame is not None and frame.image.shape == (SUB[1], SUB[0], 3)
        assert main_sources.handed[0].decoded == []  # nobody watched: demuxed, never decoded
        _wait(lambda: "main online 64x48" in reader.status().detail, what="status")
        online = statuses.wait(CameraState.ONLINE)
        assert online.state == CameraState.ONLINE
    finally:
        assert reader.stop(5)
    assert not reader.alive and not main.alive
    assert main.state == MainStreamState.STOPPED


def test_a_failing_main_stream_leaves_analysis_alone_and_the_sub_stream_feeds_the_ring() -> None:
    ring, sink, statuses = PacketRing(max_seconds=10), LatestFrame(), Statuses()
    failing = [Source(MAIN, open_error=StreamErrorKind.UNREACHABLE) for _ in range(3)]
    main_sources = Sources(*failing, Source(MAIN))
    reader, main, sub_sources = _camera(main_sources, ring=ring, sink=sink, statuses=statuses)
    reader.start()
    try:
        _wait(lambda: main.state == MainStreamState.OFFLINE, what="main offline")
        assert "fake refusal" in reader.status().detail and "main offline" in reader.status().detail
        assert reader.state == CameraState.ONLINE
        _wait(lambda: _ring_width(ring) == SUB[0], what="the sub-stream feeding the ring")
        # the main stream comes back (4th attempt) and takes the ring over again
        _wait(lambda: main.state == MainStreamState.ONLINE, what="main online")
        _wait(lambda: _ring_width(ring) == MAIN[0], what="the main stream feeding the ring")
        analysed = reader.frames_analysed
        _wait(lambda: reader.frames_analysed > analysed + 3, what="analysis going on")
    finally:
        reader.stop(5)
    assert len(sub_sources.handed) == 1  # the sub-stream never reconnected
    # the camera said STARTING, then ONLINE (again at each change of the main stream) only
    states = [s.state for s in statuses.items[:-1]]
    assert states[0] == CameraState.STARTING and set(states[1:]) == {CameraState.ONLINE}
    assert sum("main offline" in s.detail for s in statuses.items) >= 1


def test_live_viewers_get_main_pictures_only_while_watching_and_decoding_ends_after_grace() -> None:
    ring, live = PacketRing(max_seconds=10), FakeLive()
    main_source = Source(MAIN)
    reader, main, _ = _camera(Sources(main_source), ring=ring, live=live, grace_s=0.5)
    reader.start()
    try:
        _wait(lambda: main.state == MainStreamState.ONLINE, what="main online")
        assert main_source.decoded == []
        live.watching.add("cam-1")
        _wait(lambda: MAIN in live.offers, what="a main-stream picture offered")
        assert main_source.decoded[0] % 10 == 1  # decoding started at a keyframe
        _wait(lambda: len(live.offers) > live.offers.index(MAIN) + 10, what="more pictures")
        first_main = live.offers.index(MAIN)
        # once the main stream serves the viewers, the sub-stream no longer offers
        assert set(live.offers[first_main:]) == {MAIN}
        assert main.decoding and "decoding: live" in reader.status().detail
        live.watching.clear()
        _wait(lambda: not main.decoding, timeout=5, what="decoding to stop after the grace")
        decoded = len(main_source.decoded)
        time.sleep(0.3)
        assert len(main_source.decoded) == decoded  # demuxing goes on, decoding does not
        assert main.state == MainStreamState.ONLINE and not main_source.closed.is_set()
    finally:
        reader.stop(5)


def test_without_the_ring_the_main_stream_is_pulled_only_while_someone_watches() -> None:
    ring, live = PacketRing(max_seconds=10), FakeLive()
    main_sources = Sources(Source(MAIN), Source(MAIN))
    reader, main, _ = _camera(main_sources, ring=ring, main_ring=False, live=live, grace_s=0.3)
    reader.start()
    try:
        _wait(lambda: reader.state == CameraState.ONLINE, what="camera online")
        _wait(lambda: _ring_width(ring) == SUB[0], what="the sub-stream feeding the ring")
        assert main.state == MainStreamState.IDLE and main_sources.handed == []
        live.watching.add("cam-1")
        _wait(lambda: MAIN in live.offers, what="a main-stream picture offered")
        assert live.offers[0] == SUB  # the sub-stream served the viewer until the main came
        assert _ring_width(ring) == SUB[0]  # clips stay on the sub-stream
        live.watching.clear()
        _wait(lambda: main.state == MainStreamState.IDLE, timeout=5, what="main idle again")
        assert main_sources.handed[0].closed.is_set()  # the connection was closed
        assert len(main_sources.handed) == 1
    finally:
        reader.stop(5)


def test_a_camera_with_one_profile_keeps_one_pull_for_everything() -> None:
    ring, live, sink = PacketRing(max_seconds=10), FakeLive(), LatestFrame()
    main_sources = Sources(Source(MAIN))
    reader, main, _ = _camera(main_sources, ring=ring, live=live, sink=sink, main_url=None)
    live.watching.add("cam-1")
    reader.start()
    try:
        _wait(lambda: main.state == MainStreamState.NONE, what="no main stream")
        _wait(lambda: len(live.offers) >= 5, what="the sub-stream serving the viewer")
        assert set(live.offers) == {SUB} and main_sources.handed == []
        assert _ring_width(ring) == SUB[0]
        assert reader.frames_analysed > 0 and "main none" in reader.status().detail
    finally:
        reader.stop(5)
    assert not main.alive


def test_a_packet_of_a_stream_that_lost_the_ring_is_dropped() -> None:
    ring = PacketRing(max_seconds=10)
    sub = ring.begin_session("cam-1", StreamInfo("h264", *SUB, Fraction(1, 90000)))
    ring.add("cam-1", b"x", pts=1, dts=1, keyframe=True, monotonic=1.0, session=sub)
    main = ring.begin_session("cam-1", StreamInfo("h264", *MAIN, Fraction(1, 90000)))
    ring.add("cam-1", b"late sub", pts=2, dts=2, keyframe=False, monotonic=1.1, session=sub)
    ring.add("cam-1", b"main", pts=1, dts=1, keyframe=True, monotonic=1.2, session=main)
    assert _ring_width(ring) == MAIN[0]
    assert [p.data for p in ring._rings["cam-1"].packets] == [b"x", b"main"]
