"""The decoded frame handed from ingest to analysis."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded picture of one camera.

    ``image`` is BGR, ``uint8``, shape (height, width, 3), owned by this frame (never
    written to after hand-over). ``captured_at`` is wall-clock UTC for evidence and
    messages; ``monotonic`` orders frames and measures dwell and latency.
    """

    camera_id: str
    seq: int
    captured_at: datetime
    monotonic: float
    image: np.ndarray

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])
