"""The core serves HTTPS itself when `core.http_tls` names a certificate (issue 19): its API
answers over TLS with that certificate and says Strict-Transport-Security, plain HTTP on the
port is not served, and `citygw config check` refuses a missing file or a key that does not
fit the certificate, in Chinese, with the key's path and line."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from adapters.mqtt.broker import free_port
from gateway.cli import cli
from gateway.config import Config
from gateway.core.daemon import CoreDaemon, build_core
from tests.core.helpers import CORE_SETTINGS
from tests.tls_certs import HttpsFiles, make_tls

NAMES = ["phone.citygw.test", "localhost", "127.0.0.1"]


@pytest.fixture
def tls(tmp_path: Path) -> HttpsFiles:
    return make_tls(tmp_path / "tls", NAMES)


@pytest.fixture
def https_core(
    make_config: Callable[..., Config], tmp_path: Path, tls: HttpsFiles
) -> Iterator[tuple[CoreDaemon, int, int]]:
    port, metrics_port = free_port(), free_port()
    config = make_config(
        core={
            **CORE_SETTINGS,
            "database_url": f"sqlite:///{tmp_path / 'core.sqlite3'}",
            "http_port": port,
            "http_tls": {"cert_file": str(tls.cert_file), "key_file": str(tls.key_file)},
        },
        metrics={"core_port": metrics_port},
    )
    daemon = build_core(config)
    daemon.start()
    try:
        yield daemon, port, metrics_port
    finally:
        daemon.stop()


def test_the_api_answers_over_tls_with_the_configured_certificate(
    https_core: tuple[CoreDaemon, int, int], tls: HttpsFiles
) -> None:
    _daemon, port, metrics_port = https_core
    trust = ssl.create_default_context(cafile=str(tls.ca_file))
    with httpx.Client(verify=trust, timeout=10) as client:
        health = client.get(f"https://localhost:{port}/healthz")
        assert health.status_code == 200, health.text
        assert health.headers["strict-transport-security"] == "max-age=31536000"
        assert "frame-ancestors 'none'" in health.headers["content-security-policy"]
        login = client.post(f"https://127.0.0.1:{port}/api/v1/auth/login", json={})
        assert login.status_code == 422  # the API itself, over TLS
        metrics = client.get(f"https://localhost:{port}/metrics")
        assert metrics.status_code == 200 and "citygw_" in metrics.text
    # the certificate the core showed is the configured one (its CA verified it for the name)
    with (
        httpx.Client(timeout=10) as untrusting,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        untrusting.get(f"https://localhost:{port}/healthz")
    # the port speaks TLS only
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    # the metrics listener of its own stays plain HTTP
    assert httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).status_code == 200


def test_a_core_without_http_tls_says_no_strict_transport_security(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    port = free_port()
    config = make_config(
        core={
            **CORE_SETTINGS,
            "database_url": f"sqlite:///{tmp_path / 'core.sqlite3'}",
            "http_port": port,
        }
    )
    assert config.core.http_tls is None
    daemon = build_core(config)
    daemon.start()
    try:
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        assert health.status_code == 200
        assert "strict-transport-security" not in health.headers
    finally:
        daemon.stop()


def check(tmp_path: Path, cert: Path, key: Path) -> tuple[int, str]:
    file = tmp_path / "citygw.yaml"
    file.write_text(
        f"state_dir: {tmp_path / 'state'}\n"
        "core:\n"
        "  http_port: 8443\n"
        "  http_tls:\n"
        f"    cert_file: {cert}\n"
        f"    key_file: {key}\n"
    )
    result = CliRunner().invoke(cli, ["config", "check", str(file)])
    return result.exit_code, result.output


def test_config_check_refuses_a_certificate_path_that_does_not_exist_in_chinese(
    tmp_path: Path, tls: HttpsFiles
) -> None:
    missing = tmp_path / "nowhere" / "server.pem"
    code, output = check(tmp_path, missing, tls.key_file)
    assert code == 1
    assert "配置有误（1 处错误）" in output
    assert f"core.http_tls.cert_file（第 5 行）：文件 {missing} 不存在" in output


def test_config_check_refuses_a_directory_and_a_key_that_is_not_the_certificates(
    tmp_path: Path, tls: HttpsFiles
) -> None:
    code, output = check(tmp_path, tls.cert_file, tmp_path)
    assert code == 1
    assert f"core.http_tls.key_file（第 6 行）：无法读取文件 {tmp_path}（is a directory）" in output
    other = make_tls(tmp_path / "other", NAMES)
    code, output = check(tmp_path, tls.cert_file, other.key_file)
    assert code == 1
    assert "core.http_tls（第 4 行）：证书与私钥无法一起用于 TLS" in output


def test_config_check_accepts_a_fitting_pair(tmp_path: Path, tls: HttpsFiles) -> None:
    code, output = check(tmp_path, tls.cert_file, tls.key_file)
    assert code == 0, output
    assert "配置正确" in output
