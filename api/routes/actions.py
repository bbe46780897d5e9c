"""POST /api/v1/tasks/{code}/actions/{action}: parse, authorize (action_access), send to the workflow."""

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, File, Form, Path, UploadFile
from sqlalchemy.ext.asyncio import AsyncSession

from api.blobs import MAX_FILES, BlobStore
from api.deps import BlobsDep, EnforcerDep, SessionsDep, SettingsDep, TaskAccess, TemporalDep, action_access
from api.errors import ApiError, invalid, links, responses
from api.schemas import TaskView
from api.task_workflows import send_action
from db import models
from domain.actors import Role
from domain.commands import COMMAND_MODELS, ActionRequest, EvidenceSubmit, fingerprint
from domain.lifecycle import ACTIONS
from settings import Settings

router = APIRouter(prefix="/api/v1/tasks", tags=["actions"])
Access = Annotated[TaskAccess, Depends(action_access())]
ACTION_NOTES = {404: "Unknown task or action.", 409: "The action does not fit the task's stage (named in `stage`), "
                "or the task is closed.", 422: "Also: the action's own rules, or an Idempotency-Key sent before by "
                "another person or for another action."}


@router.post("/{code}/actions/evidence.submit", responses={**responses(
    401, 403, 404, 409, 413, 415, 422, 429, 503,
    notes={**ACTION_NOTES, 415: "Also: a file whose content is not what its extension says."}), **links(
    200, download=("get", "/api/v1/tasks/{code}/evidence/{sha256}",
                   {"code": "$response.body#/code", "sha256": "$response.body#/evidence/0/files/0/sha256"}))})
async def submit_evidence(
    code: str, access: Annotated[TaskAccess, Depends(action_access("evidence.submit"))],
    client: TemporalDep, blobs: BlobsDep, settings: SettingsDep,
    files: Annotated[list[UploadFile], File(description="một hoặc nhiều tệp minh chứng")],
    summary: Annotated[str, Form()] = "",
    kpi_results: Annotated[str, Form(description="JSON: {tên chỉ tiêu: kết quả}")] = "{}",
) -> TaskView:
    command = await evidence_command(blobs, files, summary, kpi_results)
    if (answer := access.repeat(fingerprint(command))) is not None:
        return TaskView.of(answer)
    return await perform(client, access, command, settings)


@router.post("/{code}/actions/{action}", description="action: " + ", ".join(ACTIONS),
             responses={**responses(401, 403, 404, 409, 413, 422, 429, 503, notes=ACTION_NOTES), **links(
                 200, read=("get", "/api/v1/tasks/{code}", {"code": "$response.body#/code"}),
                 history=("get", "/api/v1/tasks/{code}/history", {"code": "$response.body#/code"}))})
async def act(code: str, action: Annotated[str, Path(
                  description="the action (evidence.submit has a route of its own: multipart)",
                  json_schema_extra={"enum": [name for name in ACTIONS if name != "evidence.submit"]})],
              access: Access, client: TemporalDep, sessions: SessionsDep,
              enforcer: EnforcerDep, settings: SettingsDep,
              body: Annotated[dict[str, Any] | None, Body()] = None) -> TaskView:
    if action == "evidence.submit":
        raise ApiError(415, "Nộp minh chứng dùng multipart/form-data với các trường files, summary, kpi_results")
    command = COMMAND_MODELS[action].model_validate({**(body or {}), "action": action})
    if (answer := access.repeat(fingerprint(command))) is not None:
        return TaskView.of(answer)
    return await perform(client, access, await resolve_people(command, access, sessions, enforcer), settings,
                         fingerprint(command))


async def evidence_command(blobs: BlobStore, files: list[UploadFile], summary: str, kpi_results: str
                           ) -> EvidenceSubmit:
    """The evidence.submit command from a multipart form; the files go to the blob store first."""
    try:
        results = json.loads(kpi_results or "{}")
    except json.JSONDecodeError:
        results = None
    if not isinstance(results, dict):
        raise invalid("kpi_results", "phải là một đối tượng JSON, ví dụ {\"Chỉ tiêu\": 100}", "kpi_results_json")
    files = [file for file in files if file.filename]
    if len(files) > MAX_FILES:
        raise invalid("files", f"tối đa {MAX_FILES} tệp mỗi lần nộp", "too_many_files", max=MAX_FILES)
    if not files:
        raise invalid("files", "cần ít nhất 1 tệp minh chứng", "files_required")
    return EvidenceSubmit(summary=summary, kpi_results=results, files=[await blobs.save(f) for f in files])


async def perform(client: TemporalDep, access: TaskAccess, command: Any, settings: Settings,
                  sent: str | None = None) -> TaskView:
    """Send an authorized, parsed command to the task's workflow; the answer is the new state.
    `sent` is the fingerprint of what the client sent, when the server filled in more since."""
    request = ActionRequest(actor=access.actor, command=command, fingerprint=sent or fingerprint(command))
    return TaskView.of(await send_action(client, access.state.code, request, access.idempotency_key,
                                         settings.action_timeout, settings.proof_key))


async def resolve_people(command: Any, access: TaskAccess, sessions: SessionsDep, enforcer: EnforcerDep) -> Any:
    """Names in a body must be real people in the right place; the server fills what follows from them."""
    async with sessions() as session:  # closed before the workflow is asked
        return await _resolve_people(command, access, session, enforcer)


async def _resolve_people(command: Any, access: TaskAccess, session: AsyncSession, enforcer: EnforcerDep) -> Any:
    if command.action == "review.assign":
        user = await session.get(models.User, command.reviewer)
        if user is None:
            raise invalid("reviewer", f"không có người dùng '{command.reviewer}'", "unknown_user",
                          username=command.reviewer)
        if Role.CROSS_CHECK_REVIEWER not in await enforcer.get_roles_for_user(user.username):
            raise invalid("reviewer", f"'{user.username}' không có vai trò kiểm tra chéo (cross_check_reviewer)",
                          "not_a_reviewer", username=user.username)
        return command.model_copy(update={"reviewer_agency": user.agency})
    if command.action == "accept" and command.officer:
        user = await session.get(models.User, command.officer)
        if user is None or user.agency != access.state.lead_agency:
            raise invalid("officer", f"'{command.officer}' không phải cán bộ của cơ quan chủ trì "
                                     f"{access.state.lead_agency}", "officer_not_of_lead",
                          username=command.officer, agency=access.state.lead_agency)
    if command.action == "reassign" and await session.get(models.Agency, command.lead_agency) is None:
        raise invalid("lead_agency", f"không có cơ quan mã '{command.lead_agency}'", "unknown_agency",
                      agency=command.lead_agency)
    return command
