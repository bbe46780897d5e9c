"""Tasks: assign, import, list, read, history, evidence files."""

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Header, Query, UploadFile, status
from fastapi.responses import FileResponse, Response
from pydantic import ValidationError
from sqlalchemy import Select, false, func, or_, select

from api.assignment import assign
from api.blobs import ALLOWED_TYPES
from api.deps import (
    BlobsDep,
    CurrentUser,
    EnforcerDep,
    SessionDep,
    SessionsDep,
    SettingsDep,
    TaskAccess,
    TemporalDep,
    require,
    task_access,
)
from api.errors import TABLE_DOWNLOADS, ApiError, downloads, files, links, not_found, responses
from api.exports import table_response
from api.schemas import HistoryEntry, ImportError_, ImportResult, TaskPage, TaskView
from api.task_workflows import TaskAlreadyExists
from db import models
from db.audit import file_sha256
from domain import limits
from domain.actors import Actor, Relation
from domain.program_file import ProgramFileError, read_rows, spec_from_row
from domain.stages import STAGE_LABELS_VI, Stage
from domain.task import TaskSpec, TaskState
from policies.enforcer import permits

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])
MAX_IMPORT_BYTES = 10 * 1024 * 1024
TASK = {"code": "$response.body#/code"}
TASK_LINKS = {"read": ("get", "/api/v1/tasks/{code}", TASK), "history": ("get", "/api/v1/tasks/{code}/history", TASK),
              "act": ("post", "/api/v1/tasks/{code}/actions/{action}", TASK),
              "submitEvidence": ("post", "/api/v1/tasks/{code}/actions/evidence.submit", TASK)}


@router.post("", status_code=status.HTTP_201_CREATED, responses={**responses(
    401, 403, 409, 413, 422, 429, 503, notes={409: "The task code exists.",
                                              422: "Also: an unknown agency, or an Idempotency-Key used for "
                                                   "another request."}), **links(201, **TASK_LINKS)})
async def create_task(spec: TaskSpec, sessions: SessionsDep, client: TemporalDep, settings: SettingsDep,
                      actor: Annotated[Actor, Depends(require("task.create"))],
                      idempotency_key: Annotated[str | None, Header(max_length=200)] = None) -> TaskView:
    """Retried with the same Idempotency-Key, it answers the task it created."""
    return TaskView.of(await assign(sessions, client, settings, spec, actor.username, idempotency_key))


@router.post("/import", responses=responses(
    401, 403, 413, 415, 422, 503, notes={415: "Only .csv and .xlsx files.",
                                              422: "Also: a file that cannot be read as a table."}))
async def import_tasks(file: Annotated[UploadFile, File()], sessions: SessionsDep, client: TemporalDep,
                       settings: SettingsDep, actor: Annotated[Actor, Depends(require("task.import"))]
                       ) -> ImportResult:
    content = await file.read(MAX_IMPORT_BYTES + 1)
    if len(content) > MAX_IMPORT_BYTES:
        raise ApiError(413, "Tệp nhập vượt quá 10 MB")
    try:
        rows = read_rows(content, file.filename or "")
    except ProgramFileError as error:
        raise ApiError(415 if "Chỉ nhận" in str(error) else 422, str(error)) from None
    result = ImportResult(created=[], skipped=[], errors=[])
    for number, row in enumerate(rows, start=2):
        if not any(row.values()):
            continue
        try:
            state = await assign(sessions, client, settings, spec_from_row(row), actor.username)
            result.created.append(state.code)
        except TaskAlreadyExists:
            result.skipped.append(row.get("code", ""))
        except ValidationError as error:
            detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
                               for e in error.errors())
            result.errors.append(ImportError_(row=number, detail=detail))
        except (ApiError, ValueError) as error:
            result.errors.append(ImportError_(row=number, detail=getattr(error, "detail", str(error))))
    return result


def readable_tasks(actor: Actor, enforcer: EnforcerDep) -> Select[tuple[models.Task]]:
    """The tasks this person may read: all of them for roles that read everything, else those of
    their agency and those they review."""
    query = select(models.Task)
    if permits(enforcer, actor.username, Relation.OTHER, "*", "task.read"):
        return query
    involved = select(models.TaskAgency.task_code).where(models.TaskAgency.agency == actor.agency)
    mine = models.Task.code.in_(involved) if actor.agency else false()
    return query.where(or_(mine, models.Task.reviewer == actor.username))


