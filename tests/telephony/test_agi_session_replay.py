"""The pyst2 subclass replays every recorded Asterisk transcript byte for byte.

A thread plays Asterisk from the transcript over a socket pair: it sends the recorded
environment, reads what the session writes, checks Asterisk would parse it into the same
arguments as the recorded command, and answers with the recorded bytes (in-band
``HANGUP`` lines, 511s, 520 blocks and the final EOF included). The session must read
each reply as Asterisk meant it.
"""

from __future__ import annotations

import socket
import threading
from collections import deque
from pathlib import Path
from typing import Any

import pytest
from asterisk.agi import AGIAppError, AGIInvalidCommand, AGIUsageError

from adapters.asterisk.agi_protocol import split_args
from adapters.asterisk.agi_session import (
    AgiCommandFailed,
    AgiConnectionClosed,
    AgiDeadChannel,
    AgiHangupResult,
    AgiReplyTimeout,
    FastAgiSession,
)
from tests.telephony.transcripts import (
    ASTERISK_FIXTURES,
    Exchange,
    read_transcript,
    split_transcript,
    transcripts,
)

FIXTURES = ASTERISK_FIXTURES

# what the pyst2-style method returns for a reply, where the value matters
VALUES: dict[tuple[str, bytes], Any] = {
    ("WAIT FOR DIGIT", b"200 result=49\n"): "1",
    ("WAIT FOR DIGIT", b"200 result=52\n"): "4",
    ("WAIT FOR DIGIT", b"200 result=0\n"): "",
    ("WAIT FOR DIGIT", b"200 result=1\n"): "\x01",
    ("GET DATA", b"200 result=4321\n"): "4321",
    ("GET DATA", b"200 result=1\n"): "1",
    ("GET DATA", b"200 result= (timeout)\n"): "",
    ("RECORD FILE", b"200 result=35 (dtmf) endpos=4697\n"): "#",
    ("RECORD FILE", b"200 result=0 (timeout) endpos=0\n"): "",
    ("GET VARIABLE", b"200 result=1 (13800138000)\n"): "13800138000",
    ("GET VARIABLE", b"200 result=1 (hello world)\n"): "hello world",
    ("GET VARIABLE", b"200 result=1 (Test Caller)\n"): "Test Caller",
    ("GET VARIABLE", b"200 result=0\n"): "",
    ("GET FULL VARIABLE", b"200 result=1 (Test Caller/hello world)\n"): "Test Caller/hello world",
    ("CHANNEL STATUS", b"200 result=6\n"): 6,
    ("STREAM FILE", b"200 result=0 endpos=2000\n"): "",
    ("STREAM FILE", b"200 result=0 endpos=24530\n"): "",
    ("SAY DIGITS", b"200 result=0\n"): "",
}


class AsteriskReplayer:
    """Plays the Asterisk side of one transcript."""

    def __init__(self, sock: socket.socket, env: list[bytes], exchanges: list[Exchange]) -> None:
        self.sock = sock
        self.env = env
        self.exchanges = exchanges
        self.mismatches: list[str] = []
        self.received: list[bytes] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="replay.asterisk", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.sock.sendall(b"".join(self.env))
            reader = self.sock.makefile("rb")
            for exchange in self.exchanges:
                if not exchange.received and exchange is self.exchanges[-1]:
                    return  # the recorded server closed while its command ran
                for recorded in exchange.sent:
                    if not recorded.endswith(b"\n"):
                        return  # the recorded server wrote half a line and closed
                    ours = reader.readline()
                    self.received.append(ours)
                    if split_args(ours.decode().rstrip("\n")) != split_args(
                        recorded.decode().rstrip("\n")
                    ):
                        self.mismatches.append(f"sent {ours!r}, recorded {recorded!r}")
                payload = b"".join(exchange.received)
                if payload:
                    self.sock.sendall(payload)
                if b"" in exchange.received:  # Asterisk closed (AGIEXITONHANGUP)
                    break
            self.sock.shutdown(socket.SHUT_WR)
        except BaseException as exc:
            self.error = exc


