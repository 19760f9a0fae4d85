"""Configuration of the hotline's AMI side and its outbound callbacks (回访):
`telephony.callbacks` in the config file.

``enabled`` lets `citygw ami` connect to the Asterisk Manager Interface (`AmiSettings`)
and run what it feeds: call records of calls the IVR never took (and the Master.csv catch-up,
`CdrCsvSettings`), the agent's screen pop and the queue figures. ``originate`` adds the
callbacks themselves: the call (dial string, survey context, ring time), when calls may
be made (days, hours, holidays: the hours rule of the call centre, in
`telephony.timezone`), and how hard to try (attempts, retry delay, a daily cap per
number, a rate, a do-not-call list).
"""

from __future__ import annotations

import re
from datetime import date, time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

_WINDOW = re.compile(r"^(?P<start>\d{2}:\d{2})-(?P<end>\d{2}:\d{2})$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AmiSettings(_Section):
    """How the gateway reaches the Asterisk Manager Interface (manager.conf's user)."""

    host: str = Field(default="127.0.0.1", min_length=1, description="AMI host")
    port: int = Field(default=5038, ge=1, le=65535, description="AMI port (manager.conf port)")
    username: str = Field(
        default="citygw", pattern=r"^[A-Za-z0-9_\-.]{1,64}$", description="manager.conf user"
    )
    secret: SecretStr | None = Field(
        default=None, description="manager.conf secret; e.g. ${CITYGW_AMI_SECRET}"
    )
    connect_timeout_s: float = Field(default=5.0, gt=0, le=60, description="TCP connect limit")
    action_timeout_s: float = Field(
        default=10.0, gt=0, le=120, description="longest wait for an action's response"
    )
    boot_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="longest wait for FullyBooted after login"
    )
    reconnect_min_s: float = Field(default=1.0, gt=0, le=60, description="first reconnect pause")
    reconnect_max_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="longest reconnect pause (also after a refused login)",
    )
    ping_interval_s: float = Field(
        default=20.0, gt=0, le=600, description="a Ping this often finds a half-open connection"
    )

    @model_validator(mode="after")
    def _pauses(self) -> AmiSettings:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be at least reconnect_min_s")
        return self


class CdrCsvSettings(_Section):
    """Asterisk's ``cdr_csv`` file, read for the calls AMI could not show (this daemon
    down or restarting): ``config/asterisk/cdr-citygw.conf``. The three layout options
    must say what the ``[csv]`` section of Asterisk's ``cdr.conf`` says."""

    path: Path | None = Field(
        default=None,
        description=(
            "Master.csv as this host sees it, e.g. /var/log/asterisk/cdr-csv/Master.csv (the"
            " same host or a read-only mount); unset: not read"
        ),
    )
    poll_s: float = Field(
        default=15.0, ge=1, le=3600, description="how often the file is read for new rows"
    )
    loguserfield: bool = Field(default=True, description="cdr.conf [csv] loguserfield")
    newcdrcolumns: bool = Field(
        default=False, description="cdr.conf [csv] newcdrcolumns (peeraccount, linkedid, sequence)"
    )
    usegmtime: bool = Field(
        default=False,
        description="cdr.conf [csv] usegmtime: times in GMT (else Asterisk's local zone,"
        " taken to be telephony.timezone)",
    )
    max_age_s: float = Field(
        default=3 * 86400.0,
        ge=60,
        le=6 * 86400,
        description=(
            "rows of calls that ended longer ago are not recorded (the IVR's handled calls are"
            " remembered 7 days; a first read or a lost position must not take older IVR"
            " calls for unhandled ones)"
        ),
    )
    max_read_bytes: int = Field(
        default=1 << 20,
        ge=64 << 10,
        le=64 << 20,
        description="bytes read at once (a large backlog is read in steps of this size)",
    )

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        if value is not None and (not value.is_absolute() or value.name in ("", ".", "..")):
            raise ValueError(
                "path must be an absolute path to a file, e.g. /var/log/asterisk/cdr-csv/Master.csv"
            )
        return value


