"""Recordings of agent calls (MixMonitor), found by the call's uniqueid.

Asterisk's dialplan records the agent's talk with the caller (``MixMonitor(...,b)``:
only while bridged) into ``<folder>/<uniqueid>.<format>``, where the uniqueid is the
caller channel's: the same id as the IVR call (`gateway.telephony.call_report` facts
``uniqueid``), the agent's screen pop, and a case started from that pop
(``facts.call_uniqueid``). So the core links a recording to a case or a call record
without being told: it looks for the file.

Path safety: a uniqueid is checked against a strict pattern (letters, digits, ``.``,
``-``, ``_``; no separator, no leading dot) before any file name is made from it, and
the file found must resolve inside the folder (a symlink out of it is refused).
The sweep deletes recordings older than ``retention_days`` (unset: none).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from gateway.core.desk_settings import RecordingsConfig

log = logging.getLogger(__name__)

_UNIQUEID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")
_MEDIA_TYPES = {"wav": "audio/wav", "gsm": "audio/x-gsm", "mp3": "audio/mpeg"}


def valid_uniqueid(value: str) -> bool:
    return bool(_UNIQUEID.fullmatch(value)) and ".." not in value


@dataclass(frozen=True)
class Recording:
    uniqueid: str
    path: Path
    size: int
    modified: datetime

    @property
    def media_type(self) -> str:
        return _MEDIA_TYPES.get(self.path.suffix[1:].lower(), "application/octet-stream")

    def link(self) -> dict[str, Any]:
        """What a case or a call record shows (the route serves it with the user's token)."""
        return {
            "uniqueid": self.uniqueid,
            "url": f"/api/v1/recordings/{self.uniqueid}",
            "media_type": self.media_type,
            "size": self.size,
            "recorded_at": self.modified,
        }


def call_uniqueid(facts: Mapping[str, Any]) -> str | None:
    """The call a case or a call record came from: a case started from an agent's pop
    names it ``call_uniqueid``; a hotline case or record carries its call's ``uniqueid``."""
    for key in ("call_uniqueid", "uniqueid"):
        value = facts.get(key)
        if isinstance(value, str) and valid_uniqueid(value):
            return value
    return None


class RecordingFolder:
    def __init__(self, config: RecordingsConfig) -> None:
        self.config = config
        self.folder = config.folder.resolve() if config.folder else None

    @property
    def enabled(self) -> bool:
        return self.folder is not None

    def find(self, uniqueid: str) -> Recording | None:
        """The recording of a call, or None (no folder, a bad id, no file, outside)."""
        if self.folder is None or not valid_uniqueid(uniqueid):
            return None
        for fmt in self.config.formats:
            candidate = self.folder / f"{uniqueid}.{fmt}"
            try:
                resolved = candidate.resolve(strict=True)
                if not resolved.is_relative_to(self.folder) or not resolved.is_file():
                    log.warning("recording %s leads outside %s: refused", candidate, self.folder)
                    continue
                stat = resolved.stat()
            except OSError:
                continue
            return Recording(
                uniqueid, resolved, stat.st_size, datetime.fromtimestamp(stat.st_mtime).astimezone()
            )
        return None

    def link_for(self, facts: Mapping[str, Any]) -> dict[str, Any] | None:
        uniqueid = call_uniqueid(facts)
        found = self.find(uniqueid) if uniqueid else None
        return found.link() if found else None

    def sweep(self, now: datetime) -> int:
        """Delete recordings older than the retention (files of the formats, this folder
        only, never below it); the number deleted."""
        days = self.config.retention_days
        if self.folder is None or days is None:
            return 0
        cutoff = (now - timedelta(days=days)).timestamp()
        suffixes = {f".{fmt}" for fmt in self.config.formats}
        deleted = 0
        try:
            entries = list(self.folder.iterdir())
        except OSError as exc:
            log.warning("recordings folder %s not readable: %s", self.folder, exc.strerror)
            return 0
        for entry in entries:
            if entry.suffix not in suffixes or not valid_uniqueid(entry.stem):
                continue
            try:
                if entry.is_symlink() or not entry.is_file():
                    continue
                if entry.stat().st_mtime < cutoff:
                    entry.unlink()
                    deleted += 1
            except OSError as exc:
                log.warning("recording %s not deleted: %s", entry.name, exc.strerror)
        if deleted:
            log.info("%d recordings older than %d days deleted", deleted, days)
        return deleted


class RecordingSweeper:
    """Runs `RecordingFolder.sweep` once at start and then every ``interval_s`` in its
    own thread (``core.recordings.sweep``); ``start``/``stop`` are idempotent."""

    def __init__(
        self,
        folder: RecordingFolder,
        now: Callable[[], datetime],
        *,
        interval_s: float = 86400.0,
    ) -> None:
        self.folder = folder
        self._now = now
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.deleted = 0

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="core.recordings.sweep", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.deleted += self.folder.sweep(self._now())
            except Exception:
                log.exception("recordings sweep failed; tried again at the next interval")
            self._stop.wait(self.interval_s)
