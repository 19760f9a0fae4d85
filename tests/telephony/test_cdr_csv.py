"""Asterisk's Master.csv: rows written from recorded Cdr events parse into the same record
the AMI path builds; reading picks up appended rows, rotation and truncation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adapters.asterisk.cdr_csv import (
    CdrRowError,
    CsvLayout,
    CsvPosition,
    parse_row,
    read_step,
    split_records,
)
from gateway.telephony.unhandled_calls import cdr_record
from tests.telephony.cdr_rows import ZONE, append, csv_row, hotline_caller, recorded_cdrs

LAYOUTS = [
    CsvLayout(),
    CsvLayout(loguserfield=False),
    CsvLayout(newcdrcolumns=True),
    CsvLayout(loguserfield=False, newcdrcolumns=True, usegmtime=True),
    CsvLayout(usegmtime=True),
]


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.describe())
@pytest.mark.parametrize("scenario", ["queue-abandon", "queue-call"])
def test_a_csv_row_of_a_recorded_cdr_makes_the_record_its_ami_event_makes(
    scenario: str, layout: CsvLayout
) -> None:
    events = recorded_cdrs(scenario)
    assert len(events) >= 2
    for event in events:
        text = csv_row(event, layout).decode().rstrip("\n")
        assert cdr_record(parse_row(text, layout, ZONE)) == cdr_record(event)


def test_the_caller_id_keeps_its_doubled_quotes_and_gmt_times_come_back_local() -> None:
    caller = hotline_caller("queue-abandon")
    layout = CsvLayout(usegmtime=True)
    text = csv_row(caller, layout).decode()
    assert '"""Test Citizen"" <13800138001>"' in text
    assert '"2026-12-04 06:11:59"' in text  # 14:11:59 in Shanghai
    fields = parse_row(text.rstrip("\n"), layout, ZONE)
    assert fields["CallerID"] == '"Test Citizen" <13800138001>'
    assert fields["EndTime"] == "2026-12-04 14:11:59" and fields["UniqueID"] == "1796393513.13"


def test_an_unset_answer_time_is_an_empty_bare_field() -> None:
    unanswered = {**hotline_caller("queue-abandon"), "AnswerTime": "", "BillableSeconds": "0"}
    text = csv_row(unanswered).decode().rstrip("\n")
    assert ',,"2026-12-04 14:11:59",6,0,' in text
    assert cdr_record(parse_row(text, CsvLayout(), ZONE)) == cdr_record(unanswered)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda t: t.rsplit(",", 1)[0], "17 fields, expected 18"),
        (lambda t: t.replace(",6,6,", ",six,6,"), "Duration 'six' is not a number"),
        (lambda t: t.replace('"2026-12-04 14:11:59"', '"04/12/2026"'), "EndTime"),
        (lambda t: t.replace('"1796393513.13"', '""'), "empty uniqueid"),
        (lambda t: t + ',"x"', "19 fields"),
    ],
)
def test_a_row_not_of_the_layout_is_refused_with_its_reason(change: object, reason: str) -> None:
    text = csv_row(hotline_caller("queue-abandon")).decode().rstrip("\n")
    assert callable(change)
    with pytest.raises(CdrRowError, match=reason):
        parse_row(change(text), CsvLayout(), ZONE)


def test_records_split_on_newlines_outside_quotes_and_a_partial_line_waits() -> None:
    row = csv_row(hotline_caller("queue-abandon"))
    quoted_newline = row.replace(b'"citygw-12319-agents,t,,,300"', b'"line one\nline two"')
    data = row + quoted_newline + row + row[:40]
    records, used, lines = split_records(data, 10)
    assert [r.line for r in records] == [10, 11, 13]
    assert used == len(data) - 40 and lines == 4
    assert "line one\nline two" in records[1].text
    assert parse_row(records[1].text, CsvLayout(), ZONE)["LastData"] == "line one\nline two"


