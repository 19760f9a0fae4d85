"""Benchmark: video ingest. Decode throughput vs plain decoders, and cameras per machine.

    .venv/bin/python bench/ingest.py [--repeat 3] [--frames 600] [--max-cameras 48]

(a) plain PyAV: demux + decode every frame of var/data/vtest-h264.mp4 (768x576 H.264);
(b) plain OpenCV: ``VideoCapture.grab()`` (decode, no conversion) and ``read()``
    (decode + BGR) of the same file;
(c) our ingest, decode-only: a `CameraReader` over an `RtspSource` on the same file, with
    the evidence ring and health, no analysis attached (what `citygw video` does for a
    camera when analysis is off); its clock follows the media timestamps, so it behaves
    as on a live 10 fps camera while running flat out. Ratio (c)/(a): target >= 0.8.
(c') the same feeding analysis: 5 of the video's 10 fps converted to BGR and handed to a
    keep-newest sink (the colour conversion costs about as much as decoding a frame).
(c'') (c') with a `MainStream` attached to the reader (one that found no bigger profile):
    every packet then takes the ring hand-over path, the most the main-stream logic adds
    to the analysis path. Ratio (c'')/(c') by CPU: should stay ~1.
(d) capacity: N cameras pulling the real GStreamer RTSP test server at 5 fps analysis for
    ``--hold`` seconds each step; a frame is late when it reaches the sink more than
    1.5 analysis periods after the previous one. The largest N with < 5 % late frames
    (and >= 95 % of the expected frames) is reported. Two series: ``one_pull`` (each
    camera analyses the 768x576 main stream, which also feeds the ring: the old way) and
    ``sub_plus_main`` (each camera analyses the 384x288 5 fps sub-stream and demuxes the
    main stream into the ring without decoding: the default now).
Each of (a)-(c') runs ``--repeat`` times in this process; medians are reported. Results go
to bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from adapters.rtsp.rtsp_source import RtspSource  # noqa: E402
from gateway.clock import SystemClock  # noqa: E402
from gateway.video.camera import CameraReader  # noqa: E402
from gateway.video.evidence import PacketRing  # noqa: E402
from gateway.video.frame import Frame  # noqa: E402
from gateway.video.frame_sink import LatestFrame  # noqa: E402
from gateway.video.main_stream import MainStream  # noqa: E402
from gateway.video.ports import (  # noqa: E402
    SourcePacket,
    StreamError,
    StreamErrorKind,
    StreamInfo,
)
from gateway.video.settings import CameraConfig, IngestConfig  # noqa: E402
from gateway.video.testcam.harness import MAIN_VIDEO, TestCamera  # noqa: E402

ANALYSIS_FPS = 5.0


class Rate:
    """Frames per wall-clock second and per CPU second of this process (the latter is
    steadier when other work shares the machine)."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def done(self, frames: int) -> tuple[float, float]:
        wall = time.perf_counter() - self.wall
        cpu = time.process_time() - self.cpu
        return frames / wall, frames / max(cpu, 1e-9)


def plain_pyav(path: Path, frames: int) -> tuple[float, float]:
    rate = Rate()
    count = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        for packet in container.demux(stream):
            for _frame in stream.decode(packet):
                count += 1
            if count >= frames:
                break
    return rate.done(count)


def plain_opencv(path: Path, frames: int, convert: bool) -> tuple[float, float]:
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    capture.set(cv2.CAP_PROP_N_THREADS, 1)
    rate = Rate()
    count = 0
    try:
        while count < frames:
            ok = capture.read()[0] if convert else capture.grab()
            if not ok:
                break
            count += 1
    finally:
        capture.release()
    return rate.done(count)


class MediaClock(SystemClock):
    """Monotonic time = the media time of the packet being read (set by `TimedSource`)."""

    def __init__(self) -> None:
        self.media = 0.0

    def monotonic(self) -> float:
        return self.media


class TimedSource:
    """An `RtspSource` on a file that moves the `MediaClock` and stops after N frames."""

    def __init__(self, path: Path, clock: MediaClock, frames: int, done: threading.Event) -> None:
        self._source = RtspSource(str(path), decoder_threads=1)
        self._clock = clock
        self._frames = frames
        self._done = done
        self._seconds_per_tick = 1.0
        self.decoded = 0

    def open(self) -> StreamInfo:
        info = self._source.open()
        self._seconds_per_tick = float(info.time_base)
        return info

    def packets(self) -> Iterator[SourcePacket]:
        for packet in self._source.packets():
            if packet.pts is not None:
                self._clock.media = packet.pts * self._seconds_per_tick
            if self.decoded >= self._frames:
                self._done.set()
                raise StreamError(StreamErrorKind.ENDED, "benchmark done")
            yield packet

    def decode(self, packet: SourcePacket) -> list[Any]:
        pictures = self._source.decode(packet)
        self.decoded += len(pictures)
        return pictures

    @property
    def damaged(self) -> int:
        return int(self._source.damaged)

    def close(self) -> None:
        self._source.close()


