"""Looking closer at the zones whose rules need small objects: a stall's zone crop.

A dwell rule with ``with_any`` (street vending: a person staying beside a chair, an
umbrella, a table) needs objects a whole-frame pass misses on a wide view: YOLOX-Nano at
416 loses a chair of a standing person's size on vtest's 768x576 frame (0.11-0.22), and
finds it at 0.67-0.84 once it is about 54 px or more at the model's input. So, while an
object of the rule's classes stays in its zone (`RuleEngine.dwelling`), the detector also
looks at the zone's bounding box (raised by the height of who stays there, since the zone
is tested with the bottom-centre of a box, plus a margin), letterboxed to the model input
like any crop, every ``zone_crop_s``. What it finds there is kept for the rule's
``with_any`` labels only (people and the rest come from the frame's own pass: a person
cut at the crop's edge would make a second, shorter box), one label per object (the real
chair is also called a bench at 0.28-0.41 on the same box: the higher score names it),
mapped back to frame pixels and merged with the frame's detections before tracking.

A look rides on a frame the detector analyses anyway (motion or re-check): it costs one
more detector pass per look, per zone, and nothing while no one stays in the zone or on
cameras without such rules. The tracker (ByteTrack) confirms a new object only when the
next pass sees it again: a look that found an object no confirmed track holds yet is
repeated on the camera's next pass (`unconfirmed`), once, so a chair first seen costs two
passes; a chair already tracked is matched again at the next look (its track waits for
``tracker.lost_frames`` passes: at 5 analysed frames a second and a look every 2 s, 10). A zone crop that would not enlarge the picture (a zone about
as wide as the view) is not looked at: it would cost a pass and see nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.video.analysis.motion import MERGE_IOU, Region
from gateway.video.analysis.rules import RuleEngine
from gateway.video.analysis.settings import CameraAnalysisConfig, DwellRule
from gateway.video.analysis.tracking import TrackedObject
from gateway.video.detection import Detection, iou

#: the crop's margin around the zone and who stays in it, as a share of its size
MARGIN = 0.08
#: a crop is enlarged at most this much (a tiny zone is grown to a quarter of the input)
MAX_ENLARGEMENT = 4.0
#: a crop enlarged less than this (relative to the whole frame) is not worth its pass
MIN_GAIN = 1.25


@dataclass(frozen=True, slots=True)
class ZoneCrop:
    """A look at one zone: where, for which labels, how often."""

    zone_id: str
    region: Region  # in frame pixels
    labels: frozenset[str]  # kept from the crop's detections: the rules' with_any objects
    every_s: float


def wanted_zone_crops(
    rules: RuleEngine,
    config: CameraAnalysisConfig,
    objects: list[TrackedObject],
    now: float,
    frame_size: tuple[int, int],
    model_side: int,
) -> list[ZoneCrop]:
    """The zone crops this camera's rules want after a pass: one per zone where someone a
    rule with a zone crop times is staying (several rules on one zone share it)."""
    labels: dict[str, set[str]] = {}
    every: dict[str, float] = {}
    staying: dict[str, list[TrackedObject]] = {}
    for rule in config.rules:
        if not isinstance(rule, DwellRule) or not rule.zone_crop_s or rule.zone is None:
            continue
        present = rules.dwelling(rule, objects, now, frame_size)
        if not present:
            continue
        labels.setdefault(rule.zone, set()).update(rule.with_any)
        every[rule.zone] = min(every.get(rule.zone, rule.zone_crop_s), rule.zone_crop_s)
        staying.setdefault(rule.zone, []).extend(present)
    crops = []
    for zone_id, people in staying.items():
        polygon = config.zones[zone_id].polygon
        region = crop_region(polygon, people, frame_size, model_side)
        if region is not None:
            crops.append(ZoneCrop(zone_id, region, frozenset(labels[zone_id]), every[zone_id]))
    return crops


def crop_region(
    polygon: list[tuple[float, float]],
    people: list[TrackedObject],
    frame_size: tuple[int, int],
    model_side: int,
) -> Region | None:
    """The zone's bounding box in pixels, raised by the tallest of ``people`` (objects
    standing at the zone's far edge reach up that much), with them in it and a margin;
    None when it would not enlarge the picture over the whole frame's pass."""
    height, width = frame_size
    x1 = min(x for x, _ in polygon) * width
    x2 = max(x for x, _ in polygon) * width
    y1 = min(y for _, y in polygon) * height
    y2 = max(y for _, y in polygon) * height
    tallest = max((o.detection.y2 - o.detection.y1 for o in people), default=0.0)
    y1 -= tallest
    for o in people:
        d = o.detection
        x1, y1, x2, y2 = min(x1, d.x1), min(y1, d.y1), max(x2, d.x2), max(y2, d.y2)
    grow_x, grow_y = MARGIN * (x2 - x1), MARGIN * (y2 - y1)
    smallest = model_side / MAX_ENLARGEMENT
    grow_x = max(grow_x, (smallest - (x2 - x1)) / 2)
    grow_y = max(grow_y, (smallest - (y2 - y1)) / 2)
    region = Region(
        max(0, int(x1 - grow_x)),
        max(0, int(y1 - grow_y)),
        min(width, int(x2 + grow_x + 0.999)),
        min(height, int(y2 + grow_y + 0.999)),
    )
    gain = max(width, height) / max(region.width, region.height)
    return region if gain >= MIN_GAIN else None


def seen_in_zone_crop(crop: ZoneCrop, found: list[Detection], min_score: float) -> list[Detection]:
    """What a look at ``crop`` keeps (in crop pixels): its labels above ``min_score``, one
    box per object whatever it is called (the higher score wins)."""
    kept: list[Detection] = []
    for d in sorted(found, key=lambda d: -d.score):
        if (
            d.label in crop.labels
            and d.score >= min_score
            and all(iou(k, d) < MERGE_IOU for k in kept)
        ):
            kept.append(d)
    return kept


def unconfirmed(
    looked: list[tuple[ZoneCrop, list[Detection]]], objects: list[TrackedObject], now: float
) -> frozenset[str]:
    """The zones whose look found more of its objects than confirmed tracks in view there
    now (a first sighting, which the tracker confirms on the next pass only)."""
    again = set()
    for crop, found in looked:
        r = crop.region
        tracked = [
            o
            for o in objects
            if o.visible_at(now)
            and o.label in crop.labels
            and r.x1 <= (o.detection.x1 + o.detection.x2) / 2 <= r.x2
            and r.y1 <= (o.detection.y1 + o.detection.y2) / 2 <= r.y2
        ]
        if len(found) > len(tracked):
            again.add(crop.zone_id)
    return frozenset(again)


def due_zone_crops(
    wanted: list[ZoneCrop], last_looked: dict[str, float], now: float, again: frozenset[str]
) -> list[ZoneCrop]:
    """The wanted crops whose look is due at ``now``, or ``again`` (``last_looked`` is
    updated: one look per interval, even if the job carrying it is replaced before it
    runs)."""
    due = []
    for crop in wanted:
        last = last_looked.get(crop.zone_id)
        if last is None or now - last >= crop.every_s or crop.zone_id in again:
            last_looked[crop.zone_id] = now
            due.append(crop)
    return due
