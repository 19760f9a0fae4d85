"""Asterisk's ``cdr_csv`` file (``Master.csv``): its rows as ``Cdr`` fields, and reading
what the file gained since the last read.

What the format is, read (not copied) from public sources; no Asterisk 22 ``Master.csv``
was recorded here, so this is the source's word, not an observed file:

- ``cdr/cdr_csv.c``: ``load_config``, ``append_string``/``append_int``/``append_date``
  and ``build_csv_record``, in a copy of the Asterisk 14 era (``ASTERISK_REGISTER_FILE``,
  options read from ``cdr.conf``) and in the GABpbx fork of a current Asterisk
  (github.com/7kas/GABPBX77, with the 16+ module ``.requires = "cdr"``): the same code;
  the older asterisk/asterisk copy (1.2 era) had uniqueid/userfield behind compile-time
  ``#ifdef``s instead, in the same places.
- ``configs/samples/cdr.conf.sample`` of github.com/asterisk/asterisk: the ``[csv]``
  options ``usegmtime``, ``loguniqueid``, ``loguserfield``, ``accountlogs`` and
  ``newcdrcolumns`` ("post-1.8 CDR columns (peeraccount, linkedid, sequence)").

What they say:

- One record a line, ``\\n``-terminated, written whole by one ``fopen("a")``, ``fputs``,
  ``fflush``, ``fclose`` per CDR into ``<astlogdir>/cdr-csv/Master.csv``. A record is
  built in a 1024-byte buffer (no trailing comma); one longer is dropped by Asterisk
  with a warning.
- Columns, in order: accountcode, src, dst, dcontext, clid, channel, dstchannel,
  lastapp, lastdata, start, answer, end, duration, billsec, disposition, amaflags; then
  uniqueid if ``loguniqueid=yes``; then userfield if ``loguserfield=yes``; then
  peeraccount, linkedid, sequence if ``newcdrcolumns=yes`` (all four options default to
  no; the sample file ships ``usegmtime``, ``loguniqueid`` and ``loguserfield`` as yes).
- Strings are always in double quotes, a ``"`` inside doubled; nothing else is escaped
  (a newline in a value stays a newline, inside the quotes). duration, billsec and
  sequence are bare integers. A time is ``"YYYY-MM-DD HH:MM:SS"`` in the Asterisk
  process's local zone, or in GMT with ``usegmtime=yes``; an unset time (a call never
  answered) is an empty unquoted field.
- ``[csv]`` with no option at all makes the module decline to load.

The fields come out under the names AMI's ``Cdr`` event gives them (``Source``,
``DestinationContext``, ``UniqueID`` ...), times in the zone the AMI event uses, so
``gateway.telephony.unhandled_calls.cdr_record`` makes the same record of either.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
#: cdr_csv.c builds a record in 1024 bytes; anything longer is not one of its records
MAX_RECORD_BYTES = 1024
#: the first bytes of a file, hashed, tell a file truncated and written again from ours
_HEAD_BYTES = 256

_BASE = (
    "AccountCode",
    "Source",
    "Destination",
    "DestinationContext",
    "CallerID",
    "Channel",
    "DestinationChannel",
    "LastApplication",
    "LastData",
    "StartTime",
    "AnswerTime",
    "EndTime",
    "Duration",
    "BillableSeconds",
    "Disposition",
    "AMAFlags",
)
_TIMES = ("StartTime", "AnswerTime", "EndTime")
_INTEGERS = ("Duration", "BillableSeconds", "Sequence")


class CdrRowError(ValueError):
    """A line that is not a ``cdr_csv`` record of the configured layout."""


@dataclass(frozen=True)
class CsvLayout:
    """The ``[csv]`` options of ``cdr.conf`` that shape a row (``loguniqueid`` must be yes)."""

    loguserfield: bool = True
    newcdrcolumns: bool = False
    usegmtime: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        extra = ("UniqueID",) + (("UserField",) if self.loguserfield else ())
        if self.newcdrcolumns:
            extra += ("PeerAccount", "LinkedID", "Sequence")
        return _BASE + extra

    def describe(self) -> str:
        yes = {True: "yes", False: "no"}
        return (
            f"loguniqueid=yes, loguserfield={yes[self.loguserfield]},"
            f" newcdrcolumns={yes[self.newcdrcolumns]}"
        )


def parse_row(text: str, layout: CsvLayout, zone: ZoneInfo) -> dict[str, str]:
    """One record (without its newline) as AMI ``Cdr`` fields; times in ``zone`` (the zone
    AMI's Cdr times are in). Raises `CdrRowError` saying what is wrong."""
    try:
        rows = list(csv.reader([text], strict=True))
    except csv.Error as exc:
        raise CdrRowError(f"not CSV ({exc})") from None
    if len(rows) != 1:
        raise CdrRowError("not one CSV row")
    values = rows[0]
    columns = layout.columns
    if len(values) != len(columns):
        raise CdrRowError(
            f"{len(values)} fields, expected {len(columns)} (cdr.conf [csv] {layout.describe()})"
        )
    fields = dict(zip(columns, values, strict=True))
    if not fields["UniqueID"]:
        raise CdrRowError("empty uniqueid")
    for name in _INTEGERS:
        if name in fields and not fields[name].lstrip("-").isdigit():
            raise CdrRowError(f"{name} {fields[name]!r} is not a number")
    for name in _TIMES:
        if fields[name]:
            fields[name] = _in_zone(fields[name], name, layout, zone)
    return fields


def _in_zone(text: str, name: str, layout: CsvLayout, zone: ZoneInfo) -> str:
    try:
        naive = datetime.strptime(text, _TIME_FORMAT)
    except ValueError:
        raise CdrRowError(f"{name} {text!r} is not YYYY-MM-DD HH:MM:SS") from None
    if not layout.usegmtime:
        return text
    return naive.replace(tzinfo=UTC).astimezone(zone).strftime(_TIME_FORMAT)


def local_time(text: str, zone: ZoneInfo) -> datetime | None:
    """A Cdr time (``YYYY-MM-DD HH:MM:SS`` in ``zone``) as an aware datetime; None if unset."""
    try:
        return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=zone)
    except ValueError:
        return None


