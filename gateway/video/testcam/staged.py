"""Staged scenes composed from vtest.avi's own pixels, for tests and the demo.

vtest.avi (Debian's opencv-doc) is a real street scene, but nobody in it falls and nobody
stands still for long. A staged scene takes one of its real walkers, cuts them out
against the scene's own background (the median of its frames, so no outline of another
place comes along) and places them, for a stretch of the clip, lying on the grass (a
fallen person) or standing still in one spot (someone waiting, or a hawker). Everything
else in the frame, the light, the noise and the compression, stays vtest's. It is a
composition, and says so: a test that passes on it shows the whole path works on real
pixels, not that every real fall is seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

VTEST_FPS = 10
#: a walker of vtest.avi, frame 100 (768x576): dark clothes, clear of others
WALKER_FRAME = 100
WALKER_BOX = (346, 197, 379, 275)
#: where the fallen person lies: the grass below the walkway, clear of the yellow cloth
FALLEN_AT = (250, 500)
FALLEN_SCALE = 1.6
#: where the waiting person stands: the open road right of the plaza (clear of the tripod,
#: whose head the COCO model may take for a person)
STANDING_AT = (600, 320)
#: the stall scene's camera: a 384x288 window of vtest (x1, y1, x2, y2), its own pixels
#: unscaled, as a sub-stream of a camera aimed at the walkway's edge would see it
STALL_VIEW = (96, 96, 480, 384)
#: the stall keeper (the walker, a little nearer the camera) stands on the grass beside the
#: walkway, top-left in vtest pixels; the stall's object stands to their right on the same
#: ground line, at this height (a chair's back at a standing person's waist: 0.56 of them)
KEEPER_AT = (160, 260)
KEEPER_SCALE = 1.15
STALL_OBJECT_HEIGHT = 54


@dataclass(frozen=True, slots=True)
class CutOut:
    """A person's pixels and how opaque each is (0..1), upright."""

    pixels: np.ndarray  # BGR uint8 h x w x 3
    alpha: np.ndarray  # float32 h x w


def read_frames(video: Path, count: int) -> list[np.ndarray]:
    """The first ``count`` frames of ``video`` (BGR)."""
    frames: list[np.ndarray] = []
    with av.open(str(video)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="bgr24"))
            if len(frames) >= count:
                break
    if len(frames) < count:
        raise ValueError(f"{video} has {len(frames)} frames; {count} needed")
    return frames


def median_background(frames: list[np.ndarray], step: int = 8) -> np.ndarray:
    """The scene without its walkers: the per-pixel median of every ``step``-th frame."""
    return np.median(np.stack(frames[::step]), axis=0).astype(np.uint8)


def cut_out(
    frame: np.ndarray, box: tuple[int, int, int, int], background: np.ndarray, pad: int = 3
) -> CutOut:
    """The person in ``box`` of ``frame``: pixels that differ from the background."""
    x1, y1, x2, y2 = box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad
    pixels = frame[y1:y2, x1:x2].copy()
    diff = np.abs(pixels.astype(np.int16) - background[y1:y2, x1:x2].astype(np.int16)).max(axis=2)
    mask = (diff > 30).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    # the person alone: the largest connected region (a neighbour's elbow at the box's
    # edge would otherwise come along, a fragment a detector may take for someone else)
    count, regions, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count > 1:
        largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        mask = (regions == largest).astype(np.uint8)
    return CutOut(pixels=pixels, alpha=mask.astype(np.float32))


def cut_out_with_mask(image: Path, mask: Path) -> CutOut:
    """An object photographed on its own, cut out along a black-and-white ``mask`` (white:
    the object) and cropped to it."""
    pixels = cv2.imread(str(image), cv2.IMREAD_COLOR)
    inside = cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE)
    if pixels is None or inside is None:
        raise ValueError(f"cannot read {image} or {mask}")
    if inside.shape != pixels.shape[:2]:
        raise ValueError(f"{mask} is {inside.shape[::-1]}, {image} {pixels.shape[1::-1]}")
    ys, xs = np.nonzero(inside > 127)
    if not len(ys):
        raise ValueError(f"{mask} is empty")
    y1, y2, x1, x2 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    alpha = (inside[y1:y2, x1:x2] > 127).astype(np.float32)
    return CutOut(pixels=pixels[y1:y2, x1:x2].copy(), alpha=alpha)


def place(
    frame: np.ndarray,
    person: CutOut,
    at: tuple[int, int],
    *,
    scale: float = 1.0,
    lying: bool = False,
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A copy of ``frame`` with ``person`` at ``at`` (top-left), turned to lie when
    ``lying``; and the box it covers."""
    pixels, alpha = person.pixels, person.alpha
    if lying:
        pixels = cv2.rotate(pixels, cv2.ROTATE_90_COUNTERCLOCKWISE)
        alpha = cv2.rotate(alpha, cv2.ROTATE_90_COUNTERCLOCKWISE)
    if scale != 1.0:
        pixels = cv2.resize(pixels, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        alpha = cv2.resize(alpha, (pixels.shape[1], pixels.shape[0]))
    weight = cv2.GaussianBlur(alpha, (3, 3), 0)[..., None]
    height, width = pixels.shape[:2]
    x, y = at
    if x < 0 or y < 0 or x + width > frame.shape[1] or y + height > frame.shape[0]:
        raise ValueError(f"a {width}x{height} person does not fit at {at}")
    out = frame.copy()
    region = out[y : y + height, x : x + width].astype(np.float32)
    out[y : y + height, x : x + width] = (pixels * weight + region * (1 - weight)).astype(np.uint8)
    return out, (x, y, x + width, y + height)


@dataclass(frozen=True, slots=True)
class StagedClip:
    path: Path
    box: tuple[int, int, int, int]  # where the staged person is, in 768x576 pixels
    starts_s: float  # when they appear
    seconds: float  # the clip's length


def _frames_with(
    frames: list[np.ndarray], person: CutOut, at: tuple[int, int], start: int, **placing: object
) -> Iterator[tuple[np.ndarray, tuple[int, int, int, int] | None]]:
    for index, frame in enumerate(frames):
        if index < start:
            yield frame, None
        else:
            staged, box = place(frame, person, at, **placing)  # type: ignore[arg-type]
            yield staged, box


def write_clip(frames: Iterator[np.ndarray], path: Path, fps: int = VTEST_FPS) -> None:
    """H.264 in MP4 as the test camera serves it: baseline, no B-frames, an IDR a second."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part.mp4")
    with av.open(str(partial), "w") as container:
        stream = container.add_stream(
            "libx264",
            rate=fps,
            options={"profile": "baseline", "bf": "0", "g": str(fps), "preset": "veryfast"},
        )
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        for index, image in enumerate(frames):
            if index == 0:
                stream.width, stream.height = image.shape[1], image.shape[0]
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    partial.replace(path)


