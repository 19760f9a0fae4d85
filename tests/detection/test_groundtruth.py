"""The hand-checked ground truth of vtest.avi, and the COCO detector held to it.

tests/data/vtest-groundtruth.json (how it was made is in the file) is scored by
bench/detection_quality.py, whose figures go into the yolox-nano card. Here: the file is
well formed, and the detector at the analysis size (the whole frame letterboxed into
416x416) at the pipeline's min_score keeps precision and recall a little under what was
measured (person P 0.851 R 0.958, vehicle P 1.0 R 1.0 on 2026-12-04), so that a broken
letterbox, decode or class map fails here. About 40 inferences.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from bench.detection_quality import GROUND_TRUTH, load_ground_truth, score_frames
from gateway.video.analysis.settings import AnalysisConfig

from .conftest import VTEST, vtest_frames

SOURCES = {"accepted", "corrected", "added", "fixed"}
#: floors a little under the measured figures (see the module's docstring)
PERSON_PRECISION, PERSON_RECALL = 0.82, 0.93
VEHICLE_PRECISION, VEHICLE_RECALL = 0.95, 0.95


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json.loads(GROUND_TRUTH.read_text())


def test_the_ground_truth_names_its_video_frames_and_procedure(document: dict[str, Any]) -> None:
    assert document["video"] == "var/data/vtest.avi"
    assert document["frame_size"] == [768, 576] and document["frame_count"] == 795
    assert document["labelled_frames"] == sorted(int(k) for k in document["frames"])
    assert all(0 <= i < document["frame_count"] for i in document["labelled_frames"])
    assert len(document["procedure"]) >= 3 and "by eye" in " ".join(document["procedure"])
    if VTEST.is_file():  # the frame indices are of this file
        assert hashlib.sha256(VTEST.read_bytes()).hexdigest() == document["video_sha256"]


def test_every_box_lies_in_the_frame_with_a_known_label_and_source(
    document: dict[str, Any],
) -> None:
    width, height = document["frame_size"]
    for index, items in document["frames"].items():
        for item in items:
            x1, y1, x2, y2 = item["box"]
            assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height, (index, item)
            assert item["label"] in {"person", "vehicle"}, (index, item)
            assert item["source"] in SOURCES, (index, item)
            assert set(item) <= {"box", "label", "source", "difficult"}, (index, item)


def test_each_labelled_frame_has_the_two_parked_vehicles_and_hundreds_of_people_in_all() -> None:
    _, truth = load_ground_truth()
    assert len(truth) >= 30
    for index, truths in truth.items():
        vehicles = [t for t in truths if t.label == "vehicle"]
        assert len(vehicles) == 2 and not any(t.difficult for t in vehicles), index
    people = [t for truths in truth.values() for t in truths if t.label == "person"]
    assert sum(not t.difficult for t in people) >= 200
    assert sum(t.difficult for t in people) < 0.1 * len(people)


def test_the_detector_at_the_analysis_size_keeps_precision_and_recall_above_the_floor(
    coco_detector: Any,
) -> None:
    _, truth = load_ground_truth()
    min_score = AnalysisConfig().min_score
    indices = sorted(truth)
    found = {
        index: [d for d in detections if d.score >= min_score]
        for index, detections in zip(
            indices, coco_detector.detect(vtest_frames(indices)), strict=True
        )
    }
    scored = score_frames(found, truth)
    person, vehicle = scored["person"].at(min_score), scored["vehicle"].at(min_score)
    assert person["precision"] >= PERSON_PRECISION, person
    assert person["recall"] >= PERSON_RECALL, person
    assert vehicle["precision"] >= VEHICLE_PRECISION, vehicle
    assert vehicle["recall"] >= VEHICLE_RECALL, vehicle
