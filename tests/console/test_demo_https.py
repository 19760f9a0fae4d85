"""The demo's HTTPS for a phone (``--https NAMES`` / ``CITYGW_HTTPS_SAN``, issue 19): setup's
certificate step makes, offline and once, a certificate for the operator's names signed by
setup's CA, the core serves it, and a client that trusts only the CA file the phone is given
(``citygw-ca.crt``) accepts it for those names; without names the step does nothing."""

from __future__ import annotations

import ipaddress
import os
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from adapters.mqtt.broker import free_port
from gateway.config import Config
from gateway.core.daemon import build_core
from gateway.demo_https import CERT_SCRIPT, make_demo_https
from tests.core.helpers import CORE_SETTINGS


def san_of(path: Path) -> list[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(n.value) for n in names]


def test_the_certificate_is_made_once_for_the_names_and_again_when_they_change(
    tmp_path: Path,
) -> None:
    folder, ca_dir = tmp_path / "https-tls", tmp_path / "mqtt-tls"
    https = make_demo_https(" phone.citygw.test, 192.168.77.5 ", folder, ca_dir)
    assert https.names == ("phone.citygw.test", "192.168.77.5")
    assert san_of(https.cert_file) == [
        "phone.citygw.test",
        str(ipaddress.ip_address("192.168.77.5")),
        "localhost",
        "127.0.0.1",
    ]
    assert https.ca_file.read_bytes() == (ca_dir / "ca.pem").read_bytes()
    assert https.key_file.stat().st_mode & 0o077 == 0
    first = https.cert_file.read_bytes()
    again = make_demo_https("phone.citygw.test,192.168.77.5", folder, ca_dir)
    assert again.cert_file.read_bytes() == first  # idempotent
    other = make_demo_https("citygw.lan", folder, ca_dir)
    assert other.cert_file.read_bytes() != first
    assert san_of(other.cert_file)[0] == "citygw.lan"
    with pytest.raises(subprocess.CalledProcessError) as refused:
        make_demo_https("not a name", folder, ca_dir)
    assert "not a host name or IP address: not a name" in refused.value.stderr


def test_without_names_the_setup_step_makes_nothing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CITYGW_HTTPS_SAN"}
    env |= {"CITYGW_HTTPS_TLS_DIR": str(tmp_path / "h"), "CITYGW_MQTT_TLS_DIR": str(tmp_path)}
    subprocess.run(["bash", str(CERT_SCRIPT)], check=True, env=env, timeout=60)
    assert list(tmp_path.iterdir()) == []


def test_the_core_serves_the_demo_certificate_to_a_client_trusting_the_phones_ca_file(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    https = make_demo_https("phone.citygw.test", tmp_path / "https-tls", tmp_path / "mqtt-tls")
    port = free_port()
    config = make_config(
        core={
            **CORE_SETTINGS,
            "database_url": f"sqlite:///{tmp_path / 'core.sqlite3'}",
            "http_port": port,
            "http_tls": https.core_settings(),
        }
    )
    daemon = build_core(config)
    daemon.start()
    try:
        trust = ssl.create_default_context(cafile=str(https.ca_file))

        def get(name: str) -> httpx.Response:  # a fresh connection: TLS checks ``name``
            with httpx.Client(verify=trust, timeout=10) as client:
                return client.get(
                    f"https://127.0.0.1:{port}/healthz",
                    headers={"Host": f"{name}:{port}"},
                    extensions={"sni_hostname": name},
                )

        for name in ("phone.citygw.test", "localhost"):  # the phone's name, the desk's
            response = get(name)
            assert response.status_code == 200
            assert "strict-transport-security" not in response.headers  # demo: none
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            get("other.lan")
    finally:
        daemon.stop()
