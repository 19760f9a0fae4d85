"""A detection: the type shared by detectors, the tracker, the rules and evidence drawing."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Detection:
    """One object found in one frame, in that frame's pixel coordinates."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    class_id: int
    label: str
    track_id: int | None = None
    kind: str = ""  # the model's own class name (truck) when a label groups several (vehicle)

    @property
    def bottom_centre(self) -> tuple[float, float]:
        """The point zones are tested with (where the object stands on the ground)."""
        return ((self.x1 + self.x2) / 2.0, self.y2)

    @property
    def area(self) -> float:
        return max(0.0, self.x2 - self.x1) * max(0.0, self.y2 - self.y1)


def iou(a: Detection, b: Detection) -> float:
    """Intersection over union of two boxes."""
    ix = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    iy = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    inter = ix * iy
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0
