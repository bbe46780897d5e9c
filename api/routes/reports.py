"""Reports read from the database: the overdue list, the agency index, its published snapshots."""

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, status
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api.deps import CurrentUser, EnforcerDep, SessionDep, SettingsDep, require
from api.errors import TABLE_DOWNLOADS, ApiError, downloads, invalid, responses
from api.exports import table_response
from api.routes.tasks import readable_tasks
from api.schemas import DeadlineView, IndexRow, OverdueItem, RankingSnapshotOut
from db import models
from db.index_data import index_tasks
from domain.actors import Actor
from domain.agency_index import agency_index
from domain.escalation import open_deadlines
from domain.periods import Period, parse_period
from domain.stages import OPEN_STAGES
from domain.task import TaskState

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

INDEX_COLUMNS = [
    ("rank", "Hạng"), ("agency", "Mã cơ quan"), ("agency_name", "Tên cơ quan"),
    ("assigned", "Nhiệm vụ được giao"), ("due", "Nhiệm vụ đến hạn"),
    ("completed_on_time", "Hoàn thành đúng hạn"), ("completed_late", "Hoàn thành trễ hạn"),
    ("overdue_open", "Quá hạn chưa hoàn thành"), ("escalations_1", "Cảnh báo cấp 1"),
    ("escalations_2", "Cảnh báo cấp 2"), ("escalations_3", "Cảnh báo cấp 3"),
    ("extensions_granted", "Số lần gia hạn"), ("rejection_rounds", "Số lần kiểm tra chéo không đạt"),
    ("first_pass_rate", "Tỷ lệ đạt kiểm tra chéo lần đầu"), ("disbursement_rate", "Tỷ lệ giải ngân"),
    ("on_time_rate_original", "Tỷ lệ đúng hạn (hạn ban đầu)"),
    ("on_time_rate_revised", "Tỷ lệ đúng hạn (hạn điều chỉnh)"), ("score", "Điểm"),
]


def overdue_item(state: TaskState, now: datetime) -> OverdueItem:
    lapsed = [DeadlineView(kind=d.kind, due=d.due, level=state.ladders.get(d.key, 0))
              for d in open_deadlines(state) if d.due <= now]
    earliest = min((d.due for d in lapsed), default=state.deadline)
    return OverdueItem(code=state.code, title=state.spec.title, lead_agency=state.lead_agency, stage=state.stage,
                       deadline=state.deadline, days_late=max((now - earliest).days, 0),
                       escalation_level=state.escalation_level, lapsed=lapsed)


@router.get("/overdue", responses=responses(401))
async def overdue_tasks(actor: CurrentUser, session: SessionDep, enforcer: EnforcerDep) -> list[OverdueItem]:
    """Open tasks past a deadline, most escalated first, then the longest late; the lead agency answers."""
    query = readable_tasks(actor, enforcer).where(
        models.Task.overdue.is_(True), models.Task.stage.in_([stage.value for stage in OPEN_STAGES]))
    now = datetime.now(UTC)
    items = [overdue_item(TaskState.model_validate(row.state), now) for row in await session.scalars(query)]
    return sorted(items, key=lambda item: (-item.escalation_level, -item.days_late, item.code))


# What `parse_period` (domain/periods.py) takes, for the document: a year, a quarter or a month.
PERIOD = {"pattern": r"^\s*[0-9]{4}(-[Qq][1-4]|-(0[1-9]|1[0-2]))?\s*$"}


def period_of(text: str, settings: SettingsDep) -> Period:
    try:
        return parse_period(text, settings.timezone)
    except ValueError as error:
        raise invalid("period", str(error)) from None


async def compute_index(session: SessionDep, period: Period) -> list[IndexRow]:
    names = dict((await session.execute(select(models.Agency.code, models.Agency.name))).all())
    rows = agency_index(await index_tasks(session, period), datetime.now(UTC))
    return [IndexRow(**row.model_dump(), agency_name=names.get(row.agency, row.agency)) for row in rows]


def index_table(rows: list[IndexRow], fmt: str, period: str) -> Response:
    flat = [{**row.model_dump(), **{f"escalations_{level}": row.escalations.get(level, 0) for level in (1, 2, 3)}}
            for row in rows]
    return table_response(INDEX_COLUMNS, flat, fmt, f"chi-so-co-quan-{period}")


@router.get("/agencies", response_model=list[IndexRow], responses={
    **responses(401, 422, notes={422: "Also: a period that is not `2026`, `2026-Q1` or `2026-03`."}),
    **downloads(TABLE_DOWNLOADS, "The index; with `format=csv|xlsx`, the file.")})
async def agencies_index(
    _: CurrentUser, session: SessionDep, settings: SettingsDep,
    period: Annotated[str, Query(description="2026, 2026-Q1 hoặc 2026-03", json_schema_extra=PERIOD)],
    format: Literal["json", "csv", "xlsx"] = "json",
) -> list[IndexRow] | Response:
    chosen = period_of(period, settings)
    rows = await compute_index(session, chosen)
    return rows if format == "json" else index_table(rows, format, chosen.label)


@router.post("/agencies/publish", status_code=status.HTTP_201_CREATED, responses=responses(
    401, 403, 409, 422, notes={409: "The period is already published: a publication never changes."}))
async def publish_index(session: SessionDep, settings: SettingsDep,
                        period: Annotated[str, Query(description="2026, 2026-Q1 hoặc 2026-03",
                                                     json_schema_extra=PERIOD)],
                        actor: Annotated[Actor, Depends(require("ranking.publish"))]) -> RankingSnapshotOut:
    chosen = period_of(period, settings)
    if await session.get(models.RankingSnapshot, chosen.label) is not None:
        raise ApiError(409, f"Chỉ số kỳ {chosen.label} đã được công bố; bản công bố không thể thay đổi",
                       code="already_published", params={"period": chosen.label})
    rows = await compute_index(session, chosen)
    snapshot = models.RankingSnapshot(period=chosen.label, published_at=datetime.now(UTC),
                                      published_by=actor.username, rows=[row.model_dump(mode="json") for row in rows])
    session.add(snapshot)
    try:
        await session.commit()
    except IntegrityError:  # published by someone else meanwhile
        await session.rollback()
        raise ApiError(409, f"Chỉ số kỳ {chosen.label} đã được công bố; bản công bố không thể thay đổi",
                       code="already_published", params={"period": chosen.label}) from None
    return RankingSnapshotOut.model_validate(snapshot)
