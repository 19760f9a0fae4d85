"""`citygw video` against the real test camera and a real Mosquitto: ingest, health, faults."""

from __future__ import annotations

import functools
import io
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import av
import cv2
import numpy as np
import pytest

from gateway.config import Config
from gateway.contract import CameraState
from gateway.video.daemon import VideoGateway
from gateway.video.frame import Frame
from gateway.video.testcam.harness import MAIN_VIDEO, TestCamera
from tests.video.conftest import StatusWatcher, fast_ingest


class FrameLog:
    """A `FrameSink` that records every frame per camera (never blocks)."""

    def __init__(self) -> None:
        self.frames: dict[str, list[Frame]] = {}
        self._cond = threading.Condition()

    def submit(self, frame: Frame) -> None:
        with self._cond:
            self.frames.setdefault(frame.camera_id, []).append(frame)
            self._cond.notify_all()

    def count(self, camera_id: str) -> int:
        with self._cond:
            return len(self.frames.get(camera_id, []))

    def wait(self, camera_id: str, count: int, timeout: float) -> list[Frame]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.frames.get(camera_id, [])) >= count, timeout)
            frames = list(self.frames.get(camera_id, []))
        assert len(frames) >= count, f"{camera_id}: {len(frames)} frames, wanted {count}"
        return frames


@pytest.fixture
def gateways() -> Iterator[Callable[..., VideoGateway]]:
    started: list[VideoGateway] = []

    def start(config: Config, sink: FrameLog | None = None) -> VideoGateway:
        gateway = VideoGateway(config, extra_sink=sink, analysis=False)
        started.append(gateway)
        gateway.start()
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


def _video(cameras: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "analysis_fps": 5,
        "ingest": fast_ingest(),
        "live_view": {"enabled": False},
        "cameras": cameras,
        **extra,
    }


def _reader_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("camera[")]


def test_frames_arrive_at_the_analysis_rate_and_show_the_video(
    test_camera: TestCamera,
    make_config: Callable[..., Config],
    status_watcher: StatusWatcher,
    gateways: Callable[..., VideoGateway],
) -> None:
    sink = FrameLog()
    config = make_config(video=_video([{"id": "gate-1", "rtsp_url": test_camera.rtsp_url}]))
    gateway = gateways(config, sink)
    online = status_watcher.wait_for("gate-1", CameraState.ONLINE, 20)
    first = sink.wait("gate-1", 1, 20)[0]
    started = first.monotonic
    frames = sink.wait("gate-1", 16, 20)
    span = frames[15].monotonic - started
    # 15 intervals at 5 fps = 3 s (the stream is 10 fps: every other frame is converted)
    assert 2.4 <= span <= 4.5, f"15 analysed frames took {span:.2f}s"
    image = frames[-1].image
    assert image.shape == (576, 768, 3) and image.dtype == np.uint8
    assert 20 < float(image.mean()) < 235 and float(image.std()) > 10  # a picture, not blank
    # it is a frame of the test video, in BGR order: the nearest source frame is close,
    # and much closer than with the colour channels swapped
    nearest = _nearest_source_distance(image)
    assert nearest < 6.0
    assert _nearest_source_distance(image[:, :, ::-1]) > nearest * 1.5
    assert [f.seq for f in frames[:5]] == [1, 2, 3, 4, 5]
    assert online.detail == "768x576"
    # the evidence ring holds the encoded stream: a clip around a frame, no re-encoding
    assert gateway.ring is not None
    clip = gateway.ring.clip_around("gate-1", frames[-1].monotonic, 2.0, 1.0)
    assert clip is not None and clip.media_type == "video/mp4"
    with av.open(io.BytesIO(clip.raw_bytes())) as container:
        decoded = [(f.width, f.height) for f in container.decode(video=0)]
    assert 20 <= len(decoded) <= 45 and decoded[0] == (768, 576)


