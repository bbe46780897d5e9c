"""Gathers what the agency index needs from the projection: the tasks the period concerns (a one-off
whose original deadline falls in it; a task of another kind that runs through it: domain/agency_index.py
decides), and their escalation events that count, by level."""

from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import models
from domain.agency_index import IndexTask, concerns, counts
from domain.escalation import DeadlineKind
from domain.events import Happening
from domain.periods import Period
from domain.task import TaskKind, TaskState

# The kinds recorded in a task's spec (a one-off's is left out of it: domain/task.py).
_OTHER_KINDS = [kind.value for kind in TaskKind if kind != TaskKind.ONE_OFF]


async def index_tasks(session: AsyncSession, period: Period, now: datetime) -> list[IndexTask]:
    rows = await session.scalars(select(models.Task).where(or_(
        and_(models.Task.original_deadline >= period.start, models.Task.original_deadline < period.end),
        models.Task.state["spec"]["kind"].as_string().in_(_OTHER_KINDS))))
    states = {state.code: state for state in (TaskState.model_validate(row.state) for row in rows)
              if concerns(state, period, now)}
    escalations: dict[str, dict[int, int]] = {code: {} for code in states}
    for code, data in await session.execute(select(models.Event.task_code, models.Event.data).where(
            models.Event.type == Happening.ESCALATED.value, models.Event.task_code.in_(list(states)))):
        if counts(states[code], DeadlineKind(data["kind"]), datetime.fromisoformat(data["due"]), period):
            level = int(data["level"])
            escalations[code][level] = escalations[code].get(level, 0) + 1
    return [IndexTask(state=state, escalations=escalations[code]) for code, state in states.items()]
