"""``GET /api/v1/call-records``: the hotline's call records (话务记录), read-only.

Consultations, status queries, transfers and calls that chose nothing: kept by the core
without a case (`gateway.core.call_records`). Operators and shift leads read them (the
desk that answers the hotline), and the admin, who reads everything; other roles get
403. The list is newest first, filtered by purpose, by the case a call was about
(``case_number``: the case page's 回访与来电, e.g. a callback waiting outside calling
hours or for the do-not-call list) and by when the core received them.
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from gateway.core.api_base import ApiError, allow
from gateway.core.call_records import CallRecordFilter, CallRecordReader
from gateway.core.recordings import RecordingFolder
from gateway.core.workflow import Actor, Role

READERS = frozenset({Role.OPERATOR, Role.SHIFT_LEAD, Role.ADMIN})

#: the purposes kept as records (`call_records.RECORD_ONLY_PURPOSES`; a test keeps them equal)
Purpose = Literal["consultation", "status_query", "transfer", "none", "callback"]


def call_records_router(
    reader: CallRecordReader | None, recordings: RecordingFolder | None = None
) -> APIRouter:
    """The route; ``reader`` is chosen in bootstrap (None: the route answers 503, this
    core was started without one). Each record links its call's recording (an agent
    took the call: MixMonitor's file) when ``recordings`` has one."""
    router = APIRouter(prefix="/api/v1", tags=["call records"])

    @router.get("/call-records", summary="hotline calls kept without a case (话务记录)")
    def list_call_records(
        _actor: Annotated[Actor, Depends(allow(READERS))],
        purpose: Annotated[Purpose | None, Query()] = None,
        case_number: Annotated[
            str | None,
            Query(
                pattern=r"^[A-Za-z0-9\-]{1,32}$",
                description="the calls about one case: its callbacks (回访) and status calls",
            ),
        ] = None,
        received_from: datetime | None = None,
        received_to: datetime | None = None,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> dict[str, Any]:
        for moment in (received_from, received_to):
            if moment is not None and moment.tzinfo is None:
                raise ApiError(
                    422, "invalid_request", "times need a timezone (e.g. 2026-01-05T00:00:00Z)"
                )
        query = CallRecordFilter(
            purpose=purpose,
            case_number=case_number,
            received_from=received_from,
            received_to=received_to,
            offset=offset,
            limit=limit,
        )
        if reader is None:
            raise ApiError(503, "call_records_unavailable", "this core has no call-record reader")
        items, total = reader.call_records(query)
        return {
            "total": total,
            "offset": offset,
            "limit": limit,
            "items": [
                {
                    **item.to_dict(),
                    "recording": recordings.link_for(item.facts) if recordings else None,
                }
                for item in items
            ],
        }

    return router
