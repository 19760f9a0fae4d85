"""The decoded frame handed from ingest to analysis."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from gateway.video.ports import Picture


class Frame:
    """One decoded picture of one camera.

    ``image`` is BGR, ``uint8``, shape (height, width, 3), owned by this frame (never
    written to after hand-over). A frame made from a decoded ``picture`` converts it to
    BGR only when ``image`` is first read: motion gating reads ``grey_sample`` (the
    picture's luma), so a frame in which nothing moves is never converted. Two threads
    reading ``image`` at once may both convert; both get equal pictures.

    ``captured_at`` is wall-clock UTC for evidence and messages; ``monotonic`` is when it
    arrived (latency, clips); ``stream_time`` is when it was taken on the camera's own
    clock (`gateway.video.stream_clock`): tracking, rules and the analysis cadence run
    on it. Without one, arrival stands in.
    """

    __slots__ = (
        "_image",
        "_picture",
        "camera_id",
        "captured_at",
        "monotonic",
        "seq",
        "stream_time",
    )

    def __init__(
        self,
        camera_id: str,
        seq: int,
        captured_at: datetime,
        monotonic: float,
        image: np.ndarray | None = None,
        stream_time: float | None = None,
        *,
        picture: Picture | None = None,
    ) -> None:
        if (image is None) == (picture is None):
            raise ValueError("a frame is made from a BGR image or from a decoded picture")
        self.camera_id = camera_id
        self.seq = seq
        self.captured_at = captured_at
        self.monotonic = monotonic
        self.stream_time = stream_time
        self._image = image
        self._picture = picture

    def __repr__(self) -> str:
        return (
            f"Frame(camera_id={self.camera_id!r}, seq={self.seq}, "
            f"{self.width}x{self.height}, media_time={self.media_time:.3f})"
        )

    @property
    def image(self) -> np.ndarray:
        image = self._image
        if image is None:
            assert self._picture is not None
            image = self._image = self._picture.to_bgr()
        return image

    @property
    def converted(self) -> bool:
        """Whether the BGR image exists (made from one, or read since)."""
        return self._image is not None

    def grey_sample(self, step: int) -> np.ndarray:
        """Grey levels 0-255 at every ``step``-th pixel of every ``step``-th row: the
        picture's luma, or the green channel of a frame made from a BGR image."""
        if self._picture is not None:
            return self._picture.grey_sample(step)
        assert self._image is not None
        return self._image[::step, ::step, 1]

    @property
    def media_time(self) -> float:
        """The camera's time of this picture (monotonic-comparable, never decreasing)."""
        return self.monotonic if self.stream_time is None else self.stream_time

    @property
    def width(self) -> int:
        if self._picture is not None:
            return int(self._picture.width)
        assert self._image is not None
        return int(self._image.shape[1])

    @property
    def height(self) -> int:
        if self._picture is not None:
            return int(self._picture.height)
        assert self._image is not None
        return int(self._image.shape[0])
