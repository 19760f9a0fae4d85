"""The optional detector: an ultralytics ``.pt`` run by torch (the ``ultralytics`` extra).

Same `Detection` output and class map as the ONNX backend. ultralytics pins torch to
one thread on some machines; the thread count is set again after the first predict.
Nothing is downloaded: ultralytics runs offline with auto-install off.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gateway.video.analysis.model_card import ModelCard
from gateway.video.detection import Detection

log = logging.getLogger("citygw.detector.ultralytics")


class UltralyticsDetector:
    def __init__(
        self,
        path: Path,
        card: ModelCard,
        *,
        threads: int = 2,
        min_score: float = 0.25,
        nms_iou: float = 0.45,
    ) -> None:
        os.environ.setdefault("YOLO_OFFLINE", "1")
        os.environ.setdefault("YOLO_AUTOINSTALL", "false")
        import torch
        from ultralytics import YOLO

        self._torch = torch
        self._model = YOLO(str(path))
        self.name = card.name
        self.input_size = (card.input.height, card.input.width)
        self.max_batch = 8
        self._labels = card.label_table()
        self._kinds = dict(card.classes)
        self._threads = threads
        self._min_score = min_score
        self._nms_iou = nms_iou
        self._warm = False
        self._lock = threading.Lock()
        log.info("loaded %s (%s) with ultralytics, %d threads", card.name, path, threads)

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        if not images:
            return []
        with self._lock:
            results = self._model.predict(
                list(images),
                imgsz=list(self.input_size),
                conf=self._min_score,
                iou=self._nms_iou,
                device="cpu",
                verbose=False,
            )
            if not self._warm:
                self._torch.set_num_threads(self._threads)  # ultralytics set it to 1
                self._warm = True
        out: list[list[Detection]] = []
        for result in results:
            boxes = result.boxes
            xyxy = boxes.xyxy.cpu().numpy()
            scores = boxes.conf.cpu().numpy()
            classes = boxes.cls.cpu().numpy().astype(int)
            out.append(
                [
                    Detection(
                        x1=float(b[0]),
                        y1=float(b[1]),
                        x2=float(b[2]),
                        y2=float(b[3]),
                        score=float(s),
                        class_id=int(c),
                        label=self._labels.get(int(c), str(int(c))),
                        kind=self._kinds.get(int(c), str(int(c))),
                    )
                    for b, s, c in zip(xyxy, scores, classes, strict=True)
                ]
            )
        return out

    def close(self) -> None:
        self._model = None  # type: ignore[assignment]
