"""`CallChannel` (the IVR's port) over a `FastAgiSession`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from asterisk.agi import AGIError

from adapters.asterisk.agi_session import FastAgiSession
from gateway.telephony.channel import (
    CallInfo,
    ChannelError,
    ChannelHangup,
    CommandFailed,
    Recording,
    RecordingEnd,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


class AgiChannel:
    """The IVR's view of one FastAGI call."""

    def __init__(self, session: FastAgiSession) -> None:
        self.session = session
        env = session.environment
        self._info = CallInfo(
            uniqueid=env.uniqueid,
            channel=env.channel,
            caller_number=env.callerid,
            caller_name=env.calleridname,
            script=env.script,
            query=env.query,
            args=env.args,
            language=env.get("agi_language"),
            extension=env.get("agi_extension"),
            context=env.get("agi_context"),
        )

    @property
    def info(self) -> CallInfo:
        return self._info

    @property
    def hung_up(self) -> bool:
        return self.session.hangup_seen

    def answer(self) -> None:
        self._run(self.session.answer)

    def play(self, prompt: str, *, interrupt_keys: str = "") -> str:
        return str(self._run(self.session.stream_file, prompt, interrupt_keys))

    def ask_digits(self, prompt: str, *, timeout_ms: int, max_digits: int) -> str:
        return str(self._run(self.session.get_data, prompt, timeout_ms, max_digits))

    def wait_for_key(self, timeout_ms: int) -> str:
        return str(self._run(self.session.wait_for_digit, timeout_ms))

    def say_digits(self, digits: str, *, interrupt_keys: str = "") -> str:
        return str(self._run(self.session.say_digits, digits, interrupt_keys))

    def record(
        self, path: str, *, file_format: str, max_ms: int, silence_s: int, end_keys: str = "#"
    ) -> Recording:
        try:
            key = self.session.record_file(path, file_format, end_keys, max_ms, 0, "", silence_s)
        except ChannelHangup:
            reply = self.session.last_reply
            if reply is not None and reply.hangup:
                # the caller hung up while talking: what was said is on disk, keep it
                return Recording(path, file_format, RecordingEnd.HANGUP, reply.endpos)
            raise
        except AGIError as exc:
            raise _as_channel_error(exc) from exc
        reply = self.session.last_reply
        ended = RecordingEnd.KEY if key else RecordingEnd.TIMEOUT
        return Recording(path, file_format, ended, reply.endpos if reply else None)

    def set_variable(self, name: str, value: str) -> None:
        self._run(self.session.set_variable, name, value)

    def exec_app(self, application: str, options: str = "") -> None:
        self._run(self.session.appexec, application, options)

    def is_alive(self) -> bool:
        if self.session.hangup_seen or self.session.closed:
            return False
        try:
            return int(self.session.channel_status()) == 6
        except (ChannelError, AGIError):
            return False

    def hangup(self) -> None:
        self._run(self.session.hangup)

    def _run(self, method: Callable[..., T], *args: object) -> T:
        """Run a session command; pyst2's own errors become the IVR's `ChannelError`s."""
        try:
            return method(*args)
        except ChannelError:
            raise
        except AGIError as exc:
            raise _as_channel_error(exc) from exc


def _as_channel_error(exc: Exception) -> ChannelError:
    if isinstance(exc, ChannelError):
        return exc
    return CommandFailed(f"{type(exc).__name__}: {exc}")
