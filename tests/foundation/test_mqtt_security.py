"""The MQTT adapter against a broker that demands a password and TLS."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.mqtt import MqttConnection, ReceivedMessage
from adapters.mqtt.broker import MosquittoBroker
from gateway.config import Config, parse_config


def make_certificates(folder: Path) -> dict[str, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1, with the openssl CLI."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = folder / "ca.key", folder / "ca.pem"
    key, csr, cert = folder / "server.key", folder / "server.csr", folder / "server.pem"
    ext = folder / "ext.cnf"
    ext.write_text("subjectAltName = IP:127.0.0.1, DNS:localhost\n")

    def run(*args):
        return subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=citygw test CA",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca_cert),
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        str(key),
        "-out",
        str(csr),
    )
    run(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca_cert),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        str(ext),
        "-out",
        str(cert),
    )
    return {"ca": ca_cert, "cert": cert, "key": key}


@pytest.fixture
def secure_broker(tmp_path: Path) -> Iterator[tuple[MosquittoBroker, Path]]:
    certs = make_certificates(tmp_path / "tls")
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
            f"cafile {certs['ca']}",
            f"certfile {certs['cert']}",
            f"keyfile {certs['key']}",
        ],
        password_file=passwords,
    )
    broker.start()
    yield broker, certs["ca"]
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
