"""The audit: recompute the event chains and the evidence files' SHA-256, and compare every task's
projection with what its workflow recorded."""

from db.audit import AuditResult, verify
from db.reconcile import compare
from domain.actors import Actor
from services import authorization
from services.context import Context


async def check(ctx: Context, actor: Actor) -> AuditResult:
    authorization.require(ctx.enforcer, actor, "audit.verify")
    async with ctx.sessions() as session:
        result = await verify(session, ctx.blobs.sha256_of)
    return result.with_drift(*await compare(ctx.temporal, ctx.sessions, ctx.settings.task_queue))
