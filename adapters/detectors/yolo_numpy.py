"""YOLOv8 pre- and post-processing in numpy: letterbox, decode, NMS, scale back.

Pure functions (no model, no I/O), following what ultralytics does so that an ONNX export
run here gives the boxes ultralytics gives for the same ``.pt``: letterbox with grey
(114) padding split evenly, RGB float input in 0..1, output ``(batch, 4 + classes,
anchors)`` with centre-x, centre-y, width, height, then per-class scores; class-aware NMS.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How an image was fitted into the model input: ``input = image * scale + pad``."""

    scale: float
    pad_x: float
    pad_y: float
    width: int  # of the original image
    height: int


def letterbox(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, Letterbox]:
    """Fit ``image`` (BGR HxWx3) into ``size`` (height, width) keeping its aspect ratio."""
    target_h, target_w = size
    height, width = image.shape[:2]
    scale = min(target_h / height, target_w / width)
    new_w, new_h = round(width * scale), round(height * scale)
    if (new_w, new_h) != (width, height):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    dw, dh = (target_w - new_w) / 2, (target_h - new_h) / 2
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    padded = cv2.copyMakeBorder(
        image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3
    )
    return padded, Letterbox(scale=scale, pad_x=left, pad_y=top, width=width, height=height)


def to_input(images: list[np.ndarray]) -> np.ndarray:
    """Letterboxed BGR uint8 images -> the model's NCHW float32 RGB tensor in 0..1."""
    batch = np.stack(images)[..., ::-1]  # BGR -> RGB
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0


@dataclass(frozen=True, slots=True)
class RawBoxes:
    """Boxes of one image in model-input pixels, after NMS."""

    xyxy: np.ndarray  # (n, 4) float32
    scores: np.ndarray  # (n,)
    class_ids: np.ndarray  # (n,) int


def decode(
    output: np.ndarray,
    *,
    min_score: float,
    nms_iou: float,
    max_det: int = 300,
    nms_groups: np.ndarray | None = None,
) -> list[RawBoxes]:
    """``output`` (batch, 4 + classes, anchors) -> per image, the boxes NMS keeps.

    ``nms_groups`` (class id -> group) makes classes of one group suppress each other (a
    van seen as both ``truck`` and ``car`` is one ``vehicle``); default: each class alone.
    """
    if output.ndim != 3 or output.shape[1] < 5:
        raise ValueError(f"unexpected YOLO output shape {output.shape}")
    results: list[RawBoxes] = []
    for prediction in output:
        prediction = prediction.T  # (anchors, 4 + classes)
        class_scores = prediction[:, 4:]
        class_ids = class_scores.argmax(axis=1)
        scores = class_scores[np.arange(len(class_ids)), class_ids]
        keep = scores > min_score
        boxes = _xywh_to_xyxy(prediction[keep, :4])
        results.append(
            suppressed(boxes, scores[keep], class_ids[keep], nms_iou, max_det, nms_groups)
        )
    return results


def suppressed(
    boxes: np.ndarray,
    scores: np.ndarray,
    class_ids: np.ndarray,
    nms_iou: float,
    max_det: int,
    nms_groups: np.ndarray | None = None,
) -> RawBoxes:
    """The boxes class-aware (or group-aware) NMS keeps, best first, at most ``max_det``."""
    groups = class_ids if nms_groups is None else nms_groups[class_ids]
    order = nms(boxes, scores, groups, nms_iou)[:max_det]
    return RawBoxes(
        xyxy=boxes[order].astype(np.float32),
        scores=scores[order].astype(np.float32),
        class_ids=class_ids[order].astype(np.int64),
    )


def _xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    xyxy = np.empty_like(xywh)
    half_w, half_h = xywh[:, 2] / 2, xywh[:, 3] / 2
    xyxy[:, 0] = xywh[:, 0] - half_w
    xyxy[:, 1] = xywh[:, 1] - half_h
    xyxy[:, 2] = xywh[:, 0] + half_w
    xyxy[:, 3] = xywh[:, 1] + half_h
    return xyxy


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box with each of ``boxes`` (n, 4)."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def nms(
    boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray | None, iou: float
) -> np.ndarray:
    """Indices kept by greedy NMS, best first; boxes of different classes never suppress."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    shifted = boxes.astype(np.float64)
    if class_ids is not None:
        # ultralytics' trick: move each class far apart so one pass is class-aware
        shifted = shifted + (class_ids.astype(np.float64) * 7680.0)[:, None]
    order = np.argsort(-scores, kind="stable")
    kept: list[int] = []
    while len(order):
        best = int(order[0])
        kept.append(best)
        if len(order) == 1:
            break
        rest = order[1:]
        order = rest[box_iou(shifted[best], shifted[rest]) <= iou]
    return np.asarray(kept, dtype=np.int64)


def scale_back(boxes: np.ndarray, fit: Letterbox) -> np.ndarray:
    """Boxes in model-input pixels -> pixels of the original image, clipped to it."""
    out = boxes.astype(np.float64).copy()
    out[:, [0, 2]] = (out[:, [0, 2]] - fit.pad_x) / fit.scale
    out[:, [1, 3]] = (out[:, [1, 3]] - fit.pad_y) / fit.scale
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, fit.width)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, fit.height)
    return out
