"""Fake Asterisk Manager servers that replay what a real Asterisk 22.10.1 sent.

The transcripts (``tests/fixtures/asterisk-ami/*.ami.txt``) hold every chunk each side
sent, as one ``recv()`` returned it, with its time. Two servers use them:

`ReplayAmiServer` plays one scenario byte for byte: the n-th connection gets the
scenario's n-th recorded connection, chunk by chunk, in the recorded order and (scaled)
timing; where the recording has the client sending, it reads one frame from the client
and checks it is the same action. The one change made to Asterisk's bytes: the
recorded ActionID of each action is replaced by the one the client sent, so a client
with its own ids is still answered (a client that sends the recorded ids gets exactly
the ``.ami.bin`` bytes).

`ScriptedAmiServer` is a small Asterisk for the callback tests and the benchmark: it
answers Login (the recorded accept or refusal), Ping, Logoff, QueueStatus (the recorded
list of a queue with a caller waiting and its agent paused), and each async Originate
with the recorded events of one of the ``originate-*`` scenarios (answered, noanswer,
busy, congestion) chosen per number. Each replayed call gets its own ids: the recorded
uniqueids become the client's ChannelId / OtherChannelId (or fresh ones), the recorded
dial string the client's, the case variable the client's, the survey key the one
scripted for that number; events keep their recorded order and relative timing (scaled).
`send_events` hands every logged-in client other recorded events (a Cdr, an AgentConnect)
as Asterisk would when they happen.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from adapters.asterisk.ami_protocol import AmiFrame, FrameReader, iter_frames

log = logging.getLogger(__name__)

_HEADER = re.compile(rb"^@(?P<at>[\d.]+) (?P<conn>\S+) (?P<kind>[A-Z]+) (?P<n>\d+)$")


@dataclass(frozen=True)
class Chunk:
    at: float
    conn: str  # c1, c2, ... or "-" for a note
    kind: str  # RECV, SEND, EOF, CLOSE, NOTE
    data: bytes


def read_ami_transcript(path: Path) -> list[Chunk]:
    """The chunks of a ``.ami.txt`` (header line, exactly n bytes, a newline)."""
    raw = path.read_bytes()
    chunks: list[Chunk] = []
    pos = 0
    while pos < len(raw):
        end = raw.index(b"\n", pos)
        line = raw[pos:end]
        pos = end + 1
        if not line or line.startswith(b"#"):
            continue
        match = _HEADER.match(line)
        if match is None:
            raise ValueError(f"{path.name}: bad chunk header {line[:80]!r}")
        n = int(match["n"])
        data = raw[pos : pos + n]
        if len(data) != n or raw[pos + n : pos + n + 1] not in (b"\n", b""):
            raise ValueError(f"{path.name}: chunk at byte {pos} is not {n} bytes long")
        pos += n + 1
        chunks.append(
            Chunk(float(match["at"]), match["conn"].decode(), match["kind"].decode(), data)
        )
    return chunks


def connections(chunks: list[Chunk]) -> list[list[Chunk]]:
    """The chunks of each connection (c1, c2, ...), notes left out."""
    names = sorted({c.conn for c in chunks if c.conn != "-"}, key=lambda n: int(n[1:]))
    return [[c for c in chunks if c.conn == name] for name in names]


def recorded_answer(transcript: Path, action_id: bytes) -> bytes:
    """What Asterisk sent back to the recorded action ``action_id`` (``ActionID: x``),
    from its response to the end of its event list, as the bytes it sent (events of other
    things that came in between included)."""
    chunks = connections(read_ami_transcript(transcript))[0]
    asked = next(
        i for i, c in enumerate(chunks) if c.kind == "SEND" and action_id + b"\r\n" in c.data
    )
    received = b""
    for chunk in chunks[asked + 1 :]:
        if chunk.kind != "RECV":
            break
        received += chunk.data
    complete = received.find(b"EventList: Complete")
    end = received.find(b"\r\n\r\n", complete)
    if complete < 0 or end < 0:
        raise ValueError(f"{transcript.name}: no complete answer to {action_id!r}")
    return received[: end + 4]


def _action_of(data: bytes) -> AmiFrame:
    frames = list(iter_frames(data))
    if len(frames) != 1:
        raise ValueError(f"expected one action, got {len(frames)}")
    return frames[0]


class _ClientFrames:
    """The frames a client sends, one at a time (a read may hold several)."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader
        self._frames = FrameReader()
        self._frames.banner = ""  # clients send no banner
        self._ready: deque[AmiFrame] = deque()

    async def next(self) -> AmiFrame | None:
        """The next frame, or None at the client's EOF."""
        while not self._ready:
            data = await self._reader.read(65536)
            if not data:
                return None
            self._ready.extend(self._frames.feed(data))
        return self._ready.popleft()


