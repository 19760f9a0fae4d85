"""Camera-side events (ONVIF analytics, motion) → their state on MQTT, and candidates where a rule says so.

A camera's own rule (say, its illegal-parking zone) reports through ONVIF events; the
configuration maps a topic plus required data values to a CJ/T 214 event code. Each
event first goes through `EventEpisodes`, which knows each alarm's state per camera,
topic and source (kept on disk across restarts):

- an alarm that starts is published as retained state (`CameraEventState`), and makes a
  candidate when a rule matches, once per episode (and at most once per ``cooldown_s``
  per camera and rule), with the camera's location and a snapshot of the newest analysed
  frame. The id is derived from the episode (camera, topic, source, start as first seen),
  so the device re-sending the active alarm (``Initialized``) on every new subscription,
  or a restart of this gateway, never makes a second candidate;
- an alarm that ends is published with its end and duration, and its candidate gets an
  update (``facts.update_of``, the episode's ``ended_at`` and ``duration_s``) that the core
  records on the case the first one opened;
- an event without a true/false state (a moment) is published and may make a candidate,
  its id derived from the event's own time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from gateway.clock import Clock, rfc3339
from gateway.contract import (
    CameraEventState,
    CandidateCase,
    Evidence,
    Location,
    Source,
    SourceKind,
    stable_message_id,
)
from gateway.video.analysis.candidate import zone_placement
from gateway.video.analysis.settings import ZoneConfig
from gateway.video.event_episodes import CameraEvent, Change, Episode, EventEpisodes, source_key
from gateway.video.evidence import EvidenceClips, EvidenceError, snapshot_evidence
from gateway.video.frame import Frame
from gateway.video.settings import CameraConfig, OnvifEventRule

log = logging.getLogger(__name__)

__all__ = ["CameraEvent", "CameraEventRules", "rule_matches", "topic_matches"]

#: A snapshot older than this does not show the event any more.
SNAPSHOT_MAX_AGE_S = 10.0
#: Seconds of video before the event put in its clip (none after: no waiting).
CLIP_BEFORE_S = 5.0

#: what operators read for the common ONVIF analytics topics (by a part of the topic);
#: any other: 摄像头报警, the topic kept in the facts and the description
TOPIC_NAMES = {
    "ObjectsInside": "区域内有目标",
    "LineCrossed": "越线",
    "Motion": "移动侦测",
    "MotionAlarm": "移动侦测",
    "Loitering": "徘徊",
    "Tamper": "视频遮挡",
    "GlobalSceneChange": "画面突变",
    "ImageTooDark": "画面过暗",
    "ImageTooBlurry": "画面模糊",
    "Counting": "人数统计",
    "Parking": "违停检测",
    "IllegalParking": "违停检测",
    "ObjectLeft": "物品遗留",
    "Crowd": "人员聚集",
}


def topic_name(topic: str) -> str:
    """The Chinese name of an ONVIF topic by its most specific known part (the last parts
    may be generic, as in VideoSource/GlobalSceneChange/ImagingService), else 摄像头报警."""
    parts = [part.rpartition(":")[2] for part in topic.strip().strip("/").split("/")]
    return next((TOPIC_NAMES[p] for p in reversed(parts) if p in TOPIC_NAMES), "摄像头报警")


def topic_matches(pattern: str, topic: str) -> bool:
    """``pattern`` equals ``topic``, or ends in ``/*`` and ``topic`` lies under it.

    Namespace prefixes are ignored (``tns1:``, ``tnsaxis:``...): devices choose them.
    """

    def parts(text: str) -> list[str]:
        return [part.rpartition(":")[2] for part in text.strip().strip("/").split("/")]

    wanted, actual = parts(pattern), parts(topic)
    if wanted and wanted[-1] == "*":
        return actual[: len(wanted) - 1] == wanted[:-1]
    return wanted == actual


def rule_matches(rule: OnvifEventRule, event: CameraEvent) -> bool:
    if not topic_matches(rule.topic, event.topic):
        return False
    return all(
        event.data.get(key, event.source.get(key)) == value for key, value in rule.data.items()
    )


class CameraEventRules:
    """Applies the configured event rules of every camera; thread-safe enough (one caller).

    ``episodes``: the alarm states (persisted by the daemon under ``state_dir``; in memory
    when not given). ``publish_state``: where each camera event's state goes (retained).
    """

    def __init__(
        self,
        cameras: list[CameraConfig],
        *,
        clock: Clock,
        publish: Callable[[CandidateCase], object],
        latest_frame: Callable[[str], Frame | None],
        jpeg_quality: int = 85,
        clips: EvidenceClips | None = None,
        episodes: EventEpisodes | None = None,
        publish_state: Callable[[CameraEventState], object] | None = None,
        zones: Mapping[str, Mapping[str, ZoneConfig]] | None = None,
    ) -> None:
        self._clock = clock
        self._clips = clips
        self._publish = publish
        self._publish_state = publish_state
        self._latest_frame = latest_frame
        self._jpeg_quality = jpeg_quality
        self.episodes = episodes if episodes is not None else EventEpisodes()
        self._last_fired: dict[tuple[str, int], float] = {}
        self._cameras: dict[str, CameraConfig] = {}
        self._zones: Mapping[str, Mapping[str, ZoneConfig]] = {}
        self.set_cameras(cameras, zones)
        self.events_seen = 0
        self.candidates = 0
        self.updates = 0

    def set_cameras(
        self,
        cameras: list[CameraConfig],
        zones: Mapping[str, Mapping[str, ZoneConfig]] | None = None,
    ) -> None:
        """The cameras and their rules; ``zones``: each camera's analysis zones by id (a
        rule's ``zone`` places its candidates)."""
        self._cameras = {c.id: c for c in cameras}
        self._zones = dict(zones or {})

    def handle(self, event: CameraEvent) -> CandidateCase | None:
        """Log the event, publish its state; publish and return a candidate (or the update
        of one, when an alarm that made a candidate ends)."""
        self.events_seen += 1
        observed = self.episodes.observe(event, self._clock.now())
        log.info(
            "camera %s: event %s %s %s: %s",
            event.camera_id,
            event.topic,
            event.operation,
            " ".join(f"{k}={v}" for k, v in event.data.items()),
            observed.change,
        )
        episode = observed.episode
        if observed.change in (Change.REPEATED, Change.CONTINUED):
            return None  # nothing new: a re-send on a new subscription, or a repeat
        made: CandidateCase | None = None
        camera = self._cameras.get(event.camera_id)
        if observed.change in (Change.STARTED, Change.MOMENT) and camera is not None:
            made = self._apply_rules(camera, event, episode)
            if made is not None and observed.change is Change.STARTED:
                episode = self.episodes.attach(
                    episode, made.id, made.event_code, made.title, made.facts
                )
        elif observed.change is Change.ENDED and episode.candidate_id is not None:
            made = self._end_update(camera, episode)
        self._state(event, episode)
        return made

    def _state(self, event: CameraEvent, episode: Episode) -> None:
        if self._publish_state is None:
            return
        try:
            state = CameraEventState.create(
                source=Source(kind=SourceKind.CAMERA, id=episode.camera_id),
                id=stable_message_id(
                    episode.camera_id,
                    "onvif-state",
                    episode.subject,
                    str(episode.active),
                    rfc3339(episode.ended_at) if episode.ended_at else "-",
                    source_key(episode.data),
                ),
                ts=self._clock.now(),
                camera_id=episode.camera_id,
                topic=event.topic[:300],
                source_items=dict(episode.source),
                data=dict(episode.data),
                active=episode.active,
                started_at=episode.started_at,
                ended_at=episode.ended_at,
                duration_s=episode.duration_s,
                operation=event.operation[:32],
                candidate_id=episode.candidate_id,
                event_code=episode.event_code,
            )
            self._publish_state(state)
        except Exception:  # a device's odd event must not stop the others
            log.exception(
                "camera %s: state of event %s not published", event.camera_id, event.topic
            )

    def _apply_rules(
        self, camera: CameraConfig, event: CameraEvent, episode: Episode
    ) -> CandidateCase | None:
        if camera.onvif is None:
            return None
        for index, rule in enumerate(camera.onvif.event_rules):
            if not rule_matches(rule, event):
                continue
            now = self._clock.monotonic()
            key = (camera.id, index)
            last = self._last_fired.get(key)
            if last is not None and now - last < rule.cooldown_s:
                log.info("camera %s: rule %d in cooldown: no candidate", camera.id, index)
                return None
            self._last_fired[key] = now
            candidate = self._candidate(camera, rule, event, episode)
            self._publish(candidate)
            self.candidates += 1
            log.info(
                "camera %s: event %s -> candidate %s (%s)",
                camera.id,
                event.topic,
                candidate.id,
                rule.event_code,
            )
            return candidate
        return None

    def _evidence(self, camera_id: str, moment: datetime, *, clip: bool) -> list[Evidence]:
        evidence: list[Evidence] = []
        frame = self._latest_frame(camera_id)
        if frame is not None and self._clock.monotonic() - frame.monotonic <= SNAPSHOT_MAX_AGE_S:
            try:
                evidence.append(
                    snapshot_evidence(
                        frame.image,
                        [],
                        name=f"{camera_id}-{moment:%Y%m%dT%H%M%S}.jpg",
                        quality=self._jpeg_quality,
                    )
                )
            except EvidenceError as exc:
                log.warning("camera %s: no snapshot: %s", camera_id, exc)
        if clip and self._clips is not None:
            try:
                found = self._clips.clip_around(
                    camera_id, self._clock.monotonic(), CLIP_BEFORE_S, 0.0
                )
            except EvidenceError as exc:
                log.warning("camera %s: no clip: %s", camera_id, exc)
                found = None
            if found is not None:
                evidence.append(found)
        return evidence

    def _zone(self, camera: CameraConfig, zone_id: str | None) -> ZoneConfig | None:
        if zone_id is None:
            return None
        zone = self._zones.get(camera.id, {}).get(zone_id)
        if zone is None:  # a reload took it away: the camera's place then
            log.warning("camera %s: event rule zone %r is not configured", camera.id, zone_id)
        return zone

    def _place(
        self, camera: CameraConfig, zone_id: str | None
    ) -> tuple[Location, dict[str, Any], ZoneConfig | None]:
        """The candidate's location and placing facts: by the rule's zone, else the camera."""
        zone = self._zone(camera, zone_id)
        grid_code, facts = zone_placement(
            zone, {"grid_code": camera.grid_code, "footprint": camera.footprint}
        )
        location = Location(
            grid_code=grid_code,
            district=camera.district,
            address=camera.address,
            camera_id=camera.id,
            zone_id=zone_id if zone is not None else None,
            lat=camera.lat,
            lon=camera.lon,
        )
        return location, facts, zone

    def _candidate(
        self, camera: CameraConfig, rule: OnvifEventRule, event: CameraEvent, episode: Episode
    ) -> CandidateCase:
        moment = episode.started_at or event.utc or self._clock.now()
        stateful = episode.active is not None
        facts: dict[str, Any] = {
            "origin": "onvif_event",
            "onvif_topic": event.topic,
            "onvif_data": dict(event.data),
            "onvif_source": dict(event.source),
            "event_time": rfc3339(moment),
        }
        if stateful:
            # the episode: its updates (the end) name the same subject, so the core
            # records them on the case this candidate opens
            facts.update(track_id=episode.subject, camera_id=camera.id, active=True)
        evidence = self._evidence(camera.id, moment, clip=True)
        facts["snapshot"] = bool(evidence)
        # the core places the case by the zone's ground, else the ground the camera sees
        location, placing, zone = self._place(camera, rule.zone)
        facts.update(placing)
        if zone is not None:
            facts["zone_id"] = rule.zone  # the end's update is placed the same way
        where = camera.name or camera.id
        if zone is not None:
            where += f"（{zone.name or rule.zone}）"
        return CandidateCase.create(
            source=Source(kind=SourceKind.CAMERA, id=camera.id),
            id=stable_message_id(
                camera.id, "onvif", event.topic, source_key(event.source), rfc3339(moment)
            ),
            ts=self._clock.now(),
            event_code=rule.event_code,
            title=rule.title or f"{where}：{topic_name(event.topic)}",
            description=f"摄像头 {where} 自带规则报警（ONVIF {event.topic}）",
            location=location,
            evidence=evidence,
            facts=facts,
        )

    def _end_update(self, camera: CameraConfig | None, episode: Episode) -> CandidateCase | None:
        """The update of the episode's candidate that says when the alarm ended."""
        assert episode.candidate_id is not None and episode.ended_at is not None
        assert episode.event_code is not None  # attached with the candidate
        if camera is None:
            log.info(
                "camera %s: alarm %s ended; the camera is no longer configured: no update",
                episode.camera_id,
                episode.topic,
            )
            return None
        facts = {
            **episode.facts,
            "active": False,
            "ended_at": rfc3339(episode.ended_at),
            "duration_s": episode.duration_s,
            "update_of": episode.candidate_id,
            "update_seq": 1,
        }
        facts["onvif_data"] = dict(episode.data)
        evidence = self._evidence(camera.id, episode.ended_at, clip=False)
        facts["snapshot"] = bool(evidence)
        update = CandidateCase.create(
            source=Source(kind=SourceKind.CAMERA, id=camera.id),
            id=stable_message_id(camera.id, "onvif-end", episode.candidate_id),
            ts=self._clock.now(),
            event_code=episode.event_code,
            title=episode.title,
            description=f"摄像头 {camera.name or camera.id} 自带规则报警结束（ONVIF {episode.topic}）",
            location=self._place(camera, episode.facts.get("zone_id"))[0],
            evidence=evidence,
            facts=facts,
        )
        self._publish(update)
        self.updates += 1
        log.info(
            "camera %s: alarm %s ended after %.0f s -> update %s of candidate %s",
            camera.id,
            episode.topic,
            episode.duration_s or 0.0,
            update.id,
            episode.candidate_id,
        )
        return update
