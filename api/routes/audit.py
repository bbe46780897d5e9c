"""GET /api/v1/audit/verify: recompute the event chains and the evidence files' SHA-256, and compare
every task's projection with what its workflow recorded."""

from typing import Annotated

from fastapi import APIRouter, Depends

from api.deps import ContextDep, allowed
from api.errors import responses
from db.audit import AuditResult
from domain.actors import Actor
from services import audit

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("/verify", responses=responses(
    401, 403, 503, notes={503: "Temporal did not answer the comparison with the workflows."}))
async def verify_audit_chain(actor: Annotated[Actor, Depends(allowed("audit.verify"))], ctx: ContextDep) -> AuditResult:
    return await audit.check(ctx, actor)
