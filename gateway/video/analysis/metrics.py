"""What the analysis pipeline counts: per camera and overall, since it started."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class CameraMetrics:
    frames_in: int = 0
    frames_motion: int = 0  # frames the motion stage looked at
    frames_detected: int = 0  # frames the detector looked at
    zone_crops: int = 0  # extra detector passes on stall zones' crops (zone_crops.py)
    held: int = 0  # still frames whose tracks were carried forward without the detector
    skipped: int = 0  # frames dropped (queue full or replaced before detection)
    candidates: int = 0  # published: first candidates and updates
    updates: int = 0  # of which updates of an earlier candidate (grown facts, new snapshot)


@dataclass(slots=True)
class PipelineMetrics:
    """Counters since start; ``analysed_fps`` over the last ``window`` seconds."""

    detector_calls: int = 0  # inferences (one per crop or full frame)
    motion_batches: int = 0  # wake-ups of the motion stage (each gates all waiting frames)
    detector_seconds: float = 0.0
    cameras: dict[str, CameraMetrics] = field(default_factory=dict)
    false_positives: dict[tuple[str, str], int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)  # frame -> candidate handed over
    publish_errors: int = 0  # refusals by the outbox (each attempt) and candidates not made
    spilled: int = 0  # candidates the outbox kept refusing, kept in the spill folder
    analysed_fps: float = 0.0

    @property
    def frames_in(self) -> int:
        return sum(c.frames_in for c in self.cameras.values())

    @property
    def skip_rate(self) -> float:
        total = self.frames_in
        return sum(c.skipped for c in self.cameras.values()) / total if total else 0.0


def copy_fields(metrics: CameraMetrics) -> dict[str, int]:
    return {name: getattr(metrics, name) for name in CameraMetrics.__slots__}  # type: ignore[attr-defined]