# ---------------------------------------------------------------------- records of a chunk


@dataclass(frozen=True)
class CsvLine:
    """One record's text and the number of its (first) line in its file, from 1."""

    line: int
    text: str


def split_records(data: bytes, first_line: int) -> tuple[list[CsvLine], int, int]:
    """The complete records at the start of ``data``: (records, bytes used, lines used).

    A record ends at a newline outside double quotes (cdr_csv writes a newline inside a
    value as is); bytes after the last complete record are left for the next read. A line
    with an unclosed quote followed by a line that starts a record, or longer than a
    record can be, is given back alone (it will not parse), so that one torn or bad line
    never swallows the good ones after it nor stops the file.
    """
    records: list[CsvLine] = []
    used = lines = 0
    pieces = data.split(b"\n")[:-1]  # the part after the last newline is not complete
    index = 0
    while index < len(pieces):
        taken = 1
        record = pieces[index]
        # an odd number of quotes: a newline inside a value, so the next line goes on with
        # it; unless that line starts a record (every record starts with a quote): then
        # this one is torn (a crash in the middle of a write) and will not parse
        while record.count(b'"') % 2 and len(record) <= MAX_RECORD_BYTES:
            if index + taken == len(pieces):
                return records, used, lines  # its end is not written yet
            if pieces[index + taken].startswith(b'"'):
                break
            record += b"\n" + pieces[index + taken]
            taken += 1
        records.append(CsvLine(first_line + lines, record.decode("utf-8", "replace")))
        used += len(record) + 1
        lines += taken
        index += taken
    return records, used, lines


# ---------------------------------------------------------------------- reading the file


