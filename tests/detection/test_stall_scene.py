"""The street-vending rule (0504 店外经营: a person staying put beside a stall's objects) on
frames composed from real images, through the real detector, tracker and rules.

The stall object is a real photograph of a chair (tests/fixtures/stall/, from Debian's
gcompris-qt-data; its README says where it comes from and how it was cut out), standing
on vtest's grass beside the walkway; the keeper is one of vtest's own walkers, standing
still beside it (`gateway.video.testcam.staged.stall_scene`); vtest's other people walk
past. The camera is a 384x288 view of that stretch at vtest's own pixels: on vtest's whole
768x576 frame at the detector's 416 input, the same chair is too small for YOLOX-Nano,
which the first test records (and the model card says).

Three cameras in one pipeline, each with a 0501 rule (a person staying put) and the 0504
rule (the same, with a stall object in the zone): keeper and chair fire one 0504 and one
0501; the keeper alone fires 0501 only; the chair alone fires nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gateway import bootstrap
from gateway.config import Config
from gateway.contract import EvidenceRole
from gateway.video.detection import Detection
from gateway.video.testcam.staged import (
    STALL_VIEW,
    CutOut,
    StallScene,
    cut_out_with_mask,
    place,
    read_frames,
    stall_scene,
)

from ..conftest import FIXTURES_DIR
from .conftest import MODELS_DIR, VTEST
from .helpers import CandidateCollector, box_outline_drawn, frames_of
from .test_pipeline import Edge

STALL_DIR = FIXTURES_DIR / "stall"
STALL = ["umbrella", "chair", "table", "bench", "suitcase"]
#: the grass at the walkway's edge where the keeper and the chair stand (bottom-centres
#: about (0.22, 0.91) and (0.34, 0.91)); vtest's walkers stay on the walkway above it
EDGE = {"polygon": [[0.05, 0.75], [0.5, 0.75], [0.5, 1.0], [0.05, 1.0]], "name": "人行道边"}
RULES = [
    {"id": "stay", "type": "dwell", "event_code": "0501", "classes": ["person"],
     "zone": "edge", "min_dwell_s": 8},
    {"id": "stall", "type": "dwell", "event_code": "0504", "classes": ["person"],
     "zone": "edge", "min_dwell_s": 8, "with_any": STALL},
]  # fmt: skip
SCENE_S = 20.0


@pytest.fixture(scope="module")
def chair() -> CutOut:
    return cut_out_with_mask(STALL_DIR / "chair.webp", STALL_DIR / "chair-mask.png")


@pytest.fixture(scope="module")
def scenes(chair: CutOut) -> dict[str, StallScene]:
    if not VTEST.is_file():
        pytest.fail(f"{VTEST} missing: run scripts/setup.sh")
    return {
        "stall": stall_scene(VTEST, chair, seconds=SCENE_S),
        "keeper": stall_scene(VTEST, None, seconds=SCENE_S),
        "chair": stall_scene(VTEST, chair, keeper=False, seconds=SCENE_S),
    }


def chairs_at(found: list[Detection], box: tuple[int, int, int, int]) -> list[float]:
    """Scores of chairs found where the pasted one stands."""
    return [
        d.score
        for d in found
        if d.label == "chair" and abs(d.x1 - box[0]) < 15 and abs(d.y2 - box[3]) < 15
    ]


def test_yolox_nano_finds_the_real_chair_in_the_stall_view_and_not_on_vtests_whole_frame(
    chair: CutOut, scenes: dict[str, StallScene], coco_detector: Any
) -> None:
    scene = scenes["stall"]
    assert scene.stall is not None and scene.keeper is not None
    picked = list(range(0, len(scene.frames), 20))
    views = coco_detector.detect([scene.frames[i] for i in picked])
    assert all(max(chairs_at(found, scene.stall), default=0) >= 0.5 for found in views)
    # the same chair at the same place, seen by a camera of vtest's whole 768x576 view
    x1, y1 = STALL_VIEW[:2]
    box = (scene.stall[0] + x1, scene.stall[1] + y1, scene.stall[2] + x1, scene.stall[3] + y1)
    scale = (box[3] - box[1]) / chair.pixels.shape[0]
    frames = read_frames(VTEST, picked[-1] + 1)
    wholes = [place(frames[i], chair, (box[0], box[1]), scale=scale)[0] for i in picked]
    # (below what the pipeline keeps: video.analysis.min_score, 0.35)
    found = coco_detector.detect(wholes)
    assert all(max(chairs_at(each, box), default=0) < 0.35 for each in found)


@pytest.fixture
def edge(make_config: Callable[..., Config], coco_card: Any) -> Iterator[Edge]:
    del coco_card  # (checks the weights are installed first, with the command to run)
    camera = {"rtsp_url": "rtsp://127.0.0.1:8554/main", "grid_code": "32070700100101"}
    config = make_config(
        video={
            "cameras": [{"id": name, **camera} for name in ("stall", "keeper", "chair")],
            "analysis": {
                "cameras": {
                    name: {"zones": {"edge": EDGE}, "rules": RULES}
                    for name in ("stall", "keeper", "chair")
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


def test_a_person_staying_beside_a_real_chair_fires_one_0504_and_without_it_or_them_none(
    edge: Edge, collector: CandidateCollector, scenes: dict[str, StallScene]
) -> None:
    assert [u.name for u in edge.pipeline.models_of("stall")] == ["yolox-nano"]
    fed = {name: frames_of(scene.frames[::2], name) for name, scene in scenes.items()}
    for step in range(len(fed["stall"])):  # 5 fps of video, every frame analysed
        for frames in fed.values():
            edge.pipeline.submit(frames[step])
            assert edge.pipeline.wait_idle(60)
    collector.wait_for(3, timeout=30)
    published = collector.wait_for(50, timeout=3)  # and nothing more comes
    firsts = [c for c in published if "update_of" not in c.facts]
    fired = sorted((c.source.id, c.facts["rule_id"]) for c in firsts)
    assert fired == [("keeper", "stay"), ("stall", "stall"), ("stall", "stay")], [
        (c.source.id, c.facts["rule_id"], c.facts["box"], c.facts.get("with")) for c in firsts
    ]

    (vending,) = [c for c in firsts if c.facts["rule_id"] == "stall"]
    scene = scenes["stall"]
    assert scene.keeper is not None
    assert vending.event_code == "0504" and vending.location.zone_id == "edge"
    assert vending.facts["label"] == "person" and vending.facts["model"] == "yolox-nano"
    assert vending.facts["dwell_s"] >= 8 and vending.facts["with"] == ["chair"]
    box = vending.facts["box"]
    assert overlap(box, scene.keeper) > 0.5
    (snapshot,) = [e for e in vending.evidence if e.role is EvidenceRole.SNAPSHOT]
    assert snapshot.media_type == "image/jpeg"
    fired_on = fed["stall"][vending.facts["frame_seq"]].image
    assert box_outline_drawn(snapshot.raw_bytes(), fired_on, box)


def overlap(box: list[float], staged: tuple[int, int, int, int]) -> float:
    """Intersection over the staged box's area."""
    ix = max(0.0, min(box[2], staged[2]) - max(box[0], staged[0]))
    iy = max(0.0, min(box[3], staged[3]) - max(box[1], staged[1]))
    return ix * iy / ((staged[2] - staged[0]) * (staged[3] - staged[1]))
