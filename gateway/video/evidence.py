"""Evidence from cameras: annotated JPEG snapshots and short clips cut from encoded packets.

- `annotated_snapshot` draws boxes and labels on a copy of a frame and encodes a JPEG;
- `PacketRing` keeps, per camera, a bounded ring of the *encoded* packets the reader
  received (so a clip costs no decoding), and `clip_around` remuxes the packets around a
  moment into an MP4 without re-encoding. It implements the `EvidenceClips` port that
  analysis uses.

Both produce `Evidence` named by the SHA-256 of their bytes. Nothing here does network I/O.
"""

from __future__ import annotations

import io
import itertools
import logging
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from gateway.contract import Evidence, EvidenceRole
from gateway.object_labels import object_name
from gateway.video.detection import Detection
from gateway.video.drawing import Label, draw_labels
from gateway.video.ports import SourcePacket, StreamInfo

log = logging.getLogger(__name__)

#: Colours (BGR) cycled by class id so neighbouring classes differ; saturated hues that
#: stand out on grass, asphalt and sky (no green: a green box vanishes on a lawn).
_PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 0, 255),
    (255, 0, 255),
    (255, 255, 0),
    (0, 255, 255),
    (255, 0, 0),
    (128, 0, 255),
)


_ZONE_COLOUR = (0, 200, 255)  # amber (BGR): zone outlines and the caption


class EvidenceError(RuntimeError):
    """Evidence could not be produced (bad image, nothing buffered, muxing failed)."""


# --------------------------------------------------------------------------- snapshots


def _box_colour(detection: Detection) -> tuple[int, int, int]:
    return _PALETTE[detection.class_id % len(_PALETTE)]


def _label(detection: Detection, x: int, y: int) -> Label:
    track = f"#{detection.track_id} " if detection.track_id is not None else ""
    return Label(
        text=f"{track}{object_name(detection.kind or detection.label)} {detection.score:.2f}",
        ascii_text=f"{track}{detection.label} {detection.score:.2f}",
        at=(x, y),
        background=_box_colour(detection),
        colour=(0, 0, 0),
    )


