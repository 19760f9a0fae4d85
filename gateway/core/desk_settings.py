"""Configuration of the agent's desk (`core.agent_desk`) and of the agent calls'
recordings (`core.recordings`).

The desk maps console users to the queue member interfaces Asterisk names in its
``AgentConnect`` events (queues.conf ``member =>``, e.g. ``PJSIP/8001`` or
``Local/8001@citygw-agent-phones/n``); a call answered on one of them pops on that
user's console. Recordings are MixMonitor's files of agent calls, named by the
caller channel's uniqueid (``config/asterisk/extensions-citygw.conf``), read from a
folder the core can see (the same host as Asterisk, or a read-only mount).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

_USER = r"^[A-Za-z0-9_\-.@]{1,64}$"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeskAgent(_Section):
    """One agent: a console user and the queue member interface(s) they answer on."""

    user: str = Field(pattern=_USER, description="the console user (an operator or shift lead)")
    interfaces: list[str] = Field(
        min_length=1,
        max_length=8,
        description="queue member interfaces as AgentConnect names them, e.g. PJSIP/8001",
    )


class AgentDeskConfig(_Section):
    agents: list[DeskAgent] = Field(
        default_factory=list,
        max_length=500,
        description="console users taking hotline calls; an interface belongs to one user",
    )
    max_age_s: float = Field(
        default=120.0,
        gt=0,
        le=3600,
        description="an agent call older than this when it reaches the core pops no more",
    )
    caller_cases: int = Field(
        default=10, ge=1, le=100, description="the caller's earlier cases shown, newest first"
    )
    recent_calls: int = Field(
        default=20, ge=1, le=200, description="pops kept per agent (shown again after a reload)"
    )

    @model_validator(mode="after")
    def _one_user_per_interface(self) -> AgentDeskConfig:
        seen: dict[str, str] = {}
        for agent in self.agents:
            for interface in agent.interfaces:
                if not interface.strip() or len(interface) > 200:
                    raise ValueError(f"agent {agent.user}: empty or long interface")
                other = seen.setdefault(interface, agent.user)
                if other != agent.user:
                    raise ValueError(
                        f"interface {interface!r} is given to {other} and {agent.user}"
                    )
        return self

    def users_of(self, interface: str) -> list[str]:
        return [a.user for a in self.agents if interface in a.interfaces]


class RecordingsConfig(_Section):
    folder: Path | None = Field(
        default=None,
        description=(
            "MixMonitor's folder of agent-call recordings, files named <uniqueid>.<format>"
            " (e.g. /var/spool/asterisk/monitor/citygw); unset: no recording links"
        ),
    )
    formats: list[str] = Field(
        default=["wav", "WAV", "gsm", "mp3"],
        min_length=1,
        max_length=8,
        description="file extensions looked for, in this order",
    )
    retention_days: int | None = Field(
        default=None,
        ge=1,
        le=3650,
        description="recordings older than this are deleted by the core's daily sweep; unset: kept",
    )

    @model_validator(mode="after")
    def _plain_formats(self) -> RecordingsConfig:
        for fmt in self.formats:
            if not fmt.isalnum() or len(fmt) > 8:
                raise ValueError(f"format {fmt!r}: letters and digits only")
        return self