TASK_COLUMNS = [
    ("code", "Mã nhiệm vụ"), ("title", "Tên nhiệm vụ"), ("lead_agency", "Cơ quan chủ trì"),
    ("coordinating_agencies", "Cơ quan phối hợp"), ("stage_label", "Giai đoạn"), ("deadline_text", "Thời hạn"),
    ("deadline", "Hạn hiện tại"), ("original_deadline", "Hạn ban đầu"), ("overdue", "Quá hạn"),
    ("escalation_level", "Cấp cảnh báo"), ("percent", "Tiến độ (%)"), ("late", "Hoàn thành trễ hạn"),
    ("officer", "Cán bộ đầu mối"),
]
EXPORT_LIMIT = 10_000


@router.get("", response_model=TaskPage, responses={
    **responses(401, 422), **downloads(TABLE_DOWNLOADS, "The page of tasks; with `format=csv|xlsx`, the file.")})
async def list_tasks(
    actor: CurrentUser, session: SessionDep, enforcer: EnforcerDep,
    stage: Stage | None = None, agency: str | None = None, overdue: bool | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Annotated[int, Query(ge=0, le=limits.OFFSET)] = 0,
    format: Literal["json", "csv", "xlsx"] = "json",
) -> TaskPage | Response:
    """`format=csv|xlsx` downloads every task the filters select (up to 10,000), not one page."""
    query = readable_tasks(actor, enforcer)
    if stage is not None:
        query = query.where(models.Task.stage == stage.value)
    if agency:
        query = query.where(models.Task.code.in_(
            select(models.TaskAgency.task_code).where(models.TaskAgency.agency == agency)))
    if overdue is not None:
        query = query.where(models.Task.overdue == overdue)
    if q:
        pattern = f"%{q}%"
        query = query.where(or_(models.Task.code.ilike(pattern), models.Task.title.ilike(pattern)))
    query = query.order_by(models.Task.deadline, models.Task.code)
    if format != "json":
        views = [TaskView.of(TaskState.model_validate(row.state)) for row in await session.scalars(
            query.limit(EXPORT_LIMIT))]
        rows = [{**view.model_dump(), "stage_label": STAGE_LABELS_VI[view.stage], "percent": view.progress.percent}
                for view in views]
        return table_response(TASK_COLUMNS, rows, format, "nhiem-vu")
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(query.limit(limit).offset(offset))
    return TaskPage(items=[TaskView.of(TaskState.model_validate(row.state)) for row in rows], total=total or 0)


@router.get("/{code}", responses=responses(401, 403, 404, notes={404: "Unknown task."}))
async def get_task(access: Annotated[TaskAccess, Depends(task_access("task.read"))]) -> TaskView:
    return TaskView.of(access.state)


@router.get("/{code}/history", responses=responses(401, 403, 404, notes={404: "Unknown task."}))
async def task_history(access: Annotated[TaskAccess, Depends(task_access("task.read"))],
                       session: SessionDep) -> list[HistoryEntry]:
    rows = await session.scalars(
        select(models.Event).where(models.Event.task_code == access.state.code).order_by(models.Event.seq))
    return [HistoryEntry.model_validate(row) for row in rows]


@router.get("/{code}/evidence/{sha256}", response_class=FileResponse, responses={
    **responses(401, 403, 404, 409, notes={404: "Unknown task, or no such file in its evidence.",
                                           409: "The stored file no longer matches its SHA-256."}),
    **downloads(files(ALLOWED_TYPES.values()), "The file, with the media type of its extension.")})
async def evidence_file(sha256: str, access: Annotated[TaskAccess, Depends(task_access("evidence.read"))],
                        blobs: BlobsDep) -> FileResponse:
    files = [file for evidence in access.state.evidence for file in evidence.files if file.sha256 == sha256]
    path = blobs.path(sha256)
    if not files or not path.is_file():
        raise not_found(f"tệp minh chứng '{sha256}' của nhiệm vụ '{access.state.code}'")
    if await asyncio.to_thread(file_sha256, path) != sha256:
        raise ApiError(409, f"Tệp minh chứng '{files[0].filename}' không còn khớp mã SHA-256 đã ghi nhận: "
                            "tệp đã bị thay đổi, hãy báo cho người kiểm toán")
    return FileResponse(path, media_type=files[0].content_type, filename=files[0].filename)
