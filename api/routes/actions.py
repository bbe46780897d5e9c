"""POST /api/v1/tasks/{code}/actions/{action}: parse the body into the action's command, and let
services/tasks.py decide and send it to the workflow."""

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, File, Form, Path, UploadFile

from api.deps import ContextDep, acting
from api.errors import links, responses
from domain.commands import COMMAND_MODELS
from domain.lifecycle import ACTIONS
from domain.refusals import Code, Refusal
from domain.task import TaskState
from services import tasks
from services.views import TaskView

router = APIRouter(prefix="/api/v1/tasks", tags=["actions"])
ACTION_NOTES = {404: "Unknown task or action.", 409: "The action does not fit the task's stage (named in `stage`), "
                "or the task is closed.", 422: "Also: the action's own rules, or an Idempotency-Key sent before by "
                "another person or for another action."}


@router.post("/{code}/actions/evidence.submit", responses={**responses(
    401, 403, 404, 409, 413, 415, 422, 429, 503,
    notes={**ACTION_NOTES, 415: "Also: a file whose content is not what its extension says."}), **links(
    200, download=("get", "/api/v1/tasks/{code}/evidence/{sha256}",
                   {"code": "$response.body#/code", "sha256": "$response.body#/evidence/0/files/0/sha256"}))})
async def submit_evidence(
    code: str, allowed: Annotated[tasks.Permit, Depends(acting("evidence.submit"))], ctx: ContextDep,
    files: Annotated[list[UploadFile], File(description="một hoặc nhiều tệp minh chứng")],
    summary: Annotated[str, Form()] = "",
    kpi_results: Annotated[str, Form(description="JSON: {tên chỉ tiêu: kết quả}")] = "{}",
) -> TaskView:
    async def build(_: TaskState) -> Any:
        return await tasks.evidence(ctx, list(files), summary, _json_object(kpi_results))

    return TaskView.of(await tasks.act(ctx, allowed, build))


@router.post("/{code}/actions/{action}", description="action: " + ", ".join(ACTIONS),
             responses={**responses(401, 403, 404, 409, 413, 422, 429, 503, notes=ACTION_NOTES), **links(
                 200, read=("get", "/api/v1/tasks/{code}", {"code": "$response.body#/code"}),
                 history=("get", "/api/v1/tasks/{code}/history", {"code": "$response.body#/code"}))})
async def act(code: str, action: Annotated[str, Path(
                  description="the action (evidence.submit has a route of its own: multipart)",
                  json_schema_extra={"enum": [name for name in ACTIONS if name != "evidence.submit"]})],
              allowed: Annotated[tasks.Permit, Depends(acting())], ctx: ContextDep,
              body: Annotated[dict[str, Any] | None, Body()] = None) -> TaskView:
    async def build(_: TaskState) -> Any:
        if action == "evidence.submit":
            raise Refusal(Code.EVIDENCE_NEEDS_MULTIPART)
        return COMMAND_MODELS[action].model_validate({**(body or {}), "action": action})

    return TaskView.of(await tasks.act(ctx, allowed, build))


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise Refusal(Code.KPI_RESULTS_JSON, field="kpi_results")
    return value