@dataclass
class _Served:
    written: bytearray = field(default_factory=bytearray)
    actions: list[AmiFrame] = field(default_factory=list)


class _Server:
    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop_listening(self) -> None:
        """Refuse new connections (Asterisk down); existing ones stay until dropped."""
        if self._server is not None:
            self._server.close()
            self._server = None

    async def drop_connections(self) -> None:
        """Close every connection at once (a crash, a cable pulled)."""
        for writer in list(self._writers):
            writer.close()

    async def close(self) -> None:
        await self.stop_listening()
        await self.drop_connections()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            self._tasks.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


class ReplayAmiServer(_Server):
    """Plays one recorded scenario; connection n gets the recording's connection n."""

    def __init__(self, transcript: Path, *, time_scale: float = 0.0) -> None:
        super().__init__()
        self.scripts = connections(read_ami_transcript(transcript))
        self.time_scale = time_scale
        self.served: list[_Served] = []
        self.mismatches: list[str] = []
        self._next = itertools.count()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = next(self._next)
        if index >= len(self.scripts):
            return  # more connections than recorded: closed at once
        served = _Served()
        self.served.append(served)
        frames = _ClientFrames(reader)
        ids: dict[bytes, bytes] = {}
        last_at = None
        for chunk in self.scripts[index]:
            if last_at is not None and self.time_scale > 0:
                await asyncio.sleep(max(0.0, chunk.at - last_at) * self.time_scale)
            last_at = chunk.at
            if chunk.kind == "RECV":
                data = chunk.data
                for recorded, theirs in ids.items():
                    data = data.replace(
                        b"ActionID: " + recorded + b"\r\n", b"ActionID: " + theirs + b"\r\n"
                    )
                served.written += data
                writer.write(data)
                await writer.drain()
            elif chunk.kind == "SEND":
                expected = _action_of(chunk.data)
                got = await frames.next()
                if got is None:
                    return
                served.actions.append(got)
                if (got.get("Action") or "").lower() != (expected.get("Action") or "").lower():
                    self.mismatches.append(
                        f"expected {expected.get('Action')}, got {got.get('Action')}"
                    )
                if expected.action_id and got.action_id:
                    ids[expected.action_id.encode()] = got.action_id.encode()
            elif chunk.kind == "EOF":
                return
            elif chunk.kind == "CLOSE":
                while await frames.next() is not None:
                    pass
                return


# --------------------------------------------------------------------------- scripted


@dataclass(frozen=True)
class _CallTemplate:
    """The recorded events of one Originate, from its SEND to the next SEND."""

    name: str
    chunks: tuple[tuple[float, bytes], ...]  # (seconds after the Originate, bytes)
    action_id: bytes
    dial: bytes
    case_value: bytes | None
    leg1: bytes
    leg2: bytes
    local_seq: bytes | None


