"""Assigning a task: the checks that need the database, then the workflow's start. One path for
POST /tasks, the import and the demo program."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.errors import invalid
from api.task_workflows import start_task
from db import models
from domain.deadlines import parse_deadline
from domain.task import TaskSpec, TaskState
from settings import Settings
from workflows.task_lifecycle import TaskStart


async def missing_agencies(session: AsyncSession, codes: list[str]) -> list[str]:
    known = set(await session.scalars(select(models.Agency.code).where(models.Agency.code.in_(codes))))
    return [code for code in codes if code not in known]


async def assign(sessions: async_sessionmaker[AsyncSession], client: Client, settings: Settings, spec: TaskSpec,
                 by: str, idempotency_key: str | None = None) -> TaskState:
    """Whether the code is new is Temporal's to say (one workflow per code), not the projection's."""
    async with sessions() as session:  # closed before Temporal is asked: no connection held meanwhile
        if await missing_agencies(session, [spec.lead_agency]):
            raise invalid("lead_agency", f"không có cơ quan mã '{spec.lead_agency}'")
        if unknown := await missing_agencies(session, spec.coordinating_agencies):
            raise invalid("coordinating_agencies", "không có cơ quan mã " + ", ".join(f"'{c}'" for c in unknown))
    if spec.lead_agency in spec.coordinating_agencies:
        raise invalid("coordinating_agencies", "cơ quan chủ trì không đồng thời là cơ quan phối hợp")
    start = TaskStart(spec=spec, deadline=parse_deadline(spec.deadline, settings.timezone), created_by=by,
                      settings=settings.lifecycle, request_id=idempotency_key)
    return await start_task(client, settings.task_queue, start, settings.action_timeout)
