"""Rules: from tracked objects to rule firings, one camera at a time. Pure: no I/O, no clock.

Every rule type reads the same way: *which objects* (classes, per-class min score and
area, the zone tested with the bottom-centre of the box), *for how long* (timers that
survive a detection flicker of up to ``FLICKER_GRACE_S``), and *once*: a tracked object
or a zone condition fires one candidate; while it lasts it is updated, not repeated.

Updated: the first firing's facts follow the condition (dwell, down or held time, count,
the latest box); at most every ``update_every_s``, and only when they grew materially
(`UPDATE_GROWTH`, a new maximum count, a clearer detection), an update firing is
published for the same subject (``facts.track_id``: rule, track or zone episode, and the
tracker's run), which the core records on the case the first one opened. The same place
fires nothing new for ``cooldown_s`` after the condition was last seen: within it, a new
track id in that place (a parked car lost behind a passing bus) or the zone condition
coming back continues the episode.

Ended: when an episode is dropped (its tracks gone and its place's cooldown over, or the
zone condition not back within the cooldown), a last update firing says so: its facts
carry ``ended_at`` (RFC 3339: when the condition was last seen holding, so an operator
reads "gone at 14:02") and ``duration_s`` (from its start to then); it draws no objects.

- ``dwell``: an object in the zone (standing still, when ``stationary``) for ``min_dwell_s``;
  with ``with_any``, only while one of those objects is in the zone too (a person at a
  stall: an umbrella, a chair, a table); with the zone's crop on (``zone_crop_s``), an
  object seen by the last look at the crop counts until the next look is overdue
  (``dwelling`` says who makes the pipeline look: `gateway.video.analysis.zone_crops`);
- ``count``: at least ``min_count`` objects in the zone for ``min_duration_s``;
- ``fallen``: a fallen person (label ``fallen_person``) down for ``min_duration_s``;
- ``line``: an object's bottom-centre crossing the segment A→B (optionally one direction);
- ``schedule``: a rule is looked at only within its active hours (local time).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from gateway.clock import rfc3339
from gateway.object_labels import object_name
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
from gateway.video.detection import Detection, iou

#: a timer survives missing sightings (detector flicker, a passer-by occluding) unless
#: they last both this long and this many detector passes (a gated camera is re-checked
#: only every few seconds, so time alone would end every timer)
FLICKER_GRACE_S = 3.0
FLICKER_GRACE_PASSES = 3
#: boxes overlapping this much (IoU) are "the same place" for cooldowns
SAME_PLACE_IOU = 0.5
#: ... and so is a box lying this much within a fired one, or holding one that much: a
#: part of the same object (a person's legs beside the whole person, a car half hidden by
#: a passing bus) found as an object of its own
SAME_PLACE_INSIDE = 0.8
#: an update is published only when the facts grew materially since the last publication:
#: a timer (dwell, down, held) by this factor, the count to a new maximum, or the lead
#: object's score by ``UPDATE_SCORE_GAIN`` (a clearer snapshot)
UPDATE_GROWTH = 1.5
UPDATE_SCORE_GAIN = 0.1

#: case titles by rule type, for people (Chinese): {label} is the object's Chinese name
#: (gateway.object_labels), {zone} the zone's configured name, {seconds} the timer so far
DEFAULT_TITLES = {
    "dwell": "{label}在{zone}停留 {seconds} 秒",
    "count": "{zone}有 {count} 个{label}聚集",
    "fallen": "{zone}有人倒地 {seconds} 秒",
    "line": "{label}越过{zone}警戒线",
}
#: {zone} of a rule that watches the whole picture
WHOLE_VIEW = "监控画面"


@dataclass(frozen=True, slots=True)
class Firing:
    """A rule that fired, or an update of one: the facts a candidate case is made of.

    A firing is a snapshot: its ``facts`` are not changed after it is handed out.
    """

    rule: Rule
    camera_id: str
    zone_id: str | None
    key: str  # what fired (track or zone episode): with rule and camera, the candidate's identity
    objects: tuple[TrackedObject, ...]
    at: float  # monotonic
    wall: datetime  # when the frame it fired on was captured
    title: str
    facts: dict[str, Any]
    seq: int = 0  # 0: the first firing of a track or zone condition; n: its n-th update
    first: Firing | None = None  # an update's first firing

    @property
    def is_update(self) -> bool:
        return self.first is not None


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


def _same_place(a: Detection, b: Detection) -> bool:
    """Overlapping by ``SAME_PLACE_IOU``, or the smaller lying ``SAME_PLACE_INSIDE``
    within the larger."""
    if iou(a, b) >= SAME_PLACE_IOU:
        return True
    ix = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    iy = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    smaller = min(a.area, b.area)
    return smaller > 0 and ix * iy / smaller >= SAME_PLACE_INSIDE


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
class _Episode:
    """A fired track or zone condition while it lasts: its first firing, the last one
    published (the first or an update) and the facts as they are now."""

    first: Firing
    published: Firing
    facts: dict[str, Any]
    since: float  # when the condition began (dwell, down, held count from here)
    seen: float  # when the condition was last seen holding
    seen_wall: datetime  # the same, as the capture time of that frame


@dataclass(slots=True)
class _RuleState:
    timers: dict[str, _Timer] = field(default_factory=dict)  # per track or zone
    #: key -> its episode, kept while its tracks live or its place is cooling down
    fired: dict[str, _Episode] = field(default_factory=dict)
    #: track key -> the episode it continues (a new track id in a fired place)
    aliases: dict[str, str] = field(default_factory=dict)
    #: key -> (boxes, until): the place of an episode, until ``cooldown_s`` after it was
    #: last seen holding
    places: dict[str, tuple[tuple[Detection, ...], float]] = field(default_factory=dict)
    sides: dict[int, float] = field(default_factory=dict)  # line: track -> last side
    last_points: dict[int, tuple[float, float]] = field(default_factory=dict)


class RuleEngine:
    """Evaluates one camera's rules on each update of its tracks.

    ``run`` names this run of the tracker (track ids restart at 1 with every run): it
    makes the subject of a candidate (``facts.track_id``) unique across restarts.
    """

    def __init__(
        self, camera_id: str, config: CameraAnalysisConfig, timezone: str, run: str = ""
    ) -> None:
        self.camera_id = camera_id
        self._config = config
        self._zone = ZoneInfo(timezone)
        self._run = run
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
        """All firings caused by this update (usually none): first firings and updates."""
        local = wall.astimezone(self._zone).time()
        firings: list[Firing] = []
        for rule in self._config.rules:
            state = self._state[rule.id]
            state.places = {k: v for k, v in state.places.items() if v[1] > now}
            if not in_schedule(rule.schedule, local):
                state.timers.clear()
                state.fired.clear()
                state.aliases.clear()
                continue
            chosen = [
                o for o in objects if o.visible_at(now) and self._selected(rule, o, frame_size)
            ]
            if isinstance(rule, DwellRule):
                # seen now, or (zone crop on) by the last look at the zone's crop
                fresh = rule.zone_crop_s + FLICKER_GRACE_S if rule.zone_crop_s else 0.0
                companions = [
                    o
                    for o in objects
                    if rule.with_any
                    and (o.visible_at(now) or now - o.last_seen <= fresh)
                    and o.detection.label in rule.with_any
                    and self._in_zone(rule, o.detection, frame_size)
                ]
                firings += self._dwell(rule, state, chosen, now, wall, companions)
            elif isinstance(rule, CountRule):
                firings += self._count(rule, state, chosen, now, wall)
            elif isinstance(rule, FallenRule):
                firings += self._fallen(rule, state, chosen, now, wall)
            elif isinstance(rule, LineRule):
                live = {o.track_id for o in objects}
                firings += self._line(rule, state, chosen, now, wall, frame_size, live)
        return firings

    @property
    def has_episodes(self) -> bool:
        """Whether an episode is open (fired and not ended yet): its end is only found by
        evaluating later updates (a hold pass is enough), so a caller that stops passing
        frames of a still scene delays the end until something moves again."""
        return any(state.fired for state in self._state.values())

    def fired(self, rule_id: str) -> list[Firing]:
        """The rule's ongoing episodes: each first firing with the facts as they are now."""
        return [
            replace(episode.first, facts=dict(episode.facts))
            for episode in self._state[rule_id].fired.values()
        ]

    def dwelling(
        self,
        rule: DwellRule,
        objects: list[TrackedObject],
        now: float,
        frame_size: tuple[int, int],
    ) -> list[TrackedObject]:
        """The objects ``rule`` times now: in view, of its classes, in its zone, standing
        still when it counts only that (who a stall's zone crop is looked at for)."""
        return [
            o
            for o in objects
            if o.visible_at(now)
            and self._selected(rule, o, frame_size)
            and (not rule.stationary or o.stationary)
        ]

    # ----------------------------------------------------------------- selection

    def _selected(self, rule: Rule, obj: TrackedObject, frame_size: tuple[int, int]) -> bool:
        detection = obj.detection
        if detection.label not in rule.classes or not self.keeps(detection, frame_size):
            return False
        return isinstance(rule, LineRule) or self._in_zone(rule, detection, frame_size)

    def _in_zone(self, rule: Rule, detection: Detection, frame_size: tuple[int, int]) -> bool:
        """Whether the box stands in the rule's zone (the whole view when it has none)."""
        if rule.zone is None:
            return True
        height, width = frame_size
        x, y = detection.bottom_centre
        return point_in_polygon((x / width, y / height), self._config.zones[rule.zone].polygon)

    def _place_of(self, state: _RuleState, detection: Detection) -> str | None:
        """The key of the fired place ``detection`` stands in, if any."""
        for key, (boxes, _until) in state.places.items():
            if any(_same_place(box, detection) for box in boxes):
                return key
        return None

    # ----------------------------------------------------------------- firing and updates

    def _firing(
        self,
        rule: Rule,
        key: str,
        objects: list[TrackedObject],
        now: float,
        wall: datetime,
        facts: dict[str, Any],
        first: Firing | None = None,
        seq: int = 0,
    ) -> Firing:
        lead = objects[0].detection if objects else None
        zone_name = (self._config.zones[rule.zone].name or rule.zone) if rule.zone else WHOLE_VIEW
        timer = next((facts[k] for k in ("dwell_s", "down_s", "held_s") if k in facts), 0)
        title = rule.title or DEFAULT_TITLES[rule.type].format(
            label=object_name(lead.label if lead else None),
            zone=zone_name,
            count=len(objects),
            rule=rule.id,
            seconds=round(timer),
        )
        subject = f"{rule.id}:{key}" + (f"@{self._run}" if self._run else "")
        return Firing(
            rule=rule,
            camera_id=self.camera_id,
            zone_id=rule.zone,
            key=key,
            objects=tuple(objects),
            at=now,
            wall=wall,
            title=title,
            facts={
                "rule_id": rule.id,
                "rule_type": rule.type,
                "camera_id": self.camera_id,
                "zone_id": rule.zone,
                # the subject: the same for the first candidate and its updates, so the
                # core takes an update for a re-detection of the case the first one opened
                "track_id": subject,
                **facts,
                "objects": [
                    {
                        "track_id": o.track_id,
                        "label": o.detection.label,
                        "class_id": o.detection.class_id,
                        "kind": o.detection.kind or o.detection.label,
                        "score": round(o.detection.score, 3),
                        "box": [round(v, 1) for v in _box(o.detection)],
                        "seen_s": round(now - o.first_seen, 1),
                        "still_s": round(now - o.still_since, 1),
                    }
                    for o in objects
                ],
            },
            seq=seq,
            first=first,
        )

    def _fire(
        self,
        rule: Rule,
        state: _RuleState,
        key: str,
        objects: list[TrackedObject],
        now: float,
        wall: datetime,
        facts: dict[str, Any],
        since: float,
    ) -> Firing:
        firing = self._firing(rule, key, objects, now, wall, facts)
        state.fired[key] = _Episode(
            first=firing, published=firing, facts=dict(facts), since=since, seen=now, seen_wall=wall
        )
        state.places[key] = (tuple(o.detection for o in objects), now + rule.cooldown_s)
        return firing

    def _update(
        self,
        rule: Rule,
        state: _RuleState,
        key: str,
        objects: list[TrackedObject],
        now: float,
        wall: datetime,
        facts: dict[str, Any],
    ) -> list[Firing]:
        """The episode ``key`` still holds: keep its facts and place current; publish an
        update when ``update_every_s`` has passed and the facts grew materially."""
        episode = state.fired[key]
        episode.facts.update(facts)
        episode.seen, episode.seen_wall = now, wall
        state.places[key] = (tuple(o.detection for o in objects), now + rule.cooldown_s)
        every = rule.update_every_s
        if not every or now - episode.published.at < every:
            return []
        lead = objects[0].detection if len(objects) == 1 else None  # one object: its score
        if not _grown(episode.published, episode.facts, lead):
            return []
        firing = self._firing(
            rule,
            key,
            objects,
            now,
            wall,
            dict(episode.facts),
            first=episode.first,
            seq=episode.published.seq + 1,
        )
        episode.published = firing
        return [firing]

    def _forget(
        self, rule: Rule, state: _RuleState, live: set[str], now: float, wall: datetime
    ) -> list[Firing]:
        """Drop episodes that are over: none of their tracks is ``live`` and their place's
        cooldown has run out (until then, the condition coming back continues them); each
        dropped episode's end, as a last update."""
        state.aliases = {k: v for k, v in state.aliases.items() if k in live and v in state.fired}
        held = live | set(state.aliases.values())
        ended = []
        for key in [k for k in state.fired if k not in held and k not in state.places]:
            ended.append(self._ended(rule, state.fired.pop(key), now, wall))
        return ended

    def _ended(self, rule: Rule, episode: _Episode, now: float, wall: datetime) -> Firing:
        """The update that closes ``episode``: nothing drawn, its last facts kept (the
        objects as last published), ``ended_at`` when the condition was last seen."""
        last = episode.published
        return Firing(
            rule=rule,
            camera_id=self.camera_id,
            zone_id=rule.zone,
            key=last.key,
            objects=(),
            at=now,
            wall=wall,
            title=last.title,
            facts={
                **last.facts,
                **episode.facts,
                "ended_at": rfc3339(episode.seen_wall),
                "duration_s": round(episode.seen - episode.since, 1),
            },
            seq=last.seq + 1,
            first=episode.first,
        )

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

    def _held(
        self,
        rule: DwellRule | FallenRule,
        state: _RuleState,
        objects: list[TrackedObject],
        now: float,
        wall: datetime,
        min_s: float,
        fact: str,
    ) -> list[Firing]:
        """Dwell and fallen: a tracked object that met the condition for ``min_s``."""
        firings = []
        for obj in objects:
            key = f"track-{obj.track_id}"
            episode = state.aliases.get(key, key)
            if episode in state.fired:
                held = now - state.fired[episode].since
                firings += self._update(
                    rule, state, episode, [obj], now, wall, {fact: round(held, 1)}
                )
                continue
            held = now - state.timers[key].since
            if held < min_s:
                continue
            place = self._place_of(state, obj.detection)
            if place is not None:
                # the place fired within the cooldown: a new track id of the same object
                # (lost behind a passing bus) continues that episode, never a second one
                if place in state.fired:
                    state.aliases[key] = place
                    held = now - state.fired[place].since
                    facts = {fact: round(held, 1)}
                    firings += self._update(rule, state, place, [obj], now, wall, facts)
                continue
            firings.append(
                self._fire(rule, state, key, [obj], now, wall, {fact: round(held, 1)}, now - held)
            )
        return firings + self._forget(rule, state, set(state.timers), now, wall)

    def _dwell(
        self,
        rule: DwellRule,
        state: _RuleState,
        objects: list[TrackedObject],
        now: float,
        wall: datetime,
        companions: list[TrackedObject],
    ) -> list[Firing]:
        present = [o for o in objects if not rule.stationary or o.stationary]
        if rule.with_any and not companions:
            present = []  # nobody at a stall: the timers run out after the flicker grace
        # standing still counts from when the object stopped; else from when it was seen
        self._track_timers(
            state, present, now, lambda o: o.still_since if rule.stationary else o.first_seen
        )
        firings = self._held(rule, state, present, now, wall, rule.min_dwell_s, "dwell_s")
        if rule.with_any:
            beside = sorted({o.detection.label for o in companions})
            for firing in firings:
                if firing.objects:  # (an episode's end keeps what was beside it then)
                    firing.facts["with"] = beside  # handed out below, never changed after
        return firings

    def _fallen(
        self,
        rule: FallenRule,
        state: _RuleState,
        objects: list[TrackedObject],
        now: float,
        wall: datetime,
    ) -> list[Firing]:
        self._track_timers(state, objects, now)
        return self._held(rule, state, objects, now, wall, rule.min_duration_s, "down_s")

    def _count(
        self,
        rule: CountRule,
        state: _RuleState,
        objects: list[TrackedObject],
        now: float,
        wall: datetime,
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
        # one episode at a time: the condition coming back within the cooldown continues it
        episode = next(iter(state.fired), None)
        back = (
            episode is not None
            and timer is not None
            and timer.since <= state.fired[episode].seen + rule.cooldown_s
        )
        ended = self._forget(
            rule, state, {episode} if back and episode is not None else set(), now, wall
        )
        episode = next(iter(state.fired), None)
        if timer is None or timer.last != now or now - timer.since < rule.min_duration_s:
            return ended
        count = len(visible)
        if episode is not None:
            before = state.fired[episode]
            facts = {
                "count": count,
                "max_count": max(before.facts.get("max_count", 0), count),
                "held_s": round(now - before.since, 1),
            }
            return ended + self._update(rule, state, episode, visible, now, wall, facts)
        held = now - timer.since
        key = f"zone-{rule.zone or 'view'}-{timer.since:.3f}"
        facts = {"count": count, "max_count": count, "held_s": round(held, 1)}
        return [*ended, self._fire(rule, state, key, visible, now, wall, facts, timer.since)]

    def _line(
        self,
        rule: LineRule,
        state: _RuleState,
        objects: list[TrackedObject],
        now: float,
        wall: datetime,
        frame_size: tuple[int, int],
        live: set[int],
    ) -> list[Firing]:
        """A crossing is a moment: one candidate per track, never updated."""
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
            facts = {"direction": direction}
            firings.append(self._fire(rule, state, key, [obj], now, wall, facts, now))
        for track_id in list(state.last_points):
            if track_id not in live:
                del state.last_points[track_id]
        for key in [k for k in state.fired if int(k.removeprefix("track-")) not in live]:
            del state.fired[key]  # a track id is never reused: its crossing is over
        return firings


def _grown(published: Firing, facts: dict[str, Any], lead: Detection | None) -> bool:
    """Whether ``facts`` say materially more than the ``published`` firing did (``lead``:
    the one object of a track rule, whose clearer detection makes a better snapshot)."""
    before = published.facts
    for timer in ("dwell_s", "down_s", "held_s"):
        if timer in facts and facts[timer] >= UPDATE_GROWTH * max(1.0, before.get(timer, 0)):
            return True
    if facts.get("count", 0) > before.get("max_count", before.get("count", 0)):
        return True
    old = before["objects"][0]["score"] if before.get("objects") else None
    return lead is not None and old is not None and lead.score >= old + UPDATE_SCORE_GAIN


def _box(detection: Detection) -> tuple[float, float, float, float]:
    return (detection.x1, detection.y1, detection.x2, detection.y2)
