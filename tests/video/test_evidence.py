"""Evidence: annotated snapshots and clips remuxed from a ring of encoded packets."""

from __future__ import annotations

import functools
import hashlib
import io
import threading
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from gateway.contract import EvidenceRole
from gateway.video.detection import Detection
from gateway.video.evidence import (
    EvidenceError,
    PacketRing,
    StreamInfo,
    annotated_snapshot,
    snapshot_evidence,
)

REPO = Path(__file__).resolve().parents[2]
VIDEO = REPO / "var" / "data" / "vtest-h264.mp4"


def _image() -> np.ndarray:
    image = np.zeros((240, 320, 3), np.uint8)
    image[:, :, 1] = 90
    return image


def test_snapshot_draws_boxes_without_touching_the_input_image() -> None:
    image = _image()
    before = image.copy()
    boxes = [Detection(40, 50, 120, 200, 0.91, 2, "car", track_id=7)]
    jpeg = annotated_snapshot(image, boxes, quality=90)
    assert np.array_equal(image, before)
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == image.shape
    # the box edge differs from the plain background; a far corner does not
    assert np.abs(decoded[120, 40].astype(int) - before[120, 40].astype(int)).sum() > 60
    assert np.abs(decoded[230, 310].astype(int) - before[230, 310].astype(int)).sum() < 30


def test_snapshot_evidence_is_named_by_the_hash_of_its_bytes() -> None:
    evidence = snapshot_evidence(_image(), [Detection(0, 0, 10, 10, 0.5, 0, "人")])
    raw = evidence.raw_bytes()
    assert raw[:2] == b"\xff\xd8"
    assert evidence.sha256 == hashlib.sha256(raw).hexdigest()
    assert evidence.role is EvidenceRole.SNAPSHOT and evidence.media_type == "image/jpeg"


def test_boxes_outside_the_picture_are_clipped_not_fatal() -> None:
    jpeg = annotated_snapshot(_image(), [Detection(-50, -50, 900, 900, 0.3, 1, "person")])
    assert jpeg[:2] == b"\xff\xd8"


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((10, 10), np.uint8),
        np.zeros((10, 10, 3), np.float32),
        np.zeros((0, 5, 3), np.uint8),
    ],
)
def test_a_bad_image_gets_a_clear_error(bad: np.ndarray) -> None:
    with pytest.raises(EvidenceError, match="image"):
        annotated_snapshot(bad, [])


@functools.cache
def _packets() -> tuple[tuple[bytes, int, int, bool], ...]:
    """The first 30 s of the test video as Annex B packets (what an RTSP reader gets)."""
    if not VIDEO.exists():
        pytest.fail(f"{VIDEO} missing: run scripts/setup.d/15-vtest-h264.sh")
    packets = []
    with av.open(str(VIDEO)) as container:
        stream = container.streams.video[0]
        bsf = av.BitStreamFilterContext("h264_mp4toannexb", stream)
        for packet in container.demux(stream):
            for out in bsf.filter(packet):
                packets.append((bytes(out), out.pts, out.dts, out.is_keyframe))
            if len(packets) >= 300:
                break
    return tuple(packets)


def _fill_ring(ring: PacketRing, camera: str, seconds: float, start: float = 0.0) -> None:
    """Packets stamped 0.1 s apart (10 fps) from ``start`` up to ``seconds``."""
    if start == 0.0:
        ring.begin_session(camera, StreamInfo("h264", 768, 576, Fraction(1, 10240)))
    for index in range(round(start * 10), round(seconds * 10)):
        data, pts, dts, key = _packets()[index]
        ring.add(camera, data, pts=pts, dts=dts, keyframe=key, monotonic=index / 10)


def _decode(data: bytes) -> list[av.VideoFrame]:
    with av.open(io.BytesIO(data)) as container:
        return list(container.decode(video=0))


def test_a_clip_spans_the_moment_and_starts_on_a_keyframe() -> None:
    ring = PacketRing(max_seconds=10)
    _fill_ring(ring, "cam-1", 20)
    clip = ring.clip_around("cam-1", 15.05, 2.0, 2.0)
    assert clip is not None and clip.role is EvidenceRole.CLIP
    assert clip.media_type == "video/mp4"
    frames = _decode(clip.raw_bytes())
    # keyframes every second: starts at 13.0, ends at 17.05 -> 41 frames
    assert 38 <= len(frames) <= 42
    assert frames[0].width == 768 and frames[0].height == 576


def test_every_packet_of_a_clip_is_shown_even_a_clip_of_one_keyframe() -> None:
    """The muxer's edit list ends where the last packet ends: without a duration the last
    packet (a one-frame clip's only one) would be hidden from decoders and players."""
    ring = PacketRing(max_seconds=10)
    _fill_ring(ring, "cam-1", 3)
    one = ring.clip_around("cam-1", 0.0, 0.0, 0.0)  # the first keyframe alone
    assert one is not None
    assert [(f.width, f.height) for f in _decode(one.raw_bytes())] == [(768, 576)]
    clip = ring.clip_around("cam-1", 1.0, 1.0, 1.0)  # 0.0 .. 2.0: 21 packets
    assert clip is not None
    assert len(_decode(clip.raw_bytes())) == 21


def test_no_clip_is_cut_from_packets_older_than_the_window() -> None:
    ring = PacketRing(max_seconds=30)
    _fill_ring(ring, "cam-1", 10)  # then the stream went down: nothing after 10 s
    assert ring.clip_around("cam-1", 20.0, 2.0, 0.0) is None
    assert ring.clip_around("cam-1", 9.5, 2.0, 0.0) is not None


def test_the_ring_keeps_only_its_bounded_window() -> None:
    ring = PacketRing(max_seconds=5)
    _fill_ring(ring, "cam-1", 20)
    assert ring.buffered_seconds("cam-1") <= 5.0
    assert ring.clip_around("cam-1", 2.0, 1.0, 1.0) is None  # long gone


def test_a_clip_waits_for_the_packets_after_the_moment() -> None:
    ring = PacketRing(max_seconds=30, margin_s=20)
    _fill_ring(ring, "cam-1", 5)
    result: list[object] = []
    waiter = threading.Thread(
        target=lambda: result.append(ring.clip_around("cam-1", 4.5, 1.0, 2.0)), name="clip"
    )
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive()  # 2 s after 4.5 have not arrived yet
    _fill_ring(ring, "cam-1", 8, start=5)
    waiter.join(10)
    assert not waiter.is_alive()
    assert result and result[0] is not None
    assert len(_decode(result[0].raw_bytes())) >= 25  # type: ignore[attr-defined]


def test_an_unknown_camera_has_no_clip() -> None:
    assert PacketRing().clip_around("nobody", 1.0, 1.0, 0.0) is None


@pytest.mark.parametrize("class_id", range(6))
def test_every_class_colour_stands_out_on_a_lawn(class_id: int) -> None:
    grass = np.zeros((240, 320, 3), np.uint8)
    grass[:] = (60, 140, 70)  # BGR green of vtest's lawn
    jpeg = annotated_snapshot(grass, [Detection(60, 60, 200, 180, 0.6, class_id, "x")])
    drawn = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).astype(int)
    edge = np.concatenate([drawn[179, 60:200], drawn[60:180, 60]])
    assert np.abs(edge - np.array([60, 140, 70])).mean() > 60
