"""The default detector: a YOLOv8 or YOLOX ONNX export run by onnxruntime on the CPU.

The card's ``head`` picks the pre- and post-processing (`yolo_numpy` or `yolox_numpy`);
the model's output shape is checked against the card when the model is loaded, so a file
that is not what its card says is refused at start with the reason, never mid-stream.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from adapters.detectors import yolo_numpy, yolox_numpy
from adapters.detectors.yolo_numpy import scale_back
from gateway.video.analysis.model_card import ModelCard, ModelCardError
from gateway.video.detection import Detection

log = logging.getLogger("citygw.detector.onnx")


class OnnxDetector:
    """A YOLOv8 detect head exported by ultralytics (``output0``: batch x (4+nc) x anchors)
    or a YOLOX head (``output``: batch x anchors x (5+nc))."""

    def __init__(
        self,
        path: Path,
        card: ModelCard,
        *,
        threads: int = 2,
        min_score: float = 0.25,
        nms_iou: float = 0.45,
    ) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # idle intra-op threads must not spin: the motion stage and decoders need the cores
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ValueError(f"cannot load ONNX model {path}: {exc}") from exc
        model_input = self._session.get_inputs()[0]
        self._input_name = model_input.name
        shape = model_input.shape  # [batch, 3, h, w]; strings for dynamic axes
        height = shape[2] if isinstance(shape[2], int) else card.input.height
        width = shape[3] if isinstance(shape[3], int) else card.input.width
        self.input_size = (int(height), int(width))
        self.max_batch = shape[0] if isinstance(shape[0], int) else 8
        try:
            card.check_output(tuple(self._session.get_outputs()[0].shape), self.input_size)
        except ModelCardError as exc:
            raise ValueError(f"cannot use ONNX model {path}: {exc}") from exc
        self.name = card.name
        self._head = card.head
        self._labels = card.label_table()
        self._kinds = dict(card.classes)
        # classes that share a label suppress each other in NMS (truck and car -> vehicle)
        label_ids = {label: i for i, label in enumerate(sorted(set(self._labels.values())))}
        top = max(card.classes) + 1
        self._nms_groups = np.arange(top, dtype=np.int64) + len(label_ids)
        for class_id, label in self._labels.items():
            self._nms_groups[class_id] = label_ids[label]
        self._min_score = min_score
        self._nms_iou = nms_iou
        self._lock = threading.Lock()  # one inference at a time: threads are set per session
        log.info(
            "loaded %s (%s) input %sx%s batch<=%s, %d threads",
            card.name,
            path,
            height,
            width,
            self.max_batch,
            threads,
        )

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        results: list[list[Detection]] = []
        for start in range(0, len(images), self.max_batch):
            chunk = list(images[start : start + self.max_batch])
            if self._head == "yolox":
                fitted = [yolox_numpy.letterbox_top_left(i, self.input_size) for i in chunk]
                tensor = yolox_numpy.to_input([padded for padded, _ in fitted])
            else:
                fitted = [yolo_numpy.letterbox(image, self.input_size) for image in chunk]
                tensor = yolo_numpy.to_input([padded for padded, _ in fitted])
            with self._lock:
                (output,) = self._session.run(None, {self._input_name: tensor})[:1]
            if self._head == "yolox":
                raw = yolox_numpy.decode(
                    output,
                    self.input_size,
                    min_score=self._min_score,
                    nms_iou=self._nms_iou,
                    nms_groups=self._nms_groups,
                )
            else:
                raw = yolo_numpy.decode(
                    output,
                    min_score=self._min_score,
                    nms_iou=self._nms_iou,
                    nms_groups=self._nms_groups,
                )
            for boxes, (_, fit) in zip(raw, fitted, strict=True):
                xyxy = scale_back(boxes.xyxy, fit)
                results.append(
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
                        for b, s, c in zip(xyxy, boxes.scores, boxes.class_ids, strict=True)
                    ]
                )
        return results

    def close(self) -> None:
        self._session = None  # type: ignore[assignment]
