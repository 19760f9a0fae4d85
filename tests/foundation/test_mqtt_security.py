"""The MQTT adapter against a broker that demands a password and TLS."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.mqtt import MqttConnection, ReceivedMessage
from adapters.mqtt.broker import MosquittoBroker
from adapters.mqtt.broker_security import make_certificates
from gateway.config import Config, parse_config


@pytest.fixture
def secure_broker(tmp_path: Path) -> Iterator[tuple[MosquittoBroker, Path]]:
    tls = make_certificates(tmp_path / "tls", [])  # setup's step: a CA and the broker's
    passwords = tmp_path / "passwd"
    subprocess.run(
        ["mosquitto_passwd", "-c", "-b", str(passwords), "gateway", "s3cret-pw"],
        check=True,
        timeout=30,
    )
    passwords.chmod(0o644)
    broker = MosquittoBroker(
        tmp_path / "mosquitto",
        listener_options=[
            f"cafile {tls.ca}",
            f"certfile {tls.server_cert}",
            f"keyfile {tls.server_key}",
        ],
        password_file=passwords,
    )
    broker.start()
    yield broker, tls.ca
    broker.stop()


def config_for(broker: MosquittoBroker, ca: Path | None, password: str) -> Config:
    tls = f"  tls:\n    ca_file: {ca}\n" if ca else ""
    text = f"mqtt:\n  host: 127.0.0.1\n  port: {broker.port}\n  username: gateway\n  password: ${{PW}}\n{tls}"
    return parse_config(text, env={"PW": password})


def test_username_password_and_tls_from_config_connect_and_deliver(secure_broker) -> None:
    broker, ca = secure_broker
    config = config_for(broker, ca, "s3cret-pw")
    received: list[ReceivedMessage] = []
    connection = MqttConnection(config.mqtt, "secure-client", clean_session=True)
    connection.subscribe("secure/#", received.append)
    connection.start()
    try:
        assert connection.wait_connected(15)
        time.sleep(0.2)
        assert connection.publish_and_wait("secure/hello", b"over tls", timeout=10)
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [m.payload for m in received] == [b"over tls"]
    finally:
        connection.stop(publish_offline=False)


def test_a_wrong_password_never_connects(secure_broker) -> None:
    broker, ca = secure_broker
    connection = MqttConnection(
        config_for(broker, ca, "wrong").mqtt, "bad-password", clean_session=True
    )
    connection.start()
    try:
        assert not connection.wait_connected(3)
    finally:
        connection.stop(publish_offline=False)


def test_plain_tcp_to_a_tls_listener_never_connects(secure_broker) -> None:
    broker, _ca = secure_broker
    connection = MqttConnection(
        config_for(broker, None, "s3cret-pw").mqtt, "no-tls", clean_session=True
    )
    connection.start()
    try:
        assert not connection.wait_connected(3)
    finally:
        connection.stop(publish_offline=False)
