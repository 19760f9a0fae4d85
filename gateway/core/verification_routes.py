"""``/api/v1/cases/{id}/camera-checks``: camera-assisted verification on the case page.

``GET`` lists a case's camera checks (who asked, when, the verdict and its before/after
snapshots, or that it timed out) to everyone who may read the case; ``POST`` asks the
case's camera to look again (operators, shift leads, dispatchers, inspectors; 409 while
a check is still waiting, or for a closed case; 422 for a case without a camera). A
verdict informs the person deciding 核查: these routes never change the case's state.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from gateway.core.api_base import ApiContext, ApiError, allow
from gateway.core.case_views import visible_case
from gateway.core.verification import (
    REQUESTERS,
    Verification,
    VerificationRefused,
    VerificationService,
)
from gateway.core.workflow import USER_ROLES, Actor

READERS = frozenset(USER_ROLES)

_REFUSAL_STATUS = {
    "forbidden_role": 403,
    "no_camera": 422,
    "wrong_state": 409,
    "camera_check_pending": 409,
}


def verification_out(case_id: str, verification: Verification) -> dict[str, Any]:
    def url(sha256: str | None) -> str | None:
        return f"/api/v1/cases/{case_id}/evidence/{sha256}" if sha256 else None

    facts = verification.facts
    return {
        "id": verification.id,
        "seq": verification.seq,
        "camera_id": verification.camera_id,
        "trigger": str(verification.trigger),
        "requested_at": verification.requested_at,
        "requested_by": verification.requested_by,
        "reply_by": verification.reply_by,
        "status": str(verification.status),
        "verdict": verification.verdict,
        "answered_at": verification.answered_at,
        "timed_out_at": verification.timed_out_at,
        "late": bool(facts.get("late")),
        "detail": verification.detail,
        "passes": facts.get("passes"),
        "passes_present": facts.get("passes_present"),
        "before_url": url(verification.before_sha256),
        "after_url": url(verification.after_sha256),
    }


def camera_checks_router(ctx: ApiContext, service: VerificationService | None) -> APIRouter:
    """The routes; ``service`` None: 503 (a core started without camera checks)."""
    router = APIRouter(prefix="/api/v1", tags=["camera checks"])

    def checks() -> VerificationService:
        if service is None:
            raise ApiError(503, "camera_checks_unavailable", "this core has no camera checks")
        return service

    @router.get(
        "/cases/{case_id}/camera-checks",
        summary="the camera checks (摄像头核查) of a case, oldest first",
    )
    def list_checks(
        case_id: str, actor: Annotated[Actor, Depends(allow(READERS))]
    ) -> dict[str, Any]:
        case = visible_case(ctx, case_id, actor)
        found = checks()
        items = found.of_case(case.id)
        return {
            "camera_id": case.camera_id,
            "can_request": found.can_request(case, actor, items),
            "items": [verification_out(case.id, v) for v in items],
        }

    @router.post(
        "/cases/{case_id}/camera-checks",
        status_code=201,
        summary="ask the case's camera to look again (the answer never closes the case)",
    )
    def request_check(
        case_id: str, actor: Annotated[Actor, Depends(allow(REQUESTERS))]
    ) -> dict[str, Any]:
        visible_case(ctx, case_id, actor)
        try:
            verification = checks().request(case_id, actor)
        except VerificationRefused as refused:
            raise ApiError(
                _REFUSAL_STATUS.get(refused.code, 409), refused.code, refused.reason
            ) from refused
        return verification_out(case_id, verification)

    return router
