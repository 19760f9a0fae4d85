"""pyst2's AGI command set, fixed to work as a FastAGI session on Python 3.11.

pyst2 0.5.1 (``asterisk.agi.AGI``) as shipped assumes a process-per-call AGI on stdin/
stdout. As a FastAGI server it breaks; `FastAgiSession` keeps its command methods and
fixes what breaks:

- no ``signal.signal(SIGHUP)`` in the constructor (it runs off the main thread and
  would raise there); hangups arrive in-band instead;
- bytes on the socket both ways (pyst2 writes ``str`` to a byte stream), lines decoded
  with replacement (a caller name may be GBK);
- the reply reader skips the unsolicited ``HANGUP`` line and records it, turns EOF and
  ``511`` (dead channel) into hangup errors, keeps ``(timeout)``/``(dtmf)``/``endpos``,
  reads the multi-line ``520`` usage block;
- arguments are quoted with escaping and CR/LF stripped (`agi_protocol.format_command`);
- commands whose pyst2 form differs from what Asterisk needs (``SAY DIGITS`` without
  its mandatory escape argument, ``STREAM FILE`` with a needless offset, ``RECORD FILE``
  always beeping) are overridden;
- a read timeout per reply (Asterisk itself has none), extended by the command's own
  duration for input and recording commands.

Never import ``asterisk.fastagi``: it is Python 2 only.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from typing import Any, BinaryIO

from asterisk.agi import (
    AGI,
    AGIAppError,
    AGIError,
    AGIHangup,
    AGIInvalidCommand,
    AGIResultHangup,
    AGIUnknownError,
    AGIUsageError,
)

from adapters.asterisk.agi_protocol import (
    AgiEnvironment,
    AgiReply,
    LineKind,
    Quoted,
    classify_line,
    decode_line,
    format_command,
    parse_env_line,
    parse_reply_line,
    parse_usage_block,
    quote,
)
from gateway.telephony.channel import (
    ChannelClosed,
    ChannelError,
    ChannelHangup,
    ChannelTimeout,
    CommandFailed,
)

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 64 * 1024
MAX_ENV_LINES = 512
MAX_USAGE_LINES = 200


# Each error is both a pyst2 error (code written for pyst2 keeps working) and a
# gateway channel error (the IVR catches these, knowing nothing of pyst2).


class AgiConnectionClosed(AGIHangup, ChannelClosed):
    """Asterisk closed the socket (EOF): the call is over for us."""


class AgiDeadChannel(AGIHangup, ChannelHangup):
    """``511``: the caller hung up; only SET/GET VARIABLE and VERBOSE still work."""


class AgiHangupResult(AGIResultHangup, ChannelHangup):
    """A command ended with ``(hangup)`` in its reply."""


class AgiReplyTimeout(AGIError, ChannelTimeout):
    """No complete reply within the read timeout; the session cannot go on."""


class AgiCommandFailed(AGIAppError, CommandFailed):
    """``result=-1`` without ``(hangup)``: a failed command (missing file) or a hangup."""

    def __init__(self, message: str, reply: AgiReply) -> None:
        super().__init__(message)
        self.reply = reply


class AgiProtocolError(AGIUnknownError, ChannelError):
    """Something Asterisk never sends (a line too long, a garbled reply)."""


class FastAgiSession(AGI):  # type: ignore[misc]  # pyst2 is untyped
    """One FastAGI call over a connected socket. Blocking; one command at a time.

    ``env`` is pyst2's dict of the ``agi_*`` variables; `environment` the parsed form.
    ``hangup_seen`` tells whether Asterisk sent its in-band ``HANGUP`` notice.
    """

    def __init__(
        self,
        sock: socket.socket,
        *,
        read_timeout_s: float = 30.0,
        env_timeout_s: float = 10.0,
        name: str = "agi",
    ) -> None:
        # Deliberately not calling AGI.__init__: it installs a SIGHUP handler, writes to
        # stderr and reads the environment from stdin.
        self.sock = sock
        self.name = name
        self.read_timeout_s = read_timeout_s
        self._reader: BinaryIO = sock.makefile("rb")
        self.stdin = self._reader
        self.stdout = None
        self.stderr = None
        self._got_sighup = False
        self.hangup_seen = False
        self.hangup_seen_at: float | None = None
        self.closed = False
        self.last_reply: AgiReply | None = None
        self.commands_sent = 0
        #: (next command, seconds from the reply read to it being sent): what the gateway adds
        self.turnarounds: list[tuple[str, float]] = []
        #: (command, seconds from it being sent to its reply read): Asterisk's side, prompts included
        self.command_times: list[tuple[str, float]] = []
        self._replied_at: float | None = None
        self.env: dict[str, str] = {}
        self.environment = AgiEnvironment({})
        try:
            self._read_environment(env_timeout_s)
        except BaseException:
            self._reader.close()  # else the socket stays open behind the file object
            raise

    # ------------------------------------------------------------------ environment

    def _read_environment(self, timeout_s: float) -> None:
        self.sock.settimeout(timeout_s)
        lines = 0
        while True:
            line = self._read_line()
            if line == "":
                break
            if line == "\x00EOF":
                raise AgiConnectionClosed("connection closed before the AGI environment ended")
            lines += 1
            if lines > MAX_ENV_LINES:
                raise AgiProtocolError(f"more than {MAX_ENV_LINES} environment lines")
            parsed = parse_env_line(line)
            if parsed is not None:
                self.env[parsed[0]] = parsed[1]
        self.environment = AgiEnvironment(dict(self.env))

    def _get_agi_env(self) -> None:  # pyst2 hook; the environment is read in __init__
        return None

    # ------------------------------------------------------------------ low level I/O

    def _read_line(self) -> str:
        """One line without its end; ``"\\x00EOF"`` at end of stream."""
        try:
            raw = self._reader.readline(MAX_LINE_BYTES + 1)
        except TimeoutError as exc:
            raise AgiReplyTimeout(
                f"no reply from Asterisk within {self.sock.gettimeout()} s"
            ) from exc
        except OSError as exc:
            raise AgiConnectionClosed(f"socket error: {exc}") from exc
        if not raw:
            return "\x00EOF"
        if len(raw) > MAX_LINE_BYTES:
            raise AgiProtocolError(f"a line from Asterisk longer than {MAX_LINE_BYTES} bytes")
        if not raw.endswith(b"\n"):
            # EOF in the middle of a line: Asterisk went away while writing
            return "\x00EOF"
        return decode_line(raw)

    def _quote(self, string: object) -> Quoted:
        """pyst2's quoting, with escaping and CR/LF stripped."""
        return quote(string)

    def test_hangup(self) -> None:
        """pyst2 raises on SIGHUP here; in-band ``HANGUP`` does not end a session by itself
        (GET/SET VARIABLE still work on a dead channel), so there is nothing to test."""
        return None

    def send_command(self, command: str, *args: Any) -> None:
        data = format_command(command, *args)
        if self.closed:
            raise AgiConnectionClosed("session already closed")
        try:
            self.sock.sendall(data)
        except OSError as exc:  # BrokenPipe, ConnectionReset
            raise AgiConnectionClosed(f"cannot send {command!r}: {exc}") from exc
        if self._replied_at is not None:
            self.turnarounds.append((command, time.perf_counter() - self._replied_at))
            self._replied_at = None
        self.commands_sent += 1

    def execute(self, command: str, *args: Any, extra_timeout_s: float = 0.0) -> dict[str, Any]:
        """Send one command and read its reply (never pipelined)."""
        self.sock.settimeout(self.read_timeout_s + extra_timeout_s)
        sent = time.perf_counter()
        self.send_command(command, *args)
        try:
            return self.get_result()
        finally:
            self.command_times.append((command, time.perf_counter() - sent))

    def read_reply(self) -> AgiReply:
        """The next reply, skipping (and recording) in-band ``HANGUP`` notices."""
        while True:
            line = self._read_line()
            if line == "\x00EOF":
                raise AgiConnectionClosed("Asterisk closed the connection")
            kind = classify_line(line)
            if kind == LineKind.HANGUP:
                if not self.hangup_seen:
                    self.hangup_seen = True
                    self.hangup_seen_at = time.monotonic()
                    log.info("%s: caller hung up (in-band HANGUP)", self.name)
                continue
            if kind == LineKind.REPLY:
                try:
                    return parse_reply_line(line)
                except ValueError as exc:
                    raise AgiProtocolError(str(exc)) from exc
            if kind == LineKind.USAGE_START:
                return self._read_usage(line)
            raise AgiProtocolError(f"unexpected line from Asterisk: {line!r}")

    def _read_usage(self, first: str) -> AgiReply:
        lines = [first]
        while len(lines) <= MAX_USAGE_LINES:
            line = self._read_line()
            if line == "\x00EOF":
                raise AgiConnectionClosed("Asterisk closed the connection inside a 520 block")
            lines.append(line)
            if line.startswith("520 "):
                return parse_usage_block(lines)
        raise AgiProtocolError(f"520 usage block longer than {MAX_USAGE_LINES} lines")

    def get_result(self, stdin: object = None) -> dict[str, Any]:
        """pyst2's result dict (``{'result': (value, data), 'endpos': (n, '')}``) or an error."""
        reply = self.read_reply()
        self._replied_at = time.perf_counter()
        self.last_reply = reply
        if reply.code == 200:
            if reply.hangup:
                raise AgiHangupResult(f"caller hung up during the command ({reply.text})")
            if reply.result == "-1":
                raise AgiCommandFailed(f"command failed or caller hung up ({reply.text})", reply)
            result: dict[str, Any] = {"result": (reply.result, reply.data or "")}
            if reply.endpos is not None:
                result["endpos"] = (str(reply.endpos), "")
            for key, value in reply.extras.items():
                result[key] = (value, "")
            return result
        if reply.code == 511:
            raise AgiDeadChannel(reply.text)
        if reply.code == 510:
            raise AGIInvalidCommand(reply.text)
        if reply.code == 520:
            raise AGIUsageError("\n".join((reply.text, *reply.usage)))
        raise AgiProtocolError(f"unhandled reply code {reply.code}: {reply.text}")

    def close(self) -> None:
        """Close the socket: only now does Asterisk go on with the dialplan."""
        if self.closed:
            return
        self.closed = True
        try:
            self._reader.close()
        finally:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
            self.sock.close()

    # ------------------------------------------------------------------ commands
    # pyst2 forms that Asterisk 22 reads differently from what pyst2 meant.

    def stream_file(self, filename: str, escape_digits: Any = "", sample_offset: int = 0) -> str:
        """``STREAM FILE name "<digits>" [offset]``; the digit pressed, or ``""``."""
        args: list[Any] = [filename, self._process_digit_list(escape_digits)]
        if sample_offset:
            args.append(int(sample_offset))
        return _digit(self.execute("STREAM FILE", *args)["result"][0])

    def get_data(self, filename: str, timeout: int = 2000, max_digits: int = 255) -> str:
        """``GET DATA``: the digits typed (``""`` on a timeout with none; see ``last_reply``)."""
        # the prompt plays first: allow generously for it on top of the input timeout
        result = self.execute(
            "GET DATA", filename, int(timeout), int(max_digits), extra_timeout_s=timeout / 1000
        )
        return str(result["result"][0])

    def wait_for_digit(self, timeout: int = 2000) -> str:
        result = self.execute(
            "WAIT FOR DIGIT", int(timeout), extra_timeout_s=max(timeout, 0) / 1000
        )
        return _digit(result["result"][0])

    def say_digits(self, digits: Any, escape_digits: Any = "") -> str:
        """``SAY DIGITS 12345 ""``: the escape argument is mandatory (else a 520)."""
        digits = "".join(ch for ch in str(digits) if ch.isalnum() or ch in "*#")
        result = self.execute("SAY DIGITS", digits, self._process_digit_list(escape_digits))
        return _digit(result["result"][0])

    def record_file(
        self,
        filename: str,
        format: str = "wav",
        escape_digits: Any = "#",
        timeout: int = 20000,
        offset: int = 0,
        beep: str | bool = "",
        silence: int = 0,
    ) -> str:
        """``RECORD FILE path fmt "#" ms offset [beep] [s=N]``; the key that ended it, or ``""``.

        ``last_reply`` says how it ended: ``(dtmf)``, ``(timeout)``, and ``endpos``.
        """
        args: list[Any] = [
            filename,
            format,
            self._process_digit_list(escape_digits),
            int(timeout),
            int(offset),
        ]
        if beep:
            args.append("beep" if beep is True else beep)
        if silence:
            args.append(f"s={int(silence)}")
        result = self.execute("RECORD FILE", *args, extra_timeout_s=max(timeout, 0) / 1000)
        return _digit(result["result"][0])

    def set_variable(self, name: str, value: Any) -> None:
        text = "" if value is None else str(value)
        self.execute("SET VARIABLE", name, text if text else quote(""))

    def get_variable(self, name: str) -> str:
        """The value, or ``""`` when the variable is not set."""
        result = self.execute("GET VARIABLE", name)
        value: str = result["result"][1]
        return value

    def appexec(self, application: str, options: str = "") -> str:
        """``EXEC app options``; pyst2 raises `AGIAppError` when the application is missing."""
        args = [options] if options else []
        result = self.execute("EXEC", application, *args)
        res: str = result["result"][0]
        if res == "-2":
            raise AGIAppError(f"Unable to find application: {application}")
        return res

    def hangup(self, channel: str = "") -> None:
        self.execute("HANGUP", *([channel] if channel else []))


def _digit(result: str) -> str:
    """pyst2's convention: ``0`` means no digit, else the ASCII code of the digit."""
    if result in ("", "0"):
        return ""
    try:
        return chr(int(result))
    except ValueError as exc:
        raise AgiProtocolError(f"unable to convert result to a digit: {result!r}") from exc