def annotated_snapshot(
    image: np.ndarray,
    detections: Sequence[Detection],
    *,
    quality: int = 85,
    zones: Sequence[Sequence[tuple[float, float]]] = (),
    caption: str = "",
    caption_ascii: str = "",
    labelled: int | None = None,
) -> bytes:
    """A JPEG of ``image`` (BGR uint8 HxWx3) with each detection's box and label drawn,
    the outline of each zone (corners in pixels) and a caption (what fired, for how long)
    in the top-left corner; labels in Chinese (`gateway.video.drawing`), ``caption_ascii``
    where no CJK font is installed. ``labelled``: only the first so many detections (what
    fired) carry a label tag; the others get their box alone, so no tag covers the objects
    the snapshot is about (default: all are labelled).

    The input image is never modified (drawing happens on a copy).
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3:
        raise EvidenceError(
            f"expected a BGR uint8 HxWx3 image, got {getattr(image, 'dtype', type(image))} "
            f"shape {getattr(image, 'shape', '?')}"
        )
    if image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise EvidenceError(f"expected a non-empty HxWx3 image, got shape {image.shape}")
    if not 1 <= quality <= 100:
        raise EvidenceError(f"JPEG quality must be 1..100, got {quality}")
    canvas = image.copy()
    height, width = canvas.shape[:2]
    thickness = max(1, round(min(width, height) / 300))
    text_px = max(11, round(min(width, height) / 44))
    labels: list[Label] = []
    for zone in zones:
        corners = np.round(np.asarray(zone, dtype=np.float64)).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(canvas, [corners], True, (0, 0, 0), thickness + 2, cv2.LINE_AA)
        cv2.polylines(canvas, [corners], True, _ZONE_COLOUR, thickness, cv2.LINE_AA)
    for index, detection in enumerate(detections):
        x1 = int(np.clip(round(detection.x1), 0, width - 1))
        y1 = int(np.clip(round(detection.y1), 0, height - 1))
        x2 = int(np.clip(round(detection.x2), 0, width - 1))
        y2 = int(np.clip(round(detection.y2), 0, height - 1))
        colour = _box_colour(detection)
        # a dark rim under the coloured line keeps the box visible on any background
        cv2.rectangle(canvas, (x1, y1), (x2, y2), (0, 0, 0), thickness + 2, cv2.LINE_AA)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_AA)
        if labelled is None or index < labelled:
            labels.append(_label(detection, x1, y1))
    if caption:
        labels.append(
            Label(caption, caption_ascii or caption, (0, 0), (0, 0, 0), _ZONE_COLOUR, above=False)
        )
    draw_labels(canvas, labels, text_px)
    ok, encoded = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise EvidenceError("JPEG encoding failed")
    return encoded.tobytes()


def snapshot_evidence(
    image: np.ndarray,
    detections: Sequence[Detection],
    *,
    name: str = "snapshot.jpg",
    quality: int = 85,
    zones: Sequence[Sequence[tuple[float, float]]] = (),
    caption: str = "",
    caption_ascii: str = "",
    labelled: int | None = None,
) -> Evidence:
    """`annotated_snapshot` as content-hashed `Evidence` (role snapshot, image/jpeg)."""
    return Evidence.from_bytes(
        annotated_snapshot(
            image,
            detections,
            quality=quality,
            zones=zones,
            caption=caption,
            caption_ascii=caption_ascii,
            labelled=labelled,
        ),
        media_type="image/jpeg",
        role=EvidenceRole.SNAPSHOT,
        name=name,
    )


# --------------------------------------------------------------------------- clips


class EvidenceClips(Protocol):
    """Short clips around a moment of a camera, as content-hashed evidence (the port analysis uses)."""

    def clip_around(
        self, camera_id: str, at_monotonic: float, before_s: float, after_s: float
    ) -> Evidence | None:
        """An MP4 from ``before_s`` before to ``after_s`` after ``at_monotonic``.

        May block up to about ``after_s`` (+ a small margin) waiting for the packets after
        the moment: call it from a worker, not from the frame loop. ``None`` when the
        camera has nothing buffered around that moment.
        """
        ...


@dataclass(frozen=True, slots=True)
class EncodedPacket:
    """One compressed packet as received from the camera, with the moment it arrived."""

    data: bytes
    pts: int | None
    dts: int | None
    keyframe: bool
    monotonic: float
    session: int  # increments on every reconnect: a clip never spans two sessions


class _CameraRing:
    def __init__(self, max_seconds: float, max_bytes: int) -> None:
        self.max_seconds = max_seconds
        self.max_bytes = max_bytes
        self.packets: deque[EncodedPacket] = deque()
        self.bytes = 0
        self.info: dict[int, StreamInfo] = {}
        self.session = 0

    def trim(self) -> None:
        if not self.packets:
            return
        newest = self.packets[-1].monotonic
        popped = False
        while self.packets and (
            self.bytes > self.max_bytes or newest - self.packets[0].monotonic > self.max_seconds
        ):
            self.bytes -= len(self.packets.popleft().data)
            popped = True
        if popped:  # sessions only grow: parameters of sessions older than the oldest packet go
            oldest = self.packets[0].session if self.packets else self.session
            for session in [s for s in self.info if s < oldest]:
                del self.info[session]


class PacketRing:
    """Bounded per-camera rings of encoded packets; cuts MP4 clips without re-encoding.

    Readers call `begin_session` after each (re)connect with the stream's parameters and
    `add` for every packet; the ring keeps at most ``max_seconds`` and ``max_bytes`` per
    camera, dropping the oldest. Thread-safe.
    """

    def __init__(
        self, *, max_seconds: float = 30.0, max_bytes: int = 32 * 1024 * 1024, margin_s: float = 2.0
    ) -> None:
        if max_seconds <= 0 or max_bytes <= 0:
            raise ValueError("ring bounds must be positive")
        self._max_seconds = max_seconds
        self._max_bytes = max_bytes
        self._margin_s = margin_s
        self._rings: dict[str, _CameraRing] = {}
        self._cond = threading.Condition()

    # ---------------------------------------------------------------- writers
    def begin_session(self, camera_id: str, info: StreamInfo) -> int:
        with self._cond:
            ring = self._rings.setdefault(
                camera_id, _CameraRing(self._max_seconds, self._max_bytes)
            )
            ring.session += 1
            ring.info[ring.session] = info
            return ring.session

    def add_packet(
        self, camera_id: str, packet: SourcePacket, monotonic: float, session: int | None
    ) -> None:
        """`add` for a packet as a `FrameSource` delivers it."""
        self.add(
            camera_id,
            packet.data,
            pts=packet.pts,
            dts=packet.dts,
            keyframe=packet.keyframe,
            monotonic=monotonic,
            session=session,
        )

    def add(
        self,
        camera_id: str,
        data: bytes,
        *,
        pts: int | None,
        dts: int | None,
        keyframe: bool,
        monotonic: float,
        session: int | None = None,
    ) -> None:
        """Append a packet; with ``session`` (from `begin_session`), only while that session
        is the camera's newest: a camera's main stream and its sub-stream take turns feeding
        one ring, and a packet of the stream that just lost its turn must not slip in."""
        with self._cond:
            ring = self._rings.get(camera_id)
            if ring is None or ring.session == 0:
                return  # no stream parameters yet: such packets could not be muxed anyway
            if session is not None and session != ring.session:
                return
            ring.packets.append(
                EncodedPacket(data, pts, dts, keyframe, monotonic, session=ring.session)
            )
            ring.bytes += len(data)
            ring.trim()
            self._cond.notify_all()

    def forget(self, camera_id: str) -> None:
        """Drop a camera's ring (it was removed from the configuration)."""
        with self._cond:
            self._rings.pop(camera_id, None)

    # ---------------------------------------------------------------- readers
    def stream_info(self, camera_id: str) -> StreamInfo | None:
        """The parameters of the stream that feeds the camera's ring now (its newest session)."""
        with self._cond:
            ring = self._rings.get(camera_id)
            return ring.info.get(ring.session) if ring is not None else None

    def buffered_seconds(self, camera_id: str) -> float:
        with self._cond:
            ring = self._rings.get(camera_id)
            if ring is None or not ring.packets:
                return 0.0
            return ring.packets[-1].monotonic - ring.packets[0].monotonic

    def _select(
        self, ring: _CameraRing, start: float, end: float
    ) -> tuple[StreamInfo, list[EncodedPacket]] | None:
        packets = list(ring.packets)
        keyframes = [i for i, p in enumerate(packets) if p.keyframe and p.monotonic <= end]
        if not keyframes:
            return None
        # the newest session with a keyframe in time (after a switch of streams, e.g. to the
        # main stream, the stream now feeding the ring), from its last keyframe at or before
        # the start, else from its first keyframe
        session = packets[keyframes[-1]].session
        mine = [i for i in keyframes if packets[i].session == session]
        before = [i for i in mine if packets[i].monotonic <= start]
        first = before[-1] if before else mine[0]
        chosen = [p for p in packets[first:] if p.session == session and p.monotonic <= end]
        if not chosen or chosen[-1].monotonic < start:
            return None  # nothing within the window (the stream was down): no stale clip
        return ring.info[session], chosen

    def clip_around(
        self, camera_id: str, at_monotonic: float, before_s: float, after_s: float
    ) -> Evidence | None:
        if before_s < 0 or after_s < 0:
            raise ValueError("before_s and after_s must not be negative")
        start, end = at_monotonic - before_s, at_monotonic + after_s
        with self._cond:
            ring = self._rings.get(camera_id)
            if ring is None:
                return None
            # wait (bounded) for the packets after the moment to arrive
            self._cond.wait_for(
                lambda: bool(ring.packets) and ring.packets[-1].monotonic >= end,
                timeout=after_s + self._margin_s,
            )
            selected = self._select(ring, start, end)
        if selected is None:
            return None
        info, packets = selected
        data = mux_mp4(info, packets)
        return Evidence.from_bytes(
            data,
            media_type="video/mp4",
            role=EvidenceRole.CLIP,
            name=f"{camera_id}-clip.mp4",
        )


