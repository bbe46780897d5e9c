"""Gathers what the agency index needs from the projection: the tasks whose original deadline falls
in the period, and their escalation events by level."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db import models
from domain.agency_index import IndexTask
from domain.events import Happening
from domain.periods import Period
from domain.task import TaskState


async def index_tasks(session: AsyncSession, period: Period) -> list[IndexTask]:
    rows = list(await session.scalars(select(models.Task).where(
        models.Task.original_deadline >= period.start, models.Task.original_deadline < period.end)))
    codes = [row.code for row in rows]
    escalations: dict[str, dict[int, int]] = {code: {} for code in codes}
    for code, data in await session.execute(select(models.Event.task_code, models.Event.data).where(
            models.Event.type == Happening.ESCALATED.value, models.Event.task_code.in_(codes))):
        level = int(data["level"])
        escalations[code][level] = escalations[code].get(level, 0) + 1
    return [IndexTask(state=TaskState.model_validate(row.state), escalations=escalations[row.code]) for row in rows]
