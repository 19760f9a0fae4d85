"""Detector backends on real weights and real pictures.

The onnxruntime backend always runs (it is the default install). The ultralytics
backend needs the optional extra (torch); its tests skip with the reason when it is not
importable, and otherwise check that both backends find the same boxes.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import pytest

from gateway.video.analysis.model_card import ModelCard
from gateway.video.analysis.rules import iou
from gateway.video.detection import Detection

from .conftest import MODELS_DIR, vtest_frames

HAS_ULTRALYTICS = importlib.util.find_spec("ultralytics") is not None
needs_ultralytics = pytest.mark.skipif(
    not HAS_ULTRALYTICS,
    reason="the optional ultralytics extra (torch) is not installed: pip install 'citygw[ultralytics]'",
)
CLOTH = Detection(62, 489, 167, 532, 0.0, 1, "fallen_person")  # the yellow cloth on the lawn


def test_onnx_finds_pedestrians_of_vtest_and_the_cloth_it_mistakes_for_a_fall(
    onnx_detector,
) -> None:  # type: ignore[no-untyped-def]
    (frame,) = vtest_frames([100])
    (found,) = onnx_detector.detect([frame])
    people = [d for d in found if d.label == "person" and d.score >= 0.35]
    assert len(people) >= 4
    for d in people:  # standing people: taller than wide, inside the frame
        assert 0 <= d.x1 < d.x2 <= 768 and 0 <= d.y1 < d.y2 <= 576
        assert d.y2 - d.y1 > d.x2 - d.x1
    falls = [d for d in found if d.label == "fallen_person"]
    assert len(falls) == 1 and iou(falls[0], CLOTH) > 0.8
    assert 0.4 < falls[0].score < 0.6


def test_onnx_sees_nothing_in_a_blank_picture_and_handles_any_size(onnx_detector) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    blank = np.full((300, 1000, 3), 127, dtype=np.uint8)
    assert onnx_detector.detect([blank]) == [[]]


def _agree(a: list[Detection], b: list[Detection], *, min_score: float) -> list[str]:
    """Differences between two detection lists (confident boxes without a twin)."""
    problems = []
    for mine, theirs, name in ((a, b, "onnx"), (b, a, "ultralytics")):
        for d in mine:
            if d.score < min_score:
                continue
            twins = [t for t in theirs if t.class_id == d.class_id and iou(d, t) > 0.85]
            if not twins:
                problems.append(f"{name} box {d} has no twin")
            elif abs(max(twins, key=lambda t: iou(d, t)).score - d.score) > 0.08:
                problems.append(f"{name} box {d} score differs")
    return problems


@needs_ultralytics
def test_both_backends_find_the_same_boxes_on_bus_jpg_and_vtest_frames(
    fall_card: ModelCard,
) -> None:
    import ultralytics

    from adapters.detectors import open_detector

    bus = cv2.imread(str(Path(ultralytics.__file__).parent / "assets" / "bus.jpg"))
    assert bus is not None
    pictures = [bus, *vtest_frames([0, 400])]
    onnx = open_detector("onnxruntime", fall_card, MODELS_DIR, min_score=0.25)
    torch_backend = open_detector("ultralytics", fall_card, MODELS_DIR, min_score=0.25)
    onnx_found = onnx.detect(pictures)
    torch_found = torch_backend.detect(pictures)
    assert sum(len(f) for f in onnx_found) >= 8  # the comparison is not vacuous
    for picture, a, b in zip(
        ("bus.jpg", "vtest#0", "vtest#400"), onnx_found, torch_found, strict=True
    ):
        assert _agree(a, b, min_score=0.4) == [], picture
