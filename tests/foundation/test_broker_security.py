"""The secured broker: TLS only, a password and a client certificate per daemon, ACLs from
the contract, the contract's payload limit. Real Mosquitto 2 (Debian 12)."""

from __future__ import annotations

import os
import pwd
import secrets
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from adapters.mqtt import MqttConnection
from adapters.mqtt.broker import MosquittoBroker, find_mosquitto, free_port
from adapters.mqtt.broker_security import make_certificates, write_acl_file, write_password_file
from gateway.contract import MAX_PAYLOAD_BYTES, SourceKind
from gateway.mqtt_acl import core_grant, observer_grant, telephony_grant, video_grant
from tests.conftest import REPO_ROOT
from tests.mqtt_security_harness import TOPICS, SecuredBroker, Watcher, start_secured_broker

CORE = core_grant(TOPICS, "main")
AGI = telephony_grant(TOPICS, "hotline")
EDGE_1 = video_grant(TOPICS, "edge-1", ["gate-3"])
EDGE_2 = video_grant(TOPICS, "edge-2", ["lawn-s"])
OPS = observer_grant(TOPICS, "ops")


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[SecuredBroker]:
    harness = start_secured_broker(tmp_path, [CORE, AGI, EDGE_1, EDGE_2, OPS])
    yield harness
    harness.close()


def connect(secured: SecuredBroker, user: str | None, **mqtt: object):
    config = secured.config(user, mqtt=secured.mqtt(user, **mqtt))  # type: ignore[arg-type]
    return secured.connect(config, wait_s=15 if not mqtt and user else 3)


def test_every_daemon_connects_over_tls_with_its_password_and_certificate(
    secured: SecuredBroker,
) -> None:
    for user in ("core-main", "agi-hotline", "video-edge-1", "video-edge-2", "ops"):
        assert connect(secured, user) is not None, user


def test_anonymous_clients_and_wrong_passwords_are_refused(secured: SecuredBroker) -> None:
    # each with a valid client certificate: the broker's password check refuses them
    assert connect(secured, None, certificate_of="ops") is None
    assert connect(secured, "video-edge-1", password="guessed") is None
    assert connect(secured, "nobody", password="anything", certificate_of="ops") is None


def test_plain_tcp_is_off_and_a_client_certificate_is_required(secured: SecuredBroker) -> None:
    assert connect(secured, "video-edge-1", tls=False) is None
    assert connect(secured, "video-edge-1", client_certificate=False) is None
    config = secured.broker.config_file.read_text()
    assert config.count("listener ") == 1 and "allow_anonymous false" in config


def test_a_gateway_cannot_forge_another_gateways_candidates_or_the_cores_messages(
    secured: SecuredBroker,
) -> None:
    ops = connect(secured, "ops")
    thief = connect(secured, "video-edge-2")  # a stolen edge box, with its own credentials
    assert ops is not None and thief is not None
    seen = Watcher(ops, f"{TOPICS.root}/#")
    own = TOPICS.candidate(SourceKind.CAMERA, "lawn-s")
    seen.prove_active(thief, own)
    assert thief.publish_and_wait(own, b"first", timeout=10)

    forged = {
        TOPICS.candidate(SourceKind.CAMERA, "gate-3"): b"forged candidate of edge-1",
        TOPICS.candidate(SourceKind.CALL, "hotline"): b"forged call",
        TOPICS.feedback(SourceKind.CALL, "hotline"): b"forged feedback",
        TOPICS.receipts("core"): b"forged receipt",
        TOPICS.case_events("c-1"): b"forged case event",
        TOPICS.verification_request("gate-3"): b"forged check request",
        TOPICS.camera_status("gate-3"): b"forged camera status",
        TOPICS.daemon_status("core", "main"): b"forged core status",
    }
    for topic, payload in forged.items():
        # MQTT 3.1.1: Mosquitto acknowledges a refused publish and drops it
        assert thief.publish_and_wait(topic, payload, timeout=10), topic
    assert thief.publish_and_wait(own, b"last", timeout=10)
    assert seen.wait_for(lambda m: b"last" in [x.payload for x in m])
    assert seen.payloads() == [b"first", b"last"]


def test_the_core_publishes_receipts_and_case_events_and_the_gateways_receive_them(
    secured: SecuredBroker,
) -> None:
    core = connect(secured, "core-main")
    edge = connect(secured, "video-edge-1")
    agi = connect(secured, "agi-hotline")
    assert core is not None and edge is not None and agi is not None
    at_edge = Watcher(edge, f"{TOPICS.root}/#")
    at_agi = Watcher(agi, f"{TOPICS.root}/#")
    at_edge.prove_active(core, TOPICS.case_events("probe"))
    at_agi.prove_active(core, TOPICS.case_events("probe"))
    sent = [
        (TOPICS.receipts("core"), b"receipt"),
        (TOPICS.case_events("c-1"), b"event"),
        (TOPICS.verification_request("gate-3"), b"check gate-3"),
        (TOPICS.verification_request("lawn-s"), b"check lawn-s"),
    ]
    expected_edge = [b"receipt", b"event", b"check gate-3"]
    for topic, payload in [*sent, (TOPICS.case_events("c-1"), b"last")]:
        assert core.publish_and_wait(topic, payload, timeout=10)
    assert at_edge.wait_for(lambda m: b"last" in [x.payload for x in m])
    assert at_agi.wait_for(lambda m: b"last" in [x.payload for x in m])
    assert at_edge.payloads() == [*expected_edge, b"last"]  # not edge-2's camera's check
    assert at_agi.payloads() == [b"receipt", b"event", b"last"]