def our_ingest(
    path: Path, frames: int, *, analysis: bool, main_attached: bool = False
) -> tuple[tuple[float, float], int]:
    clock = MediaClock()
    done = threading.Event()
    sources: list[TimedSource] = []

    def factory(_url: str, _user: str | None, _password: str | None) -> TimedSource:
        source = TimedSource(path, clock, frames, done)
        sources.append(source)
        return source

    sink = LatestFrame() if analysis else None
    ring = PacketRing(max_seconds=30)
    camera = CameraConfig(id="bench", rtsp_url="rtsp://127.0.0.1/bench")
    main = None
    if main_attached:  # found no bigger profile: the reader keeps the ring, via the hand-over
        main = MainStream(
            camera,
            resolve_url=lambda: None,
            source_factory=factory,  # type: ignore[arg-type]
            ingest=IngestConfig(),
            clock=clock,
            ring=ring,
            live=None,
            grace_s=0,
        )
    reader = CameraReader(
        camera,
        resolve_url=lambda: str(path),
        source_factory=factory,  # type: ignore[arg-type]
        ingest=IngestConfig(reconnect_min_s=60, reconnect_max_s=60),
        analysis_fps=ANALYSIS_FPS,
        clock=clock,
        report=lambda _status: None,
        sink=sink,
        ring=ring,
        main=main,
    )
    rate = Rate()
    reader.start()
    done.wait(600)
    result = rate.done(sources[0].decoded)
    reader.request_stop()
    reader.stop(10)
    return result, reader.frames_analysed


def ring_path_cost(packets: int = 50_000) -> dict[str, float]:
    """CPU microseconds per packet of putting a 15 kB packet into the ring: directly, through
    a reader (no main stream), and through a reader with a main stream attached (the
    hand-over lock). Decoding a frame costs ~1500 us: this is what the main-stream logic
    can add to the analysis path."""
    info = StreamInfo("h264", 768, 576, Fraction(1, 90000))
    camera = CameraConfig(id="bench", rtsp_url="rtsp://127.0.0.1/bench")
    packet = SourcePacket(b"\x00" * 15_000, 1, 1, False)
    costs: dict[str, float] = {}
    for label in ("direct", "reader", "reader_main_attached"):
        ring = PacketRing(max_seconds=1e9, max_bytes=1024**3)
        main = None
        if label == "reader_main_attached":
            main = MainStream(
                camera,
                resolve_url=lambda: None,
                source_factory=lambda _u, _n, _p: None,  # type: ignore[arg-type,return-value]
                ingest=IngestConfig(),
                clock=SystemClock(),
                ring=ring,
                live=None,
                grace_s=0,
            )
        reader = CameraReader(
            camera,
            resolve_url=lambda: "",
            source_factory=lambda _u, _n, _p: None,  # type: ignore[arg-type,return-value]
            ingest=IngestConfig(),
            analysis_fps=ANALYSIS_FPS,
            clock=SystemClock(),
            report=lambda _status: None,
            ring=ring,
            main=main,
        )
        reader._info = info
        session = ring.begin_session("bench", info)
        started = time.process_time()
        for index in range(packets):
            if label == "direct":
                ring.add(
                    "bench",
                    packet.data,
                    pts=1,
                    dts=1,
                    keyframe=False,
                    monotonic=index * 1e-6,
                    session=session,
                )
            else:
                reader._to_ring(packet, index * 1e-6)
        costs[label] = round((time.process_time() - started) / packets * 1e6, 2)
    return costs


class GapSink:
    """Counts analysed frames and the late ones (gap > 1.5 analysis periods)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last: dict[str, float] = {}
        self.frames = 0
        self.late = 0
        self.counting = False

    def submit(self, frame: Frame) -> None:
        now = time.monotonic()
        with self.lock:
            previous = self.last.get(frame.camera_id)
            self.last[frame.camera_id] = now
            if not self.counting or previous is None:
                return
            self.frames += 1
            if now - previous > 1.5 / ANALYSIS_FPS:
                self.late += 1


def _fixed_url(url: str) -> Callable[[], str]:
    """A camera's address resolver that always gives ``url``."""
    return lambda: url


