"""Shared subscriptions: several members of a group split a stream, each message to one
of them, while a plain subscription on the same connection still sees every message."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import pytest

from adapters.mqtt import MqttConnection, ReceivedMessage
from adapters.mqtt.connection import shared_filter
from gateway.config import Config


class Member:
    def __init__(self, config: Config, name: str) -> None:
        self.work: list[bytes] = []
        self.status: list[bytes] = []
        self._lock = threading.Lock()
        self.connection = MqttConnection(
            config.mqtt, f"{name}-{uuid.uuid4().hex[:6]}", manual_ack=True, clean_session=True
        )
        self.connection.subscribe("t/work/#", self._on_work, qos=1, share_group="core")
        self.connection.subscribe("t/status/#", self._on_status, qos=1)
        self.connection.start()
        assert self.connection.wait_connected(15)

    def _on_work(self, message: ReceivedMessage) -> None:
        with self._lock:
            self.work.append(message.payload)
        message.ack()

    def _on_status(self, message: ReceivedMessage) -> None:
        with self._lock:
            self.status.append(message.payload)
        message.ack()


def test_a_share_group_splits_the_work_and_every_member_sees_the_status(
    make_config: Callable[..., Config],
) -> None:
    config = make_config()
    first, second = Member(config, "one"), Member(config, "two")
    producer = MqttConnection(config.mqtt, f"producer-{uuid.uuid4().hex[:6]}", clean_session=True)
    producer.start()
    try:
        assert producer.wait_connected(15)
        time.sleep(0.5)  # both SUBACKs in
        for n in range(200):
            producer.publish("t/work/x", f"w{n}".encode(), qos=1)
        for n in range(5):
            producer.publish("t/status/x", f"s{n}".encode(), qos=1)
        deadline = time.monotonic() + 20
        while (
            len(first.work) + len(second.work) < 200
            or min(len(first.status), len(second.status)) < 5
        ):
            assert time.monotonic() < deadline, (len(first.work), len(second.work))
            time.sleep(0.05)
        time.sleep(0.3)  # a duplicate would show now
        work = first.work + second.work
        assert sorted(work) == sorted(f"w{n}".encode() for n in range(200))  # each once
        assert first.work and second.work  # both took a share
        assert first.status == second.status == [f"s{n}".encode() for n in range(5)]
    finally:
        for connection in (first.connection, second.connection, producer):
            connection.stop(publish_offline=False)


def test_a_share_group_name_cannot_smuggle_topic_levels() -> None:
    assert shared_filter("a/#", "core-1") == "$share/core-1/a/#"
    with pytest.raises(ValueError):
        shared_filter("a/#", "core/+")
