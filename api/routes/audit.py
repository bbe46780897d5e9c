"""GET /api/v1/audit/verify: recompute the event chains and the evidence files' SHA-256."""

from typing import Annotated

from fastapi import APIRouter, Depends

from api.deps import BlobsDep, SessionDep, require
from db.audit import AuditResult, verify
from domain.actors import Actor

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("/verify")
async def verify_audit_chain(session: SessionDep, blobs: BlobsDep,
                             _: Annotated[Actor, Depends(require("audit.verify"))]) -> AuditResult:
    return await verify(session, blobs.path)
