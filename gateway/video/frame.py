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
    messages; ``monotonic`` is when it arrived (latency, clips); ``stream_time`` is when it
    was taken on the camera's own clock (`gateway.video.stream_clock`): tracking, rules and
    the analysis cadence run on it. Without one, arrival stands in.
    """

    camera_id: str
    seq: int
    captured_at: datetime
    monotonic: float
    image: np.ndarray
    stream_time: float | None = None

    @property
    def media_time(self) -> float:
        """The camera's time of this picture (monotonic-comparable, never decreasing)."""
        return self.monotonic if self.stream_time is None else self.stream_time

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])
