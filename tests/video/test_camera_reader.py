"""`CameraReader` with a fake stream source: rates, watchdog, backoff, status, isolation."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from fractions import Fraction

import numpy as np
import pytest

from gateway.clock import SystemClock
from gateway.contract import CameraState, CameraStatus
from gateway.video.camera import CameraReader, RateMeter, backoff_delays
from gateway.video.frame_sink import LatestFrame
from gateway.video.ports import SourcePacket, StreamError, StreamErrorKind, StreamInfo
from gateway.video.settings import CameraConfig, IngestConfig


class FakePicture:
    conversions = 0

    def __init__(self, value: int) -> None:
        self.value = value

    width, height = 32, 24
    time_s = None  # no timestamps: the camera's clock runs on arrival

    def to_bgr(self) -> np.ndarray:
        FakePicture.conversions += 1
        return np.full((24, 32, 3), self.value % 256, np.uint8)

    def grey_sample(self, step: int) -> np.ndarray:
        return np.full((24, 32), self.value % 256, np.uint8)[::step, ::step]

    @property
    def native(self) -> object:
        return self


class FakeSource:
    """Packets at ``fps`` for ``seconds``, then a failure of ``end_kind``; or fails to open."""

    opened = 0

    def __init__(
        self,
        fps: float = 20.0,
        seconds: float = 100.0,
        *,
        open_error: StreamErrorKind | None = None,
        end_kind: StreamErrorKind = StreamErrorKind.ENDED,
        pictures: bool = True,
        damaged_every: int = 0,
    ) -> None:
        self.fps, self.seconds = fps, seconds
        self.open_error, self.end_kind, self.pictures = open_error, end_kind, pictures
        self.closed = False
        self.damaged = 0
        self.damaged_every = damaged_every  # every n-th packet is garbage to the decoder

    def open(self) -> StreamInfo:
        FakeSource.opened += 1
        if self.open_error is not None:
            raise StreamError(self.open_error, "fake refusal")
        return StreamInfo("h264", 32, 24, Fraction(1, 90000))

    def packets(self) -> Iterator[SourcePacket]:
        started = time.monotonic()
        index = 0
        while time.monotonic() - started < self.seconds:
            index += 1
            yield SourcePacket(b"\x00\x00\x00\x01\x65", index, index, index % 10 == 1, index)
            time.sleep(1 / self.fps)
        raise StreamError(self.end_kind, "fake end")

    def decode(self, packet: SourcePacket) -> list[FakePicture]:
        if self.damaged_every and int(packet.native) % self.damaged_every == 0:
            self.damaged += 1
            return []
        return [FakePicture(int(packet.native))] if self.pictures else []

    def close(self) -> None:
        self.closed = True


class Statuses:
    def __init__(self) -> None:
        self.items: list[CameraStatus] = []
        self.cond = threading.Condition()

    def __call__(self, status: CameraStatus) -> None:
        with self.cond:
            self.items.append(status)
            self.cond.notify_all()

    def wait(self, state: CameraState, timeout: float = 10.0, count: int = 1) -> CameraStatus:
        def matching() -> list[CameraStatus]:
            return [s for s in self.items if s.state == state]

        with self.cond:
            self.cond.wait_for(lambda: len(matching()) >= count, timeout)
            found = matching()
        assert len(found) >= count, f"no {state}: {[(s.state, s.detail) for s in self.items]}"
        return found[count - 1]


def _reader(
    sources: list[FakeSource], statuses: Statuses, sink: object = None, **ingest: float
) -> CameraReader:
    queue = list(sources)
    settings = {"watchdog_s": 1, "reconnect_min_s": 0.1, "reconnect_max_s": 0.4, **ingest}
    return CameraReader(
        CameraConfig(id="cam-1", rtsp_url="rtsp://127.0.0.1/x"),
        resolve_url=lambda: "rtsp://127.0.0.1/x",
        source_factory=lambda _u, _n, _p: queue.pop(0) if len(queue) > 1 else queue[0],
        ingest=IngestConfig.model_validate(settings),
        analysis_fps=5,
        clock=SystemClock(),
        report=statuses,
        sink=sink,  # type: ignore[arg-type]
    )


def test_only_frames_due_at_the_analysis_rate_are_handed_over_and_none_converted_unread() -> None:
    statuses, sink = Statuses(), LatestFrame()
    FakePicture.conversions = 0
    reader = _reader([FakeSource(fps=20)], statuses, sink)
    reader.start()
    try:
        statuses.wait(CameraState.ONLINE)
        time.sleep(2.0)
    finally:
        reader.stop(5)
    # 20 pictures/s decoded, 5/s submitted; none converted to BGR: nobody read an image
    assert 7 <= sink.submitted <= 13
    assert reader.frames_analysed == sink.submitted
    assert FakePicture.conversions == 0
    assert sink.dropped == sink.submitted - 1  # nobody took frames: only the newest is kept
    frame = sink.take(0)
    assert frame is not None and not frame.converted
    assert frame.grey_sample(2).shape == (12, 16)  # motion reads grey without converting
    assert FakePicture.conversions == 0
    assert frame.image.shape == (24, 32, 3) and frame.image is frame.image
    assert FakePicture.conversions == 1  # converted once, on the first read


def test_a_camera_that_sends_data_but_no_pictures_is_reset_by_the_watchdog() -> None:
    statuses = Statuses()
    reader = _reader([FakeSource(pictures=False), FakeSource()], statuses)
    reader.start()
    try:
        offline = statuses.wait(CameraState.OFFLINE)
        assert "watchdog" in offline.detail
        statuses.wait(CameraState.ONLINE)
    finally:
        reader.stop(5)


def test_retries_back_off_and_a_refusal_of_credentials_is_an_error() -> None:
    statuses = Statuses()
    sources = [FakeSource(open_error=StreamErrorKind.UNAUTHORIZED) for _ in range(4)] + [
        FakeSource()
    ]
    reader = _reader(sources, statuses)
    reader.start()
    try:
        error = statuses.wait(CameraState.ERROR)
        assert "fake refusal" in error.detail and "retry in 0s" in error.detail
        statuses.wait(CameraState.ONLINE, timeout=15)
    finally:
        reader.stop(5)
    errors = [s.detail for s in statuses.items if s.state == CameraState.ERROR]
    assert len(errors) == 4
    assert [s.state for s in statuses.items].count(CameraState.RECONNECTING) >= 4


def test_backoff_doubles_up_to_its_ceiling() -> None:
    delay = backoff_delays(10, 300)
    assert [delay(n) for n in range(7)] == [10, 20, 40, 80, 160, 300, 300]


def test_a_runaway_stream_is_reported_in_the_status() -> None:
    statuses = Statuses()
    reader = _reader([FakeSource(fps=200)], statuses, max_fps_in=30)
    reader.start()
    try:
        statuses.wait(CameraState.ONLINE)
        deadline = time.monotonic() + 10
        while not any("runaway" in s.detail for s in statuses.items):
            assert time.monotonic() < deadline, [s.detail for s in statuses.items]
            time.sleep(0.05)
    finally:
        reader.stop(5)


def test_the_rate_meter_counts_events_per_second() -> None:
    meter = RateMeter(window_s=5)
    for i in range(50):
        meter.add(100 + i * 0.1)
    assert meter.rate(105.0) == pytest.approx(10, rel=0.1)
    assert meter.rate(200.0) == 0.0


def test_stopping_ends_the_thread_and_says_offline() -> None:
    statuses = Statuses()
    reader = _reader([FakeSource()], statuses)
    reader.start()
    statuses.wait(CameraState.ONLINE)
    assert reader.stop(5)
    assert (
        statuses.items[-1].state == CameraState.OFFLINE and statuses.items[-1].detail == "stopped"
    )
    assert not reader.alive


class ScriptedClock(SystemClock):
    """Monotonic time set by the source: the moments pictures arrive (no sleeping)."""

    def __init__(self) -> None:
        self.at = 1000.0

    def monotonic(self) -> float:
        return self.at


class JitterySource(FakeSource):
    """A camera sending at the analysis rate (5 fps) with +-70 ms of network jitter."""

    def __init__(self, clock: ScriptedClock, count: int) -> None:
        super().__init__()
        self.clock, self.count = clock, count
        self.done = threading.Event()

    def packets(self) -> Iterator[SourcePacket]:
        start = self.clock.at
        for index in range(1, self.count + 1):  # 0.2 s apart, every other 70 ms late / early
            self.clock.at = start + 1.0 + 0.2 * index + (0.07 if index % 2 else -0.07)
            yield SourcePacket(b"\x00\x00\x00\x01\x65", index, index, index % 5 == 1, index)
        self.done.set()
        while True:  # hold the connection until stopped
            time.sleep(0.05)
            yield SourcePacket(b"", None, None, False, 0)

    damaged = 0

    def decode(self, packet: SourcePacket) -> list[FakePicture]:
        return [FakePicture(int(packet.native))] if packet.data else []


def test_a_stream_at_the_analysis_rate_loses_no_picture_to_jitter() -> None:
    clock, sink = ScriptedClock(), LatestFrame()
    source = JitterySource(clock, 40)
    reader = CameraReader(
        CameraConfig(id="cam-1", rtsp_url="rtsp://127.0.0.1/sub"),
        resolve_url=lambda: "rtsp://127.0.0.1/sub",
        source_factory=lambda _u, _n, _p: source,
        ingest=IngestConfig(watchdog_s=600),
        analysis_fps=5,
        clock=clock,
        report=Statuses(),
        sink=sink,
    )
    reader.start()
    try:
        assert source.done.wait(10)
    finally:
        reader.stop(5)
    # every picture of the 5 fps stream is analysed, but for one while the analysis
    # schedule settles on the stream's phase after the first picture
    assert reader.frames_analysed >= 39


def _probed_reader(
    port: int, first_failure: StreamErrorKind, statuses: Statuses, reconnect_min_s: float
) -> CameraReader:
    """A reader of rtsp://127.0.0.1:<port>/x whose first open fails with ``first_failure``
    and whose waits probe the server's port."""
    from adapters.rtsp.reachability import tcp_reachable

    url = f"rtsp://127.0.0.1:{port}/x"
    sources = [FakeSource(open_error=first_failure), FakeSource()]
    return CameraReader(
        CameraConfig(id="cam-1", rtsp_url=url),
        resolve_url=lambda: url,
        source_factory=lambda _u, _n, _p: sources.pop(0) if len(sources) > 1 else sources[0],
        ingest=IngestConfig.model_validate(
            {"reconnect_min_s": reconnect_min_s, "reconnect_max_s": 60}
        ),
        analysis_fps=5,
        clock=SystemClock(),
        report=statuses,
        reachable=tcp_reachable,
    )


