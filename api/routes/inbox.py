"""GET /api/v1/inbox: the tasks waiting for the caller, most urgent first."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api import compression
from api.deps import ContextDep, CurrentUser
from api.errors import responses
from services import reports
from services.views import InboxItem

router = APIRouter(prefix="/api/v1", tags=["inbox"])


@router.get("/inbox", response_model=list[InboxItem], responses=responses(401, 422))
async def inbox(request: Request, actor: CurrentUser, ctx: ContextDep,
                limit: Annotated[int, Query(ge=1, le=500, description="the most urgent first, at most this many")
                                 ] = reports.INBOX_LIMIT) -> Response:
    """Tasks that wait for an action of mine, and open tasks I was alerted about (an escalation
    addressed to me and not yet read: chasing it is my job)."""
    return compression.answer(request, await reports.inbox_json(ctx, actor, limit))
