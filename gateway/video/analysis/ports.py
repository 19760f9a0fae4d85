"""Ports of video analysis: the detector (one shared per gateway).

Evidence clips come through `gateway.video.evidence.EvidenceClips` (the ingest side's port).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from gateway.video.detection import Detection


class Detector(Protocol):
    """Finds objects in images. Implementations live in ``adapters/detectors``.

    ``detect`` takes BGR uint8 images of any size and returns, per image, detections in
    that image's own pixel coordinates, labelled with the model card's class map.
    """

    name: str
    input_size: tuple[int, int]  # (height, width) the model sees
    max_batch: int  # images one call may carry in one inference

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]: ...

    def close(self) -> None: ...
