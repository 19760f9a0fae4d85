"""Street vending (0504) on a wide view: the stall zone's crop makes a small chair visible.

The stall scene of test_stall_scene (a real photograph of a chair on vtest's grass beside
one of vtest's walkers standing still; `gateway.video.testcam.staged.stall_scene`), on
vtest's whole 768x576 frame instead of a 384x288 window: the chair as large as a standing
person's waist (54 px), which YOLOX-Nano at 416 does not find on the whole frame
(0.11-0.22, below min_score). With the zone crop (`gateway.video.analysis.zone_crops`, on by
default for a dwell rule with with_any), the detector also looks at the zone's crop while
the keeper stands in it, sees the chair there, and the 0504 fires; with it off, it does not.

Four cameras in one pipeline, each with a 0501 rule (a person staying put) and the 0504
rule (the same, with a stall object in the zone): keeper and chair with the zone crop fire
one 0504 and one 0501; the same frames with the 0504 rule's zone crop off fire the 0501
only (the keeper is seen on the whole frame; the chair is not); the keeper alone fires the
0501 only; the chair alone fires nothing and costs no zone crop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway import bootstrap
from gateway.config import Config
from gateway.contract import EvidenceRole
from gateway.video.analysis.settings import ZONE_CROP_EVERY_S, DwellRule
from gateway.video.analysis.tracking import TrackedObject
from gateway.video.analysis.zone_crops import crop_region
from gateway.video.detection import Detection
from gateway.video.testcam.staged import (
    STALL_VIEW,
    CutOut,
    StallScene,
    cut_out_with_mask,
    stall_scene,
)

from ..conftest import FIXTURES_DIR
from ..foundation.test_config import run_check
from .conftest import MODELS_DIR, VTEST
from .helpers import CandidateCollector, box_outline_drawn, frames_of
from .test_pipeline import Edge
from .test_stall_scene import STALL, chairs_at, overlap

STALL_DIR = FIXTURES_DIR / "stall"
WIDTH, HEIGHT = 768, 576


def _in_frame(x: float, y: float) -> list[float]:
    """A point of the stall view (fractions of 384x288) as fractions of vtest's frame."""
    x1, y1, x2, y2 = STALL_VIEW
    return [round((x1 + x * (x2 - x1)) / WIDTH, 4), round((y1 + y * (y2 - y1)) / HEIGHT, 4)]


#: test_stall_scene's zone (the grass at the walkway's edge), where it is in the whole frame
EDGE: dict[str, Any] = {
    "polygon": [_in_frame(0.05, 0.75), _in_frame(0.5, 0.75), _in_frame(0.5, 1.0),
                _in_frame(0.05, 1.0)],
    "name": "人行道边",
}  # fmt: skip
SCENE_S = 20.0
CAMERAS = ("stall", "crop-off", "keeper", "chair")


def rules(zone_crop: bool) -> list[dict[str, Any]]:
    vending: dict[str, Any] = {
        "id": "stall", "type": "dwell", "event_code": "0504", "classes": ["person"],
        "zone": "edge", "min_dwell_s": 8, "with_any": STALL,
    }  # fmt: skip
    if not zone_crop:
        vending["zone_crop_every_s"] = 0
    stay = {"id": "stay", "type": "dwell", "event_code": "0501", "classes": ["person"],
            "zone": "edge", "min_dwell_s": 8}  # fmt: skip
    return [stay, vending]


@pytest.fixture(scope="module")
def chair() -> CutOut:
    return cut_out_with_mask(STALL_DIR / "chair.webp", STALL_DIR / "chair-mask.png")


@pytest.fixture(scope="module")
def scenes(chair: CutOut) -> dict[str, StallScene]:
    if not VTEST.is_file():
        pytest.fail(f"{VTEST} missing: run scripts/setup.sh")
    stall = stall_scene(VTEST, chair, seconds=SCENE_S, view=None)
    return {
        "stall": stall,
        "crop-off": stall,
        "keeper": stall_scene(VTEST, None, seconds=SCENE_S, view=None),
        "chair": stall_scene(VTEST, chair, keeper=False, seconds=SCENE_S, view=None),
    }


def test_the_zone_crop_finds_the_chair_that_vtests_whole_frame_loses(
    scenes: dict[str, StallScene], coco_detector: Any
) -> None:
    scene = scenes["stall"]
    assert scene.stall is not None and scene.keeper is not None
    assert scene.stall[3] - scene.stall[1] == 54  # a standing person's waist (97 px tall)
    picked = list(range(scene.keeper_from, len(scene.frames), 30))
    frames = [scene.frames[i] for i in picked]
    # the whole frame: below what the pipeline keeps (video.analysis.min_score, 0.35)
    wholes = coco_detector.detect(frames)
    assert all(max(chairs_at(found, scene.stall), default=0) < 0.35 for found in wholes)
    # the zone's crop as the pipeline cuts it around the keeper standing there
    x1, y1, x2, y2 = scene.keeper
    keeper = Detection(x1, y1, x2, y2, score=0.9, class_id=0, label="person")
    staying = TrackedObject(1, keeper, 0.0, 0.0, 0.0, keeper.bottom_centre, stationary=True)
    region = crop_region(EDGE["polygon"], [staying], (HEIGHT, WIDTH), 416)
    assert region is not None
    crops = [f[region.y1 : region.y2, region.x1 : region.x2] for f in frames]
    looks = coco_detector.detect(crops)
    stall = (
        scene.stall[0] - region.x1,
        scene.stall[1] - region.y1,
        scene.stall[2] - region.x1,
        scene.stall[3] - region.y1,
    )
    assert all(max(chairs_at(found, stall), default=0) >= 0.5 for found in looks)