def test_a_payload_over_the_contract_limit_is_dropped_by_the_broker(
    secured: SecuredBroker,
) -> None:
    core = connect(secured, "core-main")
    edge = connect(secured, "video-edge-1")
    assert core is not None and edge is not None
    seen = Watcher(core, TOPICS.all_candidates)
    topic = TOPICS.candidate(SourceKind.CAMERA, "gate-3")
    seen.prove_active(edge, topic)
    assert edge.publish_and_wait(topic, b"small", timeout=10)
    assert f"message_size_limit {MAX_PAYLOAD_BYTES}" in secured.broker.config_file.read_text()
    assert edge.publish_and_wait(topic, b"x" * (MAX_PAYLOAD_BYTES + 1), timeout=30)
    at_limit = b"y" * MAX_PAYLOAD_BYTES
    assert edge.publish_and_wait(topic, at_limit, timeout=30)
    assert seen.wait_for(lambda m: at_limit in [x.payload for x in m], timeout=30)
    assert [len(p) for p in seen.payloads()] == [5, MAX_PAYLOAD_BYTES]


def test_a_user_cannot_take_over_another_users_session_by_its_client_id(
    secured: SecuredBroker,
) -> None:
    core = connect(secured, "core-main")
    assert core is not None
    lost = threading.Event()
    core.add_connection_listener(lambda up: None if up else lost.set())
    config = secured.config("video-edge-2")
    # the broker knows the core's session by its user name (use_username_as_clientid)
    thief = MqttConnection(config.mqtt, "core-main", clean_session=False)
    thief.start()
    try:
        assert thief.wait_connected(15)
        assert not lost.wait(2), "the core's connection was closed by another user"
    finally:
        thief.stop(publish_offline=False)


def test_over_mqtt5_the_broker_answers_a_refused_publish_with_not_authorized(
    secured: SecuredBroker,
) -> None:
    """What Mosquitto 2.0 tells a v5 client (citygw's clients speak 3.1.1)."""
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    user = "video-edge-2"
    client.username_pw_set(user, secured.passwords[user])
    client.tls_set(
        ca_certs=str(secured.tls.ca),
        certfile=str(secured.tls.client_cert(user)),
        keyfile=str(secured.tls.client_key(user)),
        cert_reqs=ssl.CERT_REQUIRED,
    )
    codes: dict[int, int] = {}
    done = threading.Event()

    def on_publish(_c, _u, mid, reason_code, _p) -> None:  # type: ignore[no-untyped-def]
        codes[mid] = reason_code.value
        if len(codes) == 2:
            done.set()

    client.on_publish = on_publish
    client.connect(secured.broker.host, secured.broker.port, keepalive=30)
    client.loop_start()
    try:
        allowed = client.publish(TOPICS.candidate(SourceKind.CAMERA, "lawn-s"), b"ok", qos=1)
        refused = client.publish(TOPICS.candidate(SourceKind.CAMERA, "gate-3"), b"no", qos=1)
        assert done.wait(15)
        # 0x10 "no matching subscribers" is a success too; 0x87 is "not authorized"
        assert codes[allowed.mid] in (0x00, 0x10)
        assert codes[refused.mid] == 0x87
    finally:
        client.disconnect()
        client.loop_stop()


def test_the_shipped_mosquitto_config_starts_and_admits_only_granted_users(
    tmp_path: Path,
) -> None:
    """systemd/mosquitto-citygw.conf, its /etc paths pointed at this test's files."""
    shipped = (REPO_ROOT / "systemd" / "mosquitto-citygw.conf").read_text()
    assert f"message_size_limit {MAX_PAYLOAD_BYTES}\n" in shipped
    users = [CORE.username, "ops"]
    tls = make_certificates(tmp_path / "citygw", users)
    passwords = {user: secrets.token_urlsafe(12) for user in users}
    write_password_file(tmp_path / "citygw" / "passwd", passwords)
    write_acl_file(tmp_path / "citygw" / "acl", [CORE, OPS])
    port = free_port()
    config = tmp_path / "mosquitto.conf"
    config.write_text(
        f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
        + shipped.replace("/etc/mosquitto/citygw/", f"{tls.folder}/").replace(
            "listener 8883", f"listener {port} 127.0.0.1"
        )
        + f"persistence_location {tmp_path}/\n"
    )
    process = subprocess.Popen(
        [find_mosquitto(), "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    broker = MosquittoBroker(tmp_path / "unused", port=port)  # host and port for the harness
    harness = SecuredBroker(broker, tls, passwords, tmp_path / "state")
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "did not start"
                time.sleep(0.05)
        assert harness.connect(harness.config(CORE.username)) is not None
        assert (
            harness.connect(
                harness.config(None, mqtt=harness.mqtt(None, certificate_of="ops")), wait_s=3
            )
            is None
        )
        assert (
            harness.connect(
                harness.config(CORE.username, mqtt=harness.mqtt(CORE.username, tls=False)), wait_s=3
            )
            is None
        )
    finally:
        harness.close()
        process.terminate()
        process.wait(10)
