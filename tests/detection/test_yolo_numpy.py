"""Pre/post-processing of YOLOv8 in numpy, without a model."""

from __future__ import annotations

import numpy as np
import pytest

from adapters.detectors.yolo_numpy import decode, letterbox, nms, scale_back, to_input


def test_letterbox_keeps_aspect_and_centres_the_image_on_grey_padding() -> None:
    image = np.full((576, 768, 3), 200, dtype=np.uint8)
    padded, fit = letterbox(image, (640, 640))
    assert padded.shape == (640, 640, 3)
    assert fit.scale == pytest.approx(640 / 768)
    assert (fit.pad_x, fit.pad_y) == (0, 80)
    assert padded[0, 0, 0] == 114 and padded[79, 320, 0] == 114
    assert padded[80, 320, 0] == 200 and padded[559, 320, 0] == 200
    assert padded[560, 320, 0] == 114


def test_to_input_is_rgb_nchw_in_unit_range() -> None:
    image = np.zeros((32, 32, 3), dtype=np.uint8)
    image[..., 0] = 255  # blue in BGR
    tensor = to_input([image])
    assert tensor.shape == (1, 3, 32, 32) and tensor.dtype == np.float32
    assert tensor[0, 2].max() == 1.0 and tensor[0, 0].max() == 0.0  # blue is the last channel


def _output(boxes: list[tuple[float, float, float, float, int, float]], classes: int) -> np.ndarray:
    """A fake YOLOv8 head output (1, 4 + classes, anchors) from (cx, cy, w, h, class, score)."""
    out = np.zeros((1, 4 + classes, max(1, len(boxes))), dtype=np.float32)
    for anchor, (cx, cy, w, h, cls, score) in enumerate(boxes):
        out[0, :4, anchor] = (cx, cy, w, h)
        out[0, 4 + cls, anchor] = score
    return out


def test_decode_converts_centres_to_corners_and_drops_low_scores() -> None:
    out = _output([(100, 100, 20, 40, 1, 0.9), (300, 300, 10, 10, 0, 0.1)], classes=2)
    (found,) = decode(out, min_score=0.25, nms_iou=0.45)
    assert found.xyxy.tolist() == [[90, 80, 110, 120]]
    assert found.class_ids.tolist() == [1]
    assert found.scores[0] == pytest.approx(0.9)


def test_nms_suppresses_overlaps_of_one_class_but_not_across_classes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [1, 1, 11, 11]], dtype=np.float32)
    scores = np.array([0.9, 0.8, 0.7])
    classes = np.array([0, 0, 1])
    assert nms(boxes, scores, classes, 0.45).tolist() == [0, 2]
    assert nms(boxes, scores, None, 0.45).tolist() == [0]


def test_scale_back_inverts_the_letterbox_and_clips_to_the_image() -> None:
    image = np.zeros((576, 768, 3), dtype=np.uint8)
    _, fit = letterbox(image, (640, 640))
    model_boxes = np.array([[0, 80 + 10 * fit.scale, 64, 560 + 50]], dtype=np.float32)
    back = scale_back(model_boxes, fit)
    assert back[0, 0] == pytest.approx(0)
    assert back[0, 1] == pytest.approx(10, abs=1e-4)
    assert back[0, 2] == pytest.approx(64 / fit.scale)
    assert back[0, 3] == 576  # clipped


def test_decode_rejects_an_output_that_is_not_a_yolo_head() -> None:
    with pytest.raises(ValueError, match="unexpected YOLO output shape"):
        decode(np.zeros((1, 8400)), min_score=0.25, nms_iou=0.45)
