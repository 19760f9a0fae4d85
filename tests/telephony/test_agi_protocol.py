"""The FastAGI wire format, read and written without sockets, against the real transcripts."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.asterisk.agi_protocol import (
    LineKind,
    Quoted,
    ReplyFormatError,
    classify_line,
    decode_line,
    format_command,
    parse_environment,
    parse_reply_line,
    parse_usage_block,
    quote,
    split_args,
)
from tests.telephony.transcripts import (
    ASTERISK_FIXTURES,
    read_transcript,
    split_transcript,
    transcripts,
)

FIXTURES = ASTERISK_FIXTURES

# Every reply line the recorded Asterisk sent, and what it means (FINDINGS.md):
# (code, result, data, endpos)
MEANING: dict[bytes, tuple[int, str, str | None, int | None]] = {
    b"200 result=0\n": (200, "0", None, None),
    b"200 result=1\n": (200, "1", None, None),
    b"200 result=6\n": (200, "6", None, None),
    b"200 result=-1\n": (200, "-1", None, None),
    b"200 result=-2\n": (200, "-2", None, None),
    b"200 result=49\n": (200, "49", None, None),
    b"200 result=52\n": (200, "52", None, None),
    b"200 result=4321\n": (200, "4321", None, None),
    b"200 result= (timeout)\n": (200, "", "timeout", None),
    b"200 result=0 endpos=2000\n": (200, "0", None, 2000),
    b"200 result=0 endpos=24530\n": (200, "0", None, 24530),
    b"200 result=-1 endpos=0\n": (200, "-1", None, 0),
    b"200 result=35 (dtmf) endpos=4697\n": (200, "35", "dtmf", 4697),
    b"200 result=0 (timeout) endpos=0\n": (200, "0", "timeout", 0),
    b"200 result=-1 (hangup) endpos=6297\n": (200, "-1", "hangup", 6297),
    b"200 result=1 (13800138000)\n": (200, "1", "13800138000", None),
    b"200 result=1 (hello world)\n": (200, "1", "hello world", None),
    b"200 result=1 (Test Caller)\n": (200, "1", "Test Caller", None),
    b"200 result=1 (Test Caller/hello world)\n": (200, "1", "Test Caller/hello world", None),
    b"510 Invalid or unknown command\n": (510, "", None, None),
    b"511 Command Not Permitted on a dead channel or intercept routine\n": (511, "", None, None),
    b"520 End of proper usage.\n": (520, "", None, None),
}


def all_received_lines() -> list[bytes]:
    lines = []
    for path in transcripts(FIXTURES):
        _env, exchanges = split_transcript(read_transcript(path))
        lines += [line for exchange in exchanges for line in exchange.received]
    return lines


def test_the_fixtures_are_there_to_test_against() -> None:
    assert len(transcripts(FIXTURES)) == 17


@pytest.mark.parametrize("path", transcripts(FIXTURES), ids=lambda p: p.name.split(".")[0])
def test_every_reply_line_of_every_transcript_reads_as_asterisk_meant_it(path: Path) -> None:
    _env, exchanges = split_transcript(read_transcript(path))
    for exchange in exchanges:
        lines = [raw.decode() for raw in exchange.received if raw]
        index = 0
        while index < len(lines):
            line = lines[index].rstrip("\n")
            kind = classify_line(line)
            if kind == LineKind.HANGUP:
                index += 1
                continue
            if kind == LineKind.USAGE_START:
                end = next(i for i in range(index, len(lines)) if lines[i].startswith("520 "))
                block = parse_usage_block([x.rstrip("\n") for x in lines[index : end + 1]])
                assert block.code == 520
                assert len(block.usage) == 1 and "<literal>0</literal>" in block.usage[0]
                index = end + 1
                continue
            assert kind == LineKind.REPLY, line
            raw = lines[index].encode()
            assert raw in MEANING, f"reply not in the table: {raw!r}"
            reply = parse_reply_line(line)
            assert (reply.code, reply.result, reply.data, reply.endpos) == MEANING[raw]
            index += 1


def test_the_meaning_table_covers_only_lines_asterisk_really_sent() -> None:
    seen = set(all_received_lines())
    assert set(MEANING) <= seen


def test_a_reply_keeps_timeout_dtmf_hangup_and_endpos() -> None:
    assert parse_reply_line("200 result= (timeout)").timed_out
    record = parse_reply_line("200 result=35 (dtmf) endpos=4697")
    assert record.ended_by_dtmf and record.endpos == 4697 and record.result_int == 35
    hangup = parse_reply_line("200 result=-1 (hangup) endpos=6297")
    assert hangup.hangup and hangup.endpos == 6297


def test_a_variable_value_with_parentheses_and_spaces_is_read_whole() -> None:
    reply = parse_reply_line("200 result=1 (a (b) c) endpos=3)")
    assert reply.data == "a (b) c) endpos=3"
    assert reply.endpos is None


def test_a_line_that_is_no_reply_is_refused_with_the_line_in_the_error() -> None:
    with pytest.raises(ReplyFormatError, match="garbage"):
        parse_reply_line("garbage")
    with pytest.raises(ReplyFormatError, match="result="):
        parse_reply_line("200 nothing")


def test_the_in_band_hangup_line_is_told_apart_from_replies() -> None:
    assert classify_line("HANGUP") == LineKind.HANGUP
    assert classify_line("200 result=1") == LineKind.REPLY
    assert classify_line("520-Invalid command syntax.  Proper usage follows:") == (
        LineKind.USAGE_START
    )
    assert classify_line("Say a given digit string") == LineKind.OTHER


@pytest.mark.parametrize("path", transcripts(FIXTURES), ids=lambda p: p.name.split(".")[0])
def test_the_environment_of_every_transcript_parses(path: Path) -> None:
    env_lines, _ = split_transcript(read_transcript(path))
    if not env_lines:  # the recorder closed without reading anything
        assert path.name == "c-close-noread.agi.txt"
        return
    assert env_lines[-1] == b"\n"
    env = parse_environment([decode_line(raw) for raw in env_lines[:-1]])
    assert env.script == "ivr"
    assert env.query == {"lang": "zh"}
    assert env.callerid == "13800138000"
    assert env.calleridname == "Test Caller"
    assert env.get("agi_accountcode") == ""
    assert env.get("agi_request") == "agi://127.0.0.1:4573/ivr?lang=zh"
    assert env.uniqueid.startswith("1795878")


def test_agi_arguments_keep_their_order_and_the_empty_one(asterisk_fixtures: Path) -> None:
    env_lines, _ = split_transcript(read_transcript(asterisk_fixtures / "a-full-call-args.agi.txt"))
    env = parse_environment([decode_line(raw) for raw in env_lines[:-1]])
    assert env.args == ["first arg", "second", "", "quoted, with comma"]


def test_a_gbk_caller_name_is_decoded_not_fatal() -> None:
    assert decode_line("agi_calleridname: 张三\n".encode("gbk")) == "agi_calleridname: 张三"
    assert decode_line("agi_calleridname: 张三\n".encode()) == "agi_calleridname: 张三"
    assert "\ufffd" in decode_line(b"\xff\xfe\xfd\n") or decode_line(b"\xff\xfe\xfd\n")


def test_commands_are_written_as_the_recorded_server_wrote_them() -> None:
    assert format_command("STREAM FILE", "beep", quote("")) == b'STREAM FILE beep ""\n'
    assert format_command("SAY DIGITS", "12345", quote("")) == b'SAY DIGITS 12345 ""\n'
    assert format_command("SET VARIABLE", "GREETING", "hello world") == (
        b'SET VARIABLE GREETING "hello world"\n'
    )
    assert format_command("GET FULL VARIABLE", "${CALLERID(name)}/${GREETING}") == (
        b"GET FULL VARIABLE ${CALLERID(name)}/${GREETING}\n"
    )
    assert format_command("VERBOSE", quote("hello"), 1) == b'VERBOSE "hello" 1\n'


def test_quotes_backslashes_and_newlines_cannot_inject_a_second_command() -> None:
    line = format_command("SET VARIABLE", "X", 'a"b\\c\nHANGUP\r\n"')
    assert line.count(b"\n") == 1 and b"\r" not in line
    assert line == b'SET VARIABLE X "a\\"b\\\\cHANGUP\\""\n'
    assert split_args(line.decode().rstrip("\n")) == ["SET", "VARIABLE", "X", 'a"b\\cHANGUP"']


def test_chinese_text_is_sent_as_utf8_and_reads_back_unchanged() -> None:
    line = format_command("SET VARIABLE", "NOTE", "城管 12319 “热线”")
    assert line == 'SET VARIABLE NOTE "城管 12319 “热线”"\n'.encode()
    assert split_args(line.decode().rstrip("\n"))[3] == "城管 12319 “热线”"


def test_an_already_quoted_argument_is_sent_as_it_is() -> None:
    assert format_command("EXEC", "Goto", Quoted('"a,b,1"')) == b'EXEC Goto "a,b,1"\n'


def test_an_empty_plain_argument_is_left_out_as_pyst2_meant() -> None:
    assert format_command("CHANNEL STATUS", "") == b"CHANNEL STATUS\n"
    assert format_command("SET VARIABLE", "X", quote("")) == b'SET VARIABLE X ""\n'


def test_an_empty_command_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        format_command(" \r\n")


@settings(deadline=None)  # no timing: CI machines are busy
@given(st.text(max_size=60))
def test_any_text_round_trips_through_asterisk_argument_parsing(value: str) -> None:
    line = format_command("SET VARIABLE", "X", quote(value)).decode("utf-8")
    assert line.count("\n") == 1 and line.endswith("\n")
    expected = value.replace("\r", "").replace("\n", "")
    assert split_args(line[:-1]) == ["SET", "VARIABLE", "X", expected]
