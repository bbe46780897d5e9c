"""Tasks: assign, import, list, read, history, evidence files. Parse, call services/tasks.py, answer."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Query, UploadFile, status
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from api.deps import ContextDep, CurrentUser, IdempotencyKey, allowed
from api.errors import TABLE_DOWNLOADS, downloads, files, links, responses
from api.exports import Column, table_response
from domain import limits
from domain.actors import Actor
from domain.commands import SubtaskCreate
from domain.refusals import Code, Refusal
from domain.stages import Stage
from services import tasks
from services.blobs import ALLOWED_TYPES
from services.views import (
    AgencyRelation,
    Directive,
    GroupedTaskPage,
    GroupView,
    HistoryEntry,
    ImportResult,
    TaskFilter,
    TaskPage,
    TaskSort,
    TaskView,
)

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])
TASK = {"code": "$response.body#/code"}
TASK_LINKS = {"read": ("get", "/api/v1/tasks/{code}", TASK), "history": ("get", "/api/v1/tasks/{code}/history", TASK),
              "act": ("post", "/api/v1/tasks/{code}/actions/{action}", TASK),
              "submitEvidence": ("post", "/api/v1/tasks/{code}/actions/evidence.submit", TASK)}


@router.post("", status_code=status.HTTP_201_CREATED, responses={**responses(
    401, 403, 409, 413, 422, 429, 503, notes={409: "The task code exists.",
                                              422: "Also: an unknown agency, or an Idempotency-Key used for "
                                                   "another request."}), **links(201, **TASK_LINKS)})
async def create_task(spec: Directive, ctx: ContextDep, actor: Annotated[Actor, Depends(allowed("task.create"))],
                      idempotency_key: IdempotencyKey = None) -> TaskView | GroupView:
    """Retried with the same Idempotency-Key, it answers what it created. A `lead_agency` that names
    a group (GET /api/v1/agency-groups), or lists agencies' codes separated by `;` ("BTC;BCA;BYT"),
    creates one task per member, `<code>-<agency>`, and answers the group's item: its `children`
    and their rolled-up progress."""
    made = await tasks.create(ctx, actor, spec, idempotency_key)
    return made if isinstance(made, GroupView) else TaskView.of(made)


@router.post("/import", responses=responses(
    401, 403, 413, 415, 422, 503, notes={415: "Only .csv and .xlsx files.",
                                              422: "Also: a file that cannot be read as a table."}))
async def import_tasks(file: Annotated[UploadFile, File()], ctx: ContextDep,
                       actor: Annotated[Actor, Depends(allowed("task.import"))]) -> ImportResult:
    content = await file.read(tasks.MAX_IMPORT_BYTES + 1)
    return await tasks.import_program(ctx, actor, content, file.filename or "")


# The task list as a file: each field and the catalog key of its header (api/exports.py says them).
TASK_COLUMNS = [
    Column("code", "column.code"), Column("title", "col.title"), Column("lead_agency", "col.lead"),
    Column("coordinating_agencies", "col.coordinating"), Column("stage", "col.stage", says="stage."),
    Column("kind", "task.kind", says="task_kind."),
    Column("deadline_text", "col.deadline"), Column("deadline", "task.deadline", blank="deadline.pending"),
    Column("original_deadline", "task.original_deadline", blank="deadline.pending"), Column("overdue", "col.overdue"),
    Column("escalation_level", "col.level"), Column("percent", "field.percent"),
    Column("late", "column.completed_late"), Column("officer", "task.officer"),
    Column("directing_agency", "column.directing_agency"), Column("source_document", "column.source_document"),
    Column("source_date", "column.source_date"), Column("source_section", "column.source_section"),
]


# A grouped page first: a plain page's answer has no `groups`, so it never reads as one.
@router.get("", response_model=GroupedTaskPage | TaskPage, responses={
    **responses(401, 422), **downloads(TABLE_DOWNLOADS, "The page of tasks; with `format=csv|xlsx`, the file.")})
async def list_tasks(
    actor: CurrentUser, ctx: ContextDep,
    stage: Stage | None = None, agency: str | None = None, overdue: bool | None = None,
    relation: Annotated[AgencyRelation, Query(description="how `agency` stands to the task: `lead`, "
                                              "`coordinating`, or `any` of the two")] = "any",
    q: Annotated[str | None, Query(max_length=200, description="words in the code, title, product or an "
                                   "agency's name, whatever their case or accents")] = None,
    sort: Annotated[TaskSort, Query(description="the column to sort by; `-` before it: descending")] = "deadline",
    code: Annotated[list[str] | None, Query(max_length=limits.ITEMS, description="only these tasks (repeat it: "
                                            "`code=A&code=B`), e.g. to download a selection")] = None,
    document: Annotated[str | None, Query(max_length=200, description="the source directive's number, "
                                          "e.g. 20-TB/CQTTBCĐ")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Annotated[int, Query(ge=0, le=limits.OFFSET)] = 0,
    format: Literal["json", "csv", "xlsx"] = "json",
    groups: Annotated[bool, Query(description="fold the children of group directives into their group's item "
                                  "(`groups`, for whoever reads every task); not for the downloads")] = False,
) -> TaskPage | Response:
    """`format=csv|xlsx` downloads every task the filters select (up to 10,000), not one page.
    `groups=1` answers `groups` too: each group directive any of whose children the filters select,
    with its children's stage counts, overdue count and average progress; those children are left
    out of `items`, and `limit`, `offset` and `total` count the groups (listed first) with the tasks."""
    chosen = TaskFilter(stage=stage, agency=agency, relation=relation, overdue=overdue, q=q,
                        document=document, sort=sort, codes=code or [])
    if format == "json":
        if groups:
            return await tasks.page(ctx, actor, chosen, limit, offset, grouped=True)
        return Response(await tasks.page_json(ctx, actor, chosen, limit, offset), media_type="application/json")
    rows = [{**view.model_dump(), "percent": view.progress.percent, **_source_columns(view)}
            for view in await tasks.export(ctx, actor, chosen)]
    return table_response(TASK_COLUMNS, rows, format, "nhiem-vu")


def _source_columns(view: TaskView) -> dict[str, object]:
    source = view.source
    return {"source_document": source.document if source else "", "source_date": source.date if source else None,
            "source_section": source.section if source else ""}


@router.get("/{code}", responses=responses(401, 403, 404, notes={404: "Unknown task."}))
async def get_task(code: str, actor: CurrentUser, ctx: ContextDep) -> TaskView | GroupView:
    """A task; or a group directive's item (its children and their rolled-up progress)."""
    try:
        state = await tasks.read(ctx, actor, code)
        return TaskView.of(state, await tasks.rollup(ctx, state))
    except Refusal as refusal:
        if refusal.code != Code.TASK_NOT_FOUND:
            raise
    return await tasks.read_group(ctx, actor, code)


