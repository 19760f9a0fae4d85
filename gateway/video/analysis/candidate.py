"""A rule firing as a candidate case: CJ/T 214 code, place, facts and evidence. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.clock import rfc3339
from gateway.contract import (
    CandidateCase,
    Evidence,
    Location,
    Source,
    SourceKind,
    stable_message_id,
)
from gateway.video.analysis.rules import Firing
from gateway.video.analysis.settings import CameraAnalysisConfig
from gateway.video.frame import Frame


def candidate_id(firing: Firing, frame: Frame) -> str:
    """Deterministic: the same firing published twice is stored once by the core."""
    return stable_message_id(
        firing.camera_id, firing.rule.id, firing.key, rfc3339(frame.captured_at)
    )


def build_candidate(
    firing: Firing,
    frame: Frame,
    camera: CameraAnalysisConfig | None,
    evidence: list[Evidence],
    *,
    model: str,
    location: Mapping[str, Any] | None = None,
) -> CandidateCase:
    """``location``: the camera's place from ``video.cameras`` (grid code, district, ...)."""
    place = dict(location or {})
    zone = camera.zones.get(firing.zone_id) if camera and firing.zone_id else None
    grid_code = (zone.grid_code if zone else None) or place.get("grid_code")
    facts = {
        **firing.facts,
        "model": model,
        "frame_seq": frame.seq,
        "captured_at": rfc3339(frame.captured_at),
        "frame_size": [frame.width, frame.height],
    }
    lead = firing.objects[0].detection if firing.objects else None
    if lead is not None:
        # the fields the core echoes back when it rejects a false detection
        facts.setdefault("label", lead.label)
        facts.setdefault("box", [round(v, 1) for v in (lead.x1, lead.y1, lead.x2, lead.y2)])
        facts.setdefault("score", round(lead.score, 3))
        facts.setdefault("track_id", lead.track_id)
    description = (
        f"camera {firing.camera_id}, rule {firing.rule.id} ({firing.rule.type})"
        + (f", zone {firing.zone_id}" if firing.zone_id else "")
        + f", at {rfc3339(frame.captured_at)}"
    )
    return CandidateCase.create(
        source=Source(kind=SourceKind.CAMERA, id=firing.camera_id),
        id=candidate_id(firing, frame),
        event_code=firing.rule.event_code,
        title=firing.title[:200],
        description=description,
        location=Location(
            grid_code=grid_code,
            district=place.get("district"),
            address=place.get("address"),
            camera_id=firing.camera_id,
            zone_id=firing.zone_id,
            lat=place.get("lat"),
            lon=place.get("lon"),
        ),
        evidence=evidence,
        urgent=firing.rule.urgent,
        facts=facts,
    )
