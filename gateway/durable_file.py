"""Small state files an edge daemon keeps under its ``state_dir`` (suppressions, alarm
states, stream addresses, spilled messages, camera-check answers), written so that a crash
or a power loss leaves the old content or the new one, never a torn file; and a file
that can no longer be read is set aside for a person to look at, never deleted."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def write_durably(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write ``data`` to ``path``: a hidden temporary file beside it, fsynced, renamed over
    it (``private``: readable by the owner only). Raises ``OSError``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(
        partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o666
    )
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


def set_aside(path: Path) -> Path:
    """Rename an unreadable ``path`` to ``<name>.unreadable`` (best effort); the new name."""
    broken = path.with_name(path.name + ".unreadable")
    with contextlib.suppress(OSError):
        path.replace(broken)
    return broken
