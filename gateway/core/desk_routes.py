"""The agent's desk and the recordings of agent calls.

- ``GET /api/v1/desk/calls``: the calls this user answered lately (their screen pops,
  newest first, each with its recording link once the file exists), and whether this
  user is an agent at all (``core.agent_desk.agents``); the console shows the last pop
  again after a reload. New pops arrive on the event stream (``agent_call``).
- ``GET /api/v1/desk/queues``: the agents' queues as each hotline gateway last said
  (waiting, longest wait, answered, abandoned, agents; AMI state, callbacks paused);
  changes arrive on the event stream (``queues``).
- ``GET /api/v1/recordings/{uniqueid}``: an agent call's MixMonitor recording, served
  from ``core.recordings.folder`` with the user's token (the console fetches it as a
  blob, as it does evidence). The uniqueid is checked before a file name is made from
  it and the file must lie inside the folder (`gateway.core.recordings`).

Operators, shift leads and admins only (those who see callers' numbers whole): a
recording holds the caller's voice and number.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from gateway.core.api_base import ApiContext, ApiError, allow
from gateway.core.case_views import CALLBACK_ROLES
from gateway.core.recordings import RecordingFolder
from gateway.core.workflow import Actor

_UNIQUEID = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$"


def desk_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["agent desk"])

    @router.get("/desk/calls", summary="the calls this agent answered lately (screen pops)")
    def my_calls(actor: Annotated[Actor, Depends(allow(CALLBACK_ROLES))]) -> dict[str, Any]:
        config = ctx.config.agent_desk
        is_agent = any(a.user == actor.name for a in config.agents)
        items = ctx.desk.recent(actor.name) if ctx.desk is not None and is_agent else []
        return {"agent": is_agent, "items": items}

    @router.get("/desk/queues", summary="the agents' queues now (each hotline gateway's figures)")
    def queues(_actor: Annotated[Actor, Depends(allow(CALLBACK_ROLES))]) -> dict[str, Any]:
        return {"gateways": ctx.desk.queues() if ctx.desk is not None else []}

    @router.get(
        "/recordings/{uniqueid}",
        summary="an agent call's recording (MixMonitor), by the caller channel's uniqueid",
        response_class=FileResponse,
        responses={200: {"content": {"audio/wav": {}}}, 404: {}, 503: {}},
    )
    def recording(
        uniqueid: Annotated[str, PathParam(pattern=_UNIQUEID)],
        _actor: Annotated[Actor, Depends(allow(CALLBACK_ROLES))],
    ) -> FileResponse:
        folder: RecordingFolder | None = ctx.recordings
        if folder is None or not folder.enabled:
            raise ApiError(503, "recordings_unavailable", "this core has no recordings folder")
        found = folder.find(uniqueid)
        if found is None:
            raise ApiError(404, "recording_not_found", "no recording of this call")
        return FileResponse(
            found.path,
            media_type=found.media_type,
            headers={"Cache-Control": "private, no-store"},
        )

    return router
