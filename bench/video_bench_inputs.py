"""Inputs of bench/video_pipeline.py: the busy and static camera files, made once.

- busy: ``var/data/vtest.avi`` (people walking in 794 of 795 frames) at 5 fps, 768x576,
  H.264 as the test camera's stream is encoded (baseline, no B-frames, an IDR a second);
- static: a part of the same footage where nothing moves, found from the per-pixel
  temporal variance of the clip and checked with citygw's own motion detector, cropped,
  scaled to 768x576 and encoded once the same way. Real sensor noise, real compression,
  the clip's own slow light changes; played forward then backward so the loop has no cut.

Both land in ``var/bench/``; how the crop was chosen goes into the results.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import av
import numpy as np

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "var" / "data" / "vtest.avi"
BENCH_DIR = REPO / "var" / "bench"
BUSY = BENCH_DIR / "busy-768x576-5fps.mp4"
STATIC = BENCH_DIR / "static-crop-768x576-5fps.mp4"
SIZE = (768, 576)
#: 4:3 windows tried, smallest mean variance first; the first the motion detector finds
#: no motion in over the whole clip is taken
WINDOWS = ((160, 120), (192, 144), (128, 96))


def _encode(out: Path, vf: str) -> None:
    tmp = out.with_suffix(".tmp.mp4")
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    command += ["-i", str(SOURCE), "-an", "-vf", vf, "-c:v", "libx264", "-profile:v", "baseline"]
    command += ["-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", "-g", "5"]
    command += ["-keyint_min", "5", "-sc_threshold", "0", "-bf", "0", str(tmp)]
    subprocess.run(command, check=True, timeout=300)
    tmp.replace(out)


def _grey_frames() -> np.ndarray:
    with av.open(str(SOURCE)) as container:
        return np.stack(
            [f.to_ndarray(format="gray").astype(np.float32) for f in container.decode(video=0)]
        )


def _motion_frames(frames: list[np.ndarray]) -> int:
    """Frames in which citygw's motion detector (default settings) finds motion."""
    from gateway.video.analysis.motion import MotionDetector
    from gateway.video.analysis.settings import MotionConfig

    detector = MotionDetector(MotionConfig(), [])
    return sum(1 for image in frames if detector.update(image))


def find_static_window() -> dict[str, Any]:
    """The 4:3 window of least mean temporal variance that shows no motion when scaled."""
    import cv2

    grey = _grey_frames()
    variance = grey.var(axis=0)
    integral = np.pad(variance.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    with av.open(str(SOURCE)) as container:
        colour = [
            f.to_ndarray(format="bgr24")
            for i, f in enumerate(container.decode(video=0))
            if i % 2 == 0
        ]
    tried = []
    for w, h in WINDOWS:
        mean = (integral[h:, w:] - integral[:-h, w:] - integral[h:, :-w] + integral[:-h, :-w]) / (
            w * h
        )
        order = np.argsort(mean, axis=None)[:40000]
        picked: list[tuple[int, int]] = []
        for flat in order:  # distinct places only (neighbours of one minimum are the same place)
            y, x = (int(v) for v in np.unravel_index(flat, mean.shape))
            if all(abs(x - px) > w // 2 or abs(y - py) > h // 2 for px, py in picked):
                picked.append((x, y))
            if len(picked) == 8:
                break
        for x, y in picked:
            scaled = [cv2.resize(f[y : y + h, x : x + w], SIZE, interpolation=cv2.INTER_LINEAR) for f in colour]  # fmt: skip
            moving = _motion_frames(scaled)
            row = {
                "x": x, "y": y, "width": w, "height": h,
                "mean_variance": round(float(mean[y, x]), 2),
                "max_pixel_variance": round(float(variance[y : y + h, x : x + w].max()), 1),
                "frames_with_motion_of_5fps": moving,
            }  # fmt: skip
            tried.append(row)
            if moving == 0:
                return {
                    "window": row,
                    "frame_median_variance": round(float(np.median(variance)), 1),
                    "tried": tried,
                }
    raise RuntimeError(f"no static window found in {SOURCE}: {tried}")


def ensure_inputs() -> dict[str, Any]:
    """Make the busy and static files when missing; say what they are."""
    if not SOURCE.is_file():
        raise SystemExit(f"{SOURCE} missing: run scripts/setup.sh (step 10-vtest.sh) first")
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    if not BUSY.is_file():
        _encode(BUSY, "fps=5")
    info_file = STATIC.with_suffix(".json")
    if not STATIC.is_file() or not info_file.is_file():
        found = find_static_window()
        win = found["window"]
        w, h, x, y = win["width"], win["height"], win["x"], win["y"]
        # forward then backward: the loop has no cut (a cut is motion)
        vf = (
            f"fps=5,crop={w}:{h}:{x}:{y},scale={SIZE[0]}:{SIZE[1]},"
            "split[a][b];[b]reverse[r];[a][r]concat=n=2:v=1"
        )
        _encode(STATIC, vf)
        import json

        info_file.write_text(json.dumps(found, indent=2))
    import json

    static_info = json.loads(info_file.read_text())
    return {
        "busy": {
            "file": str(BUSY.relative_to(REPO)),
            "what": "vtest.avi (people walking in 794/795 frames) at 5 fps, 768x576, "
            "H.264 baseline crf 23, an IDR every second",
        },
        "static": {
            "file": str(STATIC.relative_to(REPO)),
            "what": "a part of vtest.avi where nothing moves (see window: a patch of the "
            "lawn at the lower left), chosen as the 4:3 window of least mean per-pixel temporal variance over the clip in "
            "which citygw's motion detector finds no motion; cropped, scaled to 768x576, "
            "5 fps, forward then backward (no cut at the loop), H.264 baseline crf 23",
            **static_info,
        },
    }


def decoded_frames(path: Path, count: int, every: int = 1) -> list[np.ndarray]:
    out = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % every == 0:
                out.append(frame.to_ndarray(format="bgr24"))
            if len(out) >= count:
                break
    return out