class CallbackConfig(_Section):
    enabled: bool = Field(
        default=False,
        description=(
            "let `citygw ami` connect to Asterisk's AMI and run its features: call records of"
            " calls the IVR never took (and cdr_csv), the agent's screen pop, the queue"
            " figures, and the callbacks unless originate is false"
        ),
    )
    originate: bool = Field(
        default=True,
        description=(
            "with enabled: call reporters back when their hotline case is closed (回访);"
            " false: no callback is ever queued or dialled (closing case events are ignored,"
            " health says callbacks off), the other AMI features run"
        ),
    )
    ami: AmiSettings = Field(default_factory=AmiSettings)
    channel: str = Field(
        default="Local/{number}@citygw-outbound",
        min_length=8,
        max_length=200,
        description="Originate dial string; {number} is the reporter's callback number",
    )
    context: str = Field(
        default="citygw-callback",
        pattern=r"^[A-Za-z0-9_\-]{1,80}$",
        description="dialplan context the answered call continues in (the survey)",
    )
    exten: str = Field(default="s", pattern=r"^[A-Za-z0-9_\-+*#]{1,80}$", description="extension")
    priority: int = Field(default=1, ge=1, le=1000, description="priority")
    caller_id: str = Field(
        default='"12319" <12319>', max_length=100, description="caller id shown to the citizen"
    )
    ring_timeout_s: int = Field(
        default=30,
        ge=5,
        le=120,
        description="how long the citizen's phone rings (Originate Timeout)",
    )
    max_call_s: float = Field(
        default=300.0, gt=0, le=3600, description="longest wait for an answered call to end"
    )
    survey_variable: str = Field(
        default="CITYGW_KEY",
        pattern=r"^[A-Z][A-Z0-9_]{0,40}$",
        description="channel variable the survey context Read()s the key into",
    )
    on_states: list[str] = Field(
        default=["closed"],
        min_length=1,
        description="case states (core events' to_state) that start a callback, once per case",
    )
    delay_after_close_s: float = Field(
        default=300.0, ge=0, le=7 * 86400, description="wait this long after the case closes"
    )
    days: list[int] = Field(
        default=[1, 2, 3, 4, 5, 6],
        min_length=1,
        max_length=7,
        description="ISO weekdays calls may be made on (1 Monday ... 7 Sunday)",
    )
    hours: list[str] = Field(
        default=["09:00-12:00", "14:00-18:00"],
        min_length=1,
        max_length=8,
        description="local time windows HH:MM-HH:MM calls may start in",
    )
    holidays: list[date] = Field(
        default_factory=list, max_length=400, description="dates with no callbacks"
    )
    official_holidays: Literal["chinese_calendar", "none"] = Field(
        default="chinese_calendar",
        description="the State Council's holidays (no callbacks) and make-up working days "
        "(调休: callbacks as on a working day) from the chinesecalendar library; a year it does "
        "not know yet: its statutory holidays; 'none': the days and holidays above alone",
    )
    max_attempts: int = Field(default=3, ge=1, le=10, description="calls before giving up")
    retry_after_s: float = Field(
        default=1800.0, ge=10, le=7 * 86400, description="pause after no answer / busy / congestion"
    )
    daily_cap_per_number: int = Field(
        default=2, ge=1, le=20, description="calls to one number a day, all cases together"
    )
    rate_per_s: float = Field(default=1.0, gt=0, le=50, description="Originates per second at most")
    max_concurrent: int = Field(
        default=10, ge=1, le=500, description="callbacks in progress at once"
    )
    expire_after_s: float = Field(
        default=7 * 86400.0,
        ge=3600,
        le=90 * 86400,
        description="a callback still not made this long after the case closed is given up",
    )
    do_not_call: list[str] = Field(
        default_factory=list, max_length=100_000, description="numbers never called back"
    )
    do_not_call_file: Path | None = Field(
        default=None, description="a file of numbers never called back, one a line (# comments)"
    )

    unhandled_call_contexts: list[str] = Field(
        default=["citygw-12319", "citygw-agents"],
        max_length=20,
        description=(
            "hotline dialplan contexts whose CDRs (AMI read class cdr) of calls the IVR never"
            " handled become call records; empty: none"
        ),
    )

    cdr_csv: CdrCsvSettings = Field(
        default_factory=CdrCsvSettings,
        description="Asterisk's Master.csv, read for the hotline calls made while AMI could not"
        " show them (off unless path is set)",
    )

    queues: list[str] = Field(
        default=["citygw-12319-agents"],
        max_length=20,
        description="agent queues whose figures (waiting, longest wait, answered, abandoned) are polled",
    )
    unhandled_grace_s: float = Field(
        default=5.0,
        ge=0.5,
        le=300,
        description=(
            "how long after a call's CDR (and after the IVR's candidates are coming in over"
            " MQTT again) the IVR's candidate of that call is waited for before the call is"
            " recorded as one the IVR never took"
        ),
    )
    queue_poll_s: float = Field(
        default=10.0, ge=1, le=600, description="how often the queue figures are asked for"
    )

    @field_validator("channel")
    @classmethod
    def _has_number(cls, value: str) -> str:
        if "{number}" not in value or "\r" in value or "\n" in value:
            raise ValueError("channel must contain {number} and be one line")
        return value

    @field_validator("hours")
    @classmethod
    def _windows(cls, value: list[str]) -> list[str]:
        for window in value:
            match = _WINDOW.match(window)
            if match is None:
                raise ValueError(f"{window!r}: write HH:MM-HH:MM")
            start, end = time.fromisoformat(match["start"]), time.fromisoformat(match["end"])
            if start >= end:
                raise ValueError(f"{window!r}: the window must end after it starts")
        return value

    @field_validator("days")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if any(day < 1 or day > 7 for day in value):
            raise ValueError("days are ISO weekdays 1-7")
        return sorted(set(value))

    @field_validator("on_states")
    @classmethod
    def _state_names(cls, value: list[str]) -> list[str]:
        for state in value:
            if not re.fullmatch(r"[a-z_]{1,40}", state):
                raise ValueError(f"state {state!r}: lower-case letters and _ only")
        return value

    @model_validator(mode="after")
    def _secret_when_enabled(self) -> CallbackConfig:
        if self.enabled and (self.ami.secret is None or not self.ami.secret.get_secret_value()):
            raise ValueError("callbacks.enabled needs ami.secret (e.g. ${CITYGW_AMI_SECRET})")
        return self

    @model_validator(mode="after")
    def _csv_needs_ami(self) -> CallbackConfig:
        if self.cdr_csv.path is not None and not self.enabled:
            raise ValueError(
                "cdr_csv.path needs callbacks.enabled, the AMI connection (its call records"
                " and the calls the IVR handled are kept with it); outbound calls may stay off"
                " (callbacks.originate: false)"
            )
        return self

    def windows(self) -> list[tuple[time, time]]:
        out = []
        for window in self.hours:
            start, _, end = window.partition("-")
            out.append((time.fromisoformat(start), time.fromisoformat(end)))
        return sorted(out)
