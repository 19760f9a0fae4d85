"""Behind a reverse proxy the core counts each client's own address (issue 15 §2):
``core.trusted_proxies`` names the proxies whose X-Forwarded-For it believes, so the login
limits (per address, and an account's familiar addresses) see the client, not the proxy;
from any other address the header is ignored, so a client cannot choose its address.

A real core on a loopback port (uvicorn's proxy handling is not in the test client)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from adapters.mqtt.broker import free_port
from gateway.cli import cli
from gateway.config import Config
from gateway.core.daemon import build_core
from gateway.core.workflow import Role
from tests.core.helpers import CORE_SETTINGS

PASSWORD = "a long password"


@pytest.fixture
def core_url(
    request: pytest.FixtureRequest, make_config: Callable[..., Config], tmp_path: Path
) -> Iterator[str]:
    port = free_port()
    proxies = getattr(request, "param", None)
    config = make_config(
        core={
            **CORE_SETTINGS,
            "database_url": f"sqlite:///{tmp_path / 'core.sqlite3'}",
            "http_port": port,
            **({"trusted_proxies": proxies} if proxies is not None else {}),
        }
    )
    daemon = build_core(config)
    daemon.auth.add_user("olga", Role.OPERATOR, PASSWORD, None, ())
    daemon.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        daemon.stop()


def login(url: str, password: str, forwarded_for: str) -> int:
    response = httpx.post(
        f"{url}/api/v1/auth/login",
        json={"name": "olga", "password": password},
        headers={"X-Forwarded-For": forwarded_for},
        timeout=10,
    )
    return response.status_code


def test_by_default_a_proxy_on_the_host_names_the_client(core_url: str) -> None:
    """nginx on the core's host (127.0.0.1): a guesser at 10.0.0.66 locks the account for
    unfamiliar addresses; its owner, who logged in at 10.0.0.5 before, still gets in."""
    assert login(core_url, PASSWORD, "10.0.0.5") == 200
    for _ in range(4):
        assert login(core_url, "guess", "10.0.0.66") == 401
    assert login(core_url, "guess", "10.0.0.66") == 429
    assert login(core_url, PASSWORD, "10.0.0.67") == 429
    assert login(core_url, PASSWORD, "10.0.0.5") == 200


@pytest.mark.parametrize("core_url", [[]], indirect=True)
def test_with_no_trusted_proxy_the_header_is_ignored(core_url: str) -> None:
    """Every request comes from 127.0.0.1, whatever it claims: the owner's login made it
    familiar, so the guesses (claiming other addresses) lock the owner's side too."""
    assert login(core_url, PASSWORD, "10.0.0.5") == 200
    for _ in range(5):
        login(core_url, "guess", "10.0.0.66")
    assert login(core_url, PASSWORD, "10.0.0.5") == 429


def test_config_check_refuses_a_proxy_that_is_no_address(tmp_path: Path) -> None:
    config = tmp_path / "citygw.yaml"
    config.write_text("instance: t\ncore:\n  trusted_proxies: [10.0.0.1, nginx.local]\n")
    result = CliRunner().invoke(cli, ["config", "check", str(config)])
    assert result.exit_code != 0
    assert "core.trusted_proxies" in result.output
    assert "'nginx.local' 不是 IP 地址或网段" in result.output
