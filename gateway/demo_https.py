"""The demo's console over HTTPS, for a real phone (``citygw-demo --https NAMES`` or
``CITYGW_HTTPS_SAN=NAMES``; issue 19).

A phone's browser gives the inspectors' app its service worker (offline mode) and its
microphone (voice notes) only in a secure context. With names given, setup's certificate
step `scripts/setup.d/41-https-cert.sh` makes (once, offline, with openssl) a server
certificate for those names, signed by setup's CA (``var/mqtt-tls/ca.pem``, copied to
``var/https-tls/citygw-ca.crt`` for the phone), and the demo's core serves HTTPS with it
on all addresses. Without names the demo stays plain HTTP on loopback.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
CERT_SCRIPT = REPO_ROOT / "scripts" / "setup.d" / "41-https-cert.sh"
HTTPS_DIR = REPO_ROOT / "var" / "https-tls"
CA_DIR = REPO_ROOT / "var" / "mqtt-tls"


@dataclass(frozen=True)
class DemoHttps:
    names: tuple[str, ...]
    cert_file: Path
    key_file: Path
    ca_file: Path

    def core_settings(self) -> dict[str, Any]:
        """The core's ``http_tls``. No Strict-Transport-Security: a demo host name may be
        served over plain HTTP again tomorrow, and the phone would refuse it for a year."""
        return {
            "cert_file": str(self.cert_file),
            "key_file": str(self.key_file),
            "hsts_max_age_s": 0,
        }

    def origins(self, port: int) -> list[str]:
        """``https://NAME:PORT`` of each name (and of localhost): the console's origins."""
        return [f"https://{_host(name)}:{port}" for name in (*self.names, "localhost")]

    def url(self, port: int) -> str:
        return f"https://{_host(self.names[0])}:{port}"


def _host(name: str) -> str:
    try:
        return f"[{name}]" if ipaddress.ip_address(name).version == 6 else name
    except ValueError:
        return name


def split_names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def make_demo_https(
    names: str, folder: Path = HTTPS_DIR, ca_dir: Path = CA_DIR, timeout: float = 120
) -> DemoHttps:
    """Run setup's HTTPS certificate step for ``names`` (comma-separated host names or
    IP addresses); raises ``ValueError`` without a name, ``subprocess.CalledProcessError``
    (its stderr says why) for a bad name or a failing openssl."""
    wanted = split_names(names)
    if not wanted:
        raise ValueError("no host name or IP address given for HTTPS")
    subprocess.run(
        ["bash", str(CERT_SCRIPT)],
        check=True,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={
            **os.environ,
            "CITYGW_HTTPS_SAN": ",".join(wanted),
            "CITYGW_HTTPS_TLS_DIR": str(folder),
            "CITYGW_MQTT_TLS_DIR": str(ca_dir),
        },
    )
    return DemoHttps(wanted, folder / "server.pem", folder / "server.key", folder / "citygw-ca.crt")
