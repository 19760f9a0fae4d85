"""The FastAGI wire format as pure functions: no sockets here.

What Asterisk 22 really sends (see ``tests/fixtures/asterisk/FINDINGS.md``):

- the environment: ``agi_<name>: <value>\\n`` lines, ended by an empty line
  (``agi_accountcode: \\n`` carries an empty value; values may contain ``:``);
- replies: ``200 result=<v>[ (<data>)][ endpos=<n>]``, ``510 Invalid or unknown command``,
  ``511 Command Not Permitted on a dead channel or intercept routine``, and a multi-line
  ``520-`` usage block ended by ``520 End of proper usage.`` (the body lines carry no
  prefix);
- an unsolicited ``HANGUP`` line when the caller hangs up, which may arrive between a
  command and its reply.

Commands are one line; arguments are split by Asterisk on blanks, with ``"..."`` grouping
and ``\\`` escaping the next character. `format_command` quotes what needs quoting and
strips CR/LF, so no argument can end a command early or inject a second one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import parse_qsl

HANGUP_LINE = "HANGUP"
USAGE_END_PREFIX = "520 "


class LineKind(StrEnum):
    """What one line from Asterisk is, before it is read as part of a reply."""

    HANGUP = "hangup"  # the unsolicited in-band hangup notice
    REPLY = "reply"  # a complete one-line reply: 200, 510, 511, ...
    USAGE_START = "usage_start"  # ``520-...``: a multi-line usage block follows
    OTHER = "other"  # a usage body line, or something Asterisk never sends


_REPLY_LINE = re.compile(r"^(?P<code>\d{3})(?P<sep>[ -])(?P<text>.*)$")
_RESULT = re.compile(
    r"^result=(?P<result>\S*)"
    r"(?: \((?P<data>.*)\))?"
    r"(?P<rest>(?: [A-Za-z_]+=\S*)*)$"
)
_KEY_VALUE = re.compile(r"([A-Za-z_]+)=(\S*)")


def decode_line(raw: bytes) -> str:
    """Bytes of one line as text without its line end.

    UTF-8 first; a caller name from an old PBX may be GBK, so GB 18030 next; anything
    else is decoded with replacement characters rather than failing the call.
    """
    body = raw.rstrip(b"\n")
    body = body.removesuffix(b"\r")
    for encoding in ("utf-8", "gb18030"):
        try:
            return body.decode(encoding)
        except UnicodeDecodeError:
            continue
    return body.decode("utf-8", errors="replace")  # pragma: no cover - gb18030 takes nearly all


def classify_line(line: str) -> LineKind:
    if line == HANGUP_LINE:
        return LineKind.HANGUP
    match = _REPLY_LINE.match(line)
    if match is None:
        return LineKind.OTHER
    if match.group("sep") == "-":
        return LineKind.USAGE_START if match.group("code") == "520" else LineKind.OTHER
    return LineKind.REPLY


@dataclass(frozen=True)
class AgiReply:
    """One reply as Asterisk meant it.

    ``result`` is the text after ``result=`` (``""`` for ``result= (timeout)``), ``data``
    the text in parentheses (``"timeout"``, ``"dtmf"``, ``"hangup"``, a variable's value),
    ``endpos`` the sample position of STREAM FILE / RECORD FILE. ``text`` is everything
    after the code (the message of a 510/511), ``usage`` the body of a 520 block.
    """

    code: int
    result: str = ""
    data: str | None = None
    endpos: int | None = None
    extras: dict[str, str] = field(default_factory=dict)
    text: str = ""
    usage: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.code == 200

    @property
    def timed_out(self) -> bool:
        return self.data == "timeout"

    @property
    def ended_by_dtmf(self) -> bool:
        return self.data == "dtmf"

    @property
    def hangup(self) -> bool:
        """The command ended because the caller hung up (``(hangup)`` in the reply)."""
        return self.data == "hangup"

    @property
    def result_int(self) -> int | None:
        try:
            return int(self.result)
        except ValueError:
            return None


class ReplyFormatError(ValueError):
    """A line that is not a reply Asterisk sends."""


def parse_reply_line(line: str) -> AgiReply:
    """A one-line reply (200, 510, 511, or the closing ``520 ...`` line)."""
    match = _REPLY_LINE.match(line)
    if match is None or match.group("sep") != " ":
        raise ReplyFormatError(f"not an AGI reply line: {line!r}")
    code = int(match.group("code"))
    text = match.group("text")
    if code != 200:
        return AgiReply(code=code, text=text)
    result = _RESULT.match(text)
    if result is None:
        raise ReplyFormatError(f"200 reply without result=: {line!r}")
    extras = dict(_KEY_VALUE.findall(result.group("rest")))
    endpos_text = extras.pop("endpos", None)
    endpos = int(endpos_text) if endpos_text and endpos_text.lstrip("-").isdigit() else None
    return AgiReply(
        code=200,
        result=result.group("result"),
        data=result.group("data"),
        endpos=endpos,
        extras=extras,
        text=text,
    )


def parse_usage_block(lines: list[str]) -> AgiReply:
    """A 520 block: ``520-...`` first, ``520 End of proper usage.`` last, the usage between."""
    if not lines or classify_line(lines[0]) != LineKind.USAGE_START:
        raise ReplyFormatError(f"a usage block starts with '520-': {lines[:1]!r}")
    if not lines[-1].startswith(USAGE_END_PREFIX):
        raise ReplyFormatError(f"a usage block ends with '520 ...': {lines[-1:]!r}")
    return AgiReply(code=520, text=lines[0][4:], usage=tuple(lines[1:-1]))


# --------------------------------------------------------------------------- environment


@dataclass(frozen=True)
class AgiEnvironment:
    """The ``agi_*`` block Asterisk sends first, with the FastAGI script split out."""

    variables: dict[str, str]

    def get(self, name: str, default: str = "") -> str:
        return self.variables.get(name, default)

    @property
    def script(self) -> str:
        """The path of the ``agi://`` URL without its query: ``ivr`` for ``agi://h/ivr?lang=zh``."""
        return _split_script(self.get("agi_network_script"))[0]

    @property
    def query(self) -> dict[str, str]:
        return _split_script(self.get("agi_network_script"))[1]

    @property
    def args(self) -> list[str]:
        """``AGI(url,a,b,,c)`` arguments in order (an empty one stays, as ``""``)."""
        numbered = []
        for key, value in self.variables.items():
            if key.startswith("agi_arg_") and key[8:].isdigit():
                numbered.append((int(key[8:]), value))
        return [value for _index, value in sorted(numbered)]

    @property
    def channel(self) -> str:
        return self.get("agi_channel")

    @property
    def uniqueid(self) -> str:
        return self.get("agi_uniqueid")

    @property
    def callerid(self) -> str:
        value = self.get("agi_callerid")
        return "" if value in ("unknown", "") else value

    @property
    def calleridname(self) -> str:
        value = self.get("agi_calleridname")
        return "" if value == "unknown" else value


def _split_script(network_script: str) -> tuple[str, dict[str, str]]:
    path, _, query = network_script.partition("?")
    return path.strip("/"), dict(parse_qsl(query, keep_blank_values=True))


def parse_env_line(line: str) -> tuple[str, str] | None:
    """``agi_callerid: 13800138000`` -> ``("agi_callerid", "13800138000")``; None if malformed."""
    key, sep, value = line.partition(":")
    key = key.strip()
    if not sep or not key:
        return None
    return key, value.removeprefix(" ")


def parse_environment(lines: list[str]) -> AgiEnvironment:
    """The environment from its lines (without the closing empty line)."""
    variables: dict[str, str] = {}
    for line in lines:
        parsed = parse_env_line(line)
        if parsed is not None:
            variables[parsed[0]] = parsed[1]
    return AgiEnvironment(variables)


# --------------------------------------------------------------------------- commands


class Quoted(str):
    """An argument already quoted for the AGI command line (sent as it is)."""

    __slots__ = ()


_BARE = re.compile(r'^[^\s"\\]+$')


def strip_line_breaks(value: str) -> str:
    return value.replace("\r", "").replace("\n", "")


def quote(value: object) -> Quoted:
    """Always quote: ``he said "hi"\\n`` -> ``"he said \\"hi\\""`` (CR/LF removed)."""
    text = strip_line_breaks(str(value))
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return Quoted(f'"{escaped}"')


def format_arg(value: object) -> str:
    """One argument: sent bare when Asterisk would read it back unchanged, else quoted."""
    if isinstance(value, Quoted):
        return str(value)
    text = strip_line_breaks(str(value))
    return text if _BARE.match(text) else quote(text)


def format_command(command: str, *args: object) -> bytes:
    """The bytes of one command line, e.g. ``SAY DIGITS 12345 ""\\n``.

    An empty plain argument is left out, as pyst2 meant (``channel_status(channel="")``
    is ``CHANNEL STATUS``); an empty argument that must be sent is ``quote("")``.
    """
    name = " ".join(strip_line_breaks(command).split())
    if not name:
        raise ValueError("empty AGI command")
    parts = [name, *(format_arg(arg) for arg in args if isinstance(arg, Quoted) or str(arg))]
    return (" ".join(parts) + "\n").encode("utf-8")


def split_args(line: str) -> list[str]:
    """Split a command line as Asterisk's ``parse_args`` does (quotes group, ``\\`` escapes).

    Used by the fake Asterisk and by tests to check that what we send reads back unchanged.
    """
    args: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    in_word = False
    for char in line:
        if escaped:
            current.append(char)
            escaped = False
            in_word = True
        elif char == "\\":
            escaped = True
            in_word = True
        elif char == '"':
            quoted = not quoted
            in_word = True
        elif char in " \t" and not quoted:
            if in_word:
                args.append("".join(current))
                current = []
                in_word = False
        else:
            current.append(char)
            in_word = True
    if in_word:
        args.append("".join(current))
    return args
