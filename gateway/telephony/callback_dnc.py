"""The do-not-call list (免打扰): numbers never called back.

From the configuration and, optionally, a file of one number a line (``#`` starts a
comment), read again whenever it changes, so an operator can add a number without a
restart. A file that cannot be read keeps the last list read (logged), never empties it;
a file never read at all makes every number do-not-call (nobody who asked not to be
called is called because a file went missing).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

log = logging.getLogger(__name__)


def normalise(number: str) -> str:
    """Digits only (and a leading +): ``138-0000 0001`` is ``13800000001``."""
    kept = "".join(c for c in number if c.isdigit())
    return f"+{kept}" if number.strip().startswith("+") else kept


class DoNotCall:
    def __init__(self, numbers: list[str], path: Path | None = None) -> None:
        self._fixed = frozenset(normalise(n) for n in numbers if normalise(n))
        self._path = path
        self._from_file: frozenset[str] = frozenset()
        self._stamp: tuple[int, int] | None = None
        self._read_once = False
        self._lock = threading.Lock()

    def __contains__(self, number: object) -> bool:
        if not isinstance(number, str):
            return False
        wanted = normalise(number)
        if wanted in self._fixed:
            return True
        self._refresh()
        if self._path is not None and self._stamp is None and not self._read_once:
            return True
        return wanted in self._from_file

    def _refresh(self) -> None:
        if self._path is None:
            return
        with self._lock:
            try:
                stat = self._path.stat()
                stamp = (stat.st_mtime_ns, stat.st_size)
                if stamp == self._stamp:
                    return
                lines = self._path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                if self._stamp is not None or self._from_file:
                    log.error(
                        "do-not-call file %s unreadable (%s); keeping the last list",
                        self._path,
                        exc,
                    )
                    self._stamp = None
                else:
                    log.error("do-not-call file %s unreadable: %s", self._path, exc)
                return
            numbers = {normalise(line.split("#", 1)[0]) for line in lines}
            self._from_file = frozenset(numbers - {""})
            self._stamp = stamp
            self._read_once = True
            log.info("do-not-call file %s: %d numbers", self._path, len(self._from_file))
