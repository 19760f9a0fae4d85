"""Tracking: stable ids across gated frames (ByteTrack) and when an object stands still.

The id assignment is supervision's ByteTrack (chosen because it installs beside
opencv-python-headless and numpy 2; norfair needs numpy < 2 and roboflow's ``trackers``
pulls opencv-python). ByteTrack counts *updates*, not seconds: a camera without motion
is not updated, so its tracks survive gated frames. On top of it, `ObjectTracker` keeps
per track when it was first and last seen and since when it has not moved.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np
import supervision as sv  # imported with the module: never on a camera's first frame

from gateway.video.analysis.settings import TrackerConfig
from gateway.video.detection import Detection


@dataclass(slots=True)
class TrackedObject:
    """What the rules see of one tracked object."""

    track_id: int
    detection: Detection  # the latest box (with ``track_id`` set)
    first_seen: float  # monotonic
    last_seen: float
    still_since: float  # since when the bottom-centre stayed near ``anchor``
    anchor: tuple[float, float]
    stationary: bool = False

    @property
    def label(self) -> str:
        return self.detection.label

    def visible_at(self, now: float) -> bool:
        return self.last_seen >= now


class ObjectTracker:
    """One camera's tracks. ``update`` after each detector pass (gated frames skip it)."""

    def __init__(self, config: TrackerConfig) -> None:
        self._config = config
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # deprecated in sv, still maintained
            self._bytetrack = sv.ByteTrack(
                track_activation_threshold=config.activation_score,
                lost_track_buffer=config.lost_frames,
                minimum_matching_threshold=config.match_iou,
                frame_rate=30,  # so lost_track_buffer counts updates one for one
            )
        self._objects: dict[int, TrackedObject] = {}
        self._last_pass: float | None = None

    @property
    def objects(self) -> list[TrackedObject]:
        return list(self._objects.values())

    def update(self, detections: list[Detection], now: float) -> list[TrackedObject]:
        """Match ``detections`` to tracks; return every live track (seen within forget_s)."""
        self._last_pass = now
        for detection in self._assign(detections):
            assert detection.track_id is not None
            point = detection.bottom_centre
            current = self._objects.get(detection.track_id)
            if current is None:
                self._objects[detection.track_id] = TrackedObject(
                    track_id=detection.track_id,
                    detection=detection,
                    first_seen=now,
                    last_seen=now,
                    still_since=now,
                    anchor=point,
                )
                continue
            tolerance = self._config.stationary_tolerance * max(1.0, detection.y2 - detection.y1)
            moved = np.hypot(point[0] - current.anchor[0], point[1] - current.anchor[1])
            if moved > tolerance:
                current.anchor, current.still_since = point, now
            current.detection, current.last_seen = detection, now
        return self._refresh(now)

    def hold(self, now: float) -> list[TrackedObject]:
        """Nothing moved since the last pass: objects in view then are still in view now.

        ByteTrack is not stepped (no detections were made); the next real pass matches
        against the same tracks.
        """
        for obj in self._objects.values():
            if obj.last_seen == self._last_pass:
                obj.last_seen = now
        self._last_pass = now
        return self._refresh(now)

    def _refresh(self, now: float) -> list[TrackedObject]:
        for track_id, obj in list(self._objects.items()):
            if now - obj.last_seen > self._config.forget_s:
                del self._objects[track_id]
                continue
            obj.stationary = now - obj.still_since >= self._config.stationary_s
        return self.objects

    def _assign(self, detections: list[Detection]) -> list[Detection]:
        if detections:
            xyxy = np.array([[d.x1, d.y1, d.x2, d.y2] for d in detections], dtype=np.float32)
            scores = np.array([d.score for d in detections], dtype=np.float32)
            classes = np.array([d.class_id for d in detections], dtype=int)
        else:
            xyxy = np.zeros((0, 4), np.float32)
            scores = np.zeros(0, np.float32)
            classes = np.zeros(0, int)
        tracked = self._bytetrack.update_with_detections(
            sv.Detections(
                xyxy=xyxy,
                confidence=scores,
                class_id=classes,
                data={"index": np.arange(len(detections))},
            )
        )
        if len(tracked) == 0 or tracked.tracker_id is None:
            return []
        out = []
        for index, track_id in zip(tracked.data["index"], tracked.tracker_id, strict=True):
            out.append(replace(detections[int(index)], track_id=int(track_id)))
        return out
