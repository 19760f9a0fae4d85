"""Camera-side alarms as episodes: what each camera's events say is going on, kept on disk.

A camera reports an alarm as a *property*: its state (a ``true``/``false`` data item such
as ``State``, ``IsInside``, ``IsMotion``) under a topic and a source (which rule, which
video source). An ONVIF device re-sends every property's current state with
``PropertyOperation=Initialized`` on each new subscription, so the same alarm arrives
again after every restart or re-subscription of the gateway. `EventEpisodes` keeps the
last state per (camera, topic, source) and says what an event means:

- ``STARTED``: the alarm went active (an episode begins, at the time first seen);
- ``CONTINUED``: the state is the one known (a re-send, a repeat): no news;
- ``ENDED``: it went inactive (or the device deleted it) after an episode: end time
  and duration known;
- ``IDLE``: inactive and not known active (first seen idle): state worth telling once;
- ``REPEATED``: an ``Initialized`` re-send of what is already known: nothing to do;
- ``MOMENT``: an event without a true/false item (a counter, an object id): each new one
  stands alone.

The state is written to ``state_dir/camera-events.json`` (a temporary file, fsynced, then
renamed) on every change, and read back at start: an alarm active before a restart and
re-sent as ``Initialized`` after it continues its episode. Pure but for that file; no
clock (times come with the events).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from gateway.clock import rfc3339
from gateway.durable_file import set_aside, write_durably

log = logging.getLogger(__name__)

FILE_NAME = "camera-events.json"
#: states kept per camera at most (a device inventing sources must not grow the file for ever)
MAX_PER_CAMERA = 256


@dataclass(frozen=True)
class CameraEvent:
    """One notification of a camera, reduced to what rules look at."""

    camera_id: str
    topic: str
    source: dict[str, str] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)
    utc: datetime | None = None
    operation: str = ""  # PropertyOperation: Initialized, Changed, Deleted (or none)


class Change(StrEnum):
    STARTED = "started"
    CONTINUED = "continued"
    ENDED = "ended"
    IDLE = "idle"
    REPEATED = "repeated"
    MOMENT = "moment"


def topic_key(topic: str) -> str:
    """The topic without namespace prefixes (devices choose them: ``tns1:``, ``tnsaxis:``)."""
    return "/".join(part.rpartition(":")[2] for part in topic.strip().strip("/").split("/"))


def source_key(source: dict[str, str]) -> str:
    return ",".join(f"{k}={source[k]}" for k in sorted(source))


def alarm_state(data: dict[str, str]) -> bool | None:
    """True when any data item says ``true``, False when all the true/false items say
    ``false``, None when the event carries none (then it is a moment, not a state)."""
    flags = [v.strip().lower() for v in data.values() if v.strip().lower() in ("true", "false")]
    if not flags:
        return None
    return "true" in flags


@dataclass(frozen=True)
class Episode:
    """The last known state of one (camera, topic, source)."""

    camera_id: str
    topic: str
    source: dict[str, str]
    active: bool | None
    data: dict[str, str]
    started_at: datetime | None = None  # the (last) episode's start, as first seen
    ended_at: datetime | None = None  # its end, once over
    candidate_id: str | None = None  # the candidate the episode made, if any
    event_code: str | None = None
    title: str = ""
    facts: dict[str, Any] = field(default_factory=dict)  # the candidate's facts

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.camera_id, topic_key(self.topic), source_key(self.source))

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return max(0.0, round((self.ended_at - self.started_at).total_seconds(), 3))

    @property
    def subject(self) -> str:
        """Names the episode: the same for its candidate and that candidate's updates.

        Bounded (the core keeps ``camera:subject`` in 200 characters, and sources can be
        long): the topic's last part and the start for people, a hash of the whole."""
        start = rfc3339(self.started_at) if self.started_at else "-"
        whole = "\x1f".join((topic_key(self.topic), source_key(self.source), start))
        digest = hashlib.sha256(whole.encode("utf-8")).hexdigest()[:12]
        return f"onvif:{topic_key(self.topic).rpartition('/')[2][:40]}@{start}#{digest}"

    def to_json(self) -> dict[str, Any]:
        return {
            "camera_id": self.camera_id,
            "topic": self.topic,
            "source": dict(self.source),
            "active": self.active,
            "data": dict(self.data),
            "started_at": rfc3339(self.started_at) if self.started_at else None,
            "ended_at": rfc3339(self.ended_at) if self.ended_at else None,
            "candidate_id": self.candidate_id,
            "event_code": self.event_code,
            "title": self.title,
            "facts": self.facts,
        }

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Episode:
        def moment(value: Any) -> datetime | None:
            return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None

        active = document["active"]
        return cls(
            camera_id=str(document["camera_id"]),
            topic=str(document["topic"]),
            source={str(k): str(v) for k, v in dict(document["source"]).items()},
            active=None if active is None else bool(active),
            data={str(k): str(v) for k, v in dict(document["data"]).items()},
            started_at=moment(document.get("started_at")),
            ended_at=moment(document.get("ended_at")),
            candidate_id=document.get("candidate_id"),
            event_code=document.get("event_code"),
            title=str(document.get("title") or ""),
            facts=dict(document.get("facts") or {}),
        )


