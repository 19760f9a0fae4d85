"""Benchmark: detection quality on vtest.avi against a hand-checked ground truth.

    .venv/bin/python bench/detection_quality.py [--threads 2]

Ground truth: tests/data/vtest-groundtruth.json, 40 frames (every 20th), person boxes and
the two parked vehicles; how it was made (detector-assisted, reviewed by eye, misses
added) is written in the file. Matching as PASCAL VOC: per frame and label, detections in
decreasing score take the unmatched ground-truth box they overlap most at IoU >= 0.5;
a detection on a box marked ``difficult`` counts neither way, a second detection of one
object is a false positive. Only the labels person and vehicle are scored.

(a) detector: yolox-nano (onnxruntime) on each labelled frame whole, letterboxed into its
    416x416 input, as a camera check or a full-frame pass sees it: precision and recall
    at the pipeline's ``video.analysis.min_score`` (0.35), a table over thresholds, AP50.
(b) motion crops: the clip at 5 fps (every 2nd frame) through the pipeline's motion stage
    (`MotionDetector`, `plan_crops` for the model's input side, default settings); on each
    labelled frame the detector runs on the crops (or the whole frame when the stage says
    so) and boxes of one class from overlapping crops are merged, as the pipeline does.
    Static objects (the parked vehicles) are outside the crops: the pipeline carries them
    by tracking, so crop recall of vehicles says nothing about parking events.
(c) pipeline events: `AnalysisPipeline` (real weights, default settings but for the rules,
    every 5 fps frame analysed, none skipped) over the whole clip, candidates kept by a
    fake publisher at the port.
    - parking: a ``dwell`` rule on vehicles, stationary 20 s, over the whole view (not a
      zone drawn on the van: every stationary vehicle anywhere may fire). An event is
      correct when its box overlaps a parked vehicle of the ground truth (IoU >= 0.5);
      recall is parked vehicles with an event over parked vehicles.
    - crowd: on each labelled frame, the number of person tracks the pipeline's count rule
      sees (visible, above min_score, whole view; from the same stages run in step here:
      motion gate, crops, detector, merge, tracker) against the labelled count. The
      condition "at least N people" is then a per-frame yes/no: precision and recall over
      labelled frames for several N. A frame whose answer depends on difficult people
      (labelled < N <= labelled + difficult) is left out. The real pipeline's crowd
      candidates are listed beside it, and their counts checked against the stages.

Results go to bench/results/detection_quality.json. Takes about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from adapters.detectors import open_detector  # noqa: E402
from gateway.clock import SystemClock  # noqa: E402
from gateway.config import Config  # noqa: E402
from gateway.contract import CandidateCase  # noqa: E402
from gateway.video.analysis.model_card import load_card  # noqa: E402
from gateway.video.analysis.motion import (  # noqa: E402
    MotionDetector,
    Region,
    merge_crop_detections,
    plan_crops,
)
from gateway.video.analysis.pipeline import AnalysisPipeline  # noqa: E402
from gateway.video.analysis.ports import Detector  # noqa: E402
from gateway.video.analysis.settings import AnalysisConfig  # noqa: E402
from gateway.video.analysis.tracking import ObjectTracker  # noqa: E402
from gateway.video.detection import Detection  # noqa: E402
from gateway.video.frame import Frame  # noqa: E402

GROUND_TRUTH = REPO / "tests" / "data" / "vtest-groundtruth.json"
VIDEO = REPO / "var" / "data" / "vtest.avi"
RESULTS = REPO / "bench" / "results" / "detection_quality.json"
MODEL = "yolox-nano"
LABELS = ("person", "vehicle")
MATCH_IOU = 0.5
LOWEST = 0.05  # proposals kept for the threshold table and AP
THRESHOLDS = (0.1, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7)
FPS = 5.0  # frames a camera's sub-stream hands to analysis per second (every 2nd of vtest)
STEP = 2
PARK_DWELL_S = 20.0
CROWD_COUNTS = (4, 5, 6, 7, 8)
CROWD_RULE_COUNT = 7  # the crowd rule run through the real pipeline
CAMERA = "vtest"
FRAME_SIZE = (768, 576)  # vtest.avi, width x height
START = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)


# --------------------------------------------------------------------------- ground truth


@dataclass(frozen=True, slots=True)
class Truth:
    box: tuple[float, float, float, float]
    label: str
    difficult: bool


def load_ground_truth(path: Path = GROUND_TRUTH) -> tuple[dict[str, Any], dict[int, list[Truth]]]:
    """The file as read, and its boxes by frame index."""
    document = json.loads(path.read_text())
    frames = {
        int(index): [
            Truth(tuple(float(v) for v in item["box"]), item["label"], bool(item.get("difficult")))  # type: ignore[arg-type]
            for item in items
        ]
        for index, items in document["frames"].items()
    }
    return document, frames


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


# --------------------------------------------------------------------------- matching


@dataclass(slots=True)
class Scored:
    """One label's detections over all frames: (score, true positive?) and the positives."""

    hits: list[tuple[float, bool]]
    positives: int

    def at(self, threshold: float) -> dict[str, Any]:
        kept = [hit for score, hit in self.hits if score >= threshold]
        tp = sum(kept)
        fp = len(kept) - tp
        return {
            "threshold": threshold,
            "tp": tp,
            "fp": fp,
            "fn": self.positives - tp,
            "precision": round(tp / len(kept), 3) if kept else None,
            "recall": round(tp / self.positives, 3) if self.positives else None,
        }

    def ap50(self) -> float:
        """PASCAL VOC (2010+) average precision: area under the interpolated PR curve."""
        ordered = sorted(self.hits, key=lambda h: -h[0])
        tp = np.cumsum([hit for _, hit in ordered], dtype=float)
        fp = np.cumsum([not hit for _, hit in ordered], dtype=float)
        if not self.positives or not len(ordered):
            return 0.0
        recall = np.concatenate([[0.0], tp / self.positives, [1.0]])
        precision = np.concatenate([[1.0], tp / np.maximum(tp + fp, 1e-9), [0.0]])
        for i in range(len(precision) - 2, -1, -1):
            precision[i] = max(precision[i], precision[i + 1])
        steps = np.where(recall[1:] != recall[:-1])[0]
        return round(float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1])), 3)


