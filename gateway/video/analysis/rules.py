"""Rules: from tracked objects to rule firings, one camera at a time. Pure: no I/O, no clock.

Every rule type reads the same way: *which objects* (classes, per-class min score and
area, the zone tested with the bottom-centre of the box), *for how long* (timers that
survive a detection flicker of up to ``FLICKER_GRACE_S``), and *once*: a tracked object
or a zone condition fires one candidate; while it lasts it is updated, not repeated; and
the same place fires nothing new for ``cooldown_s`` (so a parked car whose track id
changed behind a passing bus still makes one case).

- ``dwell``: an object in the zone (standing still, when ``stationary``) for ``min_dwell_s``;
- ``count``: at least ``min_count`` objects in the zone for ``min_duration_s``;
- ``fallen``: a fallen person (label ``fallen_person``) down for ``min_duration_s``;
- ``line``: an object's bottom-centre crossing the segment A→B (optionally one direction);
- ``schedule``: a rule is looked at only within its active hours (local time).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from gateway.video.analysis.settings import (
    CameraAnalysisConfig,
    ClassFilter,
    CountRule,
    DwellRule,
    FallenRule,
    LineRule,
    Point,
    Rule,
)
from gateway.video.analysis.tracking import TrackedObject
from gateway.video.detection import Detection

#: a timer survives missing sightings (detector flicker, a passer-by occluding) unless
#: they last both this long and this many detector passes (a gated camera is re-checked
#: only every few seconds, so time alone would end every timer)
FLICKER_GRACE_S = 3.0
FLICKER_GRACE_PASSES = 3
#: boxes overlapping this much (IoU) are "the same place" for cooldowns
SAME_PLACE_IOU = 0.5

DEFAULT_TITLES = {
    "dwell": "stationary {label} in {zone}",
    "count": "{count} x {label} in {zone}",
    "fallen": "fallen person in {zone}",
    "line": "{label} crossed line {rule}",
}


@dataclass(frozen=True, slots=True)
class Firing:
    """A rule that fired: the facts a candidate case is made of."""

    rule: Rule
    camera_id: str
    zone_id: str | None
    key: str  # what fired (track or zone episode): with rule and camera, the candidate's identity
    objects: tuple[TrackedObject, ...]
    at: float  # monotonic
    title: str
    facts: dict[str, Any]


# --------------------------------------------------------------------------- geometry


def point_in_polygon(point: tuple[float, float], polygon: list[Point]) -> bool:
    """Ray casting; points on an edge may fall either way."""
    x, y = point
    inside = False
    count = len(polygon)
    for i in range(count):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % count]
        if (y1 > y) != (y2 > y):
            cross_x = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < cross_x:
                inside = not inside
    return inside


def _side(point: tuple[float, float], a: Point, b: Point) -> float:
    return (b[0] - a[0]) * (point[1] - a[1]) - (b[1] - a[1]) * (point[0] - a[0])


def _segments_cross(p: tuple[float, float], q: tuple[float, float], a: Point, b: Point) -> bool:
    return (_side(p, a, b) > 0) != (_side(q, a, b) > 0) and (_side(a, p, q) > 0) != (
        _side(b, p, q) > 0
    )


def iou(a: Detection, b: Detection) -> float:
    ix = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    iy = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    inter = ix * iy
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def in_schedule(windows: list[str], local: time) -> bool:
    """Whether ``local`` falls in any 'HH:MM-HH:MM' window (a window may span midnight)."""
    if not windows:
        return True
    minute = local.hour * 60 + local.minute
    for window in windows:
        start_text, end_text = window.split("-")
        start = int(start_text[:2]) * 60 + int(start_text[3:])
        end = int(end_text[:2]) * 60 + int(end_text[3:])
        if (start <= minute < end) if start <= end else (minute >= start or minute < end):
            return True
    return False


# --------------------------------------------------------------------------- engine


@dataclass(slots=True)
class _Timer:
    since: float
    last: float
    misses: int = 0

    def expired(self, now: float) -> bool:
        return self.misses >= FLICKER_GRACE_PASSES and now - self.last > FLICKER_GRACE_S


@dataclass(slots=True)
class _RuleState:
    timers: dict[str, _Timer] = field(default_factory=dict)  # per track or zone
    fired: dict[str, Firing] = field(default_factory=dict)  # key -> the firing (updated)
    places: list[tuple[Detection, float]] = field(default_factory=list)  # (box, until)
    zone_fired_until: float = 0.0
    sides: dict[int, float] = field(default_factory=dict)  # line: track -> last side
    last_points: dict[int, tuple[float, float]] = field(default_factory=dict)


class RuleEngine:
    """Evaluates one camera's rules on each update of its tracks."""

    def __init__(self, camera_id: str, config: CameraAnalysisConfig, timezone: str) -> None:
        self.camera_id = camera_id
        self._config = config
        self._zone = ZoneInfo(timezone)
        self._state: dict[str, _RuleState] = {rule.id: _RuleState() for rule in config.rules}

    def class_filter(self, label: str) -> ClassFilter | None:
        return self._config.classes.get(label)

    def keeps(self, detection: Detection, frame_size: tuple[int, int]) -> bool:
        """Per-class min score and min area (fraction of the frame) of this camera."""
        rule = self._config.classes.get(detection.label)
        if rule is None:
            return True
        height, width = frame_size
        return detection.score >= rule.min_score and detection.area >= rule.min_area * (
            width * height
        )

    def evaluate(
        self,
        objects: list[TrackedObject],
        now: float,
        wall: datetime,
        frame_size: tuple[int, int],
    ) -> list[Firing]:
        """All firings caused by this update (usually none)."""
        local = wall.astimezone(self._zone).time()
        firings: list[Firing] = []
        for rule in self._config.rules:
            state = self._state[rule.id]
            state.places = [(box, until) for box, until in state.places if until > now]
            if not in_schedule(rule.schedule, local):
                state.timers.clear()
                continue
            chosen = [
                o for o in objects if o.visible_at(now) and self._selected(rule, o, frame_size)
            ]
            if isinstance(rule, DwellRule):
                firings += self._dwell(rule, state, chosen, now)
            elif isinstance(rule, CountRule):
                firings += self._count(rule, state, chosen, now)
            elif isinstance(rule, FallenRule):
                firings += self._fallen(rule, state, chosen, now)
            elif isinstance(rule, LineRule):
                live = {o.track_id for o in objects}
                firings += self._line(rule, state, chosen, now, frame_size, live)
        return firings

    def fired(self, rule_id: str) -> list[Firing]:
        return list(self._state[rule_id].fired.values())

    # ----------------------------------------------------------------- selection

    def _selected(self, rule: Rule, obj: TrackedObject, frame_size: tuple[int, int]) -> bool:
        detection = obj.detection
        if detection.label not in rule.classes or not self.keeps(detection, frame_size):
            return False
        if rule.zone is None or isinstance(rule, LineRule):
            return True
        height, width = frame_size
        x, y = detection.bottom_centre
        return point_in_polygon((x / width, y / height), self._config.zones[rule.zone].polygon)

    def _near_fired_place(self, state: _RuleState, detection: Detection) -> bool:
        return any(iou(box, detection) >= SAME_PLACE_IOU for box, _ in state.places)

    def _fire(
        self,
        rule: Rule,
        state: _RuleState,
        key: str,
        objects: list[TrackedObject],
        now: float,
        facts: dict[str, Any],
    ) -> Firing:
        lead = objects[0].detection if objects else None
        zone_name = (
            (self._config.zones[rule.zone].name or rule.zone) if rule.zone else "camera view"
        )
        title = rule.title or DEFAULT_TITLES[rule.type].format(
            label=lead.label if lead else "object",
            zone=zone_name,
            count=len(objects),
            rule=rule.id,
        )
        firing = Firing(
            rule=rule,
            camera_id=self.camera_id,
            zone_id=rule.zone,
            key=key,
            objects=tuple(objects),
            at=now,
            title=title,
            facts={
                "rule_id": rule.id,
                "rule_type": rule.type,
                "camera_id": self.camera_id,
                "zone_id": rule.zone,
                **facts,
                "objects": [
                    {
                        "track_id": o.track_id,
                        "label": o.detection.label,
                        "class_id": o.detection.class_id,
                        "score": round(o.detection.score, 3),
                        "box": [round(v, 1) for v in _box(o.detection)],
                        "seen_s": round(now - o.first_seen, 1),
                        "still_s": round(now - o.still_since, 1),
                    }
                    for o in objects
                ],
            },
        )
        state.fired[key] = firing
        for obj in objects:
            state.places.append((obj.detection, now + rule.cooldown_s))
        return firing

    # ----------------------------------------------------------------- rule types

    def _track_timers(
        self,
        state: _RuleState,
        objects: list[TrackedObject],
        now: float,
        since_of: Callable[[TrackedObject], float] | None = None,
    ) -> None:
        """Start/extend a timer per track; drop timers not refreshed within the grace.

        ``since_of`` gives when an object's condition began (a timer restarts when that
        moves later, e.g. a parked car that drove off and stopped again); without it a
        timer runs from the first pass the object met the condition.
        """
        for obj in objects:
            key = f"track-{obj.track_id}"
            timer = state.timers.get(key)
            since = since_of(obj) if since_of else now
            if timer is None:
                state.timers[key] = _Timer(since=since, last=now)
            else:
                timer.last, timer.misses = now, 0
                if since_of:
                    timer.since = max(timer.since, since)
        for key, timer in list(state.timers.items()):
            if timer.last != now:
                timer.misses += 1
                if timer.expired(now):
                    del state.timers[key]

    def _dwell(
        self, rule: DwellRule, state: _RuleState, objects: list[TrackedObject], now: float
    ) -> list[Firing]:
        present = [o for o in objects if not rule.stationary or o.stationary]
        # standing still counts from when the object stopped; else from when it was seen
        self._track_timers(
            state, present, now, lambda o: o.still_since if rule.stationary else o.first_seen
        )
        firings = []
        for obj in present:
            key = f"track-{obj.track_id}"
            dwell = now - state.timers[key].since
            if key in state.fired:
                state.fired[key].facts["dwell_s"] = round(dwell, 1)  # updated, not repeated
                continue
            if dwell < rule.min_dwell_s or self._near_fired_place(state, obj.detection):
                continue
            firings.append(self._fire(rule, state, key, [obj], now, {"dwell_s": round(dwell, 1)}))
        return firings

    def _fallen(
        self, rule: FallenRule, state: _RuleState, objects: list[TrackedObject], now: float
    ) -> list[Firing]:
        self._track_timers(state, objects, now)
        firings = []
        for obj in objects:
            key = f"track-{obj.track_id}"
            down = now - state.timers[key].since
            if key in state.fired or self._near_fired_place(state, obj.detection):
                continue
            if down >= rule.min_duration_s:
                firings.append(self._fire(rule, state, key, [obj], now, {"down_s": round(down, 1)}))
        return firings

    def _count(
        self, rule: CountRule, state: _RuleState, objects: list[TrackedObject], now: float
    ) -> list[Firing]:
        visible = objects
        timer = state.timers.get("zone")
        if len(visible) >= rule.min_count:
            if timer is None:
                timer = state.timers["zone"] = _Timer(since=now, last=now)
            timer.last, timer.misses = now, 0
        elif timer is not None:
            timer.misses += 1
            if timer.expired(now):
                del state.timers["zone"]  # the episode is over
                timer = None
        if timer is None or timer.last != now:
            return []
        episode = f"zone-{rule.zone or 'view'}-{timer.since:.3f}"
        held = now - timer.since
        if episode in state.fired:
            facts = state.fired[episode].facts
            facts["max_count"] = max(facts.get("max_count", 0), len(visible))
            facts["held_s"] = round(held, 1)
            return []
        if held < rule.min_duration_s or now < state.zone_fired_until:
            return []
        state.zone_fired_until = now + rule.cooldown_s
        facts = {"count": len(visible), "max_count": len(visible), "held_s": round(held, 1)}
        return [self._fire(rule, state, episode, visible, now, facts)]

    def _line(
        self,
        rule: LineRule,
        state: _RuleState,
        objects: list[TrackedObject],
        now: float,
        frame_size: tuple[int, int],
        live: set[int],
    ) -> list[Firing]:
        height, width = frame_size
        a, b = rule.line
        firings = []
        for obj in objects:
            x, y = obj.detection.bottom_centre
            point = (x / width, y / height)
            previous = state.last_points.get(obj.track_id)
            state.last_points[obj.track_id] = point
            key = f"track-{obj.track_id}"
            if previous is None or key in state.fired:
                continue
            if not _segments_cross(previous, point, a, b):
                continue
            # image y points down: a positive side is on the right looking from A to B
            direction = "left_to_right" if _side(point, a, b) > 0 else "right_to_left"
            if rule.direction not in ("any", direction):
                continue
            firings.append(self._fire(rule, state, key, [obj], now, {"direction": direction}))
        for track_id in list(state.last_points):
            if track_id not in live:
                del state.last_points[track_id]
        return firings


def _box(detection: Detection) -> tuple[float, float, float, float]:
    return (detection.x1, detection.y1, detection.x2, detection.y2)
