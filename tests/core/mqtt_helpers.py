"""MQTT helpers of the core's integration tests: a collecting subscriber and a raw producer."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

from adapters.mqtt import MqttConnection, ReceivedMessage
from gateway.config import Config


class Collector:
    """Subscribes to a filter; ready once a probe published on ``probe_topic`` came back."""

    def __init__(self, config: Config, topic_filter: str, probe_topic: str) -> None:
        self.messages: list[ReceivedMessage] = []
        self._arrived = threading.Condition()
        self._probe = f"probe-{uuid.uuid4().hex}".encode()
        self.connection = MqttConnection(
            config.mqtt, f"test-{uuid.uuid4().hex[:8]}", clean_session=True
        )
        self.connection.subscribe(topic_filter, self._on_message)
        self.connection.start()
        assert self.connection.wait_connected(15)
        deadline = time.monotonic() + 15
        while not self._probe_seen():
            assert time.monotonic() < deadline, "subscription never became active"
            self.connection.publish_and_wait(probe_topic, self._probe, qos=1, timeout=5)
            with self._arrived:
                self._arrived.wait(0.2)

    def _probe_seen(self) -> bool:
        with self._arrived:
            return any(m.payload == self._probe for m in self.messages)

    def _on_message(self, message: ReceivedMessage) -> None:
        with self._arrived:
            if message.payload != self._probe or not any(
                m.payload == self._probe for m in self.messages
            ):
                self.messages.append(message)
            self._arrived.notify_all()

    def wait_until(
        self, predicate: Callable[[list[ReceivedMessage]], bool], timeout: float = 30.0
    ) -> list[ReceivedMessage]:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                real = [m for m in self.messages if m.payload != self._probe]
                if predicate(real):
                    return real
                if time.monotonic() > deadline:
                    raise AssertionError(f"timed out; {len(real)} messages arrived")
                self._arrived.wait(0.2)

    def close(self) -> None:
        self.connection.stop(publish_offline=False)


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
