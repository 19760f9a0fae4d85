"""PTZ commands: the core asks the video gateway that pulls a camera to move it.

Sent on ``commands/video/<camera-id>/ptz`` (QoS 1, never retained) when a person at the
console's live view presses a button. The gateway runs it on the camera's ONVIF PTZ
service; what it leads to is told in the camera's status (its ``faults``: ``ptz`` when
the camera refused, ``rules`` while the camera looks away from its analysis preset and
its zone rules are paused). A move is only worth making while someone watches: a command
older than the gateway's ``max_age_s`` (delivered late, after an outage) is dropped.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import Field, model_validator

from gateway.contract.envelope import _SOURCE_ID_PATTERN, _Message


class PtzAction(StrEnum):
    GOTO_PRESET = "goto_preset"
    RELATIVE_MOVE = "relative_move"  # a step: pan/tilt/zoom in the device's generic space
    CONTINUOUS_MOVE = "continuous_move"  # a speed, until stop or ``timeout_s``
    STOP = "stop"


_Axis = Annotated[float, Field(ge=-1, le=1)]


class PtzCommand(_Message):
    """One PTZ command for one camera (contract 1.1: a consumer that predates it ignores it)."""

    SCHEMA: ClassVar[str] = "citygw.ptz_command"
    schema_name: str = Field(default=SCHEMA, alias="schema")

    camera_id: Annotated[str, Field(pattern=_SOURCE_ID_PATTERN)]
    action: PtzAction
    preset: str | None = Field(
        default=None, min_length=1, max_length=64, description="preset token (goto_preset)"
    )
    pan: _Axis = Field(default=0.0, description="-1 left .. 1 right (generic space)")
    tilt: _Axis = Field(default=0.0, description="-1 down .. 1 up (generic space)")
    zoom: _Axis = Field(default=0.0, description="-1 out .. 1 in (generic space)")
    timeout_s: float = Field(
        default=1.0, gt=0, le=60, description="continuous_move: the device stops by itself then"
    )
    requested_by: str = Field(default="", max_length=100)

    @model_validator(mode="after")
    def _what_the_action_needs(self) -> PtzCommand:
        if self.action is PtzAction.GOTO_PRESET and not self.preset:
            raise ValueError("goto_preset needs a preset")
        moving = (PtzAction.RELATIVE_MOVE, PtzAction.CONTINUOUS_MOVE)
        if self.action in moving and not (self.pan or self.tilt or self.zoom):
            raise ValueError(f"{self.action} needs a pan, tilt or zoom other than 0")
        return self
