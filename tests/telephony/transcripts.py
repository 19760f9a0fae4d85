"""Reading the recorded Asterisk transcripts (``tests/fixtures/asterisk/*.agi.txt``)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import FIXTURES_DIR, fixture_files

#: the FastAGI transcripts recorded from a real Asterisk 22 (their README.md says how)
ASTERISK_FIXTURES = FIXTURES_DIR / "asterisk"


@dataclass(frozen=True)
class Event:
    seq: int
    at: float
    direction: str  # "<<" from Asterisk, ">>" to Asterisk, "--" a note
    data: bytes | str


@dataclass(frozen=True)
class Exchange:
    """What the server wrote (one or more lines, pipelined) and what Asterisk sent after it."""

    sent: list[bytes]
    received: list[bytes]


def read_transcript(path: Path) -> list[Event]:
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        seq, at, direction, payload = line.split("\t", 3)
        data: bytes | str = ast.literal_eval(payload) if direction != "--" else payload
        events.append(Event(int(seq), float(at.lstrip("+")), direction, data))
    return events


def split_transcript(events: list[Event]) -> tuple[list[bytes], list[Exchange]]:
    """The environment lines (with the closing empty line), then the exchanges in order.

    Lines Asterisk sent after the environment but before any command (a ``HANGUP``
    while the server held the call) form a first exchange with nothing sent.
    """
    env: list[bytes] = []
    exchanges: list[Exchange] = []
    env_done = False
    for event in events:
        if event.direction == "--":
            continue
        assert isinstance(event.data, bytes)
        if event.direction == "<<" and not env_done:
            env.append(event.data)
            env_done = event.data == b"\n"
            continue
        if event.direction == "<<":
            if not exchanges:
                exchanges.append(Exchange([], []))
            if exchanges:
                exchanges[-1].received.append(event.data)
            else:
                env.append(event.data)
        elif exchanges and not exchanges[-1].received:
            exchanges[-1].sent.append(event.data)
        else:
            exchanges.append(Exchange([event.data], []))
    return env, exchanges


def transcripts(fixtures: Path = ASTERISK_FIXTURES) -> list[Path]:
    """Every ``*.agi.txt`` of ``fixtures``; raises (at collection) if there is none."""
    return fixture_files(fixtures, "*.agi.txt")
