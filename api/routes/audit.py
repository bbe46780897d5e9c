"""GET /api/v1/audit/verify: recompute the event chains and the evidence files' SHA-256, and compare
every task's projection with what its workflow recorded."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from api.deps import BlobsDep, SettingsDep, TemporalDep, require
from api.errors import responses
from db.audit import AuditResult, verify
from db.reconcile import compare
from domain.actors import Actor

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("/verify", responses=responses(
    401, 403, 503, notes={503: "Temporal did not answer the comparison with the workflows."}))
async def verify_audit_chain(request: Request, blobs: BlobsDep, client: TemporalDep, settings: SettingsDep,
                             _: Annotated[Actor, Depends(require("audit.verify"))]) -> AuditResult:
    sessions = request.app.state.sessions
    async with sessions() as session:
        result = await verify(session, blobs.path)
    return result.with_drift(*await compare(client, sessions, settings.task_queue))