def call_template(transcript: Path) -> _CallTemplate:
    chunks = connections(read_ami_transcript(transcript))[0]
    start = next(i for i, c in enumerate(chunks) if c.kind == "SEND" and b"Originate" in c.data)
    sent = _action_of(chunks[start].data)
    body: list[tuple[float, bytes]] = []
    for chunk in chunks[start + 1 :]:
        if chunk.kind != "RECV":
            break
        body.append((chunk.at - chunks[start].at, chunk.data))
    legs: dict[str, str] = {}
    for _, data in body:
        for frame in iter_frames(data):
            channel, uid = frame.get("Channel") or "", frame.uniqueid
            if frame.event == "Newchannel" and uid and channel[-2:] in (";1", ";2"):
                legs[channel[-1]] = uid
    case = next(
        (v.split("=", 1)[1] for v in sent.all("Variable") if v.startswith("CITYGW_CASE=")), None
    )
    seq = re.search(rb"-([0-9a-f]{8});1", b"".join(d for _, d in body))
    return _CallTemplate(
        name=transcript.name.split(".")[0],
        chunks=tuple(body),
        action_id=(sent.action_id or "").encode(),
        dial=(sent.get("Channel") or "").encode(),
        case_value=case.encode() if case else None,
        leg1=legs["1"].encode(),
        leg2=legs["2"].encode(),
        local_seq=seq.group(1) if seq else None,
    )


def _replace_id(data: bytes, old: bytes, new: bytes) -> bytes:
    return re.sub(
        rb"(?<![\w.])" + re.escape(old) + rb"(?![\w.])", new.replace(b"\\", b"\\\\"), data
    )


#: the behaviour of a number: a template name (answered, noanswer, busy, congestion) and
#: the key its citizen presses in the survey (None: none)
Behaviour = tuple[str, str | None]


class ScriptedAmiServer(_Server):
    def __init__(
        self,
        fixtures: Path,
        *,
        secret: str = "citygw-ami-secret",
        behaviour: Callable[[str], Behaviour] = lambda number: ("answered", "1"),
        time_scale: float = 0.0,
    ) -> None:
        super().__init__()
        self.secret = secret
        self.behaviour = behaviour
        self.time_scale = time_scale
        self.templates = {
            t.name.removeprefix("originate-"): t
            for t in (call_template(p) for p in sorted(fixtures.glob("originate-*.ami.txt")))
        }
        if not self.templates:
            raise FileNotFoundError(f"no originate-*.ami.txt in {fixtures}")
        login_ok = connections(read_ami_transcript(fixtures / "login-ok.ami.txt"))[0]
        login_bad = connections(read_ami_transcript(fixtures / "login-bad.ami.txt"))[0]
        self._banner = login_ok[0].data
        self._accepted = login_ok[2].data  # Success + FullyBooted in one recv()
        self._refused = login_bad[2].data
        self._goodbye = next(c.data for c in login_ok if b"Goodbye" in c.data)
        # a queue with a caller waiting and its one agent paused, as Asterisk listed it
        self._queue_status = recorded_answer(
            fixtures / "queue-abandon.ami.txt", b"ActionID: qstat-waiting"
        )
        self._calls = itertools.count(0x100)
        self.originates: list[AmiFrame] = []
        self.logins = 0
        self.refused_logins = 0
        self.refuse_originates: str | None = None  # e.g. "Asterisk is shutting down"
        self.queue_status_asked = 0
        #: the queue's abandoned count to answer instead of the recorded 0 (no recorded
        #: QueueStatus shows one that is not 0); None: as recorded
        self.queue_abandoned: int | None = None
        self._sessions: set[Callable[[bytes], Awaitable[None]]] = set()

    async def send_events(self, frames: Iterable[AmiFrame]) -> int:
        """Send ``frames`` (events, e.g. from a recording) to every logged-in client;
        returns how many clients got them."""
        data = b"".join(_encode(frame) for frame in frames)
        sent = 0
        for send in list(self._sessions):
            with contextlib.suppress(ConnectionError):  # a client going away meanwhile
                await send(data)
                sent += 1
        return sent

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frames = _ClientFrames(reader)
        writer.write(self._banner)
        lock = asyncio.Lock()
        calls: set[asyncio.Task[None]] = set()

        async def send(data: bytes) -> None:
            async with lock:
                writer.write(data)
                await writer.drain()

        logged_in = False
        try:
            while True:
                frame = await frames.next()
                if frame is None:
                    return
                action = (frame.get("Action") or "").lower()
                aid = (frame.action_id or "").encode()
                if action == "login":
                    if frame.get("Secret") != self.secret:
                        self.refused_logins += 1
                        await asyncio.sleep(1.0 * self.time_scale)  # Asterisk takes 1 s
                        await send(self._refused.replace(b"login-1", aid))
                        return
                    self.logins += 1
                    logged_in = True
                    await send(self._accepted.replace(b"login-1", aid))
                    self._sessions.add(send)
                elif not logged_in:
                    await send(_response(aid, "Error", "Permission denied"))
                elif action == "ping":
                    await send(
                        b"Response: Success\r\nActionID: " + aid + b"\r\nPing: Pong\r\n"
                        b"Timestamp: 1796393471.000000\r\n\r\n"
                    )
                elif action == "logoff":
                    await send(self._goodbye.replace(b"logoff-1", aid))
                    return
                elif action == "queuestatus":
                    self.queue_status_asked += 1
                    status = self._queue_status
                    if self.queue_abandoned is not None:
                        count = str(self.queue_abandoned).encode()
                        status = status.replace(
                            b"Abandoned: 0\r\n", b"Abandoned: " + count + b"\r\n"
                        )
                    await send(status.replace(b"qstat-waiting", aid))
                elif action == "originate":
                    if self.refuse_originates:
                        await send(_response(aid, "Error", self.refuse_originates))
                        continue
                    self.originates.append(frame)
                    task = asyncio.create_task(self._call(frame, send), name="fake-ami.call")
                    calls.add(task)
                    task.add_done_callback(calls.discard)
                else:
                    await send(_response(aid, "Error", "Invalid/unknown command"))
        finally:
            self._sessions.discard(send)
            for task in calls:
                task.cancel()

    async def _call(self, frame: AmiFrame, send: Callable[[bytes], object]) -> None:
        dial = frame.get("Channel") or ""
        number = dial.split("/", 1)[-1].split("@", 1)[0]
        name, key = self.behaviour(number)
        template = self.templates[name]
        serial = next(self._calls)
        subs = _Substitutions(template, frame, serial, key)
        last = 0.0
        for at, data in template.chunks:
            if self.time_scale > 0:
                await asyncio.sleep(max(0.0, at - last) * self.time_scale)
            last = at
            await send(subs.apply(data))  # type: ignore[misc]


