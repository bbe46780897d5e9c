"""What the system told me: escalations and other notices, newest first."""

from datetime import UTC, datetime

from fastapi import APIRouter
from sqlalchemy import select

from api.deps import CurrentUser, SessionDep
from api.errors import not_found
from api.schemas import NotificationOut
from db import models

router = APIRouter(prefix="/api/v1/notifications", tags=["inbox"])


@router.get("")
async def my_notifications(actor: CurrentUser, session: SessionDep, unread: bool = False,
                           limit: int = 100) -> list[NotificationOut]:
    query = select(models.Notification).where(models.Notification.username == actor.username)
    if unread:
        query = query.where(models.Notification.read_at.is_(None))
    rows = await session.scalars(query.order_by(models.Notification.id.desc()).limit(min(max(limit, 1), 500)))
    return [NotificationOut.model_validate(row) for row in rows]


@router.post("/{notification_id}/read")
async def mark_read(notification_id: int, actor: CurrentUser, session: SessionDep) -> NotificationOut:
    row = await session.get(models.Notification, notification_id)
    if row is None or row.username != actor.username:
        raise not_found(f"thông báo số {notification_id}")
    row.read_at = row.read_at or datetime.now(UTC)
    await session.commit()
    return NotificationOut.model_validate(row)
