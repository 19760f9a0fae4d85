"""Case titles the rules write are Chinese: object names from gateway.object_labels, the
zone's configured name, the time so far."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from gateway.object_labels import OBJECT_LABELS, UNKNOWN_OBJECT, object_name
from gateway.video.analysis.rules import DEFAULT_TITLES
from gateway.video.detection import Detection
from tests.detection.test_rules import NO_PARKING, Scene, car, parking, person

LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
CARDS = Path(__file__).resolve().parents[2] / "models" / "cards"


def test_a_parked_car_is_titled_in_chinese_with_the_zone_name_and_the_dwell() -> None:
    config = parking(min_dwell_s=60)
    config["zones"]["no-parking"] = {**NO_PARKING, "name": "禁停区"}
    scene = Scene(config)
    scene.run(80, [car(100)])
    [firing] = scene.firsts
    seconds = round(firing.facts["dwell_s"])
    assert firing.title == f"小汽车在禁停区停留 {seconds} 秒"


def test_a_fall_on_the_lawn_reads_in_chinese() -> None:
    scene = Scene(
        {
            "zones": {"lawn": {"polygon": [[0, 0.5], [1, 0.5], [1, 1], [0, 1]], "name": "草坪"}},
            "rules": [{"id": "fall", "type": "fallen", "event_code": "0497", "zone": "lawn"}],
        }
    )
    scene.run(10, [Detection(80, 760, 220, 800, 0.6, 1, "fallen_person")])
    [firing] = scene.firsts
    assert firing.title.startswith("草坪有人倒地 ") and firing.title.endswith(" 秒")
    assert not LATIN_WORD.search(firing.title)


def test_a_crowd_on_the_whole_view_names_the_view_and_the_people() -> None:
    scene = Scene(
        {
            "rules": [
                {
                    "id": "crowd",
                    "type": "count",
                    "event_code": "0409",
                    "classes": ["person"],
                    "min_count": 3,
                    "min_duration_s": 2,
                }
            ]
        }
    )
    scene.run(5, [person(100), person(300), person(500)])
    [firing] = scene.firsts
    assert firing.title == "监控画面有 3 个行人聚集"


def test_every_default_title_is_chinese_around_its_fields() -> None:
    for template in DEFAULT_TITLES.values():
        assert not LATIN_WORD.search(re.sub(r"\{\w+\}", "", template)), template


def test_every_label_of_every_model_card_has_a_chinese_name() -> None:
    for card in CARDS.glob("*.yaml"):
        doc = yaml.safe_load(card.read_text(encoding="utf-8"))
        names = [*doc.get("labels", {}).values(), *map(str, doc.get("classes", {}).values())]
        for label in names:
            assert label in OBJECT_LABELS, f"{card.name}: {label}"
    assert object_name("no such label") == UNKNOWN_OBJECT and object_name(None) == UNKNOWN_OBJECT
    assert object_name("dining_table") == object_name("dining table") == "桌子"
