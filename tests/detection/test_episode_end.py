"""A detection episode's end through the analysis pipeline: the rule engine's last update
(``ended_at``) becomes an update of the first candidate on a real Mosquitto."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

import pytest

from gateway import bootstrap
from gateway.config import Config
from gateway.video.detection import Detection

from .helpers import CandidateCollector
from .test_pipeline import PARKING, Edge, ScriptedDetector, still_frames, video_config

COOLDOWN_S = 60  # the end comes when the place has cooled down, nothing moving meanwhile


@pytest.fixture
def parking_edge(make_config: Callable[..., Config]) -> Iterator[tuple[Edge, list[bool]]]:
    """A pipeline whose scripted detector sees a parked car while ``present[0]``."""
    present = [True]
    parked = Detection(100, 480, 260, 560, 0.9, 2, "car")  # bottom-centre on the lawn
    detector = ScriptedDetector(lambda: [parked] if present[0] else [])
    rule = {**PARKING, "update_every_s": 0, "cooldown_s": COOLDOWN_S}
    config = make_config(video=video_config(600, [rule], recheck_s=5))
    edge = Edge(config, detector)
    yield edge, present
    edge.close()


def test_a_parked_car_that_left_is_published_as_an_update_with_the_time_it_was_last_seen(
    parking_edge: tuple[Edge, list[bool]], make_config: Callable[..., Config]
) -> None:
    edge, present = parking_edge
    config = make_config()
    collector = CandidateCollector(config, bootstrap.topics(config).all_candidates)
    try:
        frames = still_frames(5 * 120)  # 120 s at 5 fps, nothing moves
        for frame in frames[: 5 * 45]:  # parked 45 s: fired at 30 s of dwell
            edge.pipeline.submit(frame)
            assert edge.pipeline.wait_idle(30)
        (first,) = collector.wait_for(1)
        present[0] = False  # it drove off
        for frame in frames[5 * 45 :]:
            edge.pipeline.submit(frame)
            assert edge.pipeline.wait_idle(30)
        first, end = sorted(collector.wait_for(2), key=lambda c: "update_of" in c.facts)
    finally:
        collector.close()
    assert end.facts["update_of"] == first.id and end.facts["track_id"] == first.facts["track_id"]
    last_seen = datetime.fromisoformat(end.facts["ended_at"])
    fired_at = datetime.fromisoformat(first.facts["captured_at"])
    assert fired_at <= last_seen < frames[5 * 45].captured_at  # before it drove off
    assert end.facts["duration_s"] >= 30
    assert "ended_at" not in first.facts  # while it lasted: "still there"
