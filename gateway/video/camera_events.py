"""Camera-side events (ONVIF analytics, motion) → logged, and candidates where a rule says so.

A camera's own rule (say, its illegal-parking zone) reports through ONVIF events; the
configuration maps a topic plus required data values to a CJ/T 214 event code. Each
match becomes a `CandidateCase` with the camera's location and a snapshot of the newest
analysed frame, at most once per ``cooldown_s`` per camera and rule. The candidate id is
derived from the event itself, so a re-delivered event is stored once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from gateway.clock import Clock, rfc3339
from gateway.contract import (
    CandidateCase,
    Evidence,
    Location,
    Source,
    SourceKind,
    stable_message_id,
)
from gateway.video.evidence import EvidenceClips, EvidenceError, snapshot_evidence
from gateway.video.frame import Frame
from gateway.video.settings import CameraConfig, OnvifEventRule

log = logging.getLogger(__name__)

#: A snapshot older than this does not show the event any more.
SNAPSHOT_MAX_AGE_S = 10.0
#: Seconds of video before the event put in its clip (none after: no waiting).
CLIP_BEFORE_S = 5.0


@dataclass(frozen=True)
class CameraEvent:
    """One notification of a camera, reduced to what rules look at."""

    camera_id: str
    topic: str
    source: dict[str, str] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)
    utc: datetime | None = None
    operation: str = ""


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
    """Applies the configured event rules of every camera; thread-safe enough (one caller)."""

    def __init__(
        self,
        cameras: list[CameraConfig],
        *,
        clock: Clock,
        publish: Callable[[CandidateCase], object],
        latest_frame: Callable[[str], Frame | None],
        jpeg_quality: int = 85,
        clips: EvidenceClips | None = None,
    ) -> None:
        self._clock = clock
        self._clips = clips
        self._publish = publish
        self._latest_frame = latest_frame
        self._jpeg_quality = jpeg_quality
        self._last_fired: dict[tuple[str, int], float] = {}
        self._cameras: dict[str, CameraConfig] = {}
        self.set_cameras(cameras)
        self.events_seen = 0
        self.candidates = 0

    def set_cameras(self, cameras: list[CameraConfig]) -> None:
        self._cameras = {c.id: c for c in cameras}

    def handle(self, event: CameraEvent) -> CandidateCase | None:
        """Log the event; publish and return a candidate when a rule fires."""
        self.events_seen += 1
        log.info(
            "camera %s: event %s %s %s",
            event.camera_id,
            event.topic,
            event.operation,
            " ".join(f"{k}={v}" for k, v in event.data.items()),
        )
        camera = self._cameras.get(event.camera_id)
        if camera is None or camera.onvif is None:
            return None
        for index, rule in enumerate(camera.onvif.event_rules):
            if not rule_matches(rule, event):
                continue
            now = self._clock.monotonic()
            key = (camera.id, index)
            last = self._last_fired.get(key)
            if last is not None and now - last < rule.cooldown_s:
                log.debug("camera %s: rule %d in cooldown", camera.id, index)
                return None
            self._last_fired[key] = now
            candidate = self._candidate(camera, rule, event)
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

    def _candidate(
        self, camera: CameraConfig, rule: OnvifEventRule, event: CameraEvent
    ) -> CandidateCase:
        moment = event.utc or self._clock.now()
        evidence: list[Evidence] = []
        frame = self._latest_frame(camera.id)
        if frame is not None and self._clock.monotonic() - frame.monotonic <= SNAPSHOT_MAX_AGE_S:
            try:
                evidence.append(
                    snapshot_evidence(
                        frame.image,
                        [],
                        name=f"{camera.id}-{moment:%Y%m%dT%H%M%S}.jpg",
                        quality=self._jpeg_quality,
                    )
                )
            except EvidenceError as exc:
                log.warning("camera %s: no snapshot: %s", camera.id, exc)
        if self._clips is not None:
            try:
                clip = self._clips.clip_around(
                    camera.id, self._clock.monotonic(), CLIP_BEFORE_S, 0.0
                )
            except EvidenceError as exc:
                log.warning("camera %s: no clip: %s", camera.id, exc)
                clip = None
            if clip is not None:
                evidence.append(clip)
        return CandidateCase.create(
            source=Source(kind=SourceKind.CAMERA, id=camera.id),
            id=stable_message_id(camera.id, "onvif", event.topic, rfc3339(moment)),
            ts=self._clock.now(),
            event_code=rule.event_code,
            title=rule.title or f"{camera.name or camera.id}: {event.topic.rpartition('/')[2]}",
            description=f"camera rule event {event.topic} on {camera.name or camera.id}",
            location=Location(
                grid_code=camera.grid_code,
                district=camera.district,
                address=camera.address,
                camera_id=camera.id,
                lat=camera.lat,
                lon=camera.lon,
            ),
            evidence=evidence,
            facts={
                "origin": "onvif_event",
                "onvif_topic": event.topic,
                "onvif_data": dict(event.data),
                "onvif_source": dict(event.source),
                "event_time": rfc3339(moment),
                "snapshot": bool(evidence),
            },
        )