def fallen_person_clip(
    vtest: Path, path: Path, *, seconds: float = 30.0, falls_at_s: float = 3.0
) -> StagedClip:
    """vtest's first ``seconds`` with one of its walkers lying on the grass from
    ``falls_at_s`` on (a true fallen person, beside the yellow cloth that is not one)."""
    return _staged_clip(vtest, path, seconds, falls_at_s, FALLEN_AT, scale=FALLEN_SCALE, lying=True)


def standing_person_clip(
    vtest: Path, path: Path, *, seconds: float = 30.0, arrives_at_s: float = 2.0
) -> StagedClip:
    """vtest's first ``seconds`` with one of its walkers standing still in one spot from
    ``arrives_at_s`` on (someone waiting, or a hawker without a stall)."""
    return _staged_clip(vtest, path, seconds, arrives_at_s, STANDING_AT)


def _staged_clip(
    vtest: Path,
    path: Path,
    seconds: float,
    starts_s: float,
    at: tuple[int, int],
    **placing: object,
) -> StagedClip:
    """vtest's first ``seconds`` with the walker placed at ``at`` from ``starts_s`` on."""
    count = round(seconds * VTEST_FPS)
    frames = read_frames(vtest, max(count, WALKER_FRAME + 1))
    person = cut_out(frames[WALKER_FRAME], WALKER_BOX, median_background(frames))
    start = round(starts_s * VTEST_FPS)
    boxes: list[tuple[int, int, int, int]] = []

    def staged() -> Iterator[np.ndarray]:
        for image, box in _frames_with(frames[:count], person, at, start, **placing):
            if box is not None:
                boxes.append(box)
            yield image

    write_clip(staged(), path)
    return StagedClip(path=path, box=boxes[0], starts_s=starts_s, seconds=count / VTEST_FPS)


@dataclass(frozen=True, slots=True)
class StallScene:
    """Frames of the stall view at vtest's 10 fps, and where the staged parts are in them."""

    frames: list[np.ndarray]  # 384x288 BGR (768x576: the whole frame)
    keeper: tuple[int, int, int, int] | None  # in view pixels
    stall: tuple[int, int, int, int] | None
    keeper_from: int  # first frame with the keeper


def stall_scene(
    vtest: Path,
    stall: CutOut | None,
    *,
    keeper: bool = True,
    seconds: float = 20.0,
    keeper_arrives_at_s: float = 2.0,
    view: tuple[int, int, int, int] | None = STALL_VIEW,
) -> StallScene:
    """vtest's first ``seconds`` in the stall view: its walkers pass on the walkway; the
    ``stall`` object (if any) stands on the grass from the first frame; the walker (if
    ``keeper``) stands still beside it from ``keeper_arrives_at_s`` on. ``view=None``:
    the same scene on vtest's whole 768x576 frame (a wide camera: everything as large as
    in the view, the view's share of the model's input smaller)."""
    count = round(seconds * VTEST_FPS)
    frames = read_frames(vtest, max(count, WALKER_FRAME + 1))
    person = cut_out(frames[WALKER_FRAME], WALKER_BOX, median_background(frames))
    height, width = frames[0].shape[:2]
    x1, y1, x2, y2 = view if view is not None else (0, 0, width, height)
    start = round(keeper_arrives_at_s * VTEST_FPS)
    keeper_width = round(person.pixels.shape[1] * KEEPER_SCALE)
    keeper_height = round(person.pixels.shape[0] * KEEPER_SCALE)
    ground = KEEPER_AT[1] + keeper_height
    out: list[np.ndarray] = []
    boxes: dict[str, tuple[int, int, int, int]] = {}
    for index, frame in enumerate(frames[:count]):
        if stall is not None:
            scale = STALL_OBJECT_HEIGHT / stall.pixels.shape[0]
            at = (KEEPER_AT[0] + keeper_width + 3, ground - STALL_OBJECT_HEIGHT)
            frame, boxes["stall"] = place(frame, stall, at, scale=scale)
        if keeper and index >= start:
            frame, boxes["keeper"] = place(frame, person, KEEPER_AT, scale=KEEPER_SCALE)
        out.append(np.ascontiguousarray(frame[y1:y2, x1:x2]))

    def in_view(name: str) -> tuple[int, int, int, int] | None:
        box = boxes.get(name)
        return None if box is None else (box[0] - x1, box[1] - y1, box[2] - x1, box[3] - y1)

    return StallScene(
        frames=out, keeper=in_view("keeper"), stall=in_view("stall"), keeper_from=start
    )