@dataclass(frozen=True)
class Observation:
    change: Change
    episode: Episode  # the state after the event
    previous: Episode | None  # the state before it (None: never seen)


class EventEpisodes:
    """The last state of every camera's event sources; persisted when ``path`` is given."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._states: dict[tuple[str, str, str], Episode] = {}
        #: each state's JSON text, made when it changes: a save writes all of them, and
        #: encoding every camera's states again on each event cost O(cameras) an event
        self._encoded: dict[tuple[str, str, str], str] = {}
        self._lock = threading.Lock()
        if path is not None:
            self._load()

    def get(self, camera_id: str, topic: str, source: dict[str, str]) -> Episode | None:
        with self._lock:
            return self._states.get((camera_id, topic_key(topic), source_key(source)))

    def episodes(self) -> list[Episode]:
        with self._lock:
            return list(self._states.values())

    def observe(self, event: CameraEvent, now: datetime) -> Observation:
        """Take in one event; ``now`` stands in for an event without a time."""
        at = event.utc or now
        key = (event.camera_id, topic_key(event.topic), source_key(event.source))
        # a property the device deleted (its rule removed) is over, whatever it carried
        deleted = event.operation.lower() == "deleted"
        state = False if deleted else alarm_state(event.data)
        initialized = event.operation.lower() == "initialized"
        with self._lock:
            previous = self._states.get(key)
            if initialized and previous is not None and previous.data == dict(event.data):
                return Observation(Change.REPEATED, previous, previous)
            base = Episode(event.camera_id, event.topic, dict(event.source), None, {})
            known = previous or base
            if state is None:
                change = Change.MOMENT
                current = replace(base, data=dict(event.data), started_at=at, ended_at=at)
            elif state:
                if known.active:
                    change = Change.CONTINUED
                    current = replace(known, data=dict(event.data))
                else:
                    change = Change.STARTED
                    current = replace(base, active=True, data=dict(event.data), started_at=at)
            elif known.active:
                change = Change.ENDED
                ended = max(at, known.started_at) if known.started_at else at
                current = replace(known, active=False, data=dict(event.data), ended_at=ended)
            else:
                fresh = previous is None or previous.active is None
                change = Change.IDLE if fresh else Change.CONTINUED
                current = replace(known, active=False, data=dict(event.data))
            self._states[key] = current
            self._bound(event.camera_id)
            if current != previous:
                self._encode(current)
                self._save_locked()
        return Observation(change, current, previous)

    def attach(self, episode: Episode, candidate_id: str, event_code: str, title: str,
               facts: dict[str, Any]) -> Episode:  # fmt: skip
        """Record the candidate ``episode`` made (so its end can update it, even after a
        restart)."""
        with self._lock:
            current = self._states.get(episode.key, episode)
            if current.started_at != episode.started_at:
                return current  # another episode began meanwhile: leave it be
            current = replace(
                current, candidate_id=candidate_id, event_code=event_code, title=title,
                facts=dict(facts),
            )  # fmt: skip
            self._states[episode.key] = current
            self._encode(current)
            self._save_locked()
        return current

    def _bound(self, camera_id: str) -> None:
        mine = [k for k in self._states if k[0] == camera_id]
        for key in mine[: max(0, len(mine) - MAX_PER_CAMERA)]:
            del self._states[key]  # the oldest first (dicts keep insertion order)
            self._encoded.pop(key, None)

    # ----------------------------------------------------------------- persistence

    def _load(self) -> None:
        assert self._path is not None
        try:
            document = json.loads(self._path.read_text(encoding="utf-8"))
            episodes = [Episode.from_json(item) for item in document["episodes"]]
        except FileNotFoundError:
            return
        except (ValueError, KeyError, TypeError, OSError) as exc:
            log.error(
                "camera event states %s unreadable (%s): starting empty, kept as %s",
                self._path,
                exc,
                set_aside(self._path),
            )
            return
        self._states = {e.key: e for e in episodes}
        for episode in episodes:
            self._encode(episode)
        active = sum(1 for e in episodes if e.active)
        log.info(
            "camera event states: %d known, %d alarm(s) active, from %s",
            len(episodes),
            active,
            self._path,
        )

    def _encode(self, episode: Episode) -> None:
        if self._path is not None:
            self._encoded[episode.key] = json.dumps(episode.to_json(), ensure_ascii=False)

    def _save_locked(self) -> None:
        """Write all states (the lock is held): a temporary file, then an atomic rename."""
        if self._path is None:
            return
        for key in self._states.keys() - self._encoded.keys():
            self._encode(self._states[key])
        text = '{"episodes": [' + ", ".join(self._encoded[k] for k in self._states) + "]}"
        try:
            write_durably(self._path, text.encode())
        except OSError as exc:  # a full disk must not stop events: said, not raised
            log.error("camera event states not saved to %s: %s", self._path, exc)
