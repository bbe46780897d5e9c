"""Reports: the overdue list, the agency index, its publication. Parse, call services/reports.py."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, status
from fastapi.responses import Response

from api.deps import ContextDep, CurrentUser, allowed
from api.errors import TABLE_DOWNLOADS, downloads, responses
from api.exports import Column, table_response
from domain.actors import Actor
from domain.escalation import LADDER
from services import reports
from services.views import IndexRow, OverdueItem, RankingSnapshotOut, TaskView

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

# The agency index as a file: each field and the catalog key of its header (api/exports.py says them).
INDEX_COLUMNS = [
    Column("rank", "index.rank"), Column("agency", "column.agency"), Column("agency_name", "column.agency_name"),
    Column("assigned", "column.assigned"), Column("due", "column.due"),
    Column("periodic", "column.periodic"), Column("deadline_pending", "column.deadline_pending"),
    Column("completed_on_time", "column.completed_on_time"), Column("completed_late", "column.completed_late"),
    Column("overdue_open", "column.overdue_open"),
    *(Column(f"escalations_{level.number}", level.label_key) for level in LADDER),
    Column("extensions_granted", "task.extensions"), Column("rejection_rounds", "column.rejection_rounds"),
    Column("first_pass_rate", "column.first_pass_rate"), Column("disbursement_rate", "column.disbursement_rate"),
    Column("on_time_rate_original", "column.on_time_rate_original"),
    Column("on_time_rate_revised", "column.on_time_rate_revised"), Column("score", "index.score"),
]
# What `parse_period` (domain/periods.py) takes, for the document: a year, a quarter or a month.
PERIOD = {"pattern": r"^\s*[0-9]{4}(-[Qq][1-4]|-(0[1-9]|1[0-2]))?\s*$"}
PeriodQuery = Annotated[str, Query(description="2026, 2026-Q1 hoặc 2026-03", json_schema_extra=PERIOD)]


@router.get("/overdue", responses=responses(401))
async def overdue_tasks(actor: CurrentUser, ctx: ContextDep) -> list[OverdueItem]:
    """Open tasks past a deadline, most escalated first, then the longest late; the lead agency answers."""
    return await reports.overdue(ctx, actor)


@router.get("/deadline-pending", responses=responses(401))
async def deadline_pending_tasks(actor: CurrentUser, ctx: ContextDep) -> list[TaskView]:
    """Open tasks whose deadline is still to be set ("khẩn trương", "cùng thời điểm thi hành của Luật"),
    the longest waiting first: counted apart from the overdue list and from every period of the index
    until the Standing Office sets a deadline (`correct`)."""
    return await reports.deadline_pending(ctx, actor)


@router.get("/agencies", response_model=list[IndexRow], responses={
    **responses(401, 422, notes={422: "Also: a period that is not `2026`, `2026-Q1` or `2026-03`."}),
    **downloads(TABLE_DOWNLOADS, "The index; with `format=csv|xlsx`, the file.")})
async def agencies_index(_: CurrentUser, ctx: ContextDep, period: PeriodQuery,
                         format: Literal["json", "csv", "xlsx"] = "json") -> list[IndexRow] | Response:
    chosen = reports.period(period, ctx)
    rows = await reports.index(ctx, chosen)
    if format == "json":
        return rows
    flat = [{**row.model_dump(), **{f"escalations_{level.number}": row.escalations.get(level.number, 0)
                                    for level in LADDER}} for row in rows]
    return table_response(INDEX_COLUMNS, flat, format, f"chi-so-co-quan-{chosen.label}")


@router.post("/agencies/publish", status_code=status.HTTP_201_CREATED, responses=responses(
    401, 403, 409, 422, notes={409: "The period is already published: a publication never changes."}))
async def publish_index(period: PeriodQuery, actor: Annotated[Actor, Depends(allowed("ranking.publish"))],
                        ctx: ContextDep) -> RankingSnapshotOut:
    return await reports.publish(ctx, actor, period)
