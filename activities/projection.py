"""The activity that records each accepted action: event row plus task projection."""

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from db.projection import record_event
from db.session import transaction
from domain.events import Event
from domain.task import TaskState


class EventRecord(BaseModel):
    state: TaskState  # the state after the event
    event: Event
    request_id: str | None = None  # the update id (the client's Idempotency-Key when it sent one)


class ProjectionActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]):
        self.sessions = sessions

    @activity.defn(name="record_event")
    async def record_event(self, record: EventRecord) -> bool:
        async with transaction(self.sessions) as session:
            return await record_event(session, record.state, record.event, record.request_id)
