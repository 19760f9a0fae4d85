"""Configuration of the telephony gateway (`citygw agi`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.settings_types import TimeZoneName
from gateway.telephony.callback_settings import CallbackConfig

_MENU_KEYS = "12345678"  # 9 repeats a menu, 0 reaches an agent: never options


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DistrictOption(_Section):
    """One district the caller can pick by key."""

    key: str = Field(pattern=r"^[1-8]$", description="DTMF key (1-8; 9 repeats, 0 is the agent)")
    name: str = Field(
        min_length=1, max_length=40, description="name read to the caller, e.g. 海州区"
    )
    grid_code: str | None = Field(
        default=None,
        pattern=r"^\d{14}$",
        description="unit grid code a report from this district starts with (14 digits)",
    )


class CategoryOption(_Section):
    """One problem category of the report menu, mapped to CJ/T 214."""

    key: str = Field(pattern=r"^[1-8]$", description="DTMF key (1-8)")
    name: str = Field(min_length=1, max_length=40, description="name read to the caller")
    table: Literal["events", "components"] = Field(
        default="events", description="CJ/T 214 table: events (事件) or components (部件)"
    )
    class_code: str = Field(pattern=r"^\d{2}$", description="CJ/T 214 class (2 digits)")
    event_code: str = Field(
        pattern=r"^\d{4}$",
        description="event code of the candidate (the class's 其他 code; an operator refines it)",
    )
    urgent: bool = Field(default=False, description="an emergency: urgent, and an agent offered")


def _default_districts() -> list[DistrictOption]:
    return [
        DistrictOption(key="1", name="海州区", grid_code="32070690100101"),
        DistrictOption(key="2", name="连云区", grid_code="32070390100101"),
        DistrictOption(key="3", name="赣榆区", grid_code="32070700100101"),
    ]


def _default_categories() -> list[CategoryOption]:
    return [
        CategoryOption(key="1", name="市容环境", class_code="01", event_code="0199"),
        CategoryOption(key="2", name="街面秩序", class_code="05", event_code="0599"),
        CategoryOption(key="3", name="宣传广告", class_code="02", event_code="0201"),
        CategoryOption(key="4", name="施工管理", class_code="03", event_code="0399"),
        CategoryOption(
            key="5", name="设施损坏", table="components", class_code="01", event_code="0199"
        ),
        CategoryOption(
            key="6", name="园林绿化", table="components", class_code="04", event_code="0199"
        ),
        CategoryOption(key="7", name="突发事件", class_code="04", event_code="0499", urgent=True),
        CategoryOption(key="8", name="其他", class_code="01", event_code="0199"),
    ]


class TelephonyConfig(_Section):
    listen_host: str = Field(default="127.0.0.1", description="FastAGI listen address")
    listen_port: int = Field(
        default=4573, ge=0, le=65535, description="FastAGI listen port (0: any free port)"
    )
    script: str = Field(
        default="ivr12319",
        pattern=r"^[A-Za-z0-9_\-]{1,40}$",
        description="FastAGI script name of the hotline: agi://host:port/<script>?lang=zh",
    )
    max_calls: int = Field(
        default=300,
        ge=1,
        le=2000,
        description="calls served at once; a call beyond is closed at once (dialplan falls back)",
    )
    read_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="longest wait for one reply from Asterisk (plus the command's own timeout)",
    )
    env_timeout_s: float = Field(
        default=10.0, gt=0, le=120, description="longest wait for the AGI environment block"
    )
    drain_timeout_s: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="on stop, how long calls in progress may go on before they are cut",
    )
    sounds_dir: Path = Field(
        default=Path("/var/lib/asterisk/sounds/zh"),
        description="Asterisk sounds directory of the call language; prompts go under <prompt_subdir>/, digits under digits/",
    )
    prompt_subdir: str = Field(
        default="citygw",
        pattern=r"^[A-Za-z0-9_\-]{1,40}$",
        description="subdirectory of sounds_dir for the IVR prompts",
    )
    recordings_dir: Path = Field(
        default=Path("/var/spool/asterisk/citygw"),
        description="where Asterisk writes callers' recordings (the gateway reads them there)",
    )
    keep_recordings: bool = Field(
        default=False, description="keep WAV files after they are safely in the outbox"
    )
    max_record_s: int = Field(default=60, ge=5, le=180, description="longest recording, seconds")
    record_silence_s: int = Field(
        default=4, ge=1, le=30, description="silence that ends a recording, seconds"
    )
    input_timeout_ms: int = Field(
        default=5000, ge=1000, le=30000, description="wait for a key after a menu prompt"
    )
    menu_tries: int = Field(
        default=3, ge=1, le=5, description="tries on every menu before the agent takes over"
    )
    case_number_prefix: str = Field(
        default="01",
        pattern=r"^\d{2}$",
        description="2 digits unique to this gateway instance; case numbers are <prefix><yymmdd><serial>",
    )
    timezone: TimeZoneName = Field(
        default="Asia/Shanghai", description="IANA zone of case-number dates"
    )
    agent_target: str = Field(
        default="citygw-agents,s,1",
        pattern=r"^[A-Za-z0-9_\-]+,[A-Za-z0-9_\-+*#]+,[A-Za-z0-9_\-]+$",
        description="dialplan context,extension,priority of the agent queue",
    )
    transfer_mode: Literal["goto", "variable"] = Field(
        default="goto",
        description="goto: EXEC Goto(agent_target) on exit; variable: only set CITYGW_RESULT=agent",
    )
    status_wait_s: float = Field(
        default=3.0,
        ge=0,
        le=10,
        description="how long a status query waits (music on hold) for an unknown case number",
    )
    music_on_hold_class: str = Field(
        default="default", pattern=r"^[A-Za-z0-9_\-]{1,40}$", description="MOH class"
    )
    closed_states: list[str] = Field(
        default=["closed", "evaluated"],
        min_length=1,
        description="case states after which the satisfaction survey is offered",
    )
    case_cache_size: int = Field(
        default=200_000, ge=100, le=10_000_000, description="case numbers remembered for status"
    )
    districts: list[DistrictOption] = Field(
        default_factory=_default_districts,
        min_length=1,
        max_length=8,
        description="district menu, in the order read to the caller",
    )
    categories: list[CategoryOption] = Field(
        default_factory=_default_categories,
        min_length=1,
        max_length=8,
        description="category menu (CJ/T 214 mapping), in the order read to the caller",
    )
    fallback_event_code: str = Field(
        default="0199",
        pattern=r"^\d{4}$",
        description=(
            "the 其他 code of a call that names no category: a report cut short before one was"
            " chosen, and the records of consultation, status-query and transfer calls"
        ),
    )

    callbacks: CallbackConfig = Field(
        default_factory=CallbackConfig,
        description="calling reporters back when their case is closed (AMI; off by default)",
    )

    @field_validator("closed_states")
    @classmethod
    def _state_names(cls, value: list[str]) -> list[str]:
        for state in value:
            if not re.fullmatch(r"[a-z_]{1,40}", state):
                raise ValueError(f"state {state!r}: lower-case letters and _ only")
        return value

    @model_validator(mode="after")
    def _unique_keys(self) -> TelephonyConfig:
        for label, options in (("districts", self.districts), ("categories", self.categories)):
            keys = [option.key for option in options]
            duplicates = sorted({key for key in keys if keys.count(key) > 1})
            if duplicates:
                raise ValueError(f"{label}: key(s) {', '.join(duplicates)} used twice")
            if any(key not in _MENU_KEYS for key in keys):  # pragma: no cover - pattern checks
                raise ValueError(f"{label}: keys are 1-8")
        return self

    @property
    def prompt_dir(self) -> Path:
        return self.sounds_dir / self.prompt_subdir