@dataclass
class _Substitutions:
    template: _CallTemplate
    frame: AmiFrame
    serial: int
    key: str | None

    def apply(self, data: bytes) -> bytes:
        t, f = self.template, self.frame
        out = data.replace(
            b"ActionID: " + t.action_id + b"\r\n",
            b"ActionID: " + (f.action_id or "").encode() + b"\r\n",
        )
        leg1 = (f.get("ChannelId") or f"fake.{self.serial}.1").encode()
        leg2 = (f.get("OtherChannelId") or f"fake.{self.serial}.2").encode()
        out = _replace_id(out, t.leg1, leg1)
        out = _replace_id(out, t.leg2, leg2)
        if t.local_seq is not None:
            out = out.replace(b"-" + t.local_seq + b";", b"-%08x;" % self.serial)
        dial = (f.get("Channel") or "").encode()
        if t.dial and dial:
            out = out.replace(t.dial, dial)
        case = next(
            (v.split("=", 1)[1] for v in f.all("Variable") if v.startswith("CITYGW_CASE=")), None
        )
        if t.case_value is not None and case is not None:
            out = out.replace(t.case_value, case.encode())
        if self.key != "1":
            survey = b"Variable: CITYGW_KEY\r\nValue: 1\r\n"
            out = out.replace(
                survey, b"Variable: CITYGW_KEY\r\nValue: " + (self.key or "").encode() + b"\r\n"
            )
        return out


def _encode(frame: AmiFrame) -> bytes:
    return ("".join(f"{k}: {v}\r\n" for k, v in frame.fields) + "\r\n").encode("utf-8")


def _response(aid: bytes, response: str, message: str) -> bytes:
    return (
        f"Response: {response}\r\nActionID: ".encode()
        + aid
        + f"\r\nMessage: {message}\r\n\r\n".encode()
    )
