"""Public, no login ("ba công khai"): progress, responsibility and results of every task, and the
published index. Only the fields below leave the building: no files, comments, budget lines,
findings, user names or reviewers."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import func, select

from api.deps import SessionDep, SettingsDep
from api.errors import not_found, responses
from api.rate_limit import public_rate_limit
from api.routes.reports import PERIOD, period_of
from api.schemas import IndexRow
from db import models
from domain import limits
from domain.stages import Stage
from domain.task import TaskState

router = APIRouter(prefix="/public/v1", tags=["public"], dependencies=[Depends(public_rate_limit)])


class PublicTask(BaseModel):
    code: str
    title: str
    lead_agency: str
    coordinating_agencies: list[str]
    stage: Stage
    deadline: datetime
    overdue: bool
    completed: bool
    late: bool
    percent: int

    @classmethod
    def of(cls, state: TaskState) -> "PublicTask":
        return cls(code=state.code, title=state.spec.title, lead_agency=state.lead_agency,
                   coordinating_agencies=state.coordinating_agencies, stage=state.stage, deadline=state.deadline,
                   overdue=state.overdue, completed=state.stage == Stage.COMPLETED, late=state.late,
                   percent=state.percent)


class PublicTaskPage(BaseModel):
    items: list[PublicTask]
    total: int


class PublishedPeriod(BaseModel):
    period: str
    published_at: datetime


class PublicRanking(BaseModel):
    period: str
    published_at: datetime
    rows: list[IndexRow]


@router.get("/tasks", responses=responses(422, 429))
async def public_tasks(
    session: SessionDep, agency: str | None = None, stage: Stage | None = None, overdue: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100, offset: Annotated[int, Query(ge=0, le=limits.OFFSET)] = 0,
) -> PublicTaskPage:
    query = select(models.Task)
    if agency:
        query = query.where(models.Task.code.in_(
            select(models.TaskAgency.task_code).where(models.TaskAgency.agency == agency)))
    if stage is not None:
        query = query.where(models.Task.stage == stage.value)
    if overdue is not None:
        query = query.where(models.Task.overdue == overdue)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(query.order_by(models.Task.deadline, models.Task.code).limit(limit).offset(offset))
    return PublicTaskPage(items=[PublicTask.of(TaskState.model_validate(row.state)) for row in rows],
                          total=total or 0)


@router.get("/rankings", response_model=PublicRanking | list[PublishedPeriod], responses=responses(
    404, 422, 429, notes={404: "The period is not published."}))
async def public_rankings(session: SessionDep, settings: SettingsDep,
                          period: Annotated[str | None, Query(json_schema_extra=PERIOD)] = None
                          ) -> PublicRanking | list[PublishedPeriod]:
    """With `period`: that period's published index. Without: the periods published, newest first."""
    if period is None:
        rows = await session.scalars(select(models.RankingSnapshot).order_by(models.RankingSnapshot.period.desc()))
        return [PublishedPeriod(period=row.period, published_at=row.published_at) for row in rows]
    snapshot = await session.get(models.RankingSnapshot, period_of(period, settings).label)
    if snapshot is None:
        raise not_found(f"bảng xếp hạng đã công bố cho kỳ '{period}'")
    return PublicRanking(period=snapshot.period, published_at=snapshot.published_at,
                         rows=[IndexRow.model_validate(row) for row in snapshot.rows])
