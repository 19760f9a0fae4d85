"""A secured Mosquitto for tests: TLS from setup's certificate step, a user and password
per daemon, the ACL derived from the contract, the contract's payload limit.

``secured_broker(tmp_path, grants)`` starts one; ``harness.config(user, ...)`` is a
`Config` connecting as that user (its password, its client certificate, the CA).
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.mqtt import MqttConnection, ReceivedMessage
from adapters.mqtt.broker import MosquittoBroker
from adapters.mqtt.broker_security import TlsFiles, make_certificates, secured_broker
from gateway.config import Config
from gateway.contract import MAX_PAYLOAD_BYTES, Topics
from gateway.mqtt_acl import Grant

TOPICS = Topics()


@dataclass
class SecuredBroker:
    broker: MosquittoBroker
    tls: TlsFiles
    passwords: dict[str, str]
    state_dir: Path
    _connections: list[MqttConnection] = field(default_factory=list)

    def mqtt(
        self,
        user: str | None,
        *,
        password: str | None = None,
        tls: bool = True,
        client_certificate: bool = True,
        certificate_of: str | None = None,
    ) -> dict[str, Any]:
        """The ``mqtt`` config section of ``user`` (None: anonymous), with the client
        certificate of ``certificate_of`` (default: the user's own)."""
        section: dict[str, Any] = {
            "host": self.broker.host,
            "port": self.broker.port,
            "reconnect_min_s": 1,
            "reconnect_max_s": 2,
        }
        if user is not None:
            section["username"] = user
            section["password"] = password if password is not None else self.passwords[user]
        if tls:
            holder = certificate_of or user
            if client_certificate and holder is not None:
                section["tls"] = self.tls.client_tls(holder)
            else:
                section["tls"] = {"ca_file": str(self.tls.ca)}
        return section

    def config(self, user: str | None, *, instance: str = "test", **overrides: Any) -> Config:
        mqtt = overrides.pop("mqtt", None) or self.mqtt(user)
        document: dict[str, Any] = {
            "instance": instance,
            "state_dir": str(self.state_dir / (user or "anonymous")),
            "mqtt": mqtt,
            **overrides,
        }
        return Config.model_validate(document)

    def connect(self, config: Config, *, wait_s: float = 15) -> MqttConnection | None:
        """A started connection, or None if the broker would not have it within ``wait_s``."""
        connection = MqttConnection(config.mqtt, f"t-{uuid.uuid4().hex[:8]}", clean_session=True)
        connection.start()
        self._connections.append(connection)
        return connection if connection.wait_connected(wait_s) else None

    def close(self) -> None:
        for connection in self._connections:
            connection.stop(publish_offline=False)
        self.broker.stop()


def start_secured_broker(tmp_path: Path, grants: Iterable[Grant]) -> SecuredBroker:
    listed = list(grants)
    users = [grant.username for grant in listed]
    tls = make_certificates(tmp_path / "mqtt-tls", users)
    passwords = {user: secrets.token_urlsafe(16) for user in users}
    broker = secured_broker(
        tmp_path / "mosquitto",
        tls=tls,
        grants=listed,
        passwords=passwords,
        max_payload_bytes=MAX_PAYLOAD_BYTES,
    )
    broker.start()
    return SecuredBroker(broker, tls, passwords, tmp_path / "state")


class Watcher:
    """Collects what a subscription receives (a test proves it active with a first
    message it may receive before relying on what it does not)."""

    def __init__(self, connection: MqttConnection, topic_filter: str) -> None:
        self.messages: list[ReceivedMessage] = []
        connection.subscribe(topic_filter, self.messages.append)

    def prove_active(self, publisher: MqttConnection, topic: str, timeout: float = 15) -> None:
        """Publish probes on ``topic`` until one arrives, then forget what arrived."""
        deadline = time.monotonic() + timeout
        probe = f"probe-{uuid.uuid4().hex}".encode()
        while probe not in [m.payload for m in self.messages]:
            assert time.monotonic() < deadline, "the subscription never became active"
            publisher.publish_and_wait(topic, probe, timeout=5)
            self.wait_for(lambda m: probe in [x.payload for x in m], timeout=0.3)
        time.sleep(0.2)  # a second probe may still be on its way
        self.messages.clear()

    def wait_for(
        self, predicate: Callable[[list[ReceivedMessage]], bool], timeout: float = 15
    ) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(list(self.messages)):
                return True
            time.sleep(0.05)
        return predicate(list(self.messages))

    def payloads(self) -> list[bytes]:
        """What arrived, less probes (this watcher's or another's on the same topics)."""
        return [m.payload for m in self.messages if not m.payload.startswith(b"probe-")]
