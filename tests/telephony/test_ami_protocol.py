"""The AMI wire format against the bytes a real Asterisk 22.10.1 sent (no sockets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.asterisk.ami_fake import connections, read_ami_transcript
from adapters.asterisk.ami_protocol import (
    AmiProtocolError,
    FrameKind,
    FrameReader,
    OriginateOutcome,
    encode_action,
    iter_frames,
    known_uniqueid,
    originate_outcome,
)
from tests.conftest import FIXTURES_DIR, fixture_files

AMI = FIXTURES_DIR / "asterisk-ami"


def _bins() -> list[Path]:
    return fixture_files(AMI, "*.ami.bin")


@pytest.mark.parametrize("path", _bins(), ids=lambda p: p.name)
def test_every_recorded_stream_parses_the_same_whole_or_in_recorded_chunks(path: Path) -> None:
    whole = list(iter_frames(path.read_bytes()))
    assert whole, "no frame"
    scenario = path.name.split(".")[0]
    transcript = read_ami_transcript(AMI / f"{scenario}.ami.txt")
    conn = 1 if ".conn" not in path.name else int(path.name.split(".conn")[1].split(".")[0])
    chunks = [c.data for c in connections(transcript)[conn - 1] if c.kind == "RECV"]
    assert b"".join(chunks) == path.read_bytes()  # the .bin is the RECV chunks, nothing added
    reader = FrameReader()
    fed = [frame for chunk in chunks for frame in reader.feed(chunk)]
    assert fed == whole
    assert reader.banner == "Asterisk Call Manager/11.0.0"
    assert reader.pending_bytes == 0


def test_byte_by_byte_feeding_gives_the_same_frames() -> None:
    data = (AMI / "originate-busy.ami.bin").read_bytes()
    reader = FrameReader()
    frames = [f for i in range(len(data)) for f in reader.feed(data[i : i + 1])]
    assert frames == list(iter_frames(data))


def test_a_response_and_an_event_in_one_read_are_two_frames() -> None:
    data = (AMI / "login-ok.ami.bin").read_bytes()
    frames = list(iter_frames(data))
    assert [f.kind for f in frames] == [FrameKind.RESPONSE, FrameKind.EVENT, FrameKind.RESPONSE]
    assert frames[0].get("Message") == "Authentication accepted"
    assert frames[1].event == "FullyBooted"
    assert frames[2].get("Response") == "Goodbye"


def test_field_lookup_is_blind_to_the_spelling_of_each_event_type() -> None:
    frames = list(iter_frames((AMI / "originate-answered.ami.bin").read_bytes()))
    cdr = next(f for f in frames if f.event == "Cdr")
    cel = next(f for f in frames if f.event == "CEL")
    hangup = next(f for f in frames if f.event == "Hangup")
    assert "UniqueID" in dict(cdr.fields) and cdr.uniqueid
    assert "LinkedID" in dict(cel.fields) and cel.linkedid == cel.get("LinkedID")
    assert "Uniqueid" in dict(hangup.fields) and hangup.uniqueid
    assert cel.get("AccountCode") == ""  # an empty value stays empty


@pytest.mark.parametrize(
    ("scenario", "outcome", "reason", "uniqueid"),
    [
        ("originate-answered", OriginateOutcome.ANSWERED, "4", "1796393471.0"),
        ("originate-noanswer", OriginateOutcome.NO_ANSWER, "3", None),
        ("originate-busy", OriginateOutcome.BUSY, "5", "cb-0003-leg1"),
        ("originate-congestion", OriginateOutcome.CONGESTION, "8", None),
    ],
)
def test_originate_responses_tell_each_outcome_by_reason(
    scenario: str, outcome: OriginateOutcome, reason: str, uniqueid: str | None
) -> None:
    frames = list(iter_frames((AMI / f"{scenario}.ami.bin").read_bytes()))
    queued = next(
        f
        for f in frames
        if f.kind is FrameKind.RESPONSE and f.get("Message", "").startswith("Originate")
    )
    assert queued.get("Message") == "Originate successfully queued"
    [result] = [f for f in frames if f.event == "OriginateResponse"]
    assert result.kind is FrameKind.EVENT  # the nested Response: header does not make it one
    assert result.action_id == queued.action_id
    assert result.get("Reason") == reason
    assert originate_outcome(result) is outcome
    assert known_uniqueid(result.uniqueid) == uniqueid


def test_actions_are_encoded_with_crlf_and_repeated_variables() -> None:
    data = encode_action(
        "Originate", "cb-1", {"Channel": "Local/s@x", "Variable": ["A=1", "B=2"], "Async": "true"}
    )
    assert data == (
        b"Action: Originate\r\nActionID: cb-1\r\nChannel: Local/s@x\r\n"
        b"Variable: A=1\r\nVariable: B=2\r\nAsync: true\r\n\r\n"
    )


@pytest.mark.parametrize("value", ["x\r\nAction: Command", "x\ny"])
def test_a_value_with_a_line_break_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="one line"):
        encode_action("Originate", "cb-1", {"CallerID": value})


def test_a_peer_that_is_not_ami_is_refused() -> None:
    with pytest.raises(AmiProtocolError, match="banner"):
        FrameReader().feed(b"SSH-2.0-OpenSSH_9.2\r\n")
    reader = FrameReader(max_frame_bytes=100)
    reader.feed(b"Asterisk Call Manager/11.0.0\r\n")
    with pytest.raises(AmiProtocolError, match="no frame end"):
        reader.feed(b"Event: X\r\n" + b"A: b\r\n" * 50)