def match_frame(
    detections: Iterable[Detection], truths: list[Truth], label: str
) -> tuple[list[tuple[Detection, bool]], list[Truth]]:
    """One frame, one label: each scored detection with whether it is a true positive
    (detections on difficult boxes are left out), and the positives none found."""
    wanted = [t for t in truths if t.label == label]
    taken = [False] * len(wanted)
    verdicts: list[tuple[Detection, bool]] = []
    for d in sorted((d for d in detections if d.label == label), key=lambda d: -d.score):
        box = (d.x1, d.y1, d.x2, d.y2)
        best, best_iou = -1, MATCH_IOU
        for i, truth in enumerate(wanted):
            overlap = box_iou(box, truth.box)
            if overlap >= best_iou:
                best, best_iou = i, overlap
        if best < 0:
            verdicts.append((d, False))
        elif wanted[best].difficult:
            continue  # neither way
        elif taken[best]:
            verdicts.append((d, False))  # a second box on one object
        else:
            taken[best] = True
            verdicts.append((d, True))
    missed = [t for t, hit in zip(wanted, taken, strict=True) if not hit and not t.difficult]
    return verdicts, missed


def score_frames(
    found: dict[int, list[Detection]], truth: dict[int, list[Truth]]
) -> dict[str, Scored]:
    scored = {label: Scored([], 0) for label in LABELS}
    for index, truths in truth.items():
        for label in LABELS:
            verdicts, _ = match_frame(found.get(index, []), truths, label)
            scored[label].hits += [(d.score, hit) for d, hit in verdicts]
            scored[label].positives += sum(t.label == label and not t.difficult for t in truths)
    return scored


