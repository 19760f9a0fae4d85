"""The demo's broker, secured as a deployment's should be (docs/deploy.md, "MQTT security").

TLS with the CA and certificates of setup's step ``40-mqtt-certs.sh`` (made here if
missing), anonymous access off, one broker user per part with a password made for this
run, and the access list derived from the contract: the core, the telephony gateway,
the video gateway (its two test cameras) and the sample sender may each publish only
their own topics.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.mqtt.broker import MosquittoBroker
from adapters.mqtt.broker_security import (
    DEFAULT_TLS_DIR,
    TlsFiles,
    make_certificates,
    secured_broker,
)
from gateway.contract import MAX_PAYLOAD_BYTES, Topics
from gateway.mqtt_acl import (
    Grant,
    camera_tool_grant,
    core_grant,
    daemon_user,
    telephony_grant,
    video_grant,
)

#: the part that sends sample candidates (``demo_samples.send_samples``), as an edge gateway does
SAMPLES = "demo-samples"


@dataclass(frozen=True)
class DemoBroker:
    broker: MosquittoBroker
    tls: TlsFiles
    passwords: dict[str, str]
    instance: str

    def mqtt(self, daemon: str) -> dict[str, Any]:
        """The ``mqtt`` config section of one part: its user, password and certificate."""
        user = daemon_user(daemon, self.instance)
        return {
            "host": self.broker.host,
            "port": self.broker.port,
            "username": user,
            "password": self.passwords[user],
            "tls": self.tls.client_tls(user),
        }


def demo_grants(
    topics: Topics, instance: str, cameras: list[str], sample_cameras: list[str]
) -> list[Grant]:
    return [
        core_grant(topics, instance),
        telephony_grant(topics, instance),
        video_grant(topics, instance, cameras),
        camera_tool_grant(topics, SAMPLES, instance, sample_cameras),
    ]


def start_demo_broker(
    data_dir: Path,
    port: int,
    *,
    topics: Topics,
    instance: str,
    cameras: list[str],
    sample_cameras: list[str],
    tls_dir: Path = DEFAULT_TLS_DIR,
) -> DemoBroker:
    """Start the broker; raises (OSError, RuntimeError, TimeoutError, subprocess errors)
    when Mosquitto or openssl is missing or the broker will not start."""
    grants = demo_grants(topics, instance, cameras, sample_cameras)
    users = [grant.username for grant in grants]
    tls = TlsFiles(tls_dir)
    if tls.missing(users):
        tls = make_certificates(tls_dir, users)
    passwords = {user: secrets.token_urlsafe(24) for user in users}
    broker = secured_broker(
        data_dir,
        tls=tls,
        grants=grants,
        passwords=passwords,
        max_payload_bytes=MAX_PAYLOAD_BYTES,
        port=port,
    )
    broker.start()
    return DemoBroker(broker, tls, passwords, instance)
