"""Agent calls: the hotline gateway tells the core that an agent took a queued call.

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

from pydantic import Field, field_validator

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