@router.post("/{code}/subtasks", status_code=status.HTTP_201_CREATED, responses={**responses(
    401, 403, 404, 409, 413, 422, 429, 503, notes={
        409: "The task is not in execution, or the code is taken.",
        422: "Also: a unit that is not under the lead agency, or a deadline later than the task's."}),
    **links(201, **TASK_LINKS)})
async def create_subtask(code: str, command: SubtaskCreate, actor: CurrentUser, ctx: ContextDep,
                         idempotency_key: IdempotencyKey = None) -> TaskView:
    """The lead agency's head hands part of the task down to a unit of its own: a task of its own
    (`parent` names this one), due no later than this one. This task's `subtasks` lists it; its
    evidence waits until every sub-task has closed."""
    return TaskView.of(await tasks.split(ctx, actor, code, command, idempotency_key))


@router.get("/{code}/history", responses=responses(401, 403, 404, notes={404: "Unknown task."}))
async def task_history(code: str, actor: CurrentUser, ctx: ContextDep) -> list[HistoryEntry]:
    return await tasks.history(ctx, actor, code)


@router.get("/{code}/evidence/{sha256}", response_class=FileResponse, responses={
    **responses(401, 403, 404, 409, notes={404: "Unknown task, or no such file in its evidence.",
                                           409: "The stored file no longer matches its SHA-256."}),
    **downloads(files(ALLOWED_TYPES.values()), "The file, with the media type of its extension.")})
async def evidence_file(code: str, sha256: str, actor: CurrentUser, ctx: ContextDep) -> FileResponse:
    fetched, file = await tasks.evidence_file(ctx, actor, code, sha256)
    return FileResponse(fetched.path, media_type=file.content_type, filename=file.filename,
                        background=BackgroundTask(fetched.discard))
