"""The bounded inbound queue: batches to one worker, back-pressure, retries until stopped."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from gateway.inbound_queue import InboundQueue


@dataclass
class Message:
    topic: str
    payload: bytes

    def ack(self) -> bool:
        return True


def test_messages_reach_the_handler_in_order_and_in_batches() -> None:
    seen: list[list[bytes]] = []
    gate = threading.Event()

    def handle(batch: list) -> None:
        gate.wait(5)
        seen.append([m.payload for m in batch])

    inbound = InboundQueue(handle, name="test.inbound", queue_size=100, max_batch=10)
    inbound.start()
    for i in range(25):
        inbound.submit(Message("t", str(i).encode()))
    gate.set()
    assert inbound.wait_idle(5)
    inbound.stop()
    flat = [p for batch in seen for p in batch]
    assert flat == [str(i).encode() for i in range(25)]
    assert max(len(batch) for batch in seen) <= 10
    assert len(seen) < 25  # the waiting messages were taken together


def test_a_failing_handler_does_not_kill_the_worker() -> None:
    handled: list[bytes] = []

    def handle(batch: list) -> None:
        if batch[0].payload == b"bad":
            raise RuntimeError("boom")
        handled.extend(m.payload for m in batch)

    inbound = InboundQueue(handle, name="test.inbound", queue_size=10)
    inbound.start()
    inbound.submit(Message("t", b"bad"))
    inbound.submit(Message("t", b"good"))
    assert inbound.wait_idle(5)
    inbound.stop()
    assert handled == [b"good"]
    assert not inbound.running


def test_retry_tries_again_until_it_works_and_gives_up_when_stopped() -> None:
    inbound = InboundQueue(lambda batch: None, name="test.inbound", queue_size=1)
    calls = {"n": 0}

    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 2:
            raise OSError("database away")
        return "stored"

    assert inbound.retry("storing", flaky, max_delay_s=0.01) == "stored"
    assert calls["n"] == 2
    inbound.stop()

    def never() -> str:
        raise OSError("still away")

    assert inbound.retry("storing", never) is None


def test_stalled_for_grows_while_a_batch_is_stuck_and_resets_when_one_is_done() -> None:
    release = threading.Event()
    failing = threading.Event()

    def handle(batch: list) -> None:
        if failing.is_set():
            raise RuntimeError("a handler bug")
        release.wait(5)

    inbound = InboundQueue(handle, name="test.stall", queue_size=10)
    inbound.start()
    try:
        assert inbound.stalled_for() == 0.0  # nothing waits
        inbound.submit(Message("t", b"1"))
        time.sleep(0.3)
        assert inbound.stalled_for() >= 0.25  # in the handler, not done
        release.set()
        assert inbound.wait_idle(5)
        time.sleep(0.1)
        assert inbound.stalled_for() == 0.0  # done: progress
        failing.set()
        inbound.submit(Message("t", b"2"))
        time.sleep(0.3)
        # the handler failed: its message is unacknowledged, which is no progress
        assert inbound.wait_idle(1) and inbound.stalled_for() >= 0.25
    finally:
        inbound.stop()