@pytest.fixture
def edge(make_config: Callable[..., Config], coco_card: Any) -> Iterator[Edge]:
    del coco_card  # (checks the weights are installed first, with the command to run)
    camera = {"rtsp_url": "rtsp://127.0.0.1:8554/main", "grid_code": "32070700100101"}
    config = make_config(
        video={
            "cameras": [{"id": name, **camera} for name in CAMERAS],
            "analysis": {
                "cameras": {
                    name: {"zones": {"edge": EDGE}, "rules": rules(name != "crop-off")}
                    for name in CAMERAS
                },
                "models_dir": str(MODELS_DIR),
                "motion_batch_s": 0,  # frames are stepped one at a time
            },
        }
    )
    run = Edge(config, detector=None)
    yield run
    run.close()


@pytest.fixture
def collector(make_config: Callable[..., Config]) -> Iterator[CandidateCollector]:
    config = make_config()
    collected = CandidateCollector(config, bootstrap.topics(config).all_candidates)
    yield collected
    collected.close()


def test_on_the_whole_frame_the_zone_crop_makes_the_keeper_and_chair_fire_one_0504(
    edge: Edge, collector: CandidateCollector, scenes: dict[str, StallScene]
) -> None:
    fed = {name: frames_of(scene.frames[::2], name) for name, scene in scenes.items()}
    for step in range(len(fed["stall"])):  # 5 fps of video, every frame analysed
        for frames in fed.values():
            edge.pipeline.submit(frames[step])
            assert edge.pipeline.wait_idle(60)
    collector.wait_for(4, timeout=30)
    published = collector.wait_for(50, timeout=3)  # and nothing more comes
    firsts = [c for c in published if "update_of" not in c.facts]
    fired = sorted((c.source.id, c.facts["rule_id"]) for c in firsts)
    assert fired == [
        ("crop-off", "stay"),
        ("keeper", "stay"),
        ("stall", "stall"),
        ("stall", "stay"),
    ], [(c.source.id, c.facts["rule_id"], c.facts["box"], c.facts.get("with")) for c in firsts]

    (vending,) = [c for c in firsts if c.facts["rule_id"] == "stall"]
    scene = scenes["stall"]
    assert scene.keeper is not None
    assert vending.event_code == "0504" and vending.location.zone_id == "edge"
    assert vending.facts["label"] == "person" and vending.facts["dwell_s"] >= 8
    assert vending.facts["with"] == ["chair"]
    box = vending.facts["box"]
    assert overlap(box, scene.keeper) > 0.5
    (snapshot,) = [e for e in vending.evidence if e.role is EvidenceRole.SNAPSHOT]
    assert snapshot.media_type == "image/jpeg"
    fired_on = fed["stall"][vending.facts["frame_seq"]].image
    assert box_outline_drawn(snapshot.raw_bytes(), fired_on, box)

    # what the crop cost: extra detector passes, only where someone stays in the zone
    cameras = edge.pipeline.metrics().cameras
    looks = {name: cameras[name].zone_crops for name in CAMERAS}
    passes = {name: cameras[name].frames_detected for name in CAMERAS}
    print(f"zone crops {looks} over {passes} frames detected, {SCENE_S:g} s of video each")
    assert looks["crop-off"] == 0 and looks["chair"] == 0
    # one look each 2 s (the default) once the keeper stands still (from about 7 s on)
    assert 1 <= looks["stall"] <= SCENE_S / 2 and 1 <= looks["keeper"] <= SCENE_S / 2


def test_config_check_refuses_a_zone_crop_without_a_stall_or_a_zone_in_chinese(
    tmp_path: Path,
) -> None:
    camera = (
        "video:\n  analysis:\n    cameras:\n      gate:\n"
        "        zones:\n          edge: {polygon: [[0, 0], [1, 0], [1, 1]]}\n"
        "        rules:\n"
    )
    cases = {
        "no stall": "          - {id: stay, type: dwell, event_code: '0501', classes: [person], "
        "zone: edge, min_dwell_s: 8, zone_crop_every_s: 2}\n",
        "no zone": "          - {id: stay, type: dwell, event_code: '0504', classes: [person], "
        "with_any: [chair], min_dwell_s: 8, zone_crop_every_s: 2}\n",
    }
    for name, rule in cases.items():
        file = tmp_path / f"{name}.yaml"
        file.write_text(camera + rule)
        said = run_check(file).stderr
        assert (
            "video.analysis.cameras.gate.rules.0.dwell（第 8 行）：取值无效：rule 'stay': " in said
        )
        assert "zone_crop_every_s looks in the rule's zone for its with_any objects" in said
    file = tmp_path / "negative.yaml"
    file.write_text(
        camera + cases["no zone"].replace("zone_crop_every_s: 2", "zone_crop_every_s: -1")
    )
    said = run_check(file).stderr
    assert "rules.0.dwell.zone_crop_every_s（第 8 行）：应大于或等于 0" in said
    file.write_text(
        camera + cases["no stall"].replace("zone_crop_every_s: 2", "zone_crop_every_s: 0")
    )
    assert run_check(file).returncode == 0
    rule = DwellRule.model_validate(
        {"id": "s", "event_code": "0504", "classes": ["person"], "zone": "edge",
         "min_dwell_s": 8, "with_any": ["chair"]}
    )  # fmt: skip
    assert rule.zone_crop_s == ZONE_CROP_EVERY_S == 2.0  # on by default where it can work
    assert rule.model_copy(update={"with_any": []}).zone_crop_s == 0