def test_a_stream_server_that_comes_back_is_reconnected_at_once_not_after_the_backoff() -> None:
    import socket

    from adapters.mqtt.broker import free_port

    port = free_port()
    statuses = Statuses()
    reader = _probed_reader(port, StreamErrorKind.UNREACHABLE, statuses, reconnect_min_s=30)
    server = socket.socket()
    reader.start()
    try:
        offline = statuses.wait(CameraState.OFFLINE)
        assert "retry in 30s" in offline.detail
        time.sleep(1.0)
        assert not [s for s in statuses.items if s.state == CameraState.ONLINE]
        server.bind(("127.0.0.1", port))  # the camera's server is back
        server.listen()
        back = time.monotonic()
        statuses.wait(CameraState.ONLINE, timeout=5)
        assert time.monotonic() - back < 2.0  # not the 30 s backoff
    finally:
        reader.stop(5)
        server.close()


def test_a_stream_refused_by_a_server_that_answers_waits_out_its_backoff() -> None:
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    statuses = Statuses()
    reader = _probed_reader(
        server.getsockname()[1], StreamErrorKind.PROTOCOL, statuses, reconnect_min_s=2
    )
    reader.start()
    try:
        failed = time.monotonic()
        statuses.wait(CameraState.OFFLINE)
        statuses.wait(CameraState.ONLINE, timeout=6)
        assert time.monotonic() - failed >= 1.8  # the server answered all along: no shortcut
    finally:
        reader.stop(5)
        server.close()


