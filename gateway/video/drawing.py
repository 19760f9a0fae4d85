"""Labels drawn on snapshots, in Chinese when a CJK font is installed.

OpenCV's Hershey fonts draw ASCII only, and operators read Chinese: a box reads
"#3 小汽车 0.82", the caption "0505 停留 125 秒". Text is drawn with Pillow in the first
CJK font found (Debian's fonts-wqy-microhei, which setup installs); where none is, the
same text falls back to an ASCII rendering with OpenCV (English label names, "s"), so a
snapshot is never without its labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

#: CJK fonts looked for, in order (Debian package in brackets)
CJK_FONTS = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),  # fonts-wqy-microhei
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),  # fonts-wqy-zenhei
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),  # fonts-noto-cjk
)


@dataclass(frozen=True, slots=True)
class Label:
    """A text on a filled tag: ``at`` is the tag's top-left corner (pixels)."""

    text: str  # what a person reads (may be Chinese)
    ascii_text: str  # the same for a font without Chinese
    at: tuple[int, int]
    background: tuple[int, int, int]  # BGR
    colour: tuple[int, int, int]  # BGR
    above: bool = True  # place the tag above ``at`` (a box's label), else below it


@lru_cache(maxsize=8)
def _font(size: int) -> Any:
    """A Pillow font of ``size`` px from the first CJK font present, or None."""
    try:
        from PIL import ImageFont
    except ImportError:
        return None
    for path in CJK_FONTS:
        if path.is_file():
            try:
                return ImageFont.truetype(str(path), size)
            except OSError:
                continue
    return None


def draw_labels(canvas: np.ndarray, labels: Sequence[Label], size: int) -> bool:
    """Draw ``labels`` on ``canvas`` (BGR, in place), ``size`` px high; True when in
    Chinese (a CJK font was found), False when the ASCII fallback was used."""
    font = _font(size)
    if font is None:
        _draw_ascii(canvas, labels, size)
        return False
    from PIL import Image, ImageDraw

    height, width = canvas.shape[:2]
    picture = Image.fromarray(canvas[..., ::-1])
    draw = ImageDraw.Draw(picture)
    for label in labels:
        left, top, right, bottom = draw.textbbox((0, 0), label.text, font=font)
        w, h = right - left + 6, bottom - top + 6
        x = min(max(0, label.at[0]), max(0, width - w))
        y = label.at[1] - h if label.above else label.at[1]
        if y < 0:
            y = label.at[1] if label.above else 0
        y = min(max(0, y), max(0, height - h))
        draw.rectangle((x, y, x + w, y + h), fill=label.background[::-1])
        draw.text((x + 3 - left, y + 3 - top), label.text, font=font, fill=label.colour[::-1])
    canvas[...] = np.asarray(picture)[..., ::-1]
    return True


def _draw_ascii(canvas: np.ndarray, labels: Sequence[Label], size: int) -> None:
    height, width = canvas.shape[:2]
    scale = max(0.4, size / 30)
    for label in labels:
        text = label.ascii_text.encode("ascii", "replace").decode("ascii")
        (tw, th), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        x = min(max(0, label.at[0]), max(0, width - tw - 6))
        y = label.at[1] - th - baseline - 6 if label.above else label.at[1]
        if y < 0:
            y = label.at[1] if label.above else 0
        y = min(max(0, y), max(0, height - th - baseline - 6))
        cv2.rectangle(canvas, (x, y), (x + tw + 6, y + th + baseline + 6), label.background, -1)
        cv2.putText(
            canvas,
            text,
            (x + 3, y + th + 3),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            label.colour,
            1,
            cv2.LINE_AA,
        )
