"""`citygw core` as its own process, for the tests that kill or starve it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from gateway.config import Config

REPO = Path(__file__).resolve().parents[2]


def write_config(config: Config, path: Path) -> Path:
    path.write_text(json.dumps(config.model_dump(mode="json")))
    return path


def start_core(config_file: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "gateway", "-c", str(config_file), "core", "--quiet"],
            cwd=REPO,
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
        )


def stop_core(core: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a clean stop), SIGKILL if it has not ended within 20 s."""
    if core.poll() is not None:
        return
    core.send_signal(signal.SIGTERM)
    try:
        core.wait(20)
    except subprocess.TimeoutExpired:
        core.kill()
