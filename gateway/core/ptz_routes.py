"""``POST /api/v1/cameras/{camera_id}/ptz``: move a camera from the console's live view.

Operators and shift leads only (`PTZ_OPERATORS`). 202: the command is on its way to the
camera's video gateway (its outcome shows in the camera's status); 404 for a camera no
gateway has reported, 422 for a command that does not hold together, 503 when this core
sends no PTZ commands.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from gateway.contract import PtzAction
from gateway.core.api_base import ApiContext, ApiError, allow
from gateway.core.ptz import PTZ_OPERATORS, PtzCommands, PtzRefused
from gateway.core.workflow import Actor

_REFUSAL_STATUS = {"unknown_camera": 404, "bad_ptz": 422}


class PtzIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: PtzAction
    preset: str | None = Field(default=None, max_length=64)
    pan: float = 0.0
    tilt: float = 0.0
    zoom: float = 0.0
    timeout_s: float = 1.0


def ptz_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["cameras"])

    def commands() -> PtzCommands:
        if ctx.ptz is None:
            raise ApiError(503, "ptz_unavailable", "this core sends no PTZ commands")
        ptz: PtzCommands = ctx.ptz
        return ptz

    @router.post(
        "/cameras/{camera_id}/ptz",
        status_code=202,
        summary="move a camera: goto a preset, a step, a continuous move, stop",
    )
    def move(
        camera_id: str,
        body: PtzIn,
        actor: Annotated[Actor, Depends(allow(PTZ_OPERATORS))],
    ) -> dict[str, Any]:
        try:
            command = commands().send(
                camera_id,
                actor,
                body.action,
                preset=body.preset,
                pan=body.pan,
                tilt=body.tilt,
                zoom=body.zoom,
                timeout_s=body.timeout_s,
            )
        except PtzRefused as refused:
            raise ApiError(
                _REFUSAL_STATUS.get(refused.code, 422), refused.code, refused.reason
            ) from refused
        return {"id": command.id, "camera_id": camera_id, "action": str(command.action)}

    return router