@functools.cache
def _source_thumbnails() -> np.ndarray:
    """The first 40 s of the test video as 96x72 BGR thumbnails (what the camera serves)."""
    thumbs = []
    with av.open(str(MAIN_VIDEO)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            thumbs.append(cv2.resize(frame.to_ndarray(format="bgr24"), (96, 72), cv2.INTER_AREA))
            if index >= 400:
                break
    return np.stack(thumbs).astype(np.int16)


def _nearest_source_distance(image: np.ndarray) -> float:
    thumb = cv2.resize(np.ascontiguousarray(image), (96, 72), cv2.INTER_AREA).astype(np.int16)
    distances = np.abs(_source_thumbnails() - thumb).mean(axis=(1, 2, 3))
    return float(distances.min())


def test_a_killed_rtsp_server_makes_the_camera_offline_then_online_after_restart(
    test_camera: TestCamera,
    make_config: Callable[..., Config],
    status_watcher: StatusWatcher,
    gateways: Callable[..., VideoGateway],
) -> None:
    sink = FrameLog()
    config = make_config(video=_video([{"id": "gate-1", "rtsp_url": test_camera.rtsp_url}]))
    gateway = gateways(config, sink)
    online = status_watcher.wait_for("gate-1", CameraState.ONLINE, 20)
    assert online.gateway == config.instance  # the core ties the camera to this gateway's will
    threads_before = _reader_threads()
    old_pid = test_camera.rtsp_pid
    mark = len(status_watcher.statuses)
    test_camera.kill()
    offline = status_watcher.wait_for("gate-1", CameraState.OFFLINE, 15, after=mark)
    assert "closed the stream" in offline.detail or "refused" in offline.detail
    frames_when_down = sink.count("gate-1")
    mark = len(status_watcher.statuses)
    test_camera.restart()
    restarted = time.monotonic()
    status_watcher.wait_for("gate-1", CameraState.ONLINE, 15, after=mark)
    assert time.monotonic() - restarted <= 15
    sink.wait("gate-1", frames_when_down + 3, 15)
    # one reader thread, the same as before; the old server process is gone
    assert _reader_threads() == threads_before == ["camera[gate-1].reader"]
    assert old_pid is not None and not _pid_alive(old_pid)
    assert gateway.supervisor.reader("gate-1").connects == 2  # type: ignore[union-attr]


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts TCP connections and never says a word (a hung camera)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield int(server.getsockname()[1])
    server.close()


def test_bad_cameras_report_clearly_and_never_disturb_a_good_one(
    make_camera: Callable[..., TestCamera],
    make_config: Callable[..., Config],
    status_watcher: StatusWatcher,
    gateways: Callable[..., VideoGateway],
    silent_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    camera = make_camera(username="admin", password="right-pass")
    closed_port = socket.socket()
    closed_port.bind(("127.0.0.1", 0))
    refused = closed_port.getsockname()[1]
    closed_port.close()
    sink = FrameLog()
    good = {
        "id": "good",
        "rtsp_url": camera.rtsp_url,
        "username": "admin",
        "password": "right-pass",
    }
    cameras = [
        good,
        {
            "id": "wrong-pass",
            "rtsp_url": camera.rtsp_url,
            "username": "admin",
            "password": "nope-x1",
        },
        {
            "id": "wrong-path",
            "rtsp_url": camera.rtsp_url.replace("/main", "/nothing"),
            "username": "admin",
            "password": "right-pass",
        },
        {"id": "refused", "rtsp_url": f"rtsp://127.0.0.1:{refused}/main"},
        {"id": "hung", "rtsp_url": f"rtsp://127.0.0.1:{silent_port}/main"},
    ]
    config = make_config(video=_video(cameras, ingest=fast_ingest(open_timeout_s=2)))
    gateways(config, sink)
    status_watcher.wait_for("good", CameraState.ONLINE, 20)
    wrong_pass = status_watcher.wait_for("wrong-pass", CameraState.ERROR, 20)
    assert "credentials" in wrong_pass.detail
    wrong_path = status_watcher.wait_for("wrong-path", CameraState.ERROR, 20)
    assert "no stream at this path" in wrong_path.detail
    assert "econnrefused" in status_watcher.wait_for("refused", CameraState.OFFLINE, 20).detail
    assert "no answer within 2s" in status_watcher.wait_for("hung", CameraState.OFFLINE, 30).detail
    # the good camera kept its pace throughout
    frames = sink.wait("good", 20, 20)
    gaps = np.diff([f.monotonic for f in frames[-15:]])
    assert gaps.max() < 1.5
    assert "right-pass" not in caplog.text and "nope-x1" not in caplog.text
    assert all("right-pass" not in s.detail for s in status_watcher.statuses)


def test_reloading_the_configuration_adds_and_removes_cameras(
    test_camera: TestCamera,
    make_config: Callable[..., Config],
    status_watcher: StatusWatcher,
    gateways: Callable[..., VideoGateway],
) -> None:
    threads_before = set(threading.enumerate())  # other tests' leftovers are not ours
    sink = FrameLog()
    one = {"id": "cam-a", "rtsp_url": test_camera.rtsp_url}
    two = {"id": "cam-b", "rtsp_url": test_camera.sub_rtsp_url}
    gateway = gateways(make_config(video=_video([one])), sink)
    sink.wait("cam-a", 2, 20)
    gateway.apply(make_config(video=_video([one, two])).video)
    frames_b = sink.wait("cam-b", 2, 20)
    assert frames_b[-1].image.shape == (288, 384, 3)
    count_a = sink.count("cam-a")
    gateway.apply(make_config(video=_video([two])).video)
    status_watcher.wait_for("cam-a", CameraState.OFFLINE, 15)
    assert set(gateway.supervisor.readers) == {"cam-b"}
    frames_b_now = sink.count("cam-b")
    sink.wait("cam-b", frames_b_now + 3, 15)
    assert sink.count("cam-a") <= count_a + 2  # cam-a stopped within a frame or two
    gateway.stop()
    leftovers = [
        t.name
        for t in set(threading.enumerate()) - threads_before
        if t.name.startswith(("camera[", "outbox[video]", "onvif.", "live-view"))
    ]
    assert leftovers == []


def _clip_sizes(gateway: VideoGateway, camera_id: str, at: float) -> list[tuple[int, int]]:
    assert gateway.ring is not None
    clip = gateway.ring.clip_around(camera_id, at, 2.0, 1.0)
    assert clip is not None and clip.media_type == "video/mp4"
    with av.open(io.BytesIO(clip.raw_bytes())) as container:
        return [(f.width, f.height) for f in container.decode(video=0)]


def test_an_onvif_camera_is_analysed_on_its_sub_stream_and_clipped_from_its_main_stream(
    test_camera: TestCamera,
    make_config: Callable[..., Config],
    status_watcher: StatusWatcher,
    gateways: Callable[..., VideoGateway],
) -> None:
    sink = FrameLog()
    onvif = {"url": test_camera.onvif_url, "events": False, "analysis_width": 400}
    gateway = gateways(make_config(video=_video([{"id": "gate-1", "onvif": onvif}])), sink)
    status_watcher.wait_for("gate-1", CameraState.ONLINE, 20)
    reader = gateway.supervisor.reader("gate-1")
    assert reader is not None and reader.main is not None
    deadline = time.monotonic() + 20
    while "main online 768x576" not in reader.status().detail:
        assert time.monotonic() < deadline, reader.status().detail
        time.sleep(0.1)
    time.sleep(2.5)  # seconds of main stream in the ring before the moment
    frames = sink.wait("gate-1", 5, 20)
    assert frames[-1].image.shape == (288, 384, 3)  # analysis decodes the sub-stream
    sizes = _clip_sizes(gateway, "gate-1", frames[-1].monotonic)
    # the clip is the main stream's (10 fps), from a keyframe at least 2 s before the moment
    assert set(sizes) == {(768, 576)} and 20 <= len(sizes) <= 45
    assert reader.main.pictures == 0  # nobody watched: the main stream was never decoded
    assert reader.connects == 1 and reader.main.connects == 1
    assert sorted(t.name for t in threading.enumerate() if t.name.startswith("camera[")) == [
        "camera[gate-1].main",
        "camera[gate-1].reader",
    ]
    # the retained status says so too
    mark = len(status_watcher.statuses)
    reader.publish_status()
    published = status_watcher.wait_for("gate-1", CameraState.ONLINE, 10, after=mark)
    assert published.detail == "384x288; main online 768x576"


def test_a_broken_main_stream_never_disturbs_analysis_and_clips_fall_back_to_the_sub_stream(
    test_camera: TestCamera,
    make_config: Callable[..., Config],
    status_watcher: StatusWatcher,
    gateways: Callable[..., VideoGateway],
) -> None:
    sink = FrameLog()
    camera = {
        "id": "gate-1",
        "rtsp_url": test_camera.sub_rtsp_url,
        "main_rtsp_url": test_camera.rtsp_url.replace("/main", "/nothing"),
    }
    gateway = gateways(make_config(video=_video([camera])), sink)
    reported = None
    deadline = time.monotonic() + 20
    while reported is None:
        assert time.monotonic() < deadline, [s.detail for s in status_watcher.statuses]
        reported = next((s for s in status_watcher.statuses if "main error" in s.detail), None)
        time.sleep(0.1)
    assert reported.state == CameraState.ONLINE and "no stream at this path" in reported.detail
    frames = sink.wait("gate-1", 16, 20)
    gaps = np.diff([f.monotonic for f in frames[-10:]])
    assert gaps.max() < 0.6  # 5 fps throughout
    sizes = _clip_sizes(gateway, "gate-1", frames[-1].monotonic)
    assert set(sizes) == {(384, 288)}
    reader = gateway.supervisor.reader("gate-1")
    assert reader is not None and reader.connects == 1


def test_a_camera_whose_onvif_service_is_down_streams_from_its_last_good_address(
    test_camera: TestCamera,
    make_config: Callable[..., Config],
    gateways: Callable[..., VideoGateway],
) -> None:
    from adapters.mqtt.broker import free_port

    sink = FrameLog()
    main_off = {"main_stream": {"enabled": False}}
    onvif = {"url": test_camera.onvif_url, "events": False, "analysis_width": 400}
    first = gateways(make_config(video=_video([{"id": "gate-1", "onvif": onvif}], **main_off)))
    deadline = time.monotonic() + 20
    while first.addresses.last("gate-1") is None:
        assert time.monotonic() < deadline, "ONVIF gave no stream address"
        time.sleep(0.1)
    first.stop()
    # the device's web service is gone (nothing listens there), its RTSP server is not;
    # a restarted gateway streams from the address kept in its state_dir
    dead = {**onvif, "url": f"http://127.0.0.1:{free_port()}/onvif/device_service"}
    second = gateways(
        make_config(video=_video([{"id": "gate-1", "onvif": dead}], **main_off)), sink
    )
    frames = sink.wait("gate-1", 5, 30)
    assert frames[-1].image.shape == (288, 384, 3)  # the sub-stream ONVIF had chosen
    assert second.addresses.last("gate-1") == test_camera.sub_rtsp_url


def test_with_onvif_down_frames_come_back_within_2_s_of_the_stream_server_returning(
    test_camera: TestCamera,
    make_config: Callable[..., Config],
    gateways: Callable[..., VideoGateway],
) -> None:
    """Issue 16: the stream comes back while the camera's ONVIF service is still down;
    pictures again within 2 s of it (measured here 1.57-1.61 s on a quiet machine). The
    test allows 2.5 s: 0.5 s for a loaded CI machine starting GStreamer and a decoder; the
    issue's 2 s is held by bench/video_recovery.py on the same parts (1.65 s). Without the
    stream server's probe it takes 5.1 s, without the last good address no picture comes.

    The real parts: the whole `VideoGateway` (camera by its ONVIF address, production
    reconnect settings: first retry after 1 s, backoff doubling to 300 s, the TCP probe
    of the stream server), the test camera's GStreamer RTSP server, SIGKILLed and started
    again on the same port, and its ONVIF web server stopped throughout. The clock starts
    when `TestCamera.restart` returns, that is when the restarted server has said READY
    and accepts connections; it stops when the gateway hands on the first new picture.
    Two outages: 3 s (the first retry) and 9 s (past the 1 + 2 + 4 s backoff: without the
    probe the next retry would come at 15 s). bench/video_recovery.py measured 1.65 s."""
    arrivals: list[float] = []
    sink = FrameLog()
    submit = sink.submit

    def timed(frame: Frame) -> None:
        arrivals.append(time.monotonic())
        submit(frame)

    sink.submit = timed  # type: ignore[method-assign]
    onvif = {"url": test_camera.onvif_url, "events": False, "analysis_width": 400}
    video = _video(
        [{"id": "gate-1", "onvif": onvif}],
        ingest={"watchdog_s": 5, "open_timeout_s": 5},  # reconnect_*: the defaults
        main_stream={"enabled": False},
    )
    gateway = gateways(make_config(video=video), sink)
    sink.wait("gate-1", 3, 30)
    assert gateway.addresses.last("gate-1") == test_camera.sub_rtsp_url  # from ONVIF
    test_camera.stop_onvif()
    with pytest.raises(OSError):  # nothing answers at the device service any more
        socket.create_connection(("127.0.0.1", test_camera.onvif_port), timeout=2).close()
    for down_s in (3.0, 9.0):
        test_camera.kill()
        time.sleep(down_s)
        assert arrivals[-1] < time.monotonic() - down_s + 1.0  # no pictures while down
        test_camera.restart()
        back = time.monotonic()
        deadline = back + 15
        while not (arrivals and arrivals[-1] > back) and time.monotonic() < deadline:
            time.sleep(0.02)
        first = next((t for t in arrivals if t > back), None)
        assert first is not None, (
            f"no pictures within 15 s of the stream returning ({down_s} s down)"
        )
        assert first - back <= 2.5, f"pictures {first - back:.2f} s after a {down_s} s outage"
    assert gateway.addresses.last("gate-1") == test_camera.sub_rtsp_url


def _analysed_camera(models: list[str]) -> dict[str, Any]:
    fall = {"id": "fall", "type": "fallen", "event_code": "0497", "min_duration_s": 2}
    return {
        "analysis_fps": 5,
        "ingest": fast_ingest(),
        "live_view": {"enabled": False},
        "cameras": [{"id": "lawn-1", "rtsp_url": "rtsp://127.0.0.1:9/none"}],
        "analysis": {"models": models, "cameras": {"lawn-1": {"rules": [fall]}}},
    }


def test_a_camera_whose_rules_no_loaded_model_serves_is_reported_degraded(
    make_config: Callable[..., Config], status_watcher: StatusWatcher
) -> None:
    gateway = VideoGateway(make_config(video=_analysed_camera(["yolox-nano"])))
    gateway.start()
    try:
        assert gateway.healthy()  # the analysis threads run: a restart would not help
        assert "fallen_person" in gateway.faults_of("lawn-1")["analysis"]
        reported = status_watcher.wait_for("lawn-1", CameraState.OFFLINE, 20)
        assert "no loaded model gives ['fallen_person']" in reported.faults["analysis"]
        assert gateway.pipeline is not None
        gateway.pipeline.stop()  # the analysis threads end under a running gateway
        assert not gateway.healthy()  # the systemd watchdog restarts it
        assert gateway.faults_of("lawn-1")["analysis"].startswith("analysis stopped")
    finally:
        gateway.stop()


def test_analysis_that_fails_to_start_is_a_fault_of_each_camera_with_rules(
    make_config: Callable[..., Config],
) -> None:
    gateway = VideoGateway(make_config(video=_analysed_camera(["no-such-model"])))
    gateway.start()
    try:
        assert gateway.pipeline is None
        fault = gateway.faults_of("lawn-1")["analysis"]
        assert fault.startswith("analysis failed to start: no detector model could be loaded")
        assert "no-such-model" in fault
    finally:
        gateway.stop()


def test_a_stream_that_is_not_what_onvif_says_is_reported_in_the_camera_health(
    make_camera: Callable[..., TestCamera],
    make_config: Callable[..., Config],
    status_watcher: StatusWatcher,
    gateways: Callable[..., VideoGateway],
) -> None:
    lying = make_camera(sub_claims=(640, 360))  # as a real device said of a 384x288 stream
    onvif = {"url": lying.onvif_url, "events": False, "analysis_width": 400}
    video = _video([{"id": "gate-1", "onvif": onvif}], main_stream={"enabled": False})
    gateway = gateways(make_config(video=video))
    online = status_watcher.wait_for("gate-1", CameraState.ONLINE, 20)
    assert online.faults == {"stream": "ONVIF profile says 640x360, the stream is 384x288"}
    assert gateway.faults_of("gate-1")["stream"].endswith("384x288")
