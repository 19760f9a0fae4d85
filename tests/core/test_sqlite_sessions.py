"""On SQLite (the embedded default) a change made by another process, `citygw core
add-user` beside the running core, ends the user's sessions at once (issue 15 §2): SQLite
announces nothing to a listener, so the core keeps no token in memory and reads each
request's token from the database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import yaml
from click.testing import CliRunner

from adapters.mqtt.broker import free_port
from gateway.cli import cli
from gateway.config import Config
from gateway.core.daemon import build_core
from gateway.core.workflow import Role
from tests.core.helpers import CORE_SETTINGS

PASSWORD = "a long password"


def test_a_password_reset_by_the_cli_ends_the_session_on_the_running_core_at_once(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    port = free_port()
    core = {
        **CORE_SETTINGS,
        "database_url": f"sqlite:///{tmp_path / 'core.sqlite3'}",
        "http_port": port,
    }
    config = make_config(core=core)
    daemon = build_core(config)
    daemon.auth.add_user("olga", Role.OPERATOR, PASSWORD, None, ())
    daemon.start()
    try:
        url = f"http://127.0.0.1:{port}"
        login = httpx.post(
            f"{url}/api/v1/auth/login", json={"name": "olga", "password": PASSWORD}, timeout=10
        )
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
        assert httpx.get(f"{url}/api/v1/me", headers=headers, timeout=10).status_code == 200

        # the CLI, as an engineer runs it on the host: another process's write
        config_file = tmp_path / "citygw.yaml"
        config_file.write_text(
            yaml.safe_dump(config.model_dump(mode="json", exclude_defaults=True)),
            encoding="utf-8",
        )
        reset = CliRunner().invoke(
            cli,
            ["-c", str(config_file), "core", "add-user", "olga", "--role", "operator"],
            env={"CITYGW_PASSWORD": "another long password"},
        )
        assert reset.exit_code == 0, reset.output

        # at once: no wait, no clock moved
        assert httpx.get(f"{url}/api/v1/me", headers=headers, timeout=10).status_code == 401
    finally:
        daemon.stop()