def quality(found: dict[int, list[Detection]], truth: dict[int, list[Truth]], at: float) -> dict:
    scored = score_frames(found, truth)
    return {
        label: {
            **scored[label].at(at),
            "ap50": scored[label].ap50(),
            "table": [scored[label].at(t) for t in THRESHOLDS],
        }
        for label in LABELS
    }


def errors_at(
    found: dict[int, list[Detection]], truth: dict[int, list[Truth]], at: float
) -> dict[str, list[dict[str, Any]]]:
    """False positives and misses at one threshold, frame by frame (to look at)."""
    false_positives: list[dict[str, Any]] = []
    missed: list[dict[str, Any]] = []
    for index, truths in sorted(truth.items()):
        kept = [d for d in found.get(index, []) if d.score >= at]
        for label in LABELS:
            verdicts, lost = match_frame(kept, truths, label)
            false_positives += [
                {
                    "frame": index,
                    "label": label,
                    "kind": d.kind,
                    "score": round(d.score, 3),
                    "box": [round(v) for v in (d.x1, d.y1, d.x2, d.y2)],
                }
                for d, hit in verdicts
                if not hit
            ]
            missed += [{"frame": index, "label": label, "box": list(t.box)} for t in lost]
    return {"false_positives": false_positives, "missed": missed}


# --------------------------------------------------------------------------- video


