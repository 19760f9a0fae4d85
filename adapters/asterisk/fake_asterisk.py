"""A protocol-faithful fake Asterisk: the FastAGI client side of a scripted call.

It behaves as the recorded Asterisk 22.10.1 did (``tests/fixtures/asterisk``): the
environment block first, the same reply forms per command, ``(timeout)``/``(dtmf)``/
``endpos``, the 520 multi-line usage reply for ``SAY DIGITS`` without its escape
argument, 510 for unknown commands, and on a hangup the in-band ``HANGUP`` line (racing
with the next command, as it does for real) followed by dead-channel mode (511 except
for SET/GET VARIABLE and VERBOSE). ``RECORD FILE`` writes a real 8 kHz WAV where it was
told to. Options reproduce the misbehaviours: slow replies, ``AGISIGHUP=no``,
``AGIEXITONHANGUP=yes``, closing right after the environment or in mid-command.

`FakeCall` is the sans-IO core (bytes in, replies out); `place_call` drives it over a
blocking socket (tests, the demo's scripted call), `place_call_async` over asyncio (the
load benchmark). The caller is scripted with `Press`, `Type`, `Speak`, `Silence` and
`HangUp`, consumed in order by the commands that wait for the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import random
import socket
import struct
import threading
import time
import wave
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from adapters.asterisk.agi_protocol import split_args

RESULT_DEAD = b"511 Command Not Permitted on a dead channel or intercept routine\n"
RESULT_UNKNOWN = b"510 Invalid or unknown command\n"
SAY_DIGITS_USAGE = (
    b"520-Invalid command syntax.  Proper usage follows:\n",
    b"Say a given digit string, returning early if any of the given DTMF digits are "
    b"received on the channel. Returns <literal>0</literal> if playback completes without "
    b"a digit being pressed, or the ASCII numerical value of the digit if one was pressed "
    b"or <literal>-1</literal> on error/hangup.\n",
    b"520 End of proper usage.\n",
)
#: commands refused with 511 once the channel is dead (FINDINGS.md)
DEAD_REFUSED = (
    "STREAM FILE",
    "WAIT FOR DIGIT",
    "GET DATA",
    "SAY DIGITS",
    "RECORD FILE",
    "CHANNEL STATUS",
    "HANGUP",
    "ANSWER",
    "EXEC",
    "CONTROL STREAM FILE",
    "GET OPTION",
    "SAY NUMBER",
)
KNOWN_COMMANDS = (
    "ANSWER",
    "STREAM FILE",
    "WAIT FOR DIGIT",
    "GET DATA",
    "SAY DIGITS",
    "RECORD FILE",
    "SET VARIABLE",
    "GET FULL VARIABLE",
    "GET VARIABLE",
    "CHANNEL STATUS",
    "VERBOSE",
    "EXEC",
    "HANGUP",
    "NOOP",
)
KNOWN_APPS = {
    "playback",
    "goto",
    "set",
    "startmusiconhold",
    "stopmusiconhold",
    "musiconhold",
    "queue",
    "dial",
    "noop",
}
SAMPLE_RATE = 8000
_CALLS = itertools.count(1)


def new_uniqueid() -> str:
    """An Asterisk-style channel uniqueid (``<epoch seconds>.<sequence>``)."""
    return f"{time.time():.0f}.{next(_CALLS)}"


# --------------------------------------------------------------------------- the caller


@dataclass(frozen=True)
class Press:
    """The caller presses one key (WAIT FOR DIGIT, a prompt that accepts it, GET DATA)."""

    key: str


@dataclass(frozen=True)
class Type:
    """The caller types digits for GET DATA (``#`` or the digit limit ends them)."""

    digits: str


@dataclass(frozen=True)
class Speak:
    """The caller talks into RECORD FILE for ``seconds``, then ends with ``end``.

    ``end``: ``"#"`` (the key), ``"silence"`` (the recorder's silence timeout) or
    ``"hangup"`` (hangs up mid-sentence).
    """

    seconds: float = 2.0
    end: str = "#"


@dataclass(frozen=True)
class Silence:
    """The caller does nothing: the command times out."""


@dataclass(frozen=True)
class HangUp:
    """The caller hangs up during the next command that plays or waits."""


Action = Press | Type | Speak | Silence | HangUp


def report_call(
    category: str = "2", district: str = "1", *, location_s: float = 2.0, description_s: float = 3.0
) -> list[Action]:
    """A caller who reports a problem start to finish (the demo's scripted call)."""
    return [
        Press("1"),  # main menu: report a problem
        Press(category),  # category menu (default 2: 街面秩序)
        Press(district),  # district menu
        Speak(location_s),  # says where
        Speak(description_s),  # says what
        Press("1"),  # confirms the recording
        Press("1"),  # call me back on this phone
    ]


@dataclass
class CallOptions:
    """How the fake Asterisk behaves on this call."""

    script: str = "ivr"
    query: str = "lang=zh"
    host: str = "127.0.0.1"
    port: int = 4573
    uniqueid: str = field(default_factory=lambda: new_uniqueid())  # fresh per call, as Asterisk
    channel: str = "Local/s@ivr-00000000;2"
    caller_number: str = "13800138000"
    caller_name: str = "Test Caller"
    args: tuple[str, ...] = ()
    reply_delay_s: float = 0.0  # Asterisk answering slowly (every reply)
    reply_jitter_s: float = 0.0  # plus up to this much more, at random (seeded by uniqueid)
    hangup_notice: bool = True  # AGISIGHUP=yes (the default): the in-band HANGUP line
    exit_on_hangup: bool = False  # AGIEXITONHANGUP=yes: HANGUP, HANGUP, then EOF
    close_after_env: bool = False
    close_at_command: int | None = None  # close (no reply) when this command (1-based) arrives
    hangup_at_command: int | None = None  # the caller hangs up during this command (1-based)
    hangup_after_command: int | None = None  # ... or right after its reply, while idle
    sounds_dir: Path | None = None  # if set, STREAM FILE of a missing file gives result=-1
    record_root: Path | None = None  # if set, RECORD FILE paths must lie under it
    on_command: Callable[[str], None] | None = None  # sees each command before its reply


@dataclass
class Exchange:
    command: str
    replies: list[bytes]
    at: float


@dataclass
class CallResult:
    """What happened on the call, for assertions."""

    commands: list[str] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    recordings: list[Path] = field(default_factory=list)
    apps: list[tuple[str, str]] = field(default_factory=list)
    said_digits: list[str] = field(default_factory=list)
    played: list[str] = field(default_factory=list)
    hung_up: bool = False
    closed_by_gateway: bool = False
    unused_actions: list[Action] = field(default_factory=list)
    #: seconds the gateway took from our reply to its next command (its added latency)
    turnaround_s: list[float] = field(default_factory=list)


@dataclass
class Reply:
    """What the fake sends back for one command: lines, after a delay; maybe then it closes."""

    lines: list[bytes]
    delay_s: float = 0.0
    close: bool = False


def environment_block(options: CallOptions) -> bytes:
    """The ``agi_*`` block as Asterisk 22 sends it (order and forms of a-full-call)."""
    request = f"{options.script}?{options.query}" if options.query else options.script
    pairs = [
        ("agi_network", "yes"),
        ("agi_network_script", request),
        ("agi_request", f"agi://{options.host}:{options.port}/{request}"),
        ("agi_channel", options.channel),
        ("agi_language", "en"),
        ("agi_type", "Local"),
        ("agi_uniqueid", options.uniqueid),
        ("agi_version", "22.10.1"),
        ("agi_callerid", options.caller_number or "unknown"),
        ("agi_calleridname", options.caller_name or "unknown"),
        ("agi_callingpres", "0"),
        ("agi_callingani2", "0"),
        ("agi_callington", "0"),
        ("agi_callingtns", "0"),
        ("agi_dnid", "unknown"),
        ("agi_rdnis", "unknown"),
        ("agi_context", "ivr"),
        ("agi_extension", "s"),
        ("agi_priority", "3"),
        ("agi_enhanced", "0.0"),
        ("agi_accountcode", ""),
        ("agi_threadid", "140555843724992"),
    ]
    pairs += [(f"agi_arg_{index}", value) for index, value in enumerate(options.args, 1)]
    return b"".join(f"{key}: {value}\n".encode() for key, value in pairs) + b"\n"


_TONE = b"".join(  # one second of a quiet 440 Hz tone, 16-bit little-endian
    struct.pack("<h", int(3000 * math.sin(2 * math.pi * 440 * n / SAMPLE_RATE)))
    for n in range(SAMPLE_RATE)
)


def write_wav(path: Path, seconds: float) -> int:
    """A mono 16-bit 8 kHz WAV of a quiet 440 Hz tone (a caller's voice); returns samples."""
    samples = max(0, int(seconds * SAMPLE_RATE))
    path.parent.mkdir(parents=True, exist_ok=True)
    whole, rest = divmod(samples, SAMPLE_RATE)
    frames = _TONE * whole + _TONE[: 2 * rest]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(frames)
    return samples


class FakeCall:
    """The sans-IO fake: feed it each command line, get back what Asterisk would answer."""

    def __init__(self, actions: Iterable[Action] = (), options: CallOptions | None = None) -> None:
        self.options = options or CallOptions()
        self.actions: deque[Action] = deque(actions)
        self.result = CallResult()
        self.dead = False
        self._notice_pending = False  # the HANGUP line still to be sent
        self._count = 0
        self._random = random.Random(self.options.uniqueid)
        self.result.variables.update(
            {
                "CALLERID(num)": self.options.caller_number,
                "CALLERID(name)": self.options.caller_name,
            }
        )

    # ------------------------------------------------------------------ API

    def environment(self) -> bytes:
        return environment_block(self.options)

    def handle(self, raw: bytes) -> Reply:
        """The reply to one command line (``raw`` ends with ``\\n``)."""
        self._count += 1
        line = raw.rstrip(b"\n").decode("utf-8", errors="replace")
        self.result.commands.append(line)
        if self.options.on_command is not None:
            self.options.on_command(line)
        delay = self.options.reply_delay_s
        if self.options.reply_jitter_s:
            delay += self._random.uniform(0, self.options.reply_jitter_s)
        if self.options.close_at_command == self._count:
            return Reply([], delay, close=True)
        if self.options.hangup_at_command == self._count and not self.dead:
            self.actions.appendleft(HangUp())
        prefix: list[bytes] = []
        if self._notice_pending:
            # the in-band HANGUP races the next command: it arrives before that reply
            prefix.append(b"HANGUP\n")
            self._notice_pending = False
        lines = self._dispatch(line)
        if self.options.hangup_after_command == self._count and not self.dead:
            # nothing runs now, so Asterisk sends the HANGUP line at once
            self._hang_up()
            lines.append(self.idle_notice() or b"")
        if self.dead and self.options.exit_on_hangup:
            return Reply([*prefix, *lines, b"HANGUP\n", b"HANGUP\n"], delay, close=True)
        return Reply([*prefix, *lines], delay)

    def idle_notice(self) -> bytes | None:
        """The HANGUP line, sent at once when the call dies with no command running."""
        if self._notice_pending:
            self._notice_pending = False
            return b"HANGUP\n"
        return None

    # ------------------------------------------------------------------ commands

    def _dispatch(self, line: str) -> list[bytes]:
        words = split_args(line)
        upper = " ".join(words).upper()
        command = next((c for c in KNOWN_COMMANDS if upper == c or upper.startswith(c + " ")), None)
        if command is None or "\r" in line:
            return [RESULT_UNKNOWN]
        args = words[len(command.split()) :]
        if self.dead and command in DEAD_REFUSED:
            return [RESULT_DEAD]
        handler = getattr(self, "_cmd_" + command.lower().replace(" ", "_"))
        result: list[bytes] = handler(args)
        return result

    def _hang_up(self) -> None:
        self.dead = True
        self.result.hung_up = True
        if self.options.hangup_notice:
            self._notice_pending = True

    def _next_action(self) -> Action | None:
        return self.actions.popleft() if self.actions else None

    def _cmd_answer(self, _args: list[str]) -> list[bytes]:
        return [b"200 result=0\n"]

    def _cmd_noop(self, _args: list[str]) -> list[bytes]:
        return [b"200 result=0\n"]

    def _cmd_stream_file(self, args: list[str]) -> list[bytes]:
        if len(args) < 2:
            return list(_usage())
        name, escape = args[0], args[1]
        self.result.played.append(name)
        if self.options.sounds_dir is not None and not _sound_exists(self.options.sounds_dir, name):
            return [b"200 result=-1 endpos=0\n"]
        action = self.actions[0] if self.actions else None
        if isinstance(action, HangUp):
            self.actions.popleft()
            self._hang_up()
            return [b"200 result=-1 endpos=1200\n"]
        if isinstance(action, Press) and escape and action.key in escape:
            self.actions.popleft()
            return [f"200 result={ord(action.key)} endpos=800\n".encode()]
        return [b"200 result=0 endpos=2000\n"]

    def _cmd_wait_for_digit(self, _args: list[str]) -> list[bytes]:
        action = self._next_action()
        if isinstance(action, HangUp):
            self._hang_up()
            return [b"200 result=-1\n"]
        if isinstance(action, Press):
            return [f"200 result={ord(action.key)}\n".encode()]
        if isinstance(action, Type) and action.digits:
            return [f"200 result={ord(action.digits[0])}\n".encode()]
        return [b"200 result=0\n"]

    def _cmd_get_data(self, args: list[str]) -> list[bytes]:
        self.result.played.append(args[0] if args else "")
        max_digits = int(args[2]) if len(args) > 2 and args[2].isdigit() else 1024
        action = self._next_action()
        if isinstance(action, HangUp):
            self._hang_up()
            return [b"200 result=-1\n"]
        typed = ""
        if isinstance(action, Press):
            typed = action.key
        elif isinstance(action, Type):
            typed = action.digits
        digits = typed.split("#", 1)[0][:max_digits]
        if not digits:
            return [b"200 result= (timeout)\n"] if "#" not in typed else [b"200 result=\n"]
        return [f"200 result={digits}\n".encode()]

    def _cmd_say_digits(self, args: list[str]) -> list[bytes]:
        if len(args) < 2:
            return list(SAY_DIGITS_USAGE)
        action = self.actions[0] if self.actions else None
        self.result.said_digits.append(args[0])
        if isinstance(action, HangUp):
            self.actions.popleft()
            self._hang_up()
            return [b"200 result=-1\n"]
        if isinstance(action, Press) and action.key in args[1]:
            self.actions.popleft()
            return [f"200 result={ord(action.key)}\n".encode()]
        return [b"200 result=0\n"]

    def _cmd_record_file(self, args: list[str]) -> list[bytes]:
        if len(args) < 4:
            return list(_usage())
        path, file_format = args[0], args[1]
        target = Path(f"{path}.{file_format}")
        root = self.options.record_root
        if root is not None and not target.resolve().is_relative_to(root.resolve()):
            return [b"200 result=-1 (writefile)\n"]
        action = self._next_action()
        try:
            if isinstance(action, Speak):
                samples = write_wav(target, action.seconds)
                self.result.recordings.append(target)
                if action.end == "hangup":
                    self._hang_up()
                    return [f"200 result=-1 (hangup) endpos={samples}\n".encode()]
                if action.end == "#":
                    return [f"200 result=35 (dtmf) endpos={samples}\n".encode()]
                return [f"200 result=0 (timeout) endpos={samples}\n".encode()]
            if isinstance(action, HangUp):
                write_wav(target, 0.5)
                self.result.recordings.append(target)
                self._hang_up()
                return [f"200 result=-1 (hangup) endpos={SAMPLE_RATE // 2}\n".encode()]
            write_wav(target, 0)
            self.result.recordings.append(target)
        except OSError:
            return [b"200 result=-1 (writefile)\n"]
        return [b"200 result=0 (timeout) endpos=0\n"]

    def _cmd_set_variable(self, args: list[str]) -> list[bytes]:
        if len(args) < 2:
            return list(_usage())
        self.result.variables[args[0]] = args[1]
        return [b"200 result=1\n"]

    def _cmd_get_variable(self, args: list[str]) -> list[bytes]:
        value = self.result.variables.get(args[0]) if args else None
        if not value:
            return [b"200 result=0\n"]
        return [f"200 result=1 ({value})\n".encode()]

    def _cmd_get_full_variable(self, args: list[str]) -> list[bytes]:
        if not args:
            return list(_usage())
        text = args[0]
        for name, value in self.result.variables.items():
            text = text.replace("${" + name + "}", value)
        return [f"200 result=1 ({text})\n".encode()]

    def _cmd_channel_status(self, _args: list[str]) -> list[bytes]:
        return [b"200 result=6\n"]

    def _cmd_verbose(self, _args: list[str]) -> list[bytes]:
        return [b"200 result=1\n"]

    def _cmd_exec(self, args: list[str]) -> list[bytes]:
        if not args:
            return list(_usage())
        app, options = args[0], " ".join(args[1:])
        self.result.apps.append((app, options))
        if app.lower() not in KNOWN_APPS:
            return [b"200 result=-2\n"]
        return [b"200 result=0\n"]

    def _cmd_hangup(self, _args: list[str]) -> list[bytes]:
        self._hang_up()
        return [b"200 result=1\n"]


def _usage() -> tuple[bytes, ...]:
    return (
        b"520-Invalid command syntax.  Proper usage follows:\n",
        b"(usage)\n",
        b"520 End of proper usage.\n",
    )


def _sound_exists(sounds_dir: Path, name: str) -> bool:
    base = Path(name) if Path(name).is_absolute() else sounds_dir / name
    return any(base.with_name(base.name + ext).exists() for ext in (".wav", ".gsm", ".ulaw"))


# --------------------------------------------------------------------------- drivers


def place_call(
    actions: Iterable[Action] = (),
    options: CallOptions | None = None,
    *,
    timeout_s: float = 30.0,
) -> CallResult:
    """Connect to the FastAGI server, play the call out, return what happened (blocking).

    ``timeout_s`` bounds each wait for the gateway's next command.
    """
    call = FakeCall(actions, options)
    opts = call.options
    with socket.create_connection((opts.host, opts.port), timeout=timeout_s) as sock:
        sock.settimeout(timeout_s)
        sock.sendall(call.environment())
        if opts.close_after_env:
            return _finish(call)
        reader = sock.makefile("rb")
        replied_at: float | None = time.monotonic()
        while True:
            try:
                raw = reader.readline()
            except ConnectionResetError:
                raw = b""  # closed without reading what we sent (a refused call)
            if not raw:
                call.result.closed_by_gateway = True
                break
            now = time.monotonic()
            if replied_at is not None:
                call.result.turnaround_s.append(now - replied_at)
            reply = call.handle(raw)
            if reply.delay_s:
                time.sleep(reply.delay_s)
            call.result.exchanges.append(
                Exchange(call.result.commands[-1], reply.lines, time.monotonic())
            )
            try:
                sock.sendall(b"".join(reply.lines))
            except OSError:
                call.result.closed_by_gateway = True
                break
            replied_at = time.monotonic()
            if reply.close:
                break
    return _finish(call)


async def place_call_async(
    actions: Iterable[Action] = (),
    options: CallOptions | None = None,
    *,
    timeout_s: float = 30.0,
) -> CallResult:
    """`place_call` on asyncio: many calls from one thread (the load benchmark)."""
    call = FakeCall(actions, options)
    opts = call.options
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(opts.host, opts.port), timeout_s
    )
    try:
        writer.write(call.environment())
        await writer.drain()
        if opts.close_after_env:
            return _finish(call)
        replied_at = time.monotonic()
        while True:
            try:
                raw = await asyncio.wait_for(reader.readline(), timeout_s)
            except ConnectionResetError:
                raw = b""
            if not raw:
                call.result.closed_by_gateway = True
                break
            call.result.turnaround_s.append(time.monotonic() - replied_at)
            reply = call.handle(raw)
            if reply.delay_s:
                await asyncio.sleep(reply.delay_s)
            writer.write(b"".join(reply.lines))
            try:
                await writer.drain()
            except OSError:
                call.result.closed_by_gateway = True
                break
            replied_at = time.monotonic()
            if reply.close:
                break
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return _finish(call)


def _finish(call: FakeCall) -> CallResult:
    call.result.unused_actions = list(call.actions)
    return call.result


class CallInBackground:
    """`place_call` on a named thread, for tests that act while the call runs."""

    def __init__(
        self, actions: Iterable[Action] = (), options: CallOptions | None = None, **kw: float
    ) -> None:
        self.result: CallResult | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(list(actions), options, kw), name="fake-asterisk.call"
        )
        self._thread.start()

    def _run(self, actions: list[Action], options: CallOptions | None, kw: dict) -> None:  # type: ignore[type-arg]
        try:
            self.result = place_call(actions, options, **kw)
        except BaseException as exc:
            self.error = exc

    def join(self, timeout: float = 60.0) -> CallResult:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError("the fake call did not finish")
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result
