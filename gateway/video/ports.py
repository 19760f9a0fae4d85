"""Ports of the video gateway: what camera readers need from a stream decoder and live view.

`adapters/rtsp` implements `StreamSource` with PyAV; `adapters/webrtc` implements
`LiveFeed`; unit tests plug fakes in. The stream parameters, encoded-packet and picture
types are plain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import Any, Protocol

import numpy as np


class StreamErrorKind(StrEnum):
    UNAUTHORIZED = "unauthorized"  # wrong credentials: retrying will not help by itself
    NOT_FOUND = "not_found"  # wrong path on the camera
    UNREACHABLE = "unreachable"  # refused, no route, DNS
    TIMEOUT = "timeout"  # no answer or no data in time
    ENDED = "ended"  # the camera closed the stream
    PROTOCOL = "protocol"  # garbage, unsupported codec
    STALLED = "stalled"  # data but no picture for too long (watchdog)


class StreamError(Exception):
    """A stream failed; ``kind`` classifies it, ``str()`` never carries credentials."""

    def __init__(self, kind: StreamErrorKind, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """What a muxer needs to know about a camera's encoded stream (no decoder involved)."""

    codec: str
    width: int
    height: int
    time_base: Fraction
    extradata: bytes | None = None


@dataclass(frozen=True, slots=True)
class SourcePacket:
    """An encoded packet as read (Annex B for H.264), plus the decoder's own handle."""

    data: bytes
    pts: int | None
    dts: int | None
    keyframe: bool
    native: Any = None  # the adapter's packet object, for its decoder


class Picture(Protocol):
    """A decoded picture; converting it to BGR is what costs, so it happens on demand
    (motion gating reads its grey plane; only frames that reach a detector or evidence
    are converted)."""

    @property
    def width(self) -> int: ...

    @property
    def height(self) -> int: ...

    def to_bgr(self) -> np.ndarray: ...

    def grey_sample(self, step: int) -> np.ndarray:
        """Every ``step``-th pixel of every ``step``-th row of the picture's grey (luma),
        levels 0-255: what motion gating reads, without converting the picture to BGR."""
        ...

    @property
    def time_s(self) -> float | None:
        """The picture's presentation time in seconds (None when the stream has none)."""
        ...

    @property
    def native(self) -> Any:
        """The adapter's frame object (live view hands it to the WebRTC encoder)."""
        ...


class StreamSource(Protocol):
    """One connection to one camera stream; a new source per (re)connect."""

    def open(self) -> StreamInfo:
        """Connect and read the stream parameters; raises `StreamError`."""
        ...

    def packets(self) -> Iterator[SourcePacket]:
        """Encoded packets as they arrive; raises `StreamError` when the stream fails."""
        ...

    def decode(self, packet: SourcePacket) -> Sequence[Picture]:
        """Decode one packet (every packet must be decoded: later ones refer to it); a
        packet the decoder cannot read gives no picture and counts in ``damaged``."""
        ...

    @property
    def damaged(self) -> int:
        """Packets the decoder could not read since this source was opened."""
        ...

    def close(self) -> None: ...


#: Builds a source for a URL (credentials passed apart from the URL).
SourceFactory = Callable[[str, str | None, str | None], StreamSource]


class LiveFeed(Protocol):
    """Where a camera reader offers decoded pictures to live viewers (WebRTC)."""

    def wants_frames(self, camera_id: str) -> bool:
        """Whether anyone watches this camera now (readers skip the work when not)."""
        ...

    def offer(self, camera_id: str, picture: Picture) -> None:
        """Hand over the newest picture; never blocks."""
        ...
