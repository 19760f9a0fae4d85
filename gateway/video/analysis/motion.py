"""Motion gating: which parts of a frame changed, and where the detector should look.

`MotionDetector` keeps a running-average background of a downscaled grey picture per
camera and returns the changed regions in full-frame pixels; a still frame costs one
strided copy, one difference and its maximum (no colour conversion, no allocation). `plan_crops` turns those
regions into what the detector sees: a few crops the size of the model input around
the motion, or the full frame when motion spans most of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from gateway.video.analysis.settings import MotionConfig, Point
from gateway.video.detection import Detection, iou


@dataclass(frozen=True, slots=True)
class Region:
    """A rectangle in full-frame pixels: ``x1 <= x < x2``, ``y1 <= y < y2``."""

    x1: int
    y1: int
    x2: int
    y2: int

    @property
    def width(self) -> int:
        return self.x2 - self.x1

    @property
    def height(self) -> int:
        return self.y2 - self.y1

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)

    def union(self, other: Region) -> Region:
        return Region(
            min(self.x1, other.x1),
            min(self.y1, other.y1),
            max(self.x2, other.x2),
            max(self.y2, other.y2),
        )


@dataclass(slots=True)
class _Buffers:
    """One camera's motion state at the sampled size, reused frame after frame."""

    grey: np.ndarray  # this frame's sample
    background: np.ndarray  # float32 running average of the samples
    reference: np.ndarray  # the background rounded to uint8
    diff: np.ndarray  # |grey - reference|
    keep: np.ndarray | None  # 0 where motion is masked out


