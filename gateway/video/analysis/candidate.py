"""A rule firing as a candidate case: CJ/T 214 code, place, facts and evidence. Pure.

An update of a fired track or zone condition is a candidate of its own (a new id) with
the first one's ``facts.track_id`` and camera, so the core records it on the case the
first one opened (a re-detection); ``facts.update_of`` names the first candidate and
``facts.update_seq`` counts the updates.
"""

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


def candidate_id(firing: Firing) -> str:
    """Deterministic: the same firing published twice is stored once by the core.

    An update differs from its first firing (and from other updates) by the capture time
    of the frame it fired on.
    """
    return stable_message_id(firing.camera_id, firing.rule.id, firing.key, rfc3339(firing.wall))


def snapshot_caption(firing: Firing) -> str:
    """What fired, for how long: drawn on the snapshot (digits and codes only, so any
    reader can read it; the console shows the same facts in words)."""
    facts = firing.facts
    parts = [firing.rule.event_code, f"#{facts.get('track_id', firing.key)}".split("@")[0]]
    for key, unit in (("dwell_s", "s"), ("down_s", "s"), ("held_s", "s")):
        if key in facts:
            parts.append(f"{round(float(facts[key]))}{unit}")
    if "count" in facts:
        parts.append(f"n={facts['count']}")
    return "  ".join(parts)


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
    if firing.first is not None:
        # an update: the same subject (facts.track_id) with grown facts and a new snapshot
        facts["update_of"] = candidate_id(firing.first)
        facts["update_seq"] = firing.seq
    lead = firing.objects[0].detection if firing.objects else None
    if lead is not None:
        # the fields the core echoes back when it rejects a false detection
        facts.setdefault("label", lead.label)
        facts.setdefault("box", [round(v, 1) for v in (lead.x1, lead.y1, lead.x2, lead.y2)])
        facts.setdefault("score", round(lead.score, 3))
        facts.setdefault("object_kind", lead.kind or lead.label)
    if zone is not None and zone.name:
        facts["zone_name"] = zone.name  # what the console shows for the zone
    # for people (Chinese); the rule, zone id and capture time are in the facts
    description = (
        f"摄像头 {firing.camera_id}"
        + (f"，{zone.name or firing.zone_id}" if zone else "")
        + "，视频分析自动发现"
    )
    return CandidateCase.create(
        source=Source(kind=SourceKind.CAMERA, id=firing.camera_id),
        id=candidate_id(firing),
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
