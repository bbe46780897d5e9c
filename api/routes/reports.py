"""Reports: the overdue list, the agency index, its publication. Parse, call services/reports.py."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, status
from fastapi.responses import Response

from api.deps import ContextDep, CurrentUser, allowed
from api.errors import TABLE_DOWNLOADS, downloads, responses
from api.exports import Column, table_response
from domain.actors import Actor
from domain.escalation import LADDER
from domain.periods import YEAR_PATTERN
from domain.status import StatusClass
from services import reports
from services import status as statuses
from services.status import StatusFilter, StatusReport
from services.views import IndexRow, OverdueItem, RankingSnapshotOut, TaskView

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

# The agency index as a file: each field and the catalog key of its header (api/exports.py says them).
INDEX_COLUMNS = [
    Column("rank", "index.rank"), Column("agency", "column.agency"), Column("agency_name", "column.agency_name"),
    Column("assigned", "column.assigned"), Column("due", "column.due"),
    Column("periodic", "column.periodic"), Column("deadline_pending", "column.deadline_pending"),
    Column("completed_on_time", "column.completed_on_time"), Column("completed_late", "column.completed_late"),
    Column("overdue_open", "column.overdue_open"), Column("completed_not_met", "column.completed_not_met"),
    Column("achievement_rate", "column.achievement_rate"),
    *(Column(f"escalations_{level.number}", level.label_key) for level in LADDER),
    Column("extensions_granted", "task.extensions"), Column("rejection_rounds", "column.rejection_rounds"),
    Column("first_pass_rate", "column.first_pass_rate"), Column("approved_vnd", "column.approved_vnd"),
    Column("disbursed_vnd", "column.disbursed_vnd"), Column("disbursement_rate", "column.disbursement_rate"),
    Column("on_time_rate_original", "column.on_time_rate_original"),
    Column("on_time_rate_revised", "column.on_time_rate_revised"), Column("score", "index.score"),
]
# The status classes as a file: a line per class (its key, what people read, the count) and the
# total; with the details, then a line per task (its class, then the task's fields).
STATUS_COLUMNS = [Column("status", "column.status_class"), Column("status", "column.status", says="status."),
                  Column("count", "column.count")]
STATUS_TASK_COLUMNS = [
    Column("code", "column.code"), Column("title", "col.title"), Column("lead_agency", "col.lead"),
    Column("deadline", "task.deadline"), Column("accountable", "task.accountable"),
    Column("owners", "column.overdue_owners", says="owner."),
]
# What `parse_period` (domain/periods.py) takes, for the document: a year, a quarter or a month.
PERIOD = {"pattern": rf"^\s*{YEAR_PATTERN}(-[Qq][1-4]|-(0[1-9]|1[0-2]))?\s*$"}
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


@router.get("/status", response_model=StatusReport, responses={
    **responses(401, 403, 404, 422, notes={
        403: "Someone who does not read every task, asking for more than the tasks their own agency leads.",
        404: "An unknown agency group (`group_not_found`).",
        422: "Also: a period that is not `2026`, `2026-Q1` or `2026-03`."}),
    **downloads(TABLE_DOWNLOADS, "The status classes; with `format=csv|xlsx`, the file.")})
async def status_report(
    actor: CurrentUser, ctx: ContextDep,
    period: Annotated[str | None, Query(description="2026, 2026-Q1 hoặc 2026-03: the tasks counted in it (their "
                                        "original deadline falls in it; a periodic task: it runs through it)",
                                        json_schema_extra=PERIOD)] = None,
    agency: Annotated[str | None, Query(max_length=32, description="the lead agency's code")] = None,
    group: Annotated[str | None, Query(max_length=32, description="an agency group's code")] = None,
    document: Annotated[str | None, Query(max_length=200, description="the source directive's number")] = None,
    accountable: Annotated[str | None, Query(max_length=64, description="the head accountable (a username)")] = None,
    details: Annotated[bool, Query(description="list the tasks of each class (`tasks`)")] = False,
    format: Literal["json", "csv", "xlsx"] = "json",
) -> StatusReport | Response:
    """How many tasks stand in each status class now — completed on time, completed late, in
    progress, due soon (within NQ57_DUE_SOON), overdue, deadline not yet set — adding up to `total`
    (cancelled tasks and sub-tasks are in none); `overdue_by_owner`: whose delay holds up the overdue
    ones (a task held up by two counts for each). Whoever reads every task reads any; a person of an
    agency, `agency` = their own."""
    chosen = reports.period(period, ctx) if period else None
    filters = StatusFilter(agency=agency or None, group=group or None, document=document or None,
                           accountable=accountable or None)
    answer = await statuses.report(ctx, actor, filters, chosen, details=details)
    if format == "json":
        return answer
    rows: list[dict[str, object]] = [{"status": found.value, "count": getattr(answer, found.value)}
                                     for found in StatusClass]
    rows.append({"status": "total", "count": answer.total})
    lines = answer.tasks.model_dump() if answer.tasks is not None else {}
    rows += [{"status": found, **line} for found, listed in lines.items() for line in listed]
    columns = STATUS_COLUMNS + (STATUS_TASK_COLUMNS if details else [])
    return table_response(columns, rows, format, "tinh-trang-nhiem-vu" + (f"-{chosen.label}" if chosen else ""))


@router.post("/agencies/publish", status_code=status.HTTP_201_CREATED, responses=responses(
    401, 403, 409, 422, notes={409: "The period is already published: a publication never changes."}))
async def publish_index(period: PeriodQuery, actor: Annotated[Actor, Depends(allowed("ranking.publish"))],
                        ctx: ContextDep) -> RankingSnapshotOut:
    return await reports.publish(ctx, actor, period)