class MotionDetector:
    """Per-camera motion: ``update(image)`` -> changed regions (empty when nothing moved).

    The grey picture is a decoded picture's luma (``update_sample``), or the green
    channel of a BGR image (0.587 of BT.601 luma; ``update``), sampled every
    ``downscale`` pixels: one strided copy into a reused buffer, no colour conversion.
    A still frame costs one difference against the rounded background and its maximum:
    blurring cannot raise a difference (the Gaussian's weights are positive and sum to
    1), so when no raw sample differs by ``threshold`` no blurred one differs by more
    (the one grey level of slack covers rounding), and the blur, dilation and contour
    search run only on frames that may hold motion.
    """

    def __init__(self, config: MotionConfig, masks: list[list[Point]] | None = None) -> None:
        self._config = config
        self._masks = masks or []
        self._buffers: _Buffers | None = None
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))

    def reset(self) -> None:
        self._buffers = None

    @property
    def downscale(self) -> int:
        return self._config.downscale

    def update(self, image: np.ndarray) -> list[Region]:
        """Changed regions of a BGR frame (its green channel)."""
        factor = self._config.downscale
        return self.update_sample(image[::factor, ::factor, 1])

    def update_sample(self, sample: np.ndarray) -> list[Region]:
        """Changed regions, from a grey picture already sampled every ``downscale``
        pixels (`gateway.video.frame.Frame.grey_sample`: a decoded picture's luma)."""
        b = self._buffers
        if b is None or b.grey.shape != sample.shape:
            grey = np.ascontiguousarray(sample)
            self._buffers = _Buffers(
                grey=grey,
                background=grey.astype(np.float32),
                reference=grey.copy(),
                diff=np.empty_like(grey),
                keep=self._mask_for(grey.shape),
            )
            return []
        np.copyto(b.grey, sample)
        cv2.absdiff(b.grey, b.reference, dst=b.diff)
        if b.keep is not None:
            cv2.bitwise_and(b.diff, b.keep, dst=b.diff)
        regions = self._regions(b) if b.diff.max() >= self._config.threshold else []
        cv2.accumulateWeighted(b.grey, b.background, self._config.background_alpha)
        cv2.convertScaleAbs(b.background, dst=b.reference)
        return regions

    def _regions(self, b: _Buffers) -> list[Region]:
        """Changed regions of a frame that may hold motion, in full-frame pixels."""
        factor = self._config.downscale
        diff = cv2.absdiff(
            cv2.GaussianBlur(b.grey, (5, 5), 0), cv2.GaussianBlur(b.reference, (5, 5), 0)
        )
        _, changed = cv2.threshold(diff, self._config.threshold, 255, cv2.THRESH_BINARY)
        if b.keep is not None:
            changed = cv2.bitwise_and(changed, b.keep)
        changed = cv2.dilate(changed, self._kernel, iterations=2)
        contours, _ = cv2.findContours(changed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        min_pixels = self._config.min_area * b.grey.shape[0] * b.grey.shape[1]
        regions = []
        for contour in contours:
            x, y, w, h = cv2.boundingRect(contour)
            if w * h >= min_pixels:
                regions.append(Region(x * factor, y * factor, (x + w) * factor, (y + h) * factor))
        return regions

    def _mask_for(self, shape: tuple[int, ...]) -> np.ndarray | None:
        if not self._masks:
            return None
        height, width = shape[:2]
        keep = np.full((height, width), 255, dtype=np.uint8)
        for polygon in self._masks:
            points = np.array([[x * width, y * height] for x, y in polygon], dtype=np.int32)
            cv2.fillPoly(keep, [points], 0)
        return keep


#: several crops covering more than this share of the frame: one full-frame pass instead
SEVERAL_CROPS_MAX = 0.5


def plan_crops(
    regions: list[Region],
    frame_size: tuple[int, int],
    crop_side: int,
    *,
    full_frame_above: float,
    max_crops: int,
) -> list[Region]:
    """Where to run the detector: square-ish crops of ``crop_side`` around motion.

    ``frame_size`` is (height, width). Returns [] for no motion and the full frame when
    the moving regions cover more than ``full_frame_above`` of it, when the crops would cover about
    as much as the frame, or when more than ``max_crops`` crops would be needed.
    """
    height, width = frame_size
    full = Region(0, 0, width, height)
    if not regions:
        return []
    frame_area = width * height
    moving = sum(region.area for region in regions)
    if moving > full_frame_above * frame_area or crop_side >= max(width, height):
        return [full]
    clusters: list[Region] = []
    for region in sorted(regions, key=lambda r: -r.area):
        for index, cluster in enumerate(clusters):
            merged = cluster.union(region)
            if merged.width <= crop_side and merged.height <= crop_side:
                clusters[index] = merged
                break
        else:
            clusters.append(region)
    if len(clusters) > max_crops:
        return [full]
    crops = [_square_around(cluster, crop_side, width, height) for cluster in clusters]
    covered = sum(crop.area for crop in crops)
    if covered >= 0.8 * frame_area or (
        len(crops) > 1 and covered >= SEVERAL_CROPS_MAX * frame_area
    ):
        # each crop costs a whole detector pass (a fixed input size): several crops over
        # much of the frame cost more than one pass over all of it (seen on busy vtest:
        # two crops over 78 % of the frame, 1.9 passes a frame for what one pass sees)
        return [full]
    return crops


def _square_around(region: Region, side: int, width: int, height: int) -> Region:
    """A crop of at least ``side`` x ``side`` (clamped to the frame) centred on ``region``."""
    crop_w = min(width, max(side, region.width))
    crop_h = min(height, max(side, region.height))
    cx, cy = (region.x1 + region.x2) // 2, (region.y1 + region.y2) // 2
    x1 = int(np.clip(cx - crop_w // 2, 0, width - crop_w))
    y1 = int(np.clip(cy - crop_h // 2, 0, height - crop_h))
    return Region(x1, y1, x1 + crop_w, y1 + crop_h)


#: boxes of one class from overlapping crops that are one object
MERGE_IOU = 0.6


def merge_crop_detections(detections: list[Detection]) -> list[Detection]:
    """One box per object seen in two overlapping crops (the higher score wins)."""
    kept: list[Detection] = []
    for d in sorted(detections, key=lambda d: -d.score):
        if all(k.class_id != d.class_id or iou(k, d) < MERGE_IOU for k in kept):
            kept.append(d)
    return kept
