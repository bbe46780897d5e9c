"""Writes the workflow's events and state into the database, idempotently: the event key is
(task, seq), so a retried activity or a replayed workflow neither doubles nor loses an event."""

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import models
from domain.audit import GENESIS, event_hash
from domain.events import Event
from domain.task import TaskState


async def record_event(session: AsyncSession, state: TaskState, event: Event, request_id: str | None) -> bool:
    """Append the event and bring the task row up to it. False when it was already recorded."""
    code = state.code
    existing = await session.scalar(
        select(models.Event.id).where(models.Event.task_code == code, models.Event.seq == event.seq)
    )
    if existing is not None:
        return False
    prev_hash = await session.scalar(
        select(models.Event.hash).where(models.Event.task_code == code, models.Event.seq == event.seq - 1)
    ) or GENESIS
    session.add(models.Event(
        task_code=code, seq=event.seq, type=event.type, actor=event.actor, at=event.at, data=event.data,
        request_id=request_id, prev_hash=prev_hash,
        hash=event_hash(prev_hash, code, event.seq, event.type, event.actor, event.at, event.data),
    ))
    await _project_task(session, state)
    return True


async def _project_task(session: AsyncSession, state: TaskState) -> None:
    row = await session.get(models.Task, state.code)
    if row is not None and row.seq > state.seq:
        return  # a later event already projected a newer state
    if row is None:
        row = models.Task(code=state.code, created_at=state.created_at)
        session.add(row)
    row.title = state.spec.title
    row.lead_agency = state.lead_agency
    row.stage = state.stage.value
    row.deadline = state.deadline
    row.original_deadline = state.original_deadline
    row.overdue = state.overdue
    row.late = state.late
    row.escalation_level = state.escalation_level
    row.reviewer = state.reviewer
    row.officer = state.officer
    row.seq = state.seq
    row.updated_at = state.updated_at
    row.state = state.model_dump(mode="json")
    await session.flush()
    await session.execute(delete(models.TaskAgency).where(models.TaskAgency.task_code == state.code))
    session.add_all(
        [models.TaskAgency(task_code=state.code, agency=state.lead_agency, relation="lead")]
        + [models.TaskAgency(task_code=state.code, agency=code, relation="coordinating")
           for code in state.coordinating_agencies]
    )
