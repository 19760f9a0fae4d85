"""`EventHandOff`: camera events leave the ONVIF loop in order, none dropped."""

from __future__ import annotations

import threading
import time

from gateway.video.camera_events import CameraEvent
from gateway.video.event_handoff import EventHandOff


def event(n: int) -> CameraEvent:
    return CameraEvent(
        camera_id="cam-1", topic="tns1:Motion", source={}, data={"n": str(n)}, utc=None
    )


def test_events_are_handled_in_order_on_their_thread_even_past_a_failure() -> None:
    seen: list[tuple[str, str]] = []

    def handle(e: CameraEvent) -> None:
        if e.data["n"] == "2":
            raise RuntimeError("odd event")
        seen.append((e.data["n"], threading.current_thread().name))

    handoff = EventHandOff(handle)
    handoff.start()
    for n in range(5):
        handoff.put(event(n))
    handoff.stop()  # drains what was queued first
    assert [n for n, _ in seen] == ["0", "1", "3", "4"]
    assert {name for _, name in seen} == {"video.camera-events"}
    assert handoff.handled == 5 and not handoff.alive


def test_a_full_queue_makes_the_producer_wait_and_loses_nothing() -> None:
    gate = threading.Event()
    seen: list[str] = []

    def slow(e: CameraEvent) -> None:
        gate.wait(10)
        seen.append(e.data["n"])

    handoff = EventHandOff(slow, capacity=2)
    handoff.start()
    done = threading.Event()

    def produce() -> None:
        for n in range(6):
            handoff.put(event(n))
        done.set()

    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(0.3)
    assert not done.is_set()  # waiting for room, not dropping
    gate.set()
    producer.join(10)
    handoff.stop()
    assert seen == [str(n) for n in range(6)]