def issue(session: FastAgiSession, raw: bytes) -> Any:
    """Send a recorded command through the session's pyst2-style methods."""
    line = raw.decode().rstrip("\n")
    if "\r" in line or not line:
        session.sock.sendall(raw)  # a malformed line only a broken server would write
        return session.get_result()
    a = split_args(line)
    head = " ".join(a).upper()
    if head == "ANSWER":
        return session.answer()
    if head.startswith("STREAM FILE "):
        return session.stream_file(a[2], a[3], int(a[4]) if len(a) > 4 else 0)
    if head.startswith("WAIT FOR DIGIT "):
        return session.wait_for_digit(int(a[3]))
    if head.startswith("GET DATA "):
        return session.get_data(a[2], int(a[3]), int(a[4]))
    if head.startswith("SAY DIGITS "):
        if len(a) == 3:  # the recorded server's mistake: no escape argument
            return session.execute("SAY DIGITS", a[2])
        return session.say_digits(a[2], a[3])
    if head.startswith("RECORD FILE "):
        return session.record_file(a[2], a[3], a[4], int(a[5]), int(a[6]), "", int(a[7][2:]))
    if head.startswith("SET VARIABLE "):
        return session.set_variable(a[2], a[3])
    if head.startswith("GET FULL VARIABLE "):
        return session.get_full_variable(a[3])
    if head.startswith("GET VARIABLE "):
        return session.get_variable(a[2])
    if head == "CHANNEL STATUS":
        return session.channel_status()
    if head.startswith("VERBOSE "):
        return session.verbose(a[1], int(a[2]))
    if head.startswith("EXEC "):
        return session.appexec(a[1], " ".join(a[2:]))
    if line == "HANGUP":
        return session.hangup()
    if line == "NOOP":
        return session.noop()
    return session.execute(a[0], *a[1:])  # FOO BAR, noop, ANSWER extra args


def expected_error(unit: list[bytes], command: str) -> type[BaseException] | None:
    first = unit[0]
    if first == b"":
        return AgiConnectionClosed
    if first.startswith(b"511 "):
        return AgiDeadChannel
    if first.startswith(b"510 "):
        return AGIInvalidCommand
    if first.startswith(b"520-"):
        return AGIUsageError
    if b"(hangup)" in first:
        return AgiHangupResult
    if b"result=-1" in first:
        # pyst2's channel_status reads a failed status as -1 instead of raising
        return None if command == "CHANNEL STATUS" else AgiCommandFailed
    if b"result=-2" in first and command == "EXEC":
        return AGIAppError
    return None


def next_unit(pending: deque[bytes]) -> tuple[list[bytes], bool]:
    """The next reply as the session must read it, and whether a HANGUP line came first."""
    saw_hangup = False
    while pending and pending[0] == b"HANGUP\n":
        pending.popleft()
        saw_hangup = True
    unit = [pending.popleft()]
    if unit[0].startswith(b"520-"):
        while not unit[-1].startswith(b"520 "):
            unit.append(pending.popleft())
    return unit, saw_hangup


def command_name(raw: bytes) -> str:
    head = " ".join(split_args(raw.decode().rstrip("\r\n"))).upper()
    for name in (
        "WAIT FOR DIGIT",
        "GET DATA",
        "RECORD FILE",
        "GET FULL VARIABLE",
        "GET VARIABLE",
        "CHANNEL STATUS",
        "STREAM FILE",
        "SAY DIGITS",
        "EXEC",
    ):
        if head.startswith(name):
            return name
    return head