def capacity_step(camera: TestCamera, count: int, hold_s: float, *, sub: bool) -> dict[str, Any]:
    """``sub``: analyse the sub-stream and demux the main one beside it; else one main pull."""
    sink = GapSink()
    ingest = IngestConfig(reconnect_min_s=1, reconnect_max_s=2)
    analysed_url = camera.sub_rtsp_url if sub else camera.rtsp_url
    readers = []

    def factory(url: str, user: str | None, password: str | None) -> RtspSource:
        return RtspSource(url, user, password)

    for index in range(count):
        config = CameraConfig(
            id=f"cam-{index}",
            rtsp_url=analysed_url,
            main_rtsp_url=camera.rtsp_url if sub else None,
        )
        ring = PacketRing(max_seconds=10)
        main = None
        if sub:
            main = MainStream(
                config,
                resolve_url=_fixed_url(camera.rtsp_url),
                source_factory=factory,
                ingest=ingest,
                clock=SystemClock(),
                ring=ring,
                live=None,
                grace_s=0,
            )
        readers.append(
            CameraReader(
                config,
                resolve_url=_fixed_url(analysed_url),
                source_factory=factory,
                ingest=ingest,
                analysis_fps=ANALYSIS_FPS,
                clock=SystemClock(),
                report=lambda _status: None,
                sink=sink,
                ring=ring,
                main=main,
            )
        )
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(sink.last) < count:
        time.sleep(0.1)
    time.sleep(1.0)  # settle past the first keyframe
    cpu0 = os.times()
    with sink.lock:
        sink.counting = True
    time.sleep(hold_s)
    with sink.lock:
        sink.counting = False
        frames, late = sink.frames, sink.late
    cpu1 = os.times()
    for reader in readers:
        reader.request_stop()
    for reader in readers:
        reader.stop(10)
    expected = count * ANALYSIS_FPS * hold_s
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    mains_online = sum(
        1 for r in readers if r.main is not None and r.main.connects > 0 and r.main.pictures == 0
    )
    return {
        "cameras": count,
        "main_streams_demuxed_not_decoded": mains_online,
        "frames": frames,
        "expected_frames": round(expected),
        "late": late,
        "late_fraction": round(late / frames, 4) if frames else 1.0,
        "delivered_fraction": round(frames / expected, 4) if expected else 0.0,
        "gateway_cpu_cores": round(cpu / hold_s, 2),
        "ok": bool(frames) and late / frames < 0.05 and frames / expected >= 0.95,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--frames", type=int, default=600, help="frames decoded per run")
    parser.add_argument("--max-cameras", type=int, default=48)
    parser.add_argument("--hold", type=float, default=8.0, help="seconds measured per step")
    parser.add_argument("--skip-capacity", action="store_true")
    args = parser.parse_args(argv)
    if not MAIN_VIDEO.exists():
        print(f"{MAIN_VIDEO} missing: run scripts/setup.sh", file=sys.stderr)
        return 1

    names = (
        "plain_pyav",
        "plain_opencv_grab",
        "plain_opencv_read_bgr",
        "ingest",
        "ingest_feeding_analysis",
        "ingest_feeding_analysis_main_attached",
    )
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    analysed = 0
    plain_pyav(MAIN_VIDEO, 100)  # warm-up: page cache, codec initialisation
    our_ingest(MAIN_VIDEO, 100, analysis=True)
    load_before = os.getloadavg()
    for run in range(args.repeat):
        results = {
            "plain_pyav": plain_pyav(MAIN_VIDEO, args.frames),
            "plain_opencv_grab": plain_opencv(MAIN_VIDEO, args.frames, convert=False),
            "plain_opencv_read_bgr": plain_opencv(MAIN_VIDEO, args.frames, convert=True),
        }
        results["ingest"], _ = our_ingest(MAIN_VIDEO, args.frames, analysis=False)
        results["ingest_feeding_analysis"], analysed = our_ingest(
            MAIN_VIDEO, args.frames, analysis=True
        )
        results["ingest_feeding_analysis_main_attached"], _ = our_ingest(
            MAIN_VIDEO, args.frames, analysis=True, main_attached=True
        )
        for name, (by_wall, by_cpu) in results.items():
            wall[name].append(by_wall)
            cpu[name].append(by_cpu)
        print(
            f"run {run + 1}: "
            + ", ".join(f"{k} {v[0]:.0f} fps ({v[1]:.0f}/cpu-s)" for k, v in results.items())
        )
    median = {k: round(statistics.median(v), 1) for k, v in wall.items()}
    median_cpu = {k: round(statistics.median(v), 1) for k, v in cpu.items()}
    ratio = round(median["ingest"] / median["plain_pyav"], 3)
    ratio_cpu = round(median_cpu["ingest"] / median_cpu["plain_pyav"], 3)
    ratio_feed_cpu = round(median_cpu["ingest_feeding_analysis"] / median_cpu["plain_pyav"], 3)
    paired = sorted(c / p for c, p in zip(cpu["ingest"], cpu["plain_pyav"], strict=True))
    ratio_paired_cpu = round(statistics.median(paired), 3)
    ring_cost = ring_path_cost()
    print(f"ring path, CPU us per packet: {ring_cost}")
    ratio_main_attached_cpu = round(
        median_cpu["ingest_feeding_analysis_main_attached"] / median_cpu["ingest_feeding_analysis"],
        3,
    )
    print(
        f"ingest / plain PyAV decode = {ratio} by wall clock, {ratio_cpu} by CPU time "
        f"(median of per-run ratios {ratio_paired_cpu}) "
        f"(target >= 0.8); feeding analysis (5 of 10 fps to BGR): {ratio_feed_cpu} by CPU; "
        f"PyAV / OpenCV grab = "
        f"{median_cpu['plain_pyav'] / median_cpu['plain_opencv_grab']:.2f} by CPU time; "
        f"analysis path with a main stream attached / without: {ratio_main_attached_cpu} by CPU"
    )

    capacity: dict[str, list[dict[str, Any]]] = {}
    best: dict[str, int] = {}
    if not args.skip_capacity:
        with TestCamera() as camera:
            for series, sub in (("one_pull", False), ("sub_plus_main", True)):
                steps = capacity[series] = []
                best[series] = 0
                count = 1
                while count <= args.max_cameras:
                    step = capacity_step(camera, count, args.hold, sub=sub)
                    steps.append(step)
                    print(
                        f"{series} {count:3d} cameras: {step['frames']}/"
                        f"{step['expected_frames']} frames, "
                        f"{step['late_fraction'] * 100:.1f} % late, "
                        f"{step['gateway_cpu_cores']} cores -> {'ok' if step['ok'] else 'OVER'}"
                    )
                    if not step["ok"]:
                        break
                    best[series] = count
                    count = count * 2 if count < 8 else count + 8
                print(f"{series}: cameras at {ANALYSIS_FPS:g} fps with < 5 % late: {best[series]}")

    result = {
        "benchmark": "ingest",
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        },
        "video": f"{MAIN_VIDEO.name} 768x576 H.264 10 fps",
        "frames_per_run": args.frames,
        "repeat": args.repeat,
        "decode_fps_median": median,
        "decode_fps_per_cpu_second_median": median_cpu,
        "decode_fps_runs": {k: [round(x, 1) for x in v] for k, v in wall.items()},
        "decode_fps_per_cpu_second_runs": {k: [round(x, 1) for x in v] for k, v in cpu.items()},
        "ingest_frames_analysed_last_run": analysed,
        "ratio_ingest_vs_plain_pyav": ratio,
        "ratio_ingest_vs_plain_pyav_cpu": ratio_cpu,
        "ratio_ingest_vs_plain_pyav_cpu_median_of_runs": ratio_paired_cpu,
        "ring_path_cpu_us_per_packet": ring_cost,
        "ratio_ingest_feeding_analysis_vs_plain_pyav_cpu": ratio_feed_cpu,
        "ratio_analysis_path_main_attached_vs_not_cpu": ratio_main_attached_cpu,
        "target_ratio": 0.8,
        "ratio_pyav_vs_opencv_grab_cpu": round(
            median_cpu["plain_pyav"] / median_cpu["plain_opencv_grab"], 3
        ),
        "capacity_analysis_fps": ANALYSIS_FPS,
        "capacity_steps": capacity,
        "capacity_cameras_under_5pct_late": best if capacity else None,
        "notes": "capacity one_pull: every camera analyses the main 768x576 10 fps stream "
        "(which also feeds its clip ring); sub_plus_main: every camera analyses the 384x288 "
        "5 fps sub-stream and demuxes the main stream into its ring without decoding. All "
        "cameras pull one local GStreamer RTSP server, which shares the machine's 2 cores "
        "with the gateway (and with other sessions' work: see loadavg)",
    }
    out = REPO / "bench" / "results" / "ingest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"results: {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