def _is_annexb(data: bytes) -> bool:
    return data.startswith(b"\x00\x00\x00\x01") or data.startswith(b"\x00\x00\x01")


def _has_h264_sps(data: bytes) -> bool:
    """Whether an Annex B H.264 access unit carries a sequence parameter set in-band."""
    index = data.find(b"\x00\x00\x01")
    while index != -1 and index + 3 < len(data):
        if data[index + 3] & 0x1F == 7:
            return True
        index = data.find(b"\x00\x00\x01", index + 3)
    return False


def mux_mp4(info: StreamInfo, packets: Sequence[EncodedPacket]) -> bytes:
    """Remux encoded Annex B packets (starting at a keyframe) into an MP4, without re-encoding.

    When the parameter sets travel out of band (an RTSP camera's SDP), they are put in
    front of the first keyframe so the muxer finds them there. Every packet is given a
    duration (to the next packet; the last one as long as the one before it, or one
    frame at 25/s if it is alone): the muxer's edit list ends where the last packet ends,
    and a last packet without a duration would be hidden from players and decoders (a
    one-frame clip would show nothing).
    """
    import av  # PyAV: FFmpeg's muxer, in memory (no files, no network)

    if not packets:
        raise EvidenceError("no packets to mux")
    base_pts = next((p.pts for p in packets if p.pts is not None), 0)
    base_dts = next((p.dts for p in packets if p.dts is not None), base_pts)
    base = min(base_pts, base_dts)
    timed: list[tuple[EncodedPacket, int, int]] = []  # packet, pts, dts (dts increasing)
    for packet in packets:
        pts = packet.pts if packet.pts is not None else packet.dts
        dts = packet.dts if packet.dts is not None else pts
        if pts is None or dts is None:
            continue
        if timed and dts - base <= timed[-1][2]:
            continue  # the muxer needs strictly increasing dts
        timed.append((packet, pts - base, dts - base))
    if not timed:
        raise EvidenceError("no packet carried a timestamp: nothing to mux")
    durations = [after[2] - before[2] for before, after in itertools.pairwise(timed)]
    durations.append(durations[-1] if durations else max(1, round(1 / (25 * info.time_base))))
    buffer = io.BytesIO()
    try:
        with av.open(buffer, mode="w", format="mp4") as output:
            stream = output.add_mux_stream(info.codec, width=info.width, height=info.height)
            stream.time_base = info.time_base
            for index, ((packet, pts, dts), duration) in enumerate(
                zip(timed, durations, strict=True)
            ):
                data = packet.data
                if (
                    index == 0
                    and info.codec == "h264"
                    and info.extradata
                    and _is_annexb(info.extradata)
                    and not _has_h264_sps(data)
                ):
                    data = info.extradata + data
                out = av.Packet(data)
                out.pts, out.dts, out.duration = pts, dts, duration
                out.time_base = info.time_base
                out.is_keyframe = packet.keyframe
                out.stream = stream
                output.mux(out)
    except (av.FFmpegError, ValueError) as exc:
        raise EvidenceError(f"muxing a {info.codec} clip failed: {exc}") from exc
    return buffer.getvalue()
