"""The motion gate: one camera's analysis state, and which of its frames become detector jobs.

`gate` is the motion stage's decision for one frame (`gateway.video.analysis.pipeline`
runs it for every frame handed over): a frame with motion becomes a job with crops
around it; a camera holding tracks is re-checked on the whole frame every
``recheck_s`` and otherwise carried forward ("hold") every ``hold_s`` without an
inference; any other frame costs only its motion update. A job that runs the detector
also carries the zone crops due then (`zone_crops`: a closer look at a stall's zone while
someone stays there). Motion reads the frame's
grey sample (`gateway.video.frame.Frame.grey_sample`): a frame that becomes no job is
never converted to BGR.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.video.analysis.metrics import CameraMetrics
from gateway.video.analysis.model_plan import ModelUse
from gateway.video.analysis.motion import MotionDetector, Region, plan_crops
from gateway.video.analysis.rules import RuleEngine
from gateway.video.analysis.settings import AnalysisConfig, CameraAnalysisConfig
from gateway.video.analysis.tracking import ObjectTracker
from gateway.video.analysis.zone_crops import ZoneCrop, due_zone_crops
from gateway.video.frame import Frame


@dataclass(slots=True)
class Job:
    """A detector job: a frame and where to look in it."""

    frame: Frame
    crops: list[Region]
    reason: str  # motion | recheck | hold (no crops: nothing moved, tracks carried forward)
    zone_crops: list[ZoneCrop] = field(default_factory=list)  # closer looks at zones

    @property
    def images(self) -> int:
        """Detector passes this job costs."""
        return len(self.crops) + len(self.zone_crops)


@dataclass(slots=True)
class CameraAnalysis:
    """One camera's stages and cadence state (owned by the pipeline, changed under its lock
    or by the one stage thread that uses it)."""

    camera_id: str
    config: CameraAnalysisConfig
    motion: MotionDetector
    tracker: ObjectTracker
    rules: RuleEngine
    metrics: CameraMetrics
    models: tuple[ModelUse, ...] = ()  # what the camera runs, for which labels
    crop_side: int = 0  # the smallest input side of its models: crops are planned for it
    last_detect: float | None = None
    last_pass: float | None = None  # detector pass or hold
    has_tracks: bool = False
    #: zone crops its rules want (set after each detector pass) and when each zone was
    #: last looked at (the motion stage's)
    zone_crops: list[ZoneCrop] = field(default_factory=list)
    zone_looked: dict[str, float] = field(default_factory=dict)
    zone_again: frozenset[str] = frozenset()  # zones to look at on the next pass too


def gate(camera: CameraAnalysis, frame: Frame, settings: AnalysisConfig) -> Job | None:
    """The job this frame gives the detector stage, or None (motion only)."""
    regions = camera.motion.update_sample(frame.grey_sample(camera.motion.downscale))
    crops = plan_crops(
        regions,
        (frame.height, frame.width),
        camera.crop_side,
        full_frame_above=settings.motion.full_frame_above,
        max_crops=settings.motion.max_crops,
    )
    if crops:
        return Job(frame, crops, "motion", _zone_crops_due(camera, frame))
    due = camera.last_detect is None or (
        camera.has_tracks and frame.media_time - camera.last_detect >= settings.recheck_s
    )
    if due:
        camera.last_detect = frame.media_time  # one re-check per interval, even if queued
        whole = [Region(0, 0, frame.width, frame.height)]
        return Job(frame, whole, "recheck", _zone_crops_due(camera, frame))
    if camera.has_tracks and (
        camera.last_pass is None or frame.media_time - camera.last_pass >= settings.hold_s
    ):
        # nothing moved since the last pass: what was there is still there; the rules'
        # timers (dwell, down, count) advance without spending an inference
        camera.last_pass = frame.media_time
        return Job(frame, [], "hold")
    return None


def _zone_crops_due(camera: CameraAnalysis, frame: Frame) -> list[ZoneCrop]:
    again = camera.zone_again
    due = due_zone_crops(camera.zone_crops, camera.zone_looked, frame.media_time, again)
    if again:
        camera.zone_again = again - {crop.zone_id for crop in due}
    return due
