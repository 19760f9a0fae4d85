"""Detector backends: onnxruntime (default) and ultralytics (optional extra).

`open_detector` picks one by name; each returns `gateway.video.detection.Detection`
through the `gateway.video.analysis.ports.Detector` port.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.video.analysis.model_card import ModelCard
    from gateway.video.analysis.ports import Detector


def open_detector(
    backend: str,
    card: ModelCard,
    models_dir: Path,
    *,
    threads: int = 2,
    min_score: float = 0.25,
    nms_iou: float = 0.45,
) -> Detector:
    """A detector for ``card`` on ``backend`` (``onnxruntime`` or ``ultralytics``)."""
    from gateway.video.analysis.model_card import weights_file

    if backend == "onnxruntime":
        from adapters.detectors.onnx_detector import OnnxDetector

        return OnnxDetector(
            weights_file(models_dir, card, "onnx"),
            card,
            threads=threads,
            min_score=min_score,
            nms_iou=nms_iou,
        )
    if backend == "ultralytics":
        if card.head != "yolov8":
            raise ValueError(
                f"model {card.name} has a {card.head} head: the ultralytics backend runs "
                "YOLOv8 models only (use backend onnxruntime)"
            )
        from adapters.detectors.ultralytics_detector import UltralyticsDetector

        return UltralyticsDetector(
            weights_file(models_dir, card, "pt"),
            card,
            threads=threads,
            min_score=min_score,
            nms_iou=nms_iou,
        )
    raise ValueError(f"unknown detector backend {backend!r} (onnxruntime, ultralytics)")
