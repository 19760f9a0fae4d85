"""Live figures of the agents' queues, from AMI ``QueueStatus`` (issue 20 §2, queue figures).

`queue_figures` reads the events of one ``QueueStatus`` list (pure): per queue the
calls waiting (``QueueParams Calls``), the longest wait among them (``QueueEntry
Wait``), answered and abandoned so far (``Completed``, ``Abandoned``, counted by
Asterisk since its start or the queue's reset), agents logged in and free (members with
``Status`` 1 "not in use" and not paused). `QueuePoller` asks every ``interval_s``
while the connection is ready, and at once after a queue event (`poke`), and keeps the
last answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

from adapters.asterisk.ami_client import AmiClient, AmiError
from adapters.asterisk.ami_protocol import AmiFrame

log = logging.getLogger(__name__)

_MEMBER_NOT_IN_USE = "1"


@dataclass(frozen=True)
class QueueFigures:
    queue: str
    waiting: int = 0
    longest_wait_s: int = 0
    answered: int = 0
    abandoned: int = 0
    agents_logged_in: int = 0
    agents_available: int = 0
    agents_paused: int = 0


def _int(frame: AmiFrame, key: str) -> int:
    try:
        return int(frame.get(key) or 0)
    except ValueError:
        return 0


def queue_figures(events: list[AmiFrame]) -> dict[str, QueueFigures]:
    """The figures of each queue a ``QueueStatus`` list named."""
    params: dict[str, AmiFrame] = {}
    waits: dict[str, list[int]] = {}
    members: dict[str, list[AmiFrame]] = {}
    for frame in events:
        queue = frame.get("Queue") or ""
        if frame.event == "QueueParams":
            params[queue] = frame
        elif frame.event == "QueueEntry":
            waits.setdefault(queue, []).append(_int(frame, "Wait"))
        elif frame.event == "QueueMember":
            members.setdefault(queue, []).append(frame)
    out: dict[str, QueueFigures] = {}
    for queue, p in params.items():
        staff = members.get(queue, [])
        paused = [m for m in staff if m.get("Paused") == "1"]
        out[queue] = QueueFigures(
            queue=queue,
            waiting=_int(p, "Calls"),
            longest_wait_s=max(waits.get(queue, [0])),
            answered=_int(p, "Completed"),
            abandoned=_int(p, "Abandoned"),
            agents_logged_in=len(staff),
            agents_available=sum(
                1 for m in staff if m.get("Status") == _MEMBER_NOT_IN_USE and m not in paused
            ),
            agents_paused=len(paused),
        )
    return out


class QueuePoller:
    def __init__(self, client: AmiClient, queues: list[str], *, interval_s: float = 10.0) -> None:
        self._client = client
        self._queues = queues
        self.interval_s = interval_s
        self.figures: dict[str, QueueFigures] = {}
        self.updated_at: float | None = None  # monotonic
        self.failures = 0
        self._poked: asyncio.Event | None = None

    def poke(self) -> None:
        """A queue event came (a caller joined, left, was answered): ask again now rather
        than at the next interval (on the loop; polls still come one at a time)."""
        if self._poked is not None:
            self._poked.set()

    async def poll_once(self) -> dict[str, QueueFigures]:
        found: dict[str, QueueFigures] = {}
        for queue in self._queues:
            events = await self._client.action_list("QueueStatus", {"Queue": queue})
            found.update(queue_figures(events))
        self.figures = found
        self.updated_at = time.monotonic()
        return found

    async def run(self) -> None:
        self._poked = asyncio.Event()
        while True:
            self._poked.clear()
            if self._client.ready:
                try:
                    await self.poll_once()
                except AmiError as exc:
                    self.failures += 1
                    log.warning("queue status: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poked.wait(), self.interval_s)
                await asyncio.sleep(0.2)  # the events of one change come together

    def snapshot(self) -> dict[str, Any]:
        """The last figures (``age_s``: how old; None before the first answer)."""
        age = None if self.updated_at is None else round(time.monotonic() - self.updated_at, 1)
        return {"age_s": age, "queues": {q: asdict(f) for q, f in self.figures.items()}}
