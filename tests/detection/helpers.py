"""Helpers of the detection tests: an MQTT collector, frame feeding, picture checks."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np

from adapters.mqtt.connection import MqttConnection, ReceivedMessage
from gateway.config import Config
from gateway.contract import CandidateCase, parse_message
from gateway.video.detection import Detection
from gateway.video.frame import Frame

START = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)


class CandidateCollector:
    """Subscribes to all candidates; keeps each distinct candidate once (outbox resends)."""

    def __init__(self, config: Config, topic_filter: str, name: str = "collector") -> None:
        self.by_id: dict[str, CandidateCase] = {}
        self.topics: dict[str, str] = {}
        self._arrived = threading.Condition()
        self._probe_seen = threading.Event()
        self._probe_topic = topic_filter.replace("#", "probe/" + name)
        self.connection = MqttConnection(config.mqtt, f"test-{name}", clean_session=True)
        self.connection.subscribe(topic_filter, self._on_message)
        self.connection.start()
        assert self.connection.wait_connected(15), "collector could not connect to Mosquitto"
        # the subscription is in place once our own probe comes back (no sleep)
        deadline = time.monotonic() + 15
        while not self._probe_seen.wait(0.5):
            assert time.monotonic() < deadline, "subscription never became active"
            self.connection.publish(self._probe_topic, b"probe", qos=1)

    def _on_message(self, message: ReceivedMessage) -> None:
        if message.topic == self._probe_topic:
            self._probe_seen.set()
            return
        candidate = parse_message(message.payload, expect=CandidateCase)
        assert isinstance(candidate, CandidateCase)
        with self._arrived:
            self.by_id[candidate.id] = candidate
            self.topics[candidate.id] = message.topic
            self._arrived.notify_all()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[CandidateCase]:
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.by_id) >= count, timeout)
            return list(self.by_id.values())

    def close(self) -> None:
        self.connection.stop(publish_offline=False)


def frames_of(
    images: Iterable[np.ndarray], camera_id: str, *, fps: float = 5.0, start_mono: float = 1000.0
) -> list[Frame]:
    """Frames as a camera at ``fps`` would have delivered them (video time, not wall time)."""
    return [
        Frame(
            camera_id=camera_id,
            seq=index,
            captured_at=START + timedelta(seconds=index / fps),
            monotonic=start_mono + index / fps,
            image=image,
        )
        for index, image in enumerate(images)
    ]


def box_outline_drawn(jpeg: bytes, original: np.ndarray, box: Detection | list[float]) -> bool:
    """Whether the JPEG differs from the original along the box outline (a box was drawn)."""
    picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None and picture.shape == original.shape, "snapshot is not the frame"
    if isinstance(box, Detection):
        x1, y1, x2, y2 = box.x1, box.y1, box.x2, box.y2
    else:
        x1, y1, x2, y2 = box
    x1, y1, x2, y2 = (round(float(v)) for v in (x1, y1, x2, y2))
    edge = np.concatenate([picture[y2 - 1, x1:x2], picture[y1:y2, x1]]).astype(int)
    truth = np.concatenate([original[y2 - 1, x1:x2], original[y1:y2, x1]]).astype(int)
    # the lower half of the inside: labels of neighbouring boxes and zone outlines may be
    # drawn across a box's top, never across the object itself down to its feet
    middle = (y1 + y2) // 2
    inside = picture[middle : y2 - 5, x1 + 5 : x2 - 5].astype(int)
    inside_truth = original[middle : y2 - 5, x1 + 5 : x2 - 5].astype(int)
    outline_change = np.abs(edge - truth).mean()
    inside_change = np.abs(inside - inside_truth).mean() if inside.size else 0.0
    return bool(outline_change > 40 and inside_change < 15)
