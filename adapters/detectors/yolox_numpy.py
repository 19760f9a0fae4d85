"""YOLOX pre- and post-processing in numpy: letterbox, grid decode, NMS, scale back.

Pure functions (no model, no I/O), following Megvii's YOLOX demo: the image is resized by
the smaller ratio and padded with grey (114) to the right and bottom (top-left aligned),
fed as BGR float 0..255 (no mean, no std); the head's raw output ``(batch, anchors,
5 + classes)`` holds, per cell of the stride-8/16/32 grids, x, y, log-w, log-h,
objectness and the class probabilities (sigmoids already applied by the export):
``xy = (p + cell) * stride``, ``wh = exp(p) * stride``, score = objectness x class
probability; then class-aware NMS, shared with the YOLOv8 path.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from adapters.detectors.yolo_numpy import PAD_VALUE, Letterbox, RawBoxes, suppressed

STRIDES = (8, 16, 32)


def anchor_count(size: tuple[int, int], strides: tuple[int, ...] = STRIDES) -> int:
    """Cells of all grids for an input of ``size`` (height, width): 3549 at 416x416."""
    height, width = size
    return sum((height // s) * (width // s) for s in strides)


def letterbox_top_left(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, Letterbox]:
    """Fit ``image`` (BGR HxWx3) into ``size`` (height, width), padding right and bottom."""
    target_h, target_w = size
    height, width = image.shape[:2]
    scale = min(target_h / height, target_w / width)
    new_w, new_h = min(target_w, round(width * scale)), min(target_h, round(height * scale))
    if (new_w, new_h) != (width, height):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    padded = cv2.copyMakeBorder(
        image,
        0,
        target_h - new_h,
        0,
        target_w - new_w,
        cv2.BORDER_CONSTANT,
        value=(PAD_VALUE,) * 3,
    )
    return padded, Letterbox(scale=scale, pad_x=0, pad_y=0, width=width, height=height)


def to_input(images: list[np.ndarray]) -> np.ndarray:
    """Letterboxed BGR uint8 images -> the model's NCHW float32 BGR tensor in 0..255."""
    return np.ascontiguousarray(np.stack(images).transpose(0, 3, 1, 2), dtype=np.float32)


@lru_cache(maxsize=8)
def _grids(size: tuple[int, int], strides: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Per anchor, its cell (x, y) and its stride, in the export's order (stride by stride,
    row by row)."""
    height, width = size
    cells, scale = [], []
    for stride in strides:
        rows, cols = height // stride, width // stride
        ys, xs = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        cells.append(np.stack((xs.ravel(), ys.ravel()), axis=1))
        scale.append(np.full((rows * cols, 1), stride))
    grid = np.concatenate(cells).astype(np.float32)
    stride_column = np.concatenate(scale).astype(np.float32)
    grid.setflags(write=False)
    stride_column.setflags(write=False)
    return grid, stride_column


def decode(
    output: np.ndarray,
    size: tuple[int, int],
    *,
    min_score: float,
    nms_iou: float,
    max_det: int = 300,
    strides: tuple[int, ...] = STRIDES,
    nms_groups: np.ndarray | None = None,
) -> list[RawBoxes]:
    """``output`` (batch, anchors, 5 + classes) of an input of ``size`` -> per image, the
    boxes NMS keeps, in model-input pixels (``nms_groups``: as in `yolo_numpy.decode`)."""
    expected = anchor_count(size, strides)
    if output.ndim != 3 or output.shape[1] != expected or output.shape[2] < 6:
        raise ValueError(
            f"unexpected YOLOX output shape {tuple(output.shape)}: expected "
            f"(batch, {expected}, 5 + classes) for a {size[0]}x{size[1]} input"
        )
    grid, stride = _grids(size, strides)
    results: list[RawBoxes] = []
    for prediction in output:
        class_ids = prediction[:, 5:].argmax(axis=1)
        scores = prediction[:, 4] * prediction[np.arange(len(class_ids)), 5 + class_ids]
        keep = scores > min_score
        if not keep.any():
            results.append(_empty())
            continue
        kept = prediction[keep]
        centre = (kept[:, :2] + grid[keep]) * stride[keep]
        half = np.exp(np.minimum(kept[:, 2:4], 10.0)) * stride[keep] / 2
        boxes = np.concatenate((centre - half, centre + half), axis=1)
        results.append(
            suppressed(boxes, scores[keep], class_ids[keep], nms_iou, max_det, nms_groups)
        )
    return results


def _empty() -> RawBoxes:
    return RawBoxes(
        xyxy=np.zeros((0, 4), np.float32),
        scores=np.zeros(0, np.float32),
        class_ids=np.zeros(0, np.int64),
    )
