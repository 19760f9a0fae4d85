"""The evidence of a firing: an annotated snapshot of the frame it fired on (its objects'
boxes and the other objects in view, the rule's zone outlined, a caption saying what and
how long) and, when the ingest side buffers the stream, a clip around that moment."""

from __future__ import annotations

from gateway.contract import Evidence
from gateway.video.analysis.candidate import snapshot_caption
from gateway.video.analysis.rules import Firing
from gateway.video.analysis.settings import AnalysisConfig, CameraAnalysisConfig
from gateway.video.detection import Detection
from gateway.video.evidence import EvidenceClips, snapshot_evidence
from gateway.video.frame import Frame


def firing_evidence(
    firing: Firing,
    frame: Frame,
    visible: list[Detection],
    camera: CameraAnalysisConfig,
    settings: AnalysisConfig,
    clips: EvidenceClips | None,
) -> list[Evidence]:
    """Snapshot (always) and clip (when ``clips`` has the moment) of ``firing``."""
    fired_ids = {o.track_id for o in firing.objects}
    drawn = [o.detection for o in firing.objects] + [
        d for d in visible if d.track_id not in fired_ids
    ]
    zone = camera.zones.get(firing.zone_id) if firing.zone_id else None
    caption, caption_ascii = snapshot_caption(firing)
    evidence: list[Evidence] = [
        snapshot_evidence(
            frame.image,
            drawn,
            name=f"{firing.camera_id}-{frame.seq}.jpg",
            quality=settings.snapshot_quality,
            zones=[[(x * frame.width, y * frame.height) for x, y in zone.polygon]]
            if zone is not None
            else [],
            caption=caption,
            caption_ascii=caption_ascii,
            labelled=len(firing.objects),  # the others in view: boxes without tags
        )
    ]
    if clips is not None and settings.clip_before_s + settings.clip_after_s > 0:
        clip = clips.clip_around(
            firing.camera_id, frame.monotonic, settings.clip_before_s, settings.clip_after_s
        )
        if clip is not None:
            evidence.append(clip)
    return evidence
