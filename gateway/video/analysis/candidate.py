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
from gateway.video.analysis.settings import CameraAnalysisConfig, ZoneConfig
from gateway.video.frame import Frame


def zone_placement(
    zone: ZoneConfig | None, place: Mapping[str, Any]
) -> tuple[str | None, dict[str, Any]]:
    """Where a candidate of ``zone`` (None: the whole view) of a camera at ``place`` (its
    ``grid_code`` and ``footprint`` from ``video.cameras``) belongs: its grid code, and the
    facts the core places it by.

    The grid: the zone's ``grid_code``; else, for a zone with a ground footprint, none
    here (the core places the case by the zone's footprint, the camera's ``grid_code``
    riding along as ``facts.camera_grid_code`` for a core without imported grids); else
    the camera's ``grid_code``. The same for the analysis' rules and the camera's own
    (ONVIF) rules."""
    zone_ground = zone.footprint if zone is not None else None
    if zone is not None and zone.grid_code is not None:
        grid_code = zone.grid_code
    elif zone_ground is not None:
        grid_code = None
    else:
        grid_code = place.get("grid_code")
    facts: dict[str, Any] = {}
    if place.get("footprint"):  # the ground the camera sees: the core places the case by it
        facts["camera_footprint"] = [list(corner) for corner in place["footprint"]]
    if zone_ground is not None:  # the ground the zone covers: placed by it before the camera's
        facts["zone_footprint"] = [list(corner) for corner in zone_ground]
        if grid_code is None and place.get("grid_code"):
            facts["camera_grid_code"] = place["grid_code"]
    if zone is not None and zone.name:
        facts["zone_name"] = zone.name  # what the console shows for the zone
    return grid_code, facts


def candidate_id(firing: Firing) -> str:
    """Deterministic: the same firing published twice is stored once by the core.

    An update differs from its first firing (and from other updates) by the capture time
    of the frame it fired on.
    """
    return stable_message_id(firing.camera_id, firing.rule.id, firing.key, rfc3339(firing.wall))


#: how the caption says each timer: (Chinese, ASCII fallback)
_TIMERS = {"dwell_s": ("停留", "dwell"), "down_s": ("倒地", "down"), "held_s": ("持续", "held")}


def snapshot_caption(firing: Firing) -> tuple[str, str]:
    """What fired, for how long, drawn on the snapshot: in Chinese, and in ASCII for a
    machine without a CJK font (e.g. "0505 停留 125 秒", "0505 dwell 125 s")."""
    facts = firing.facts
    chinese, plain = [firing.rule.event_code], [firing.rule.event_code]
    if "count" in facts:
        chinese.append(f"{facts['count']} 人")
        plain.append(f"n={facts['count']}")
    for key, (word, ascii_word) in _TIMERS.items():
        if key in facts:
            seconds = round(float(facts[key]))
            chinese.append(f"{word} {seconds} 秒")
            plain.append(f"{ascii_word} {seconds} s")
    return "  ".join(chinese), "  ".join(plain)


def build_candidate(
    firing: Firing,
    frame: Frame,
    camera: CameraAnalysisConfig | None,
    evidence: list[Evidence],
    *,
    model: str,
    location: Mapping[str, Any] | None = None,
) -> CandidateCase:
    """``location``: the camera's place from ``video.cameras`` (grid code, district, ...);
    the grid and the placing facts as `zone_placement` says."""
    place = dict(location or {})
    zone = camera.zones.get(firing.zone_id) if camera and firing.zone_id else None
    grid_code, placing = zone_placement(zone, place)
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
    facts.update(placing)
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
