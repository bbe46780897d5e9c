"""What the system told me: escalations and other notices, newest first."""

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import ContextDep, CurrentUser
from api.errors import responses
from domain import limits
from services import reports
from services.views import NotificationOut

router = APIRouter(prefix="/api/v1/notifications", tags=["inbox"])


@router.get("", responses=responses(401, 422))
async def my_notifications(actor: CurrentUser, ctx: ContextDep, unread: bool = False,
                           limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[NotificationOut]:
    return await reports.notifications(ctx, actor, unread, limit)


@router.post("/{notification_id}/read", responses=responses(
    401, 404, 422, notes={404: "No such notification of the caller's."}))
async def mark_read(notification_id: Annotated[int, Path(ge=1, le=limits.ROW_ID)], actor: CurrentUser,
                    ctx: ContextDep) -> NotificationOut:
    return await reports.mark_read(ctx, actor, notification_id)
