"""部件问题 on the case page: the census components near a case, and linking one.

- ``GET /api/v1/cases/{id}/components?r=&limit=``: the components of the case's
  component types (`gateway.core.case_components.component_types`; every class when the
  event is about none, ``classes`` null) within ``r`` metres of the case's point, nearest
  first, each with its type and owner (and the dispatch table's department of that owner,
  when it is one); with the case's current link and whether the user may link.
- ``POST /api/v1/cases/{id}/component`` ``{"component_id": ...}``: link the case to that
  component, a ``link_component`` step (linking again replaces the link with a new step).
  The desk of the level handling the case only (受理员, 值班长, 派遣员: 403
  ``forbidden_role``, ``not_your_level``), while the case is open (409 ``wrong_state``);
  a case outside the user's reach is 404 ``case_not_found`` as everywhere; a component not
  in the imported base data is 404 ``component_not_found``.

The components come from the map's base data (`gateway.core.gis_routes.MapSource`: the
one a reload swaps); without base data there are none to list or link.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from gateway.core.api_base import DESK, STAFF, ApiContext, ApiError, allow
from gateway.core.api_schemas import TransitionOut
from gateway.core.case_components import (
    ComponentLink,
    component_types,
    link_refusal,
    linked,
    owner_department,
)
from gateway.core.case_views import case_out, step_out, visible_case
from gateway.core.gis_routes import MapData, MapSource
from gateway.core.workflow import Actor, Role
from gateway.gis.codes import ComponentType, load_component_types, load_event_component_types
from gateway.gis.features import ComponentFeature

#: the radius the case page asks for unless told (metres)
DEFAULT_RADIUS_M = 50.0


class ComponentLinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    component_id: str = Field(
        pattern=r"^\d{16}$", description="the component's 16-digit id (部件标识码)"
    )
    expected_version: int | None = Field(default=None, ge=0)


def case_components_router(
    ctx: ApiContext,
    source: MapData | MapSource | None,
    types: dict[str, ComponentType] | None = None,
    event_types: dict[str, tuple[str, ...]] | None = None,
) -> APIRouter:
    """The routes above over the map's base data (None: none imported); ``types`` and
    ``event_types`` default to the CJ/T 214 tables under ``config/core``."""
    held = source if isinstance(source, MapSource) or source is None else MapSource(source)
    types = types if types is not None else load_component_types()
    event_types = event_types if event_types is not None else load_event_component_types(types)
    router = APIRouter(tags=["cases"])

    def departments() -> dict[str, str]:
        return ctx.service.workflow.table.departments

    def type_name(code: str, fallback: str) -> str:
        known = types.get(code)
        return known.name if known is not None else fallback

    def component_out(c: ComponentFeature, distance_m: float | None) -> dict[str, Any]:
        return {
            "id": c.id,
            "type_code": c.type_code,
            "type_name": type_name(c.type_code, c.name),
            "name": c.name,
            "owner": c.owner,
            "owner_department": owner_department(c.owner, departments()),
            "state": c.state.value,
            "grid_code": c.grid_code,
            "lon": c.lon,
            "lat": c.lat,
            "distance_m": None if distance_m is None else round(distance_m, 1),
        }

    def classes_out(codes: tuple[str, ...] | None) -> list[dict[str, str]] | None:
        if codes is None:
            return None
        out = []
        for code in codes:
            if len(code) == 4:
                out.append({"code": code, "name": type_name(code, code)})
            else:  # a class: its name from any of its types
                name = next((t.class_name for t in types.values() if t.code[:2] == code), code)
                out.append({"code": code, "name": name})
        return out

    @router.get(
        "/api/v1/cases/{case_id}/components",
        summary="census components near the case, nearest first (部件问题)",
    )
    def near_case(
        case_id: str,
        actor: Annotated[Actor, Depends(allow(STAFF, Role.ADMIN))],
        r: Annotated[float, Query(gt=0, le=1_000)] = DEFAULT_RADIUS_M,
        limit: Annotated[int, Query(ge=1, le=200)] = 20,
    ) -> dict[str, Any]:
        case = visible_case(ctx, case_id, actor)
        wanted = component_types(case, event_types)
        items: list[dict[str, Any]] = []
        if held is not None and case.lon is not None and case.lat is not None:
            index = held.current().components
            found = index.near(case.lon, case.lat, r, wanted, limit)
            items = [component_out(n.component, n.distance_m) for n in found]
        organisation = ctx.service.workflow.organisation
        return {
            "case_id": case.id,
            "radius_m": r,
            "has_point": case.lon is not None and case.lat is not None,
            "classes": classes_out(wanted),
            "items": items,
            "linked": linked(case),
            "can_link": link_refusal(case, actor, organisation) is None,
        }

    @router.post(
        "/api/v1/cases/{case_id}/component",
        response_model=TransitionOut,
        summary="link the case to a census component (部件问题); again: a new step",
    )
    def link(
        case_id: str, body: ComponentLinkIn, actor: Annotated[Actor, Depends(allow(DESK))]
    ) -> dict[str, Any]:
        case = visible_case(ctx, case_id, actor)
        if body.expected_version is not None and body.expected_version != case.version:
            raise ApiError(
                409, "conflict", f"case is at version {case.version}, not {body.expected_version}"
            )
        index = held.current().components if held is not None else None
        component = index.get(body.component_id) if index is not None else None
        if index is None or component is None:
            raise ApiError(
                404,
                "component_not_found",
                f"no component {body.component_id} in the imported base data",
            )
        distance = None
        if case.lon is not None and case.lat is not None:
            distance = index.distance_m(component, case.lon, case.lat)
        choice = component_out(component, distance)
        result = ctx.service.link_component(
            case_id,
            ComponentLink(
                id=component.id,
                type_code=component.type_code,
                type_name=choice["type_name"],
                name=component.name,
                owner=component.owner,
                owner_department=choice["owner_department"],
                distance_m=choice["distance_m"],
            ),
            actor,
        )
        seq = ctx.service.store.steps(case_id)[-1].seq
        return {"case": case_out(ctx, result.case, actor), "step": step_out(seq, result.step)}

    return router
