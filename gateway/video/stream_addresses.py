"""The last good stream address of each camera, for when its ONVIF service is down.

A camera configured by its ONVIF address gets its RTSP address from the device on every
(re)connect. Cameras' web services fail on their own (a firmware's HTTP server restarts,
a proxy in front of it goes down) while the stream goes on: without a fallback the video
stayed down until the web server returned (seen: 65 s). So each address ONVIF gives is
kept (a small JSON file under the gateway's state_dir, so a restart keeps it too), and a
failed lookup falls back to it; the next lookup that works refreshes it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from gateway.durable_file import write_durably
from gateway.video.ports import StreamError

log = logging.getLogger("citygw.video.addresses")


class StreamAddressBook:
    """camera id -> its last stream address from ONVIF, on disk (owner-readable only)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._addresses: dict[str, str] = {}
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                self._addresses = {str(k): str(v) for k, v in loaded.items()}
        except FileNotFoundError:
            pass
        except (ValueError, OSError) as exc:
            log.error("stream address book %s unreadable (%s): starting empty", path, exc)

    def last(self, camera_id: str) -> str | None:
        with self._lock:
            return self._addresses.get(camera_id)

    def remember(self, camera_id: str, url: str) -> None:
        with self._lock:
            if self._addresses.get(camera_id) == url:
                return
            self._addresses[camera_id] = url
            document = json.dumps(self._addresses, ensure_ascii=False, sort_keys=True)
            try:
                write_durably(self._path, document.encode(), private=True)
            except OSError as exc:  # the address is still kept in memory
                log.error("stream address book %s not saved: %s", self._path, exc)


def with_last_good(
    camera_id: str, lookup: Callable[[], str], book: StreamAddressBook
) -> Callable[[], str]:
    """A resolver that asks ``lookup`` (ONVIF) first, keeps what it gives, and falls back
    to the last kept address when it fails."""

    def resolve() -> str:
        try:
            url = lookup()
        except StreamError as exc:
            last = book.last(camera_id)
            if last is None:
                raise
            log.warning(
                "camera %s: %s; streaming from its last good address meanwhile", camera_id, exc
            )
            return last
        book.remember(camera_id, url)
        return url

    return resolve
