"""Mosquitto's side of MQTT security: the ACL and password files, TLS, a secured broker.

- `write_acl_file` writes `gateway.mqtt_acl` grants in Mosquitto's ``acl_file`` format
  (a ``user`` block per grant; nothing for anonymous clients);
- `write_password_file` writes a ``password_file`` hashed by ``mosquitto_passwd -U``
  (PBKDF2-SHA512), owner-only;
- `TlsFiles` finds the CA, server and client certificates that
  ``scripts/setup.d/40-mqtt-certs.sh`` makes (``make_certificates`` runs it);
- `secured_broker` starts a `MosquittoBroker` with all of it: anonymous access off,
  TLS only (no plain listener), client certificates required, ACLs, the user name as
  client id (one session per user: no user can take over another's), and the contract's
  payload limit.

What Mosquitto 2.0 (Debian 12) does with a publish the ACL refuses: over MQTT 3.1.1
(citygw's clients) it acknowledges it (PUBACK) and drops it; over MQTT 5 the PUBACK
carries 0x87 Not authorized. Either way no subscriber receives it. A payload over
``message_size_limit`` is acknowledged and dropped the same way.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from adapters.mqtt.broker import MosquittoBroker
from gateway.mqtt_acl import Grant, check_grants

REPO_ROOT = Path(__file__).resolve().parents[2]
CERT_SCRIPT = REPO_ROOT / "scripts" / "setup.d" / "40-mqtt-certs.sh"
#: where setup puts the certificates (relative to the repository)
DEFAULT_TLS_DIR = REPO_ROOT / "var" / "mqtt-tls"


def acl_text(grants: Iterable[Grant]) -> str:
    lines = ["# citygw broker ACL: generated from the MQTT contract (gateway/mqtt_acl.py)"]
    for grant in check_grants(grants):
        lines += ["", f"user {grant.username}"]
        both = [t for t in grant.publish if t in grant.read]
        for topic in both:
            lines.append(f"topic readwrite {topic}")
        lines += [f"topic write {t}" for t in grant.publish if t not in both]
        lines += [f"topic read {t}" for t in grant.read if t not in both]
    return "\n".join(lines) + "\n"


def write_acl_file(path: Path, grants: Iterable[Grant]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(acl_text(grants))
    path.chmod(0o600)
    return path


def write_password_file(path: Path, passwords: Mapping[str, str]) -> Path:
    """``user:password`` lines, then hashed in place by ``mosquitto_passwd -U``."""
    for user, password in passwords.items():
        if ":" in user or any(c in user + password for c in "\r\n") or not password:
            raise ValueError(f"unusable broker user or password for {user!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.writelines(f"{user}:{password}\n" for user, password in passwords.items())
    subprocess.run(
        ["mosquitto_passwd", "-U", str(path)], check=True, capture_output=True, timeout=30
    )
    return path


@dataclass(frozen=True)
class TlsFiles:
    """The files of ``40-mqtt-certs.sh``: ``ca.pem``, ``server.pem``/``.key`` and
    ``clients/<name>.pem``/``.key``."""

    folder: Path

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def server_cert(self) -> Path:
        return self.folder / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.folder / "server.key"

    def client_cert(self, name: str) -> Path:
        return self.folder / "clients" / f"{name}.pem"

    def client_key(self, name: str) -> Path:
        return self.folder / "clients" / f"{name}.key"

    def missing(self, clients: Iterable[str] = ()) -> list[Path]:
        wanted = [self.ca, self.server_cert, self.server_key]
        for name in clients:
            wanted += [self.client_cert(name), self.client_key(name)]
        return [path for path in wanted if not path.is_file()]

    def client_tls(self, name: str) -> dict[str, str]:
        """The ``mqtt.tls`` config section of client ``name``."""
        return {
            "ca_file": str(self.ca),
            "cert_file": str(self.client_cert(name)),
            "key_file": str(self.client_key(name)),
        }


def make_certificates(folder: Path, clients: Iterable[str]) -> TlsFiles:
    """Run setup's certificate step for ``folder`` (idempotent: adds missing clients)."""
    names = " ".join(clients)
    subprocess.run(
        ["bash", str(CERT_SCRIPT)],
        check=True,
        capture_output=True,
        timeout=120,
        env={**os.environ, "CITYGW_MQTT_TLS_DIR": str(folder), "CITYGW_MQTT_CLIENTS": names},
    )
    files = TlsFiles(folder)
    missing = files.missing(clients)
    if missing:
        raise FileNotFoundError(f"{CERT_SCRIPT.name} did not make {missing}")
    return files


def secured_broker(
    data_dir: Path,
    *,
    tls: TlsFiles,
    grants: Iterable[Grant],
    passwords: Mapping[str, str],
    max_payload_bytes: int,
    require_client_certificate: bool = True,
    port: int | None = None,
) -> MosquittoBroker:
    """A broker (not started) that lets in only the granted users, over TLS only."""
    listed = check_grants(grants)
    unknown = {g.username for g in listed} ^ set(passwords)
    if unknown:
        raise ValueError(f"users without both a grant and a password: {sorted(unknown)}")
    data_dir.mkdir(parents=True, exist_ok=True)
    return MosquittoBroker(
        data_dir,
        port=port,
        listener_options=[
            f"cafile {tls.ca}",
            f"certfile {tls.server_cert}",
            f"keyfile {tls.server_key}",
            f"require_certificate {'true' if require_client_certificate else 'false'}",
            # one session per user: a stolen edge box connecting with the core's client id
            # would otherwise close the core's connection and take over its session
            "use_username_as_clientid true",
        ],
        password_file=write_password_file(data_dir / "passwd", passwords),
        acl_file=write_acl_file(data_dir / "acl", listed),
        message_size_limit=max_payload_bytes,
    )
