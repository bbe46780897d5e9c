"""The activities that keep the projection: each recorded event with the task's new state, and a
task's whole projection rewritten from its workflow's log when the rows drifted from it."""

import logging

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from db.projection import chain_head, rebuild, record_event
from db.session import transaction
from domain.events import RecordedEvent
from domain.task import TaskState

log = logging.getLogger("nq57.projection")


class EventRecord(BaseModel):
    state: TaskState  # the state after the event
    event: RecordedEvent  # its request_id is the update id (the client's Idempotency-Key when it sent one)
    fence: int = 0  # orders recording attempts (workflows/task_lifecycle.py, FENCE_PER_RUN)


class Rebuild(BaseModel):
    state: TaskState
    events: list[RecordedEvent]  # every event of the task, oldest first
    fence: int = 0


async def recorded(session: AsyncSession, record: EventRecord) -> bool:
    """The event and the task's new state written in this transaction (db/projection.py); True when
    the projection holds the task's chain up to this event."""
    in_step = await record_event(session, record.state, record.event, record.fence)
    event = record.event
    log.info("Đã ghi sự kiện %d (%s) của nhiệm vụ %s", event.seq, event.type, record.state.code,
             extra={"actor": event.actor, "task": record.state.code, "seq": event.seq, "event": event.type})
    return in_step


class ProjectionActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]):
        self.sessions = sessions

    @activity.defn(name="record_event")
    async def record_event(self, record: EventRecord) -> bool:
        """True when the projection holds the task's chain up to this event."""
        async with transaction(self.sessions) as session:
            return await recorded(session, record)

    @activity.defn(name="rebuild_projection")
    async def rebuild_projection(self, task: Rebuild) -> int:
        """The number of rows written or set apart."""
        async with transaction(self.sessions) as session:
            return await rebuild(session, task.state, task.events, task.fence)

    @activity.defn(name="chain_head")
    async def chain_head(self, code: str) -> RecordedEvent | None:
        async with self.sessions() as session:
            return await chain_head(session, code)
