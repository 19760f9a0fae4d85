"""``/api/v1/organisation``: the organisation tree, where the user sits, and the
three-level evaluation (三级考核) of a node's units.

- ``GET /api/v1/organisation``: every node (city, districts, departments, streets,
  communities with their grid prefixes) and ``me``: the user's node, centre, the
  departments and streets they dispatch to and (a street office's) its communities;
- ``GET /api/v1/organisation/evaluation?node=&start=&end=``: the units ``node``
  evaluates (the city: districts and city departments; a district: streets and district
  departments; a street: communities), each with the indicators of `gateway.core.metrics`
  and the level's weights (a community also ``passed``: the same over the cases its street
  office passed to it, 四级联动). A district centre's users evaluate only inside their
  district (403 ``not_your_level``). ``format=csv``: the same units as the CSV of ``citygw
  core metrics --level`` (UTF-8 with a BOM, for spreadsheets), as the console's 分级考核
  page downloads it.
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from gateway.core.api_base import (
    ALL_USERS,
    EVALUATORS,
    ApiContext,
    ApiError,
    allow,
    evaluated_node,
    period,
)
from gateway.core.org_evaluation import evaluate_level, level_weights, report_csv
from gateway.core.organisation import CITY_ID
from gateway.core.organisation_views import me_out
from gateway.core.step_log import StepLog
from gateway.core.workflow import Actor


def organisation_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter()
    step_log = StepLog(ctx.service.store, ctx.clock.monotonic)

    def _org() -> Any:
        org = ctx.service.workflow.organisation
        if org is None:
            raise ApiError(404, "no_organisation", "no organisation is configured")
        return org

    @router.get("/api/v1/organisation", tags=["organisation"])
    def organisation(actor: Annotated[Actor, Depends(allow(ALL_USERS))]) -> dict[str, Any]:
        org = _org()
        return {"nodes": [n.as_dict() for n in org.nodes()], "me": me_out(org, actor)}

    @router.get(
        "/api/v1/organisation/evaluation", tags=["organisation", "evaluation"], response_model=None
    )
    def evaluation(
        actor: Annotated[Actor, Depends(allow(EVALUATORS))],
        node: str = CITY_ID,
        start: datetime | None = None,
        end: datetime | None = None,
        format: Literal["json", "csv"] = "json",
    ) -> dict[str, Any] | Response:
        found = evaluated_node(ctx, actor, node)
        org = _org()
        s, e = period(ctx.clock.now(), start, end)
        weights = level_weights(
            ctx.config.organisation, org.level_of(found), ctx.config.metric_weights
        )
        report = evaluate_level(step_log.histories(), org, found, s, e, weights)
        if format == "json":
            return report.as_dict()
        name = f"citygw-levels-{found.id}-{s:%Y%m%d}-{e:%Y%m%d}.csv"
        return Response(
            report_csv(report).encode("utf-8-sig"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    return router
