"""What the system told me: escalations and other notices, newest first."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy import select

from api.deps import CurrentUser, SessionDep
from api.errors import not_found, responses
from api.schemas import NotificationOut
from db import models
from domain import limits

router = APIRouter(prefix="/api/v1/notifications", tags=["inbox"])


@router.get("", responses=responses(401, 422))
async def my_notifications(actor: CurrentUser, session: SessionDep, unread: bool = False,
                           limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[NotificationOut]:
    query = select(models.Notification).where(models.Notification.username == actor.username)
    if unread:
        query = query.where(models.Notification.read_at.is_(None))
    rows = await session.scalars(query.order_by(models.Notification.id.desc()).limit(limit))
    return [NotificationOut.model_validate(row) for row in rows]


@router.post("/{notification_id}/read", responses=responses(
    401, 404, 422, notes={404: "No such notification of the caller's."}))
async def mark_read(notification_id: Annotated[int, Path(ge=1, le=limits.ROW_ID)], actor: CurrentUser,
                    session: SessionDep) -> NotificationOut:
    row = await session.get(models.Notification, notification_id)
    if row is None or row.username != actor.username:
        raise not_found(f"thông báo số {notification_id}")
    row.read_at = row.read_at or datetime.now(UTC)
    await session.commit()
    return NotificationOut.model_validate(row)
