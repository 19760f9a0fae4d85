"""The Asterisk Manager Interface (AMI) wire format as pure functions: no sockets here.

What Asterisk 22 really sends (see ``tests/fixtures/asterisk-ami/README.md``):

- on connect, one banner line ``Asterisk Call Manager/11.0.0`` ended by CRLF;
- then frames: ``Key: Value`` lines ended by CRLF, a frame ended by an empty line
  (``\\r\\n\\r\\n``). One ``recv()`` may hold several frames, or part of one, and a
  response may share a read with events: frames are cut on the blank line, never per read;
- a frame is a response (``Response:``), or an event (``Event:``); an
  ``OriginateResponse`` event carries a nested ``Response:`` header as well, so the
  ``Event`` header decides;
- the same field is spelled differently by event type (``Uniqueid`` in channel events,
  ``UniqueID`` in ``Cdr`` and ``CEL``), so `AmiFrame` looks fields up case-blind;
- values may be empty (``AccountCode: ``) and may contain ``:``.

`encode_action` refuses CR or LF in a value, so no value can end the action early or
inject a second one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

BANNER_PREFIX = b"Asterisk Call Manager/"
FRAME_END = b"\r\n\r\n"
#: a frame longer than this is not AMI (Asterisk's own events stay well under 8 kB)
MAX_FRAME_BYTES = 256 * 1024


class AmiProtocolError(ValueError):
    """The peer sent something that is not AMI (no banner, an endless frame)."""


class FrameKind(StrEnum):
    RESPONSE = "response"
    EVENT = "event"
    OTHER = "other"  # neither header: never sent by Asterisk, kept for the log


@dataclass(frozen=True)
class AmiFrame:
    """One AMI frame: its fields in order (a key may repeat, e.g. ``Variable``)."""

    fields: tuple[tuple[str, str], ...]
    _index: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, str]]) -> AmiFrame:
        fields = tuple(pairs)
        index: dict[str, str] = {}
        for key, value in fields:
            index.setdefault(key.lower(), value)
        return cls(fields, index)

    def get(self, key: str, default: str | None = None) -> str | None:
        """The first value of ``key``, whatever its spelling (``UniqueID`` = ``Uniqueid``)."""
        return self._index.get(key.lower(), default)

    def all(self, key: str) -> list[str]:
        wanted = key.lower()
        return [value for k, value in self.fields if k.lower() == wanted]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._index

    @property
    def kind(self) -> FrameKind:
        if "event" in self._index:
            return FrameKind.EVENT
        if "response" in self._index:
            return FrameKind.RESPONSE
        return FrameKind.OTHER

    @property
    def event(self) -> str | None:
        return self.get("Event")

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    @property
    def uniqueid(self) -> str | None:
        return self.get("Uniqueid")

    @property
    def linkedid(self) -> str | None:
        return self.get("Linkedid")


def parse_frame(raw: bytes) -> AmiFrame:
    """One frame's bytes (without the blank line) as fields; a line without ``:`` is kept
    whole as a key with an empty value (Asterisk sends none such)."""
    pairs: list[tuple[str, str]] = []
    for line in _decode(raw).split("\r\n"):
        if not line:
            continue
        key, sep, value = line.partition(":")
        pairs.append(
            (key.strip(), value[1:] if value.startswith(" ") else value) if sep else (line, "")
        )
    return AmiFrame.of(pairs)


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gb18030", errors="replace")  # a caller name from an old PBX


class FrameReader:
    """Bytes in, whole frames out: feed what each ``recv()`` returned, in order."""

    def __init__(self, *, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self._buffer = bytearray()
        self._max = max_frame_bytes
        self.banner: str | None = None

    def feed(self, data: bytes) -> list[AmiFrame]:
        self._buffer += data
        frames: list[AmiFrame] = []
        if self.banner is None:
            end = self._buffer.find(b"\r\n")
            if end < 0:
                self._check_size()
                return frames
            line = bytes(self._buffer[:end])
            if not line.startswith(BANNER_PREFIX):
                raise AmiProtocolError(f"not an AMI banner: {line[:80]!r}")
            self.banner = line.decode("ascii", errors="replace")
            del self._buffer[: end + 2]
        while True:
            end = self._buffer.find(FRAME_END)
            if end < 0:
                break
            raw = bytes(self._buffer[:end])
            del self._buffer[: end + len(FRAME_END)]
            if raw.strip():
                frames.append(parse_frame(raw))
        self._check_size()
        return frames

    def _check_size(self) -> None:
        if len(self._buffer) > self._max:
            raise AmiProtocolError(f"no frame end within {self._max} bytes")

    @property
    def pending_bytes(self) -> int:
        return len(self._buffer)


def encode_action(
    action: str, action_id: str, fields: Mapping[str, str | Iterable[str]] | None = None
) -> bytes:
    """An action frame; a list value repeats its key (``Variable``). Raises `ValueError`
    for CR/LF anywhere or an empty key."""
    lines = [("Action", action), ("ActionID", action_id)]
    for key, value in (fields or {}).items():
        if isinstance(value, str):
            lines.append((key, value))
        else:
            lines.extend((key, item) for item in value)
    out: list[str] = []
    for key, value in lines:
        if not key or any(c in key for c in ":\r\n") or "\r" in value or "\n" in value:
            raise ValueError(f"AMI field {key!r} must be one line without ':' in its name")
        out.append(f"{key}: {value}\r\n")
    return ("".join(out) + "\r\n").encode("utf-8")


def iter_frames(data: bytes) -> Iterator[AmiFrame]:
    """The frames of a whole recorded stream (banner first, if present)."""
    reader = FrameReader()
    if not data.startswith(BANNER_PREFIX):
        reader.banner = ""
    yield from reader.feed(data)


# --------------------------------------------------------------------------- Originate


class OriginateReason(IntEnum):
    """``Reason`` of an ``OriginateResponse`` (Asterisk's ``AST_CONTROL_*`` of the outcome)."""

    FAILED = 0  # no channel at all (bad technology, dial string)
    HANGUP = 1  # hung up before it answered
    RING_TIMEOUT = 3  # rang, nobody answered within Timeout
    ANSWERED = 4
    BUSY = 5
    CONGESTION = 8


class OriginateOutcome(StrEnum):
    """What one originated call came to, as the callback service counts it."""

    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    CONGESTION = "congestion"
    FAILED = "failed"


_OUTCOME_OF_REASON = {
    OriginateReason.ANSWERED: OriginateOutcome.ANSWERED,
    OriginateReason.RING_TIMEOUT: OriginateOutcome.NO_ANSWER,
    OriginateReason.HANGUP: OriginateOutcome.NO_ANSWER,
    OriginateReason.BUSY: OriginateOutcome.BUSY,
    OriginateReason.CONGESTION: OriginateOutcome.CONGESTION,
}


def originate_outcome(frame: AmiFrame) -> OriginateOutcome:
    """The outcome an ``OriginateResponse`` event reports (Reason first, then Response)."""
    try:
        reason = OriginateReason(int(frame.get("Reason") or "0"))
    except ValueError:
        reason = OriginateReason.FAILED
    if frame.get("Response") == "Success" and reason is OriginateReason.ANSWERED:
        return OriginateOutcome.ANSWERED
    outcome = _OUTCOME_OF_REASON.get(reason, OriginateOutcome.FAILED)
    return OriginateOutcome.FAILED if outcome is OriginateOutcome.ANSWERED else outcome


def is_success(frame: AmiFrame) -> bool:
    return frame.get("Response") == "Success"


def known_uniqueid(value: str | None) -> str | None:
    """``<unknown>`` (a failed Originate without ChannelId) and empty are no id."""
    return None if not value or value == "<unknown>" else value
