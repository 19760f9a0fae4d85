"""The port the IVR talks to: one caller's channel, whatever carries it (FastAGI, a fake).

The IVR knows nothing of AGI or pyst2; the adapter (`adapters.asterisk.agi_channel`)
implements `CallChannel` and raises these errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class ChannelError(Exception):
    """The channel cannot carry the call on."""


class ChannelHangup(ChannelError):
    """The caller hung up."""


class ChannelClosed(ChannelHangup):
    """The connection to the telephone system is gone (the call is over for us)."""


class ChannelTimeout(ChannelError):
    """The telephone system stopped answering."""


class CommandFailed(ChannelError):
    """A command failed without a hangup (e.g. a prompt file is missing)."""


class RecordingEnd(StrEnum):
    KEY = "key"  # the caller pressed the end key
    TIMEOUT = "timeout"  # maximum length or silence reached
    HANGUP = "hangup"  # the caller hung up while recording


@dataclass(frozen=True)
class Recording:
    """A finished recording: where the telephone system wrote it, and how it ended."""

    path: str  # without extension, as given to the telephone system
    file_format: str
    ended_by: RecordingEnd
    samples: int | None = None

    @property
    def file(self) -> str:
        return f"{self.path}.{self.file_format}"


@dataclass(frozen=True)
class CallInfo:
    """What the telephone system tells about the call when it starts."""

    uniqueid: str
    channel: str
    caller_number: str = ""
    caller_name: str = ""
    script: str = ""
    query: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    language: str = ""
    extension: str = ""
    context: str = ""


class CallChannel(Protocol):
    """One call, driven one command at a time (blocking). Errors: `ChannelError` subclasses."""

    @property
    def info(self) -> CallInfo: ...

    @property
    def hung_up(self) -> bool:
        """True once the caller is known to have hung up."""
        ...

    def answer(self) -> None: ...

    def play(self, prompt: str, *, interrupt_keys: str = "") -> str:
        """Play a prompt; the key that interrupted it, or ``""``."""
        ...

    def ask_digits(self, prompt: str, *, timeout_ms: int, max_digits: int) -> str:
        """Play a prompt and collect digits (``#`` ends); ``""`` when none came in time."""
        ...

    def wait_for_key(self, timeout_ms: int) -> str:
        """One key, or ``""`` after ``timeout_ms``."""
        ...

    def say_digits(self, digits: str, *, interrupt_keys: str = "") -> str:
        """Read a digit string aloud; the key that interrupted it, or ``""``."""
        ...

    def record(
        self, path: str, *, file_format: str, max_ms: int, silence_s: int, end_keys: str = "#"
    ) -> Recording:
        """Record the caller until an end key, ``max_ms`` or ``silence_s`` of silence."""
        ...

    def set_variable(self, name: str, value: str) -> None: ...

    def exec_app(self, application: str, options: str = "") -> None:
        """Run a dialplan application (music on hold, Goto on exit)."""
        ...

    def is_alive(self) -> bool:
        """Ask the telephone system whether the caller is still there (raises nothing)."""
        ...

    def hangup(self) -> None: ...