def test_the_reachability_probe_says_whether_a_server_accepts_connections() -> None:
    import socket

    from adapters.rtsp.reachability import tcp_reachable

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    assert tcp_reachable(f"rtsp://user:secret@127.0.0.1:{port}/main")
    server.close()
    assert not tcp_reachable(f"rtsp://127.0.0.1:{port}/main")
    assert not tcp_reachable("/var/data/vtest.mp4")  # a file: no server to probe


def test_a_stream_turned_to_garbage_is_reported_as_a_stream_fault_and_clears_when_clean() -> None:
    statuses = Statuses()
    # 3 s of a stream whose every second packet the decoder refuses, then a clean one
    reader = _reader([FakeSource(fps=20, seconds=3, damaged_every=2), FakeSource(fps=20)], statuses)
    reader.start()
    try:
        deadline = time.monotonic() + 10
        while not any(s.faults for s in statuses.items):
            assert time.monotonic() < deadline, [(s.state, s.faults) for s in statuses.items]
            time.sleep(0.05)
        faulty = next(s for s in statuses.items if s.faults)
        assert faulty.state == CameraState.ONLINE  # pictures still come: not offline
        assert "packets undecodable" in faulty.faults["stream"]
        online_again = statuses.wait(CameraState.ONLINE, count=2)  # reconnected, clean
        assert online_again.faults == {}
        time.sleep(1.5)
        assert reader.status().faults == {}
    finally:
        reader.stop(5)
