"""Accounts: signing in and out (``/api/v1/auth/*``, ``/api/v1/me``) and the admin's
user management (``/api/v1/users``).

Tokens and passwords are `gateway.core.auth`'s; these routes only translate its answers
into HTTP.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from fastapi.responses import Response

from gateway.core.api_base import ALL_USERS, ApiContext, ApiError, allow, bearer_token
from gateway.core.api_schemas import LoginIn, LoginOut, UserIn, UserOut
from gateway.core.auth import AuthError, UserError
from gateway.core.workflow import Actor, Role


def accounts_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter()

    @router.post(
        "/api/v1/auth/login", response_model=LoginOut, tags=["auth"], summary="get a token (public)"
    )
    def login(body: LoginIn) -> dict[str, Any]:
        try:
            token, actor = ctx.auth.login(body.name, body.password)
        except AuthError as exc:
            raise ApiError(401, "unauthenticated", str(exc)) from exc
        return {
            "token": token,
            "expires_at": ctx.clock.now() + ctx.auth.ttl,
            "user": {"name": actor.name, "role": str(actor.role), "department": actor.department},
        }

    @router.post("/api/v1/auth/logout", status_code=204, tags=["auth"])
    def logout(
        _actor: Annotated[Actor, Depends(allow(ALL_USERS))],
        authorization: Annotated[str, Header()],
    ) -> Response:
        ctx.auth.logout(bearer_token(authorization) or "")
        return Response(status_code=204)

    @router.get("/api/v1/me", response_model=UserOut, tags=["auth"])
    def me(actor: Annotated[Actor, Depends(allow(ALL_USERS))]) -> dict[str, Any]:
        return {"name": actor.name, "role": str(actor.role), "department": actor.department}

    # ------------------------------------------------------------------ users

    @router.get("/api/v1/users", response_model=list[UserOut], tags=["users"])
    def list_users(_actor: Annotated[Actor, Depends(allow(Role.ADMIN))]) -> list[dict[str, Any]]:
        return [
            {
                "name": u["name"],
                "role": u["role"],
                "department": u["department"],
                "active": u["active"],
            }
            for u in ctx.auth.users()
        ]

    @router.post("/api/v1/users", response_model=UserOut, status_code=201, tags=["users"])
    def add_user(
        body: UserIn, _actor: Annotated[Actor, Depends(allow(Role.ADMIN))]
    ) -> dict[str, Any]:
        try:
            ctx.auth.add_user(body.name, body.role, body.password, body.department)
        except UserError as exc:
            raise ApiError(422, "bad_user", str(exc)) from exc
        return {"name": body.name, "role": body.role, "department": body.department, "active": True}

    @router.post("/api/v1/users/{name}/deactivate", status_code=204, tags=["users"])
    def deactivate(name: str, actor: Annotated[Actor, Depends(allow(Role.ADMIN))]) -> Response:
        if name == actor.name:
            raise ApiError(409, "cannot_deactivate_self", "an admin cannot deactivate themselves")
        if not ctx.auth.deactivate(name):
            raise ApiError(404, "user_not_found", f"no user {name}")
        return Response(status_code=204)

    return router
