"""Fixtures of the telephony tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def asterisk_fixtures(shared_dir: Path) -> Path:
    return shared_dir / "fixtures" / "asterisk"