@dataclass(frozen=True)
class CsvPosition:
    """How far the file was read: which file (device, inode), the byte offset and line
    count reached, and a hash of its first bytes (a file truncated and written again
    under the same inode differs there)."""

    device: int
    inode: int
    offset: int = 0
    line: int = 0
    head_len: int = 0
    head_sha: str = ""

    def to_json(self) -> dict[str, int | str]:
        return {
            "device": self.device,
            "inode": self.inode,
            "offset": self.offset,
            "line": self.line,
            "head_len": self.head_len,
            "head_sha": self.head_sha,
        }

    @classmethod
    def from_json(cls, data: object) -> CsvPosition:
        if not isinstance(data, dict):
            raise ValueError("not an object")
        ints = {k: data.get(k) for k in ("device", "inode", "offset", "line", "head_len")}
        if not all(isinstance(v, int) and v >= 0 for v in ints.values()):
            raise ValueError(f"bad numbers {ints}")
        sha = data.get("head_sha", "")
        if not isinstance(sha, str):
            raise ValueError("bad head_sha")
        return cls(
            device=int(ints["device"] or 0),
            inode=int(ints["inode"] or 0),
            offset=int(ints["offset"] or 0),
            line=int(ints["line"] or 0),
            head_len=int(ints["head_len"] or 0),
            head_sha=sha,
        )


@dataclass(frozen=True)
class CsvStep:
    """What one read gave: records, where to go on from once they are handled, and why
    the reading moved elsewhere (``rotated``, ``truncated``, ``missing``), if it did."""

    records: list[CsvLine] = field(default_factory=list)
    position: CsvPosition | None = None
    file: str = ""
    more: bool = False
    event: str | None = None


def read_step(path: Path, saved: CsvPosition | None, max_bytes: int) -> CsvStep:
    """Read (blocking) at most ``max_bytes`` of what ``path`` gained after ``saved``.

    - No position yet: from the start of the file.
    - Another inode at ``path`` (rotated: logrotate's create or a move): first the rest
      of the old file, found by its inode beside ``path`` (``Master.csv.1``, uncompressed
      while logrotate's ``delaycompress`` holds), then the new file from its start.
    - The same inode but shorter than the offset, or other first bytes (truncated, or
      truncated and written again): from the start.
    Raises ``OSError`` when the file is there but cannot be read.
    """
    try:
        now = path.stat()
    except FileNotFoundError:
        return CsvStep(position=saved, file=str(path), event="missing")
    if saved is None:
        saved = CsvPosition(device=now.st_dev, inode=now.st_ino)
    if (saved.device, saved.inode) != (now.st_dev, now.st_ino):
        old = _same_file(path.parent, saved)
        if old is not None and old.stat().st_size > saved.offset:
            rest = _read_from(old, saved, max_bytes, more_after=True)
            if rest.records:  # (an unfinished last line there never ends: leave it)
                return rest
        fresh = CsvPosition(device=now.st_dev, inode=now.st_ino)
        return CsvStep(position=fresh, file=str(path), more=True, event="rotated")
    if now.st_size < saved.offset or not _head_matches(path, saved):
        fresh = CsvPosition(device=now.st_dev, inode=now.st_ino)
        return CsvStep(position=fresh, file=str(path), more=True, event="truncated")
    return _read_from(path, saved, max_bytes, more_after=False)


def _same_file(folder: Path, saved: CsvPosition) -> Path | None:
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return None
    for entry in entries:
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if (info.st_dev, info.st_ino) == (saved.device, saved.inode) and entry.is_file():
            return Path(entry.path)
    return None


def _head_matches(path: Path, saved: CsvPosition) -> bool:
    if saved.head_len == 0:
        return True
    with path.open("rb") as handle:
        head = handle.read(saved.head_len)
    return hashlib.sha256(head).hexdigest() == saved.head_sha


def _read_from(path: Path, saved: CsvPosition, max_bytes: int, *, more_after: bool) -> CsvStep:
    with path.open("rb") as handle:
        handle.seek(saved.offset)
        data = handle.read(max_bytes)
        records, used, lines = split_records(data, saved.line + 1)
        if not records and len(data) >= max_bytes:  # no newline in max_bytes: skip them
            records = [CsvLine(saved.line + 1, data[:200].decode("utf-8", "replace"))]
            used = len(data)
        offset = saved.offset + used
        position = replace(saved, offset=offset, line=saved.line + lines)
        if position.head_len < min(_HEAD_BYTES, offset):
            handle.seek(0)
            head = handle.read(min(_HEAD_BYTES, offset))
            position = replace(
                position, head_len=len(head), head_sha=hashlib.sha256(head).hexdigest()
            )
        size = os.fstat(handle.fileno()).st_size
    # a rotated-away file read to its end: the next step moves to the new file
    more = (offset < size and used > 0) or more_after
    return CsvStep(records=records, position=position, file=str(path), more=more)
