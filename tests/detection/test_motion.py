"""Motion gating on synthetic scenes (a still background with sensor noise, a moving block)."""

from __future__ import annotations

import numpy as np

from gateway.video.analysis.motion import MotionDetector, Region, plan_crops
from gateway.video.analysis.settings import MotionConfig

RNG = np.random.default_rng(7)
BACKGROUND = RNG.integers(60, 180, size=(576, 768, 3), dtype=np.uint8)


def noisy() -> np.ndarray:
    noise = RNG.normal(0, 3, size=BACKGROUND.shape)
    return np.clip(BACKGROUND + noise, 0, 255).astype(np.uint8)


def with_block(x: int, y: int, size: int = 60) -> np.ndarray:
    image = noisy()
    image[y : y + size, x : x + size] = 250
    return image


def test_a_still_scene_with_sensor_noise_has_no_motion() -> None:
    motion = MotionDetector(MotionConfig())
    assert all(motion.update(noisy()) == [] for _ in range(30))


def test_a_moving_object_gives_a_region_around_it_in_full_frame_pixels() -> None:
    motion = MotionDetector(MotionConfig())
    motion.update(noisy())
    regions = motion.update(with_block(400, 300))
    assert len(regions) == 1
    region = regions[0]
    assert region.x1 <= 400 and region.y1 <= 300 and region.x2 >= 460 and region.y2 >= 360
    assert region.width < 120 and region.height < 120


def test_motion_inside_a_mask_is_ignored() -> None:
    mask = [[(0.4, 0.4), (0.7, 0.4), (0.7, 0.8), (0.4, 0.8)]]
    motion = MotionDetector(MotionConfig(), masks=mask)
    motion.update(noisy())
    assert motion.update(with_block(400, 300)) == []
    assert len(motion.update(with_block(50, 50))) == 1


def test_small_motion_becomes_one_model_sized_crop_and_large_motion_the_full_frame() -> None:
    small = [Region(100, 100, 150, 200)]
    (crop,) = plan_crops(small, (1080, 1920), 640, full_frame_above=0.35, max_crops=2)
    assert (crop.width, crop.height) == (640, 640)
    assert crop.x1 <= 100 and crop.x2 >= 150 and crop.x1 >= 0 and crop.y1 >= 0
    large = [Region(0, 0, 1500, 900)]
    assert plan_crops(large, (1080, 1920), 640, full_frame_above=0.35, max_crops=2) == [
        Region(0, 0, 1920, 1080)
    ]
    assert plan_crops([], (1080, 1920), 640, full_frame_above=0.35, max_crops=2) == []


def test_motion_in_far_corners_needs_two_crops_and_too_many_crops_fall_back_to_full() -> None:
    corners = [Region(10, 10, 60, 60), Region(1850, 1000, 1900, 1060)]
    crops = plan_crops(corners, (1080, 1920), 320, full_frame_above=0.9, max_crops=2)
    assert len(crops) == 2 and all(c.width == 320 and c.height == 320 for c in crops)
    three = [*corners, Region(900, 500, 950, 550)]
    assert plan_crops(three, (1080, 1920), 320, full_frame_above=0.9, max_crops=2) == [
        Region(0, 0, 1920, 1080)
    ]


def test_two_crops_over_half_the_frame_are_one_full_frame_pass() -> None:
    # 416-px crops of a 768x576 frame: two far apart cover 2 x 416 x 416 = 78 % of it, and
    # each crop costs a whole pass of a fixed-size model: one pass over the frame instead
    apart = [Region(20, 20, 60, 100), Region(700, 470, 740, 560)]
    assert plan_crops(apart, (576, 768), 416, full_frame_above=0.35, max_crops=2) == [
        Region(0, 0, 768, 576)
    ]
    # in a 1920x1080 frame two such crops are 17 % of it: two passes at full resolution
    crops = plan_crops(apart, (1080, 1920), 416, full_frame_above=0.35, max_crops=2)
    assert len(crops) == 2