def test_a_torn_record_does_not_swallow_the_records_after_it() -> None:
    row = csv_row(hotline_caller("queue-abandon"))
    torn = row[:50] + b"\n"  # Asterisk stopped mid-write; an unclosed quote
    records, used, _ = split_records(torn + row + row, 1)
    assert [r.line for r in records] == [1, 2, 3] and used == len(torn + row + row)
    with pytest.raises(CdrRowError):
        parse_row(records[0].text, CsvLayout(), ZONE)
    assert parse_row(records[2].text, CsvLayout(), ZONE)["UniqueID"] == "1796393513.13"
    assert split_records(row + row[:50] + b"\n", 1)[1] == len(row)  # may go on: wait


def position_after(path: Path, saved: CsvPosition | None = None) -> tuple[list[int], CsvPosition]:
    lines: list[int] = []
    while True:
        step = read_step(path, saved, 64 << 10)
        lines += [r.line for r in step.records]
        assert step.position is not None
        saved = step.position
        if not step.more:
            return lines, saved


def test_reading_goes_on_where_it_stopped_and_leaves_an_unfinished_line(tmp_path: Path) -> None:
    path = tmp_path / "Master.csv"
    rows = [csv_row(f) for f in recorded_cdrs("queue-call")]
    append(path, *rows[:2])
    lines, saved = position_after(path)
    assert lines == [1, 2] and saved.offset == len(rows[0] + rows[1])
    append(path, rows[2][:30])  # Asterisk caught mid-write
    assert position_after(path, saved) == ([], saved)
    append(path, rows[2][30:])
    lines, saved = position_after(path, saved)
    assert lines == [3] and saved.offset == path.stat().st_size


def test_a_truncated_file_is_read_again_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "Master.csv"
    rows = [csv_row(f) for f in recorded_cdrs("queue-call")]
    append(path, *rows)
    _, saved = position_after(path)
    with path.open("r+b") as handle:  # logrotate copytruncate
        handle.truncate(0)
    append(path, rows[0])
    first = read_step(path, saved, 64 << 10)
    assert first.event == "truncated" and first.records == []
    lines, _ = position_after(path, first.position)
    assert lines == [1]


def test_a_file_truncated_and_written_past_the_old_offset_is_told_by_its_first_bytes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "Master.csv"
    abandon = [csv_row(f) for f in recorded_cdrs("queue-abandon")]
    call = [csv_row(f) for f in recorded_cdrs("queue-call")]
    append(path, abandon[0])
    _, saved = position_after(path)
    with path.open("r+b") as handle:
        handle.truncate(0)
    append(path, *call)  # longer than before, same inode
    assert path.stat().st_size > saved.offset and path.stat().st_ino == saved.inode
    assert read_step(path, saved, 64 << 10).event == "truncated"


def test_a_rotated_file_is_finished_before_the_new_one_is_read(tmp_path: Path) -> None:
    path = tmp_path / "Master.csv"
    rows = [csv_row(f) for f in recorded_cdrs("queue-call") + recorded_cdrs("queue-abandon")]
    append(path, rows[0])
    _, saved = position_after(path)
    append(path, rows[1])  # written after the last read, before the rotation
    os.rename(path, tmp_path / "Master.csv.1")
    append(path, rows[2], rows[3])
    step = read_step(path, saved, 64 << 10)
    assert step.file.endswith("Master.csv.1") and [r.line for r in step.records] == [2]
    assert step.more and step.position is not None
    moved = read_step(path, step.position, 64 << 10)
    assert moved.event == "rotated" and moved.position is not None
    assert moved.position.inode == path.stat().st_ino
    lines, _ = position_after(path, moved.position)
    assert lines == [1, 2]


def test_a_rotated_file_gone_from_the_folder_moves_on_to_the_new_one(tmp_path: Path) -> None:
    path = tmp_path / "Master.csv"
    rows = [csv_row(f) for f in recorded_cdrs("queue-call")]
    append(path, rows[0])
    _, saved = position_after(path)
    path.unlink()
    append(path, rows[1])
    step = read_step(path, saved, 64 << 10)
    # a new inode, or the old one given again to the new file (told by its first bytes)
    assert step.event in ("rotated", "truncated") and step.records == []
    assert position_after(path, step.position)[0] == [1]


def test_a_missing_file_is_said_and_the_position_kept(tmp_path: Path) -> None:
    saved = CsvPosition(device=1, inode=2, offset=3)
    step = read_step(tmp_path / "Master.csv", saved, 64 << 10)
    assert step.event == "missing" and step.position == saved and step.records == []
