"""Agent calls and queues: the hotline gateway tells the core that an agent took a
queued call (`AgentCall`), and how its agents' queues stand (`AgentQueues`).

Sent on ``agent-calls/<source-id>`` (QoS 1, never retained) when Asterisk's queue
connects a caller to an agent (AMI ``AgentConnect``). The core pops the call on that
agent's console (the agent's desk): the caller's number, what the caller chose in the
IVR before the transfer (``ivr``: the IVR call's facts, title and case number, when
the gateway handled the call), and the caller's earlier cases (looked up by the core).
A pop is only worth showing while the call lasts: the core drops one older than its
``max_age_s`` (delivered late, after an outage).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gateway.contract.envelope import _Message, check_facts


class AgentCall(_Message):
    """One queue call answered by one agent (contract 1.3: a 1.2 consumer never subscribes)."""

    SCHEMA: ClassVar[str] = "citygw.agent_call"
    schema_name: str = Field(default=SCHEMA, alias="schema")

    uniqueid: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        description="the caller's channel (Asterisk Uniqueid): the IVR call's uniqueid too"
    )
    linkedid: str = Field(default="", max_length=64)
    caller_number: str = Field(default="", max_length=64)
    caller_name: str = Field(default="", max_length=100)
    queue: str = Field(default="", max_length=80)
    interface: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="the queue member's interface (queues.conf member), e.g. PJSIP/8001"
    )
    member_name: str = Field(default="", max_length=100)
    hold_s: int = Field(default=0, ge=0, le=86400, description="seconds the caller waited")
    ivr: dict[str, Any] | None = Field(
        default=None,
        description=(
            "the IVR's record of the call before the transfer (title, case_number, partial,"
            " event_code, facts: call_purpose, keys, stage, category, district...); absent"
            " when the call never went through the IVR"
        ),
    )

    @field_validator("ivr")
    @classmethod
    def _ivr_bounded(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            check_facts(value)
        return value


class QueueFigure(BaseModel):
    """One agent queue's figures as Asterisk counts them (``QueueStatus``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    queue: str = Field(min_length=1, max_length=80)
    waiting: int = Field(default=0, ge=0, description="calls waiting now")
    longest_wait_s: int = Field(default=0, ge=0, description="the longest wait among them")
    answered: int = Field(default=0, ge=0, description="answered since Asterisk's start")
    abandoned: int = Field(default=0, ge=0, description="abandoned since Asterisk's start")
    agents_logged_in: int = Field(default=0, ge=0)
    agents_available: int = Field(default=0, ge=0, description="free, not paused")
    agents_paused: int = Field(default=0, ge=0)


class AgentQueues(_Message):
    """The hotline gateway's live queue figures, retained on ``agent-queues/<source-id>``
    (contract 1.3), published when they change and at least every minute. ``ami`` is
    the gateway's AMI connection state; while it is not ``ready`` the figures are the
    last known (``figures_age_s`` says how old) and callbacks are paused, unless the
    centre switched them off (``callbacks_state`` ``off``: nothing to pause)."""

    SCHEMA: ClassVar[str] = "citygw.agent_queues"
    schema_name: str = Field(default=SCHEMA, alias="schema")

    ami: str = Field(max_length=32, description="ready, connecting, backoff, refused ...")
    callbacks_paused: bool = False
    paused_reason: str = Field(default="", max_length=300)
    callbacks_state: str = Field(
        default="",
        max_length=16,
        description="the callbacks' state: running, paused or off (telephony.callbacks."
        "originate false); '' from a gateway that does not say it",
    )
    figures_age_s: float | None = Field(default=None, ge=0)
    queues: list[QueueFigure] = Field(default_factory=list, max_length=50)