def decode(step: int = 1) -> dict[int, np.ndarray]:
    """Every ``step``-th picture of vtest.avi (BGR) by index."""
    pictures: dict[int, np.ndarray] = {}
    with av.open(str(VIDEO)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % step == 0:
                pictures[index] = frame.to_ndarray(format="bgr24")
    return pictures


def as_frame(index: int, image: np.ndarray) -> Frame:
    """Picture ``index`` as the camera hands it over: the video's own time (10 fps)."""
    seconds = index / 10.0
    return Frame(
        camera_id=CAMERA,
        seq=index,
        captured_at=START + timedelta(seconds=seconds),
        monotonic=1000.0 + seconds,
        image=image,
    )


# --------------------------------------------------------------------------- (b) the stages


@dataclass(slots=True)
class Stages:
    """The pipeline's per-camera stages run in step (as ``AnalysisPipeline`` gates and
    analyses one camera's frames when nothing is skipped)."""

    settings: AnalysisConfig
    detector: Detector
    crop_side: int

    def run(self, frames: list[Frame], labelled: set[int]) -> dict[str, Any]:
        motion = MotionDetector(self.settings.motion)
        tracker = ObjectTracker(self.settings.tracker)
        last_detect: float | None = None
        last_pass: float | None = None
        has_tracks = False
        last_count = 0
        passes: dict[int, str] = {}  # labelled frame -> how it was looked at
        found: dict[int, list[Detection]] = {}  # labelled frame -> detections (>= LOWEST)
        counts: dict[int, int] = {}  # every analysed frame -> person tracks in view
        crops_used: dict[int, list[list[int]]] = {}
        for frame in frames:
            now = frame.media_time
            size = (frame.height, frame.width)
            crops = plan_crops(
                motion.update(frame.image),
                size,
                self.crop_side,
                full_frame_above=self.settings.motion.full_frame_above,
                max_crops=self.settings.motion.max_crops,
            )
            reason = "motion" if crops else ""
            if not crops and (
                last_detect is None or (has_tracks and now - last_detect >= self.settings.recheck_s)
            ):
                crops, reason = [Region(0, 0, frame.width, frame.height)], "recheck"
            elif (
                not crops
                and has_tracks
                and (last_pass is None or now - last_pass >= self.settings.hold_s)
            ):
                reason = "hold"
            if not reason:  # no pass: the rules look at nothing new
                counts[frame.seq] = last_count
                continue
            if reason == "hold":
                objects = tracker.hold(now)
            else:
                images = [frame.image[c.y1 : c.y2, c.x1 : c.x2] for c in crops]
                detections: list[Detection] = []
                for crop, result in zip(crops, self.detector.detect(images), strict=True):
                    detections += [
                        replace(
                            d,
                            x1=d.x1 + crop.x1,
                            y1=d.y1 + crop.y1,
                            x2=d.x2 + crop.x1,
                            y2=d.y2 + crop.y1,
                        )
                        for d in result
                    ]
                if len(crops) > 1:
                    detections = merge_crop_detections(detections)
                if frame.seq in labelled:
                    found[frame.seq] = detections
                    crops_used[frame.seq] = [[c.x1, c.y1, c.x2, c.y2] for c in crops]
                kept = [d for d in detections if d.score >= self.settings.min_score]
                objects = tracker.update(kept, now)
                last_detect = now
            last_pass = now
            has_tracks = bool(objects)
            last_count = sum(o.visible_at(now) and o.label == "person" for o in objects)
            counts[frame.seq] = last_count
            if frame.seq in labelled:
                passes[frame.seq] = reason if reason == "hold" else f"{reason}:{len(crops)}"
        return {"found": found, "passes": passes, "counts": counts, "crops": crops_used}


def crop_edges(
    errors: dict[str, list[dict[str, Any]]], crops: dict[int, list[list[int]]]
) -> dict[str, Any]:
    """Mark false positives cut by a crop's border inside the picture (a fragment of an
    object that the neighbouring crop saw whole: the merge keeps both)."""

    def cut(box: list[int], crop: list[int]) -> bool:
        inside = box[0] >= crop[0] - 2 and box[2] <= crop[2] + 2
        inside = inside and box[1] >= crop[1] - 2 and box[3] <= crop[3] + 2
        # the frame's own borders are not crop cuts
        edges = [(0, 0), (1, 0), (2, FRAME_SIZE[0]), (3, FRAME_SIZE[1])]
        return inside and any(abs(box[i] - crop[i]) <= 2 and crop[i] != frame for i, frame in edges)

    for fp in errors["false_positives"]:
        fp["at_crop_edge"] = any(cut(fp["box"], crop) for crop in crops[fp["frame"]])
    return {
        **errors,
        "false_positives_at_crop_edge": sum(fp["at_crop_edge"] for fp in errors["false_positives"]),
    }


# --------------------------------------------------------------------------- (c) the pipeline


class KeptCandidates:
    """The contract publisher's port: keeps what the pipeline hands over."""

    def __init__(self) -> None:
        self.candidates: list[CandidateCase] = []

    def candidate(self, candidate: CandidateCase) -> int:
        self.candidates.append(candidate)
        return len(self.candidates)


def run_pipeline(frames: list[Frame], threads: int, state_dir: Path) -> list[CandidateCase]:
    rules = [
        {"id": "park", "type": "dwell", "event_code": "0505", "classes": ["vehicle"],
         "min_dwell_s": PARK_DWELL_S, "stationary": True},
        {"id": "crowd", "type": "count", "event_code": "0409", "classes": ["person"],
         "min_count": CROWD_RULE_COUNT, "min_duration_s": 2.0, "cooldown_s": 10.0},
    ]  # fmt: skip
    config = Config.model_validate(
        {
            "instance": "bench",
            "state_dir": str(state_dir),
            "video": {
                "cameras": [{"id": CAMERA, "rtsp_url": "rtsp://127.0.0.1:8554/vtest"}],
                "analysis": {
                    "models": [MODEL],
                    "models_dir": str(REPO / "models"),
                    "detector_threads": threads,
                    "motion_batch_s": 0,
                    "clip_before_s": 0,
                    "cameras": {CAMERA: {"rules": rules}},
                },
            },
        }
    )
    kept = KeptCandidates()
    pipeline = AnalysisPipeline(config, kept, SystemClock())  # type: ignore[arg-type]
    pipeline.start()
    try:
        for frame in frames:  # one at a time: every frame analysed, nothing skipped
            pipeline.submit(frame)
            if not pipeline.wait_idle(120):
                raise RuntimeError(f"the pipeline did not finish frame {frame.seq}")
        metrics = pipeline.metrics().cameras[CAMERA]
        if metrics.skipped:
            raise RuntimeError(f"the pipeline skipped {metrics.skipped} frames")
    finally:
        pipeline.stop()
    return kept.candidates


def parking_events(
    candidates: list[CandidateCase], truth: dict[int, list[Truth]]
) -> dict[str, Any]:
    parked = [t.box for t in truth[min(truth)] if t.label == "vehicle"]
    events = [c for c in candidates if c.facts["rule_id"] == "park" and "update_of" not in c.facts]
    listed = []
    found = set()
    for c in events:
        box = c.facts["box"]
        overlaps = [box_iou(box, p) for p in parked]
        best = int(np.argmax(overlaps))
        correct = overlaps[best] >= MATCH_IOU
        if correct:
            found.add(best)
        listed.append(
            {
                "frame": c.facts["frame_seq"],
                "kind": c.facts.get("object_kind"),
                "dwell_s": c.facts.get("dwell_s"),
                "box": box,
                "iou_parked": round(overlaps[best], 3),
                "correct": correct,
            }
        )
    correct_count = sum(e["correct"] for e in listed)
    return {
        "rule": f"dwell, vehicle, stationary, {PARK_DWELL_S:g} s, whole view",
        "events": listed,
        "updates": sum(c.facts["rule_id"] == "park" and "update_of" in c.facts for c in candidates),
        "precision": round(correct_count / len(listed), 3) if listed else None,
        "recall": round(len(found) / len(parked), 3),
        "parked_vehicles": len(parked),
    }


def crowd_condition(
    counts: dict[int, int], truth: dict[int, list[Truth]], needed: int
) -> dict[str, Any]:
    tp = fp = fn = tn = left_out = 0
    for index, truths in truth.items():
        people = sum(t.label == "person" and not t.difficult for t in truths)
        unsure = sum(t.label == "person" and t.difficult for t in truths)
        if people < needed <= people + unsure:
            left_out += 1
            continue
        said, true = counts[index] >= needed, people >= needed
        tp += said and true
        fp += said and not true
        fn += true and not said
        tn += not said and not true
    return {
        "min_count": needed,
        "frames_true": tp + fn,
        "frames_said": tp + fp,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "left_out": left_out,
        "precision": round(tp / (tp + fp), 3) if tp + fp else None,
        "recall": round(tp / (tp + fn), 3) if tp + fn else None,
    }


def crowd_events(
    candidates: list[CandidateCase], counts: dict[int, int], truth: dict[int, list[Truth]]
) -> dict[str, Any]:
    listed = []
    for c in candidates:
        if c.facts["rule_id"] != "crowd" or "ended_at" in c.facts:
            continue  # (an episode's end carries its last count, not its frame's)
        seq = c.facts["frame_seq"]
        nearest = min(truth, key=lambda i: abs(i - seq))
        listed.append(
            {
                "frame": seq,
                "update": "update_of" in c.facts,
                "count": c.facts["count"],
                "count_stages": counts.get(seq),
                "nearest_labelled": nearest,
                "labelled_count": sum(
                    t.label == "person" and not t.difficult for t in truth[nearest]
                ),
            }
        )
    return {
        "rule": f"count, person >= {CROWD_RULE_COUNT}, 2 s, whole view, cooldown 10 s",
        "candidates": listed,
        "counts_agree_with_stages": all(e["count"] == e["count_stages"] for e in listed),
    }


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime threads")
    args = parser.parse_args()

    _, truth = load_ground_truth()
    labelled = set(truth)
    settings = AnalysisConfig()
    card = load_card(REPO / "models", MODEL)
    detector = open_detector(
        "onnxruntime", card, REPO / "models", threads=args.threads, min_score=LOWEST
    )
    started = time.monotonic()
    pictures = decode(STEP)
    missing = labelled - set(pictures)
    if missing:
        raise SystemExit(f"labelled frames {sorted(missing)} are not analysed at {FPS:g} fps")

    print("(a) detector on whole frames ...", flush=True)
    whole = {index: detector.detect([pictures[index]])[0] for index in sorted(labelled)}
    at = settings.min_score

    print("(b) motion stage, crops, tracker over the clip ...", flush=True)
    frames = [as_frame(index, pictures[index]) for index in sorted(pictures)]
    stages = Stages(settings, detector, min(detector.input_size)).run(frames, labelled)

    print("(c) AnalysisPipeline over the clip ...", flush=True)
    with tempfile.TemporaryDirectory() as state_dir:
        candidates = run_pipeline(frames, args.threads, Path(state_dir))
    detector.close()

    people = sum(t.label == "person" and not t.difficult for ts in truth.values() for t in ts)
    results = {
        "benchmark": "detection_quality",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "model": MODEL,
        "seconds": round(time.monotonic() - started, 1),
        "ground_truth": {
            "file": str(GROUND_TRUTH.relative_to(REPO)),
            "frames": len(truth),
            "person_boxes": people,
            "person_difficult": sum(t.difficult for ts in truth.values() for t in ts),
            "vehicle_boxes": sum(t.label == "vehicle" for ts in truth.values() for t in ts),
            "people_per_frame": {
                str(i): sum(t.label == "person" and not t.difficult for t in truth[i])
                for i in sorted(truth)
            },
            "made": "detector-assisted proposals reviewed by eye, misses added: see the file",
        },
        "matching": f"PASCAL VOC: IoU >= {MATCH_IOU}, greedy by score, difficult ignored",
        "min_score": at,
        "detector_whole_frame": {
            "input": "whole 768x576 frame letterboxed into 416x416",
            **quality(whole, truth, at),
            "errors_at_min_score": errors_at(whole, truth, at),
        },
        "motion_crops": {
            "input": f"the pipeline's motion crops ({min(detector.input_size)} px squares, "
            f"max {settings.motion.max_crops}) or the whole frame, clip at {FPS:g} fps",
            "passes": stages["passes"],
            "crops": stages["crops"],
            **quality(stages["found"], {i: truth[i] for i in stages["found"]}, at),
            "errors_at_min_score": crop_edges(
                errors_at(stages["found"], {i: truth[i] for i in stages["found"]}, at),
                stages["crops"],
            ),
            "frames_without_pass": sorted(labelled - set(stages["found"])),
        },
        "pipeline_events": {
            "analysed_frames": len(frames),
            "parking": parking_events(candidates, truth),
            "crowd_condition": {
                "what": "per labelled frame: person tracks the count rule sees >= N vs "
                "labelled people >= N (whole view)",
                "counts": {str(i): stages["counts"][i] for i in sorted(truth)},
                "table": [crowd_condition(stages["counts"], truth, n) for n in CROWD_COUNTS],
            },
            "crowd_rule": crowd_events(candidates, stages["counts"], truth),
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    summary(results)


def summary(results: dict[str, Any]) -> None:
    for part in ("detector_whole_frame", "motion_crops"):
        for label in LABELS:
            r = results[part][label]
            print(
                f"{part:22} {label:8} P {r['precision']} R {r['recall']} "
                f"(tp {r['tp']} fp {r['fp']} fn {r['fn']}) AP50 {r['ap50']}"
            )
    events = results["pipeline_events"]
    park = events["parking"]
    print(f"parking events: {len(park['events'])}, P {park['precision']} R {park['recall']}")
    for row in events["crowd_condition"]["table"]:
        print(
            f"crowd >= {row['min_count']}: P {row['precision']} R {row['recall']} "
            f"(tp {row['tp']} fp {row['fp']} fn {row['fn']} tn {row['tn']})"
        )
    print(f"results: {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
