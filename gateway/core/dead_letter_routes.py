"""``GET /api/v1/dead-letters``: the messages the core refused for good (死信), for admins.

Each is a message that broke the contract (not JSON, nested too deep, a wrong type, a
source other than its topic's, facts over the limits, ...) or a valid one that failed
alone when stored (`gateway.dead_letters`). The core keeps the newest of them
(``core.intake.dead_letters_keep``); this lists them newest first, a page at a time,
with their reason code, reason, size and first bytes. Admins only: a refused payload
may hold anything, personal data included.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from gateway.core.api_base import allow
from gateway.core.workflow import Actor, Role
from gateway.dead_letters import HEAD_BYTES, DeadLetterReader

READERS = frozenset({Role.ADMIN})


def dead_letters_router(reader: DeadLetterReader) -> APIRouter:
    """The route; ``reader`` is chosen in bootstrap."""
    router = APIRouter(prefix="/api/v1", tags=["dead letters"])

    @router.get(
        "/dead-letters",
        summary="messages the core refused for good (死信), newest first (admin)",
    )
    def list_dead_letters(
        _actor: Annotated[Actor, Depends(allow(READERS))],
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> dict[str, Any]:
        items, total = reader.dead_letters(offset, limit)
        return {
            "total": total,
            "offset": offset,
            "limit": limit,
            "head_bytes_kept": HEAD_BYTES,
            "items": [item.to_dict() for item in items],
        }

    return router