@pytest.mark.parametrize("path", transcripts(FIXTURES), ids=lambda p: p.name.split(".")[0])
def test_the_session_replays_the_transcript_and_reads_every_reply_right(path: Path) -> None:
    env, exchanges = split_transcript(read_transcript(path))
    ours, theirs = socket.socketpair()
    replayer = AsteriskReplayer(theirs, env, exchanges)
    try:
        if not env:  # c-close-noread: the recorder closed before reading
            theirs.close()
            with pytest.raises(AgiConnectionClosed):
                FastAgiSession(ours, read_timeout_s=5)
            return
        session = FastAgiSession(ours, read_timeout_s=5, name=path.name)
        assert session.environment.script == "ivr"
        pending: deque[bytes] = deque()
        hangup_expected = False
        checked = 0
        for exchange in exchanges:
            pending.extend(exchange.received)
            if not exchange.sent:
                # Asterisk spoke first: a HANGUP while the server held the call, then the
                # replayer ends the stream; the session records the hangup, then sees EOF
                with pytest.raises(AgiConnectionClosed):
                    session.read_reply()
                assert session.hangup_seen
                checked += 1
                continue
            if not exchange.sent[0].endswith(b"\n"):
                break  # the recorded server wrote half a command and closed
            if not exchange.received and exchange is exchanges[-1]:
                break  # the recorded server closed while the command ran
            if len(exchange.sent) > 1:
                # the recorded server pipelined (d-edge-cases); read what Asterisk answered
                session.sock.sendall(b"".join(exchange.sent))
                while pending:
                    unit, saw = next_unit(pending)
                    hangup_expected |= saw
                    reply = session.read_reply()
                    assert reply.code == int(unit[0][:3])
                    checked += 1
                continue
            unit, saw = next_unit(pending)
            hangup_expected |= saw
            command = command_name(exchange.sent[0])
            error = expected_error(unit, command)
            if error is None:
                value = issue(session, exchange.sent[0])
                if (command, unit[0]) in VALUES:
                    assert value == VALUES[(command, unit[0])], (command, unit)
            else:
                with pytest.raises(error):
                    issue(session, exchange.sent[0])
            assert session.hangup_seen == hangup_expected, (command, unit)
            checked += 1
        session.close()
        replayer.thread.join(10)
        assert replayer.error is None
        assert replayer.mismatches == []
        if exchanges and exchanges[0].sent and exchanges[0].sent[0].endswith(b"\n"):
            assert checked >= 1
    finally:
        ours.close()
        theirs.close()


def test_the_hangup_notice_between_a_command_and_its_reply_is_recorded_not_fatal(
    asterisk_fixtures: Path,
) -> None:
    env, exchanges = split_transcript(
        read_transcript(asterisk_fixtures / "b-hangup-during-record.agi.txt")
    )
    ours, theirs = socket.socketpair()
    AsteriskReplayer(theirs, env, exchanges)
    session = FastAgiSession(ours, read_timeout_s=5)
    for raw in (b"ANSWER\n", b'STREAM FILE beep ""\n', b"WAIT FOR DIGIT 5000\n"):
        issue(session, raw)
    assert session.get_data("enter-code", 5000, 4) == "4321"
    with pytest.raises(AGIUsageError, match="Proper usage"):
        session.execute("SAY DIGITS", "12345")
    assert session.say_digits("12345") == ""
    with pytest.raises(AgiHangupResult):
        session.record_file("/var/spool/asterisk/citygw/rec-test", "wav", "#", 3000, 0, "", 2)
    assert session.last_reply is not None and session.last_reply.endpos == 6297
    assert not session.hangup_seen
    session.set_variable("CASEID", "2026000123")  # HANGUP arrives before this reply
    assert session.hangup_seen
    assert session.get_variable("CALLERID(num)") == "13800138000"  # still allowed
    assert session.get_variable("NOSUCHVAR") == ""
    with pytest.raises(AgiDeadChannel):
        session.channel_status()
    session.close()
    theirs.close()


def test_a_silent_peer_times_out_instead_of_holding_the_thread_forever() -> None:
    ours, theirs = socket.socketpair()
    try:
        with pytest.raises(AgiReplyTimeout):
            FastAgiSession(ours, env_timeout_s=0.2)
        theirs.sendall(b"agi_network: yes\n\n")
        ours2, theirs2 = socket.socketpair()
        theirs2.sendall(b"agi_network: yes\n\n")
        session = FastAgiSession(ours2, read_timeout_s=0.2)
        with pytest.raises(AgiReplyTimeout):
            session.answer()
        assert theirs2.recv(100) == b"ANSWER\n"
        ours2.close()
        theirs2.close()
    finally:
        ours.close()
        theirs.close()


def test_eof_in_the_middle_of_the_environment_is_a_closed_connection() -> None:
    ours, theirs = socket.socketpair()
    theirs.sendall(b"agi_network: yes\nagi_chan")
    theirs.close()
    with pytest.raises(AgiConnectionClosed):
        FastAgiSession(ours, read_timeout_s=1)
    ours.close()


def test_a_gbk_caller_name_in_the_environment_is_read_not_fatal() -> None:
    ours, theirs = socket.socketpair()
    theirs.sendall(
        b"agi_network: yes\nagi_network_script: ivr\n"
        + "agi_calleridname: 张三\n".encode("gbk")
        + b"agi_callerid: 13800138000\n\n"
    )
    session = FastAgiSession(ours, read_timeout_s=1)
    assert session.environment.calleridname == "张三"
    assert session.environment.callerid == "13800138000"
    session.close()
    theirs.close()
