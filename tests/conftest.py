"""Shared test harness: real services started on free loopback ports.

- ``mosquitto``: a real Mosquitto broker per test (function scope), killable;
- ``make_config``: a `Config` pointing at that broker with state in tmp_path.
Area-specific harnesses (PostgreSQL, the RTSP camera, Chromium) live beside their tests.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.mqtt.broker import MosquittoBroker
from gateway.config import Config

REPO_ROOT = Path(__file__).resolve().parent.parent
#: recorded data the tests read, kept in the repository (see its README.md)
FIXTURES_DIR = REPO_ROOT / "tests" / "fixtures"
#: models only (weights are never committed); everything else the tests read is in FIXTURES_DIR
SHARED_DIR = Path(os.environ.get("CITYGW_SHARED", REPO_ROOT.parent / "shared"))


def fixture_files(folder: Path, pattern: str) -> list[Path]:
    """The files of ``folder`` matching ``pattern``, sorted; raises if there are none.

    For parametrised tests: a missing input fails loudly at collection instead of
    turning the test into an empty parameter set that pytest reports as skipped.
    """
    found = sorted(folder.glob(pattern))
    if not found:
        raise FileNotFoundError(
            f"no {pattern} in {folder}: the recorded test data is missing from this checkout"
        )
    return found


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoBroker]:
    broker = MosquittoBroker(tmp_path / "mosquitto")
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def make_config(tmp_path: Path, mosquitto: MosquittoBroker) -> Callable[..., Config]:
    """``make_config(**sections)``: a Config on the test broker, state under tmp_path."""

    def build(**overrides: Any) -> Config:
        document: dict[str, Any] = {
            "instance": "test",
            "state_dir": str(tmp_path / "state"),
            "mqtt": {
                "host": mosquitto.host,
                "port": mosquitto.port,
                "reconnect_min_s": 1,
                "reconnect_max_s": 2,
            },
        }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(document.get(key), dict):
                document[key] = {**document[key], **value}
            else:
                document[key] = value
        return Config.model_validate(document)

    return build


@pytest.fixture
def shared_dir() -> Path:
    """``../shared`` (or ``CITYGW_SHARED``): for models only, not kept in the repository."""
    if not SHARED_DIR.is_dir():
        pytest.fail(f"shared/ not found at {SHARED_DIR} (set CITYGW_SHARED)")
    return SHARED_DIR
