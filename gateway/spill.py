"""Messages the durable outbox refused, kept as files until it takes them.

The outbox refuses a message only when it is full (``OutboxFull``) or its disk fails.
An edge daemon then must not drop what it made (a camera's candidate, a caller's
report): it keeps the message here, one JSON file each (written to a temporary name,
fsynced, renamed), and a thread offers the kept files to the outbox again, oldest first,
every ``retry_s``, until it takes them. A file is removed only after the outbox took
its message; one that no longer parses is set aside (``.unreadable``) with an error
logged, never retried for ever nor silently deleted.

`SpillFolder.offer` is the one "publish or spill" step: a few tries with a short backoff,
then the folder; while older messages wait there, a new one joins them at the back, so
the outbox receives them in the order they were made (an alarm's end after its start).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gateway.contract import ContractError, Message, parse_message
from gateway.durable_file import set_aside, write_durably

log = logging.getLogger("citygw.spill")

Publish = Callable[[Message], object]

#: tries before a message goes to the folder: the outbox is a local SQLite file, its
#: failures are rare and passing, a full one stays full for minutes
OFFER_ATTEMPTS = 5


@dataclass(frozen=True)
class Offered:
    """What became of an offered message."""

    taken: bool  # the outbox took it; else it is kept in the folder
    refusals: int  # how often the outbox refused it (each one logged)


class SpillFolder:
    """One folder of refused messages, and the thread that offers them again."""

    def __init__(self, folder: Path, publish: Publish, *, retry_s: float = 10.0) -> None:
        self.folder = folder
        self._publish = publish
        self._retry_s = retry_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one resend pass at a time
        self.kept = 0  # messages written here since start
        self.resent = 0  # of which (or of earlier runs') handed to the outbox since start

    def keep(self, message: Message) -> Path:
        """Write ``message`` durably; the file name sorts by the time it was kept."""
        target = self.folder / f"{time.time_ns():020d}-{message.id}.json"
        write_durably(target, message.to_json())
        self.kept += 1
        self._wake.set()
        return target

    def offer(
        self,
        message: Message,
        *,
        attempts: int = OFFER_ATTEMPTS,
        patient: Callable[[], bool] = lambda: True,
    ) -> Offered:
        """Publish ``message`` or keep it here: ``attempts`` tries with a short backoff
        between them (none once ``patient()`` is false: the daemon stops), then the folder.
        While messages wait here it joins them (kept at once, in order). Raises only when
        the message can be neither published nor written here."""
        if self.pending():
            where = self.keep(message)
            log.warning("message %s kept in %s behind older ones", message.id, where)
            return Offered(taken=False, refusals=0)
        for attempt in range(1, attempts + 1):
            try:
                self._publish(message)  # durable when it returns
                return Offered(taken=True, refusals=attempt - 1)
            except Exception as exc:
                log.warning(
                    "the outbox refused message %s (attempt %d/%d): %s",
                    message.id,
                    attempt,
                    attempts,
                    exc,
                )
                if attempt < attempts and patient():
                    time.sleep(min(2.0, 0.25 * attempt))
        where = self.keep(message)
        log.error("message %s kept in %s until the outbox takes it", message.id, where)
        return Offered(taken=False, refusals=attempts)

    def pending(self) -> list[Path]:
        """The kept files, oldest first."""
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob("*.json"))

    def resend(self) -> int:
        """Offer every kept message to the outbox, oldest first; stop at the first refusal
        (the outbox is still full). Returns how many it took."""
        taken = 0
        with self._lock:
            for path in self.pending():
                try:
                    message = parse_message(path.read_bytes())
                except (ContractError, OSError) as exc:
                    log.error("spilled message %s cannot be read (%s): set aside", path, exc)
                    set_aside(path)
                    continue
                try:
                    self._publish(message)
                except Exception as exc:
                    log.warning(
                        "the outbox still refuses spilled messages (%s); %d wait in %s",
                        exc,
                        len(self.pending()),
                        self.folder,
                    )
                    break
                path.unlink()
                taken += 1
        if taken:
            self.resent += taken
            log.info("%d spilled message(s) handed to the outbox from %s", taken, self.folder)
        return taken

    def start(self, name: str) -> None:
        """Start the resend thread (``name``: e.g. ``video.spill``); idempotent."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self.pending():
                try:
                    self.resend()
                except Exception:  # a bug must not end the thread that keeps messages moving
                    log.exception("resending spilled messages failed")
            self._wake.wait(self._retry_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            # a message just kept: give the outbox a moment before offering it again
            self._stop.wait(min(1.0, self._retry_s))
