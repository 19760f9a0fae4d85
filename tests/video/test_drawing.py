"""Snapshots carry their labels in Chinese, and in ASCII where no CJK font is installed."""

from __future__ import annotations

import cv2
import numpy as np

from gateway.video.detection import Detection
from gateway.video.drawing import CJK_FONTS, Label, draw_labels
from gateway.video.evidence import _label, annotated_snapshot


def test_a_box_is_labelled_with_the_chinese_name_of_what_the_model_saw() -> None:
    van = Detection(651, 42, 725, 99, 0.76, 7, "vehicle", 3, "truck")
    assert _label(van, 651, 42).text == "#3 货车 0.76"
    assert _label(van, 651, 42).ascii_text == "#3 vehicle 0.76"
    walker = Detection(346, 197, 379, 275, 0.8, 0, "person")
    assert _label(walker, 346, 197).text == "行人 0.80"


def test_labels_are_drawn_with_the_cjk_font_setup_installs() -> None:
    assert any(path.is_file() for path in CJK_FONTS), "fonts-wqy-microhei (scripts/setup.sh)"
    canvas = np.full((120, 200, 3), 90, np.uint8)
    label = Label("停留 25 秒", "dwell 25 s", (0, 0), (0, 0, 0), (0, 200, 255), above=False)
    assert draw_labels(canvas, [label], 18) is True
    tag = canvas[0:28, 0:90]
    assert (tag == 0).all(axis=2).mean() > 0.3  # the black tag
    assert (np.abs(tag.astype(int) - [0, 200, 255]).sum(axis=2) < 120).sum() > 20  # the text


def test_a_snapshot_draws_a_caption_tag_in_the_top_left_corner() -> None:
    image = np.full((576, 768, 3), 128, np.uint8)
    jpeg = annotated_snapshot(
        image, [], caption="0505  停留 25 秒", caption_ascii="0505 dwell 25 s"
    )
    picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert picture[2:10, 2:10].mean() < 40  # the dark tag behind the caption
    assert abs(picture[300:310, 300:310].astype(int) - 128).max() < 8  # the rest untouched
