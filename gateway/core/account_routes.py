"""Accounts: signing in and out (``/api/v1/auth/*``, ``/api/v1/me``) and the admin's
user management (``/api/v1/users``).

Tokens and passwords are `gateway.core.auth`'s, login lockouts `login_limits`'; these
routes translate their answers into HTTP. Refused logins, lockouts and changes to
accounts are logged as security events (``security event <what> user=... address=...``;
never a password).
"""

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi import Path as PathParam
from fastapi.responses import Response

from gateway.core.api_base import ALL_USERS, ApiContext, ApiError, allow, bearer_token
from gateway.core.api_schemas import ErrorOut, LoginIn, LoginOut, UserIn, UserOut, UserPatch
from gateway.core.auth import KEEP, AuthError, UserConflict, UserError, UserNotFound
from gateway.core.dispatch import UnitGrid
from gateway.core.login_limits import Lockout, LoginLimits
from gateway.core.workflow import Actor, Role

log = logging.getLogger(__name__)


def accounts_router(ctx: ApiContext, grids: dict[str, UnitGrid]) -> APIRouter:
    """The routes above; ``grids`` are the unit grids an inspector may be assigned."""
    router = APIRouter()

    limits = LoginLimits(ctx.config.login_limits, ctx.login_failures)

    def locked(lockout: Lockout, name: str, address: str) -> ApiError:
        log.warning(
            "security event login_locked user=%r address=%s scope=%s retry_after_s=%d",
            name,
            address,
            lockout.scope,
            lockout.retry_after_s,
        )
        return ApiError(
            429,
            "login_locked",
            f"too many failed logins for this {lockout.scope}; "
            f"try again in {lockout.retry_after_s} s",
            headers={"Retry-After": str(lockout.retry_after_s)},
        )

    @router.post(
        "/api/v1/auth/login",
        response_model=LoginOut,
        tags=["auth"],
        summary="get a token (public)",
        description="Failed logins lock the account, or the client address, for "
        "core.login_limits.lockout_minutes: 429 login_locked with Retry-After (seconds).",
        responses={429: {"model": ErrorOut}},
    )
    def login(body: LoginIn, request: Request) -> dict[str, Any]:
        address = request.client.host if request.client else "unknown"
        lockout = limits.refusal(body.name, address, ctx.clock.now().timestamp())
        if lockout is not None:
            raise locked(lockout, body.name, address)
        try:
            token, actor = ctx.auth.login(body.name, body.password)
        except AuthError as exc:
            log.warning("security event login_failed user=%r address=%s", body.name, address)
            lockout = limits.failed(body.name, address, ctx.clock.now().timestamp())
            if lockout is not None:
                raise locked(lockout, body.name, address) from exc
            raise ApiError(401, "unauthenticated", str(exc)) from exc
        limits.succeeded(body.name, address, ctx.clock.now().timestamp())
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

    def user_out(u: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": u["name"],
            "role": u["role"],
            "department": u["department"],
            "active": u["active"],
            "grids": list(u.get("grids") or ()),
            "org_node": u.get("org_node"),
        }

    def known(assigned: list[str] | None) -> tuple[str, ...] | None:
        """The grids as given, each a unit grid of the table or a prefix of one."""
        if assigned is None:
            return None
        for code in assigned:
            if not any(g.startswith(code) for g in grids):
                raise ApiError(422, "unknown_grid", f"no unit grid {code} in the grid table")
        return tuple(assigned)

    @router.get("/api/v1/users", response_model=list[UserOut], tags=["users"])
    def list_users(_actor: Annotated[Actor, Depends(allow(Role.ADMIN))]) -> list[dict[str, Any]]:
        return [user_out(u) for u in ctx.auth.users()]

    @router.post(
        "/api/v1/users",
        response_model=UserOut,
        status_code=201,
        tags=["users"],
        summary="create a user (409 user_exists when the name is taken: PATCH it instead)",
        responses={409: {"model": ErrorOut}},
    )
    def add_user(
        body: UserIn, actor: Annotated[Actor, Depends(allow(Role.ADMIN))]
    ) -> dict[str, Any]:
        try:
            ctx.auth.create_user(
                body.name,
                body.role,
                body.password,
                body.department,
                known(body.grids) or (),
                org_node=body.org_node,
            )
        except UserError as exc:
            raise ApiError(422, "bad_user", str(exc)) from exc
        except UserConflict as exc:
            raise ApiError(409, exc.code, exc.reason) from exc
        log.warning(
            "security event user_created user=%r role=%s by=%r", body.name, body.role, actor.name
        )
        stored = ctx.auth.user(body.name)
        if stored is None:  # never deleted; only if the database was changed underneath
            raise ApiError(404, "user_not_found", f"no user {body.name}")
        return user_out(stored)

    @router.patch(
        "/api/v1/users/{name}",
        response_model=UserOut,
        tags=["users"],
        summary="change a user's role, department, grids or active flag, or reset the password",
        description="A new password, another role or department and deactivation end the "
        "user's sessions at once. An admin cannot demote or deactivate themself, and no "
        "change may leave the centre without an active admin (409).",
        responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}},
    )
    def change_user(
        name: Annotated[str, PathParam(max_length=64)],
        body: UserPatch,
        actor: Annotated[Actor, Depends(allow(Role.ADMIN))],
    ) -> dict[str, Any]:
        department = body.department if "department" in body.model_fields_set else KEEP
        try:
            changed = ctx.auth.update_user(
                name,
                actor,
                role=body.role,
                department=department,
                grids=known(body.grids),
                active=body.active,
                password=body.password,
                org_node=body.org_node if "org_node" in body.model_fields_set else KEEP,
            )
        except UserNotFound as exc:
            raise ApiError(404, "user_not_found", f"no user {name}") from exc
        except UserError as exc:
            raise ApiError(422, "bad_user", str(exc)) from exc
        except UserConflict as exc:
            raise ApiError(409, exc.code, exc.reason) from exc
        log.warning(
            "security event user_changed user=%r by=%r fields=%s",
            name,
            actor.name,
            ",".join(sorted(body.model_fields_set)),
        )
        return user_out(changed)

    @router.post("/api/v1/users/{name}/deactivate", status_code=204, tags=["users"])
    def deactivate(
        name: Annotated[str, PathParam(max_length=64)],
        actor: Annotated[Actor, Depends(allow(Role.ADMIN))],
    ) -> Response:
        try:
            found = ctx.auth.deactivate(name, actor)
        except UserConflict as exc:
            raise ApiError(409, exc.code, exc.reason) from exc
        if not found:
            raise ApiError(404, "user_not_found", f"no user {name}")
        log.warning("security event user_deactivated user=%r by=%r", name, actor.name)
        return Response(status_code=204)

    return router
