"""Master.csv rows made from the ``Cdr`` events a real Asterisk 22 sent over AMI
(tests/fixtures/asterisk-ami), written the way ``cdr_csv`` writes them: every string in
double quotes with ``"`` doubled, duration/billsec/sequence bare, an unset time an empty
unquoted field, GMT times with ``usegmtime``, one ``\\n`` after each record."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from adapters.asterisk.ami_protocol import iter_frames
from adapters.asterisk.cdr_csv import CsvLayout
from tests.conftest import FIXTURES_DIR

AMI = FIXTURES_DIR / "asterisk-ami"
ZONE = ZoneInfo("Asia/Shanghai")
_BARE = {"Duration", "BillableSeconds", "Sequence"}
_TIMES = {"StartTime", "AnswerTime", "EndTime"}
DEFAULT = CsvLayout()  # as config/asterisk/cdr-citygw.conf


def recorded_cdrs(scenario: str) -> list[dict[str, str]]:
    frames = iter_frames((AMI / f"{scenario}.ami.bin").read_bytes())
    return [dict(f.fields) for f in frames if f.event == "Cdr"]


def hotline_caller(scenario: str) -> dict[str, str]:
    """The caller's queue leg (``;2``, context citygw-agents, last app Queue)."""
    [caller] = [
        f
        for f in recorded_cdrs(scenario)
        if f["DestinationContext"] == "citygw-agents" and f["Channel"].endswith(";2")
    ]
    return caller


def csv_row(fields: dict[str, str], layout: CsvLayout = DEFAULT, zone: ZoneInfo = ZONE) -> bytes:
    values = {**fields, "PeerAccount": "", "LinkedID": fields["UniqueID"], "Sequence": "7"}
    out = []
    for name in layout.columns:
        value = values[name]
        if name in _TIMES and layout.usegmtime and value:
            local = datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone)
            value = local.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        if name in _BARE or (name in _TIMES and not value):
            out.append(value)
        else:
            out.append('"' + value.replace('"', '""') + '"')
    return (",".join(out) + "\n").encode()


def append(path: Path, *rows: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as handle:  # as cdr_csv does: open, append, close, per record
        for row in rows:
            handle.write(row)
