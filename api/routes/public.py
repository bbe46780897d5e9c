"""Public, no login ("ba công khai"): progress, responsibility and results of every task, the
published index and the published quarters (services/views.py's PublicTask and services/publications.py
say which fields leave the building)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.deps import ContextDep
from api.errors import responses
from api.rate_limit import public_rate_limit
from api.routes.reports import PERIOD
from domain import limits
from domain.stages import Stage
from services import publications, reports
from services.publications import Publication, PublishedQuarter
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


@router.get("/publications", responses=responses(429))
async def published_quarters(ctx: ContextDep) -> list[PublishedQuarter]:
    """The quarters the Standing Office has published, the latest first."""
    return await publications.published_quarters(ctx)


@router.get("/publications/{period}", responses=responses(
    404, 429, notes={404: "The quarter is not published."}))
async def published_quarter(period: str, ctx: ContextDep) -> Publication:
    """A published quarter as it was frozen: status classes per agency, the cross-check results of the
    tasks completed (met, not met, usable or not, KPI achievement), the agency index. Names nobody."""
    return await publications.published(ctx, period)
