"""Public, no login ("ba công khai"): progress, responsibility and results of every task, and the
published index (services/views.py's PublicTask says which fields leave the building)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.deps import ContextDep
from api.errors import responses
from api.rate_limit import public_rate_limit
from api.routes.reports import PERIOD
from domain import limits
from domain.stages import Stage
from services import reports
from services.views import PublicRanking, PublicTaskPage, PublishedPeriod

router = APIRouter(prefix="/public/v1", tags=["public"], dependencies=[Depends(public_rate_limit)])


@router.get("/tasks", responses=responses(422, 429))
async def public_tasks(
    ctx: ContextDep, agency: str | None = None, stage: Stage | None = None, overdue: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100, offset: Annotated[int, Query(ge=0, le=limits.OFFSET)] = 0,
) -> PublicTaskPage:
    return await reports.public_tasks(ctx, agency, stage, overdue, limit, offset)


@router.get("/rankings", response_model=PublicRanking | list[PublishedPeriod], responses=responses(
    404, 422, 429, notes={404: "The period is not published."}))
async def public_rankings(ctx: ContextDep, period: Annotated[str | None, Query(json_schema_extra=PERIOD)] = None
                          ) -> PublicRanking | list[PublishedPeriod]:
    """With `period`: that period's published index. Without: the periods published, newest first."""
    if period is None:
        return await reports.published_periods(ctx)
    return await reports.published_ranking(ctx, period)
