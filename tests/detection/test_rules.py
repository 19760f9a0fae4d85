"""Rules on recorded detection sequences: each rule type, flicker, occlusion, cooldown, schedule.

Sequences run through the real tracker (ByteTrack) into the real rule engine; frame size
1000 x 1000 so box pixels read as thousandths of the frame.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from gateway.video.analysis.rules import Firing, RuleEngine, in_schedule, point_in_polygon
from gateway.video.analysis.settings import CameraAnalysisConfig, TrackerConfig
from gateway.video.analysis.tracking import ObjectTracker
from gateway.video.detection import Detection

SIZE = (1000, 1000)
START = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai
NO_PARKING = {
    "polygon": [[0.0, 0.5], [0.5, 0.5], [0.5, 1.0], [0.0, 1.0]],
    "grid_code": "32070700100102",
}


def car(x: float, y: float = 700, score: float = 0.8, label: str = "car") -> Detection:
    return Detection(x, y - 80, x + 160, y, score, 2, label)


def person(x: float, y: float = 400, label: str = "person", score: float = 0.7) -> Detection:
    return Detection(x, y - 120, x + 40, y, score, 0, label)


class Scene:
    """Tracker + rules for one camera, stepped at ``fps`` over recorded detections."""

    def __init__(self, config: dict[str, Any], tracker: dict[str, Any] | None = None) -> None:
        camera = CameraAnalysisConfig.model_validate(config)
        self.tracker = ObjectTracker(TrackerConfig.model_validate(tracker or {"stationary_s": 5}))
        self.rules = RuleEngine("cam-1", camera, "Asia/Shanghai")
        self.t = 0.0
        self.firings: list[Firing] = []  # first firings and updates, in order

    @property
    def firsts(self) -> list[Firing]:
        return [f for f in self.firings if not f.is_update]

    @property
    def updates(self) -> list[Firing]:
        return [f for f in self.firings if f.is_update]

    def step(
        self, detections: list[Detection], seconds: float = 1.0, wall: datetime | None = None
    ) -> list[Firing]:
        self.t += seconds
        kept = [d for d in detections if self.rules.keeps(d, SIZE)]
        objects = self.tracker.update(kept, self.t)
        fired = self.rules.evaluate(
            objects, self.t, wall or START + timedelta(seconds=self.t), SIZE
        )
        self.firings += fired
        return fired

    def run(self, seconds: int, detections: list[Detection], every: float = 1.0) -> None:
        for _ in range(int(seconds / every)):
            self.step(detections, every)


def parking(min_dwell_s: float = 60, **extra: Any) -> dict[str, Any]:
    rule = {
        "id": "park",
        "type": "dwell",
        "event_code": "0505",
        "classes": ["car", "truck"],
        "zone": "no-parking",
        "min_dwell_s": min_dwell_s,
        **extra,
    }
    return {"zones": {"no-parking": NO_PARKING}, "rules": [rule]}


def test_a_car_that_parks_in_the_zone_fires_once_after_the_dwell_time_and_not_again() -> None:
    scene = Scene(parking(min_dwell_s=60))
    for x in range(300, 100, -20):  # drives in
        scene.step([car(x)], 0.5)
    scene.run(50, [car(100)])
    assert scene.firings == []  # stationary only after 5 s, then 60 s of dwell
    scene.run(30, [car(100)])
    assert len(scene.firings) == 1
    firing = scene.firings[0]
    assert firing.rule.event_code == "0505" and firing.zone_id == "no-parking"
    assert firing.facts["dwell_s"] >= 60 and firing.facts["objects"][0]["label"] == "car"
    scene.run(300, [car(100)])  # stays five more minutes: updated, not repeated
    assert scene.firsts == [firing]
    assert scene.rules.fired("park")[0].facts["dwell_s"] >= 360
    assert scene.updates and all(u.first is firing for u in scene.updates)


def test_a_car_that_leaves_closes_its_episode_and_one_parking_after_the_cooldown_fires_anew() -> (
    None
):
    scene = Scene(parking(min_dwell_s=30, cooldown_s=120, update_every_s=10))
    scene.run(40, [car(100)])
    assert len(scene.firsts) == 1
    scene.run(30, [])  # drives off: the episode's updates stop
    published = len(scene.firings)
    assert scene.rules.fired("park")[0].facts["dwell_s"] < 40  # its dwell stopped growing
    scene.run(130, [])  # the place cools down: the episode is over, its end published
    assert scene.rules.fired("park") == [] and len(scene.firings) == published + 1
    assert "ended_at" in scene.firings[-1].facts
    scene.run(40, [car(110)])  # another car parks there
    assert len(scene.firsts) == 2
    assert scene.firsts[1].facts["track_id"] != scene.firsts[0].facts["track_id"]


STALL = ["umbrella", "chair", "table", "bench", "suitcase"]


def vending(**extra: Any) -> dict[str, Any]:
    rule = {"id": "vend", "type": "dwell", "event_code": "0504", "classes": ["person"],
            "zone": "no-parking", "min_dwell_s": 30, "with_any": STALL, **extra}  # fmt: skip
    return {"zones": {"no-parking": NO_PARKING}, "rules": [rule]}


def umbrella(x: float, y: float = 720) -> Detection:
    return Detection(x, y - 90, x + 120, y, 0.6, 25, "umbrella")


def test_a_person_standing_at_a_stall_fires_street_vending_with_the_stall_objects() -> None:
    scene = Scene(vending())
    scene.run(45, [person(100, 700), umbrella(160)])
    assert len(scene.firsts) == 1
    firing = scene.firsts[0]
    assert firing.rule.event_code == "0504" and firing.facts["with"] == ["umbrella"]
    assert firing.facts["dwell_s"] >= 30 and firing.facts["objects"][0]["label"] == "person"


def test_a_person_standing_alone_or_a_stall_left_alone_is_not_vending() -> None:
    alone = Scene(vending())
    alone.run(120, [person(100, 700)])
    assert alone.firings == []
    unattended = Scene(vending())
    unattended.run(120, [umbrella(160)])
    assert unattended.firings == []
    elsewhere = Scene(vending())  # the umbrella outside the zone does not make a stall
    elsewhere.run(120, [person(100, 700), umbrella(700, 300)])
    assert elsewhere.firings == []


def test_a_car_that_leaves_before_the_dwell_time_fires_nothing() -> None:
    scene = Scene(parking(min_dwell_s=60))
    scene.run(40, [car(100)])
    for x in range(100, 900, 50):
        scene.step([car(x)], 0.5)
    scene.run(60, [])
    assert scene.firings == []


def test_a_car_moving_through_the_zone_is_not_parked() -> None:
    scene = Scene(parking(min_dwell_s=10))
    for x in range(0, 400, 4):  # crawls 100 steps of 4 px at 1 fps: never still for 5 s
        scene.step([car(x)], 1.0)
    assert scene.firings == []


def test_a_car_parked_outside_the_zone_fires_nothing() -> None:
    scene = Scene(parking(min_dwell_s=10))
    scene.run(60, [car(700)])  # bottom-centre x = 780: right of the zone
    assert scene.firings == []


def test_detection_flicker_does_not_restart_the_dwell_timer() -> None:
    scene = Scene(parking(min_dwell_s=30))
    for second in range(45):
        scene.step([car(100)] if second % 3 else [], 1.0)  # missed every third frame
    assert len(scene.firings) == 1


def test_a_new_track_id_after_occlusion_does_not_make_a_second_case_for_the_same_car() -> None:
    scene = Scene(
        parking(min_dwell_s=20), tracker={"stationary_s": 5, "lost_frames": 2, "forget_s": 3}
    )
    scene.run(30, [car(100)])
    assert len(scene.firings) == 1
    first_track = scene.firings[0].objects[0].track_id
    scene.run(10, [])  # a bus stands in front long enough for the track to be lost
    scene.run(40, [car(102)])
    ids = {o.track_id for o in scene.tracker.objects}
    assert first_track not in ids  # the tracker really did lose it
    assert len(scene.firings) == 1


def test_a_part_of_a_parked_car_found_as_an_object_of_its_own_is_the_same_car() -> None:
    scene = Scene(parking(min_dwell_s=20))
    whole = car(100)  # 160 x 80
    front = Detection(110, 640, 170, 698, 0.5, 2, "car")  # its front, inside the whole box
    scene.run(22, [whole])
    scene.run(60, [whole, front])  # the part becomes a track, stands still, dwells
    assert len(scene.firsts) == 1


def test_per_class_min_score_and_min_area_filter_detections() -> None:
    config = parking(min_dwell_s=10)
    config["classes"] = {"car": {"min_score": 0.6, "min_area": 0.005}}
    scene = Scene(config)
    scene.run(30, [car(100, score=0.5)])  # too unsure
    scene.run(30, [Detection(100, 690, 150, 700, 0.9, 2, "car")])  # 500 px2 < 0.5 % of frame
    assert scene.firings == []
    scene.run(30, [car(100, score=0.9)])
    assert len(scene.firings) == 1


def crowd(min_count: int = 3, min_duration_s: float = 5, cooldown_s: float = 600) -> dict[str, Any]:
    return {
        "zones": {"square": {"polygon": [[0, 0], [1, 0], [1, 0.6], [0, 0.6]]}},
        "rules": [
            {
                "id": "crowd",
                "type": "count",
                "event_code": "0409",
                "classes": ["person"],
                "zone": "square",
                "min_count": min_count,
                "min_duration_s": min_duration_s,
                "cooldown_s": cooldown_s,
            }
        ],
    }


def test_a_crowd_that_holds_for_the_duration_fires_one_case_for_the_episode() -> None:
    scene = Scene(crowd(min_count=3, min_duration_s=5))
    group = [person(100), person(300), person(500)]
    scene.run(4, group)
    assert scene.firings == []
    scene.run(20, group)
    assert len(scene.firings) == 1
    assert scene.firings[0].facts["count"] == 3 and scene.firings[0].key.startswith("zone-square")
    scene.run(10, [*group, person(700)])
    assert scene.rules.fired("crowd")[0].facts["max_count"] == 4  # updated, not repeated
    assert len(scene.firsts) == 1


def test_a_crowd_count_that_flickers_below_the_threshold_keeps_its_episode() -> None:
    scene = Scene(crowd(min_count=3, min_duration_s=6))
    group = [person(100), person(300), person(500)]
    for second in range(12):
        scene.step(group if second % 4 else group[:2], 1.0)
    assert len(scene.firings) == 1


def test_two_people_are_not_a_crowd_of_three() -> None:
    scene = Scene(crowd(min_count=3, min_duration_s=1))
    scene.run(30, [person(100), person(300), person(100, y=900)])  # the third stands outside
    assert scene.firings == []


def test_a_new_crowd_episode_within_the_cooldown_fires_nothing_and_after_it_fires_again() -> None:
    scene = Scene(crowd(min_count=2, min_duration_s=1, cooldown_s=60))
    pair = [person(100), person(300)]
    scene.run(5, pair)
    scene.run(10, [])
    scene.run(5, pair)
    assert len(scene.firings) == 1
    scene.run(60, [])
    scene.run(5, pair)
    assert len(scene.firsts) == 2
    (end,) = scene.updates  # the first episode's end, when its cooldown ran out
    assert end.first is scene.firsts[0] and "ended_at" in end.facts


def fallen(min_duration_s: float = 2) -> dict[str, Any]:
    return {
        "zones": {"lawn": {"polygon": [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]}},
        "rules": [
            {
                "id": "fall",
                "type": "fallen",
                "event_code": "0497",
                "zone": "lawn",
                "min_duration_s": min_duration_s,
            }
        ],
    }


def test_a_person_who_falls_and_stays_down_fires_one_urgent_case() -> None:
    scene = Scene(fallen(min_duration_s=3))
    scene.run(5, [person(100, y=800)])
    assert scene.firings == []
    down = Detection(80, 760, 220, 800, 0.6, 1, "fallen_person")
    scene.run(2, [down])
    assert scene.firings == []
    scene.run(10, [down])
    assert len(scene.firings) == 1 and scene.firings[0].rule.urgent
    assert scene.firings[0].facts["down_s"] >= 3


def test_a_stumble_shorter_than_the_duration_fires_nothing() -> None:
    scene = Scene(fallen(min_duration_s=3))
    scene.run(1, [Detection(80, 760, 220, 800, 0.6, 1, "fallen_person")])
    scene.run(30, [person(100, y=800)])
    assert scene.firings == []


def line(direction: str = "any") -> dict[str, Any]:
    return {
        "rules": [
            {
                "id": "gate",
                "type": "line",
                "event_code": "0599",
                "classes": ["person"],
                "line": [[0.5, 0.0], [0.5, 1.0]],
                "direction": direction,
            }
        ]
    }


def test_walking_across_the_line_fires_once_per_track() -> None:
    scene = Scene(line())
    for x in range(300, 700, 20):
        scene.step([person(x)], 0.2)
    assert len(scene.firings) == 1
    for x in range(700, 300, -20):  # and back: the same track fired already
        scene.step([person(x)], 0.2)
    assert len(scene.firings) == 1


def test_a_directional_line_ignores_crossings_the_other_way() -> None:
    # looking from A (top) to B (bottom), moving to +x crosses to the left-hand side
    scene = Scene(line(direction="left_to_right"))
    for x in range(300, 700, 20):
        scene.step([person(x)], 0.2)
    assert scene.firings == []
    other = Scene(line(direction="right_to_left"))
    for x in range(300, 700, 20):
        other.step([person(x)], 0.2)
    assert len(other.firings) == 1 and other.firings[0].facts["direction"] == "right_to_left"


def test_walking_beside_the_line_fires_nothing() -> None:
    scene = Scene(line())
    for y in range(300, 900, 30):
        scene.step([person(300, y=y)], 0.2)
    assert scene.firings == []


def test_a_rule_outside_its_active_hours_fires_nothing() -> None:
    scene = Scene(parking(min_dwell_s=10, schedule=["20:00-06:00"]))  # night only (local)
    scene.run(60, [car(100)])  # 10:00 local
    assert scene.firings == []
    night = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)  # 22:00 local
    for _ in range(30):
        scene.step([car(100)], 1.0, wall=night)
    assert len(scene.firings) == 1


def test_schedules_and_polygons_read_as_written() -> None:
    from datetime import time

    assert in_schedule([], time(3, 0))
    assert in_schedule(["08:00-20:00"], time(8, 0)) and not in_schedule(
        ["08:00-20:00"], time(20, 0)
    )
    assert in_schedule(["22:00-06:00"], time(23, 30)) and in_schedule(["22:00-06:00"], time(5, 59))
    assert not in_schedule(["22:00-06:00"], time(12, 0))
    square = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
    assert point_in_polygon((0.5, 0.5), square) and not point_in_polygon((1.5, 0.5), square)


# --------------------------------------------------------------------------- updates


def test_a_parked_car_makes_one_first_candidate_then_updates_at_the_interval_as_dwell_grows() -> (
    None
):
    scene = Scene(parking(min_dwell_s=60, update_every_s=60))
    scene.run(20 * 60, [car(100)])  # twenty minutes, one detector pass a second
    (first,) = scene.firsts
    updates = scene.updates
    assert len(updates) >= 3
    assert [u.seq for u in updates] == list(range(1, len(updates) + 1))
    assert all(u.first is first for u in updates)
    # the same subject every time, so the core records each update on the first's case
    assert {u.facts["track_id"] for u in updates} == {first.facts["track_id"]}
    assert first.facts["track_id"] == "park:track-1"
    published = [first, *updates]
    for before, after in itertools.pairwise(published):
        assert after.at - before.at >= 60  # never more often than configured
        assert after.facts["dwell_s"] >= 1.5 * before.facts["dwell_s"]  # grown materially
    # what was handed out stays as it was published
    assert first.facts["dwell_s"] < updates[-1].facts["dwell_s"]


def test_without_an_update_interval_a_fired_condition_is_never_published_again() -> None:
    scene = Scene(parking(min_dwell_s=60, update_every_s=0))
    scene.run(20 * 60, [car(100)])
    assert len(scene.firings) == 1
    assert scene.rules.fired("park")[0].facts["dwell_s"] >= 1100  # still kept current


def test_a_growing_crowd_is_updated_under_one_zone_subject_and_a_later_crowd_is_a_new_one() -> None:
    scene = Scene(crowd(min_count=3, min_duration_s=5, cooldown_s=60))
    group = [person(100), person(200), person(300)]
    scene.run(30, group)
    (first,) = scene.firsts
    subject = first.facts["track_id"]
    assert subject.startswith("crowd:zone-square-")
    scene.run(20, group)  # the same three: the held time has not grown by half yet
    assert scene.updates == []
    scene.run(60, [*group, person(400), person(500)])  # more people, a minute later
    (update,) = scene.updates
    assert update.facts["track_id"] == subject and update.facts["max_count"] == 5
    assert update.facts["count"] == 5 and len(update.facts["objects"]) == 5
    scene.run(5, [])  # the crowd disperses ...
    scene.run(20, group)  # ... and comes back within the cooldown: the same episode
    assert len(scene.firsts) == 1
    scene.run(120, [])  # gone for longer than the cooldown
    scene.run(10, group)
    assert len(scene.firsts) == 2
    assert scene.firsts[1].facts["track_id"] != subject  # a new condition, a new case


def test_a_new_track_id_in_a_fired_place_continues_its_episode_with_updates() -> None:
    scene = Scene(
        parking(min_dwell_s=20, update_every_s=30),
        tracker={"stationary_s": 5, "lost_frames": 2, "forget_s": 3},
    )
    scene.run(30, [car(100)])
    (first,) = scene.firsts
    scene.run(10, [])  # hidden by a bus: the track is lost
    scene.run(120, [car(102)])  # the same car under a new track id
    assert scene.firsts == [first]
    assert scene.updates, "the car still parked should update its case"
    update = scene.updates[-1]
    assert update.facts["track_id"] == first.facts["track_id"]
    assert update.objects[0].track_id != first.objects[0].track_id
    # dwell counts from when the car first stood there, not from its new track id
    assert update.facts["dwell_s"] >= update.at - first.at + first.facts["dwell_s"] - 1


def test_two_rules_on_one_track_are_two_subjects() -> None:
    config = fallen(min_duration_s=2)
    config["rules"].append(
        {"id": "gate", "type": "line", "event_code": "0599", "classes": ["fallen_person"],
         "line": [[0.5, 0.0], [0.5, 1.0]]}
    )  # fmt: skip
    scene = Scene(config)
    for x in range(400, 560, 40):  # crawls over the line, then lies still
        scene.step([Detection(x, 760, x + 140, 800, 0.6, 1, "fallen_person")], 0.5)
    scene.run(5, [Detection(560, 760, 700, 800, 0.6, 1, "fallen_person")])
    subjects = {f.rule.id: f.facts["track_id"] for f in scene.firsts}
    assert subjects == {"gate": "gate:track-1", "fall": "fall:track-1"}


def test_the_tracker_run_keeps_subjects_of_a_restarted_gateway_apart() -> None:
    camera = CameraAnalysisConfig.model_validate(parking(min_dwell_s=5))
    subjects = []
    for run in ("19bd0a1c2e0", "19bd0a9f7a1"):  # two runs: track ids start at 1 again
        tracker = ObjectTracker(TrackerConfig(stationary_s=1))
        rules = RuleEngine("cam-1", camera, "Asia/Shanghai", run=run)
        for second in range(1, 20):
            objects = tracker.update([car(100)], float(second))
            for firing in rules.evaluate(objects, float(second), START, SIZE):
                subjects.append(firing.facts["track_id"])
    assert subjects == ["park:track-1@19bd0a1c2e0", "park:track-1@19bd0a9f7a1"]


def test_an_update_is_a_new_candidate_naming_the_first_and_keeping_its_subject() -> None:
    from gateway.video.analysis.candidate import build_candidate, candidate_id
    from gateway.video.frame import Frame

    scene = Scene(parking(min_dwell_s=60, update_every_s=60))
    scene.run(10 * 60, [car(100)])
    first, update = scene.firsts[0], scene.updates[0]
    camera = CameraAnalysisConfig.model_validate(parking())
    image = np.zeros((SIZE[0], SIZE[1], 3), np.uint8)

    def candidate(firing: Firing):  # type: ignore[no-untyped-def]
        frame = Frame("cam-1", int(firing.at), firing.wall, firing.at, image)
        return build_candidate(firing, frame, camera, [], model="m")

    one, two = candidate(first), candidate(update)
    assert one.id == candidate_id(first) and two.id != one.id
    assert "update_of" not in one.facts
    assert two.facts["update_of"] == one.id and two.facts["update_seq"] == 1
    assert two.facts["track_id"] == one.facts["track_id"] == "park:track-1"
    assert two.location.camera_id == one.location.camera_id == "cam-1"
    assert two.facts["dwell_s"] > one.facts["dwell_s"]


def test_a_clearer_sighting_is_published_as_an_update_before_the_dwell_grows_by_half() -> None:
    scene = Scene(parking(min_dwell_s=300, update_every_s=60))
    scene.run(320, [car(100, score=0.5)])
    (first,) = scene.firsts
    scene.run(90, [car(100, score=0.5)])  # dwell 300 -> 390: not half again, same score
    assert scene.updates == []
    scene.run(5, [car(100, score=0.9)])  # the car seen clearly: a better snapshot
    (update,) = scene.updates
    assert update.facts["objects"][0]["score"] == 0.9 and update.first is first


def _ended(scene: Scene) -> list[Firing]:
    return [f for f in scene.firings if "ended_at" in f.facts]


def test_a_parked_car_that_leaves_ends_its_episode_once_at_the_time_it_was_last_seen() -> None:
    scene = Scene(parking(min_dwell_s=30, cooldown_s=120, update_every_s=10))
    scene.run(100, [car(100)])  # parked; seen last at START + 100 s
    assert _ended(scene) == []  # still there: no update says it ended
    dwell = scene.rules.fired("park")[0].facts["dwell_s"]
    scene.run(60, [])  # gone, but within the cooldown it may come back: not ended yet
    assert _ended(scene) == [] and scene.rules.fired("park") and scene.rules.has_episodes
    scene.run(80, [])  # the cooldown ran out: the episode is over
    (end,) = _ended(scene)
    assert not scene.rules.has_episodes
    first = scene.firsts[0]
    assert end.first is first and end.is_update and end.seq == scene.firings[-2].seq + 1
    assert end.key == first.key and end.facts["track_id"] == first.facts["track_id"]
    assert end.facts["ended_at"] == "2026-01-05T02:01:40.000Z"  # when it was last seen
    assert end.facts["duration_s"] == dwell and end.facts["dwell_s"] == dwell
    assert end.objects == () and end.facts["objects"][0]["label"] == "car"  # as last seen
    assert end.wall > START + timedelta(seconds=200)  # published after the cooldown
    scene.run(300, [])
    assert len(_ended(scene)) == 1  # once


def test_a_car_back_in_its_place_within_the_cooldown_does_not_end_its_episode() -> None:
    scene = Scene(parking(min_dwell_s=30, cooldown_s=120))
    scene.run(60, [car(100)])
    scene.run(40, [])  # hidden behind a bus
    scene.run(200, [car(100)])  # a new track id in the same place: the same episode
    assert _ended(scene) == [] and len(scene.firsts) == 1


def test_a_crowd_that_disperses_and_a_fallen_person_who_gets_up_end_their_episodes() -> None:
    scene = Scene(crowd(min_count=3, min_duration_s=5, cooldown_s=30))
    group = [person(100), person(300), person(500)]
    scene.run(20, group)
    scene.run(60, [])
    (end,) = _ended(scene)
    assert end.first is scene.firsts[0] and end.facts["max_count"] == 3
    assert end.facts["ended_at"] == "2026-01-05T02:00:20.000Z"
    assert end.facts["duration_s"] == end.facts["held_s"] == 19.0
    fall = Scene(fallen(min_duration_s=3) | {"rules": [{**fallen()["rules"][0], "cooldown_s": 30}]})
    down = Detection(80, 760, 220, 800, 0.6, 1, "fallen_person")
    fall.run(10, [down])
    fall.run(60, [person(100, y=800)])  # up and standing: not fallen any more
    (up,) = _ended(fall)
    assert up.first is fall.firsts[0] and up.facts["ended_at"] == "2026-01-05T02:00:10.000Z"


def test_an_episodes_end_is_an_update_of_its_first_candidate_with_ended_at() -> None:
    from gateway.video.analysis.candidate import build_candidate, candidate_id
    from gateway.video.frame import Frame

    scene = Scene(parking(min_dwell_s=30, cooldown_s=60))
    scene.run(50, [car(100)])
    scene.run(100, [])
    (end,) = _ended(scene)
    camera = CameraAnalysisConfig.model_validate(parking())
    frame = Frame("cam-1", 1, end.wall, end.at, np.zeros((SIZE[0], SIZE[1], 3), np.uint8))
    candidate = build_candidate(end, frame, camera, [], model="m")
    assert candidate.facts["update_of"] == candidate_id(scene.firsts[0])
    assert candidate.facts["ended_at"] == end.facts["ended_at"]
    assert candidate.facts["track_id"] == scene.firsts[0].facts["track_id"]
    assert candidate.id not in (candidate_id(f) for f in scene.firings[:-1])
