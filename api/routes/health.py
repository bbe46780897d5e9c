"""GET /healthz (the process is up) and GET /readyz (the database, Temporal and at least one worker
polling the task queue answer: without a worker no action can be recorded)."""

import asyncio
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

import messages
from api.errors import responses
from services.views import Readiness

router = APIRouter(tags=["service"])
CHECK_SECONDS = 5.0  # each readiness check answers within this


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def live_workers(client: Client, task_queue: str, window: float) -> int:
    """Workers that polled the task queue within the window (a poll lasts up to a minute)."""
    answer = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
        namespace=client.namespace, task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))
    since = datetime.now(UTC) - timedelta(seconds=window)
    return sum(1 for poller in answer.pollers if poller.last_access_time.ToDatetime(tzinfo=UTC) >= since)


@router.get("/readyz", response_model=Readiness, responses=responses(
    503, model=Readiness, notes={503: "The database, Temporal or a worker polling the task queue does not answer."}))
async def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    checks: dict[str, str] = {}

    async def database() -> None:
        async with state.sessions() as session:
            await session.execute(text("SELECT 1"))

    async def temporal() -> None:
        await state.temporal.service_client.check_health()

    async def worker() -> None:
        if not await live_workers(state.temporal, state.settings.task_queue, state.settings.worker_poll_window):
            raise RuntimeError(messages.fill(messages.text("ready.no_worker"), {"queue": state.settings.task_queue}))

    for name, check in (("database", database), ("temporal", temporal), ("worker", worker)):
        try:
            await asyncio.wait_for(check(), CHECK_SECONDS)
            checks[name] = "ok"
        except Exception as error:  # readiness reports any failure, it does not raise
            checks[name] = messages.fill(messages.text("ready.failed"), {"reason": error or type(error).__name__})
    ready = all(value == "ok" for value in checks.values())
    body = {"detail": messages.text("ready.yes" if ready else "ready.no"), **checks}
    return JSONResponse(status_code=200 if ready else 503, content=body,
                        headers=None if ready else {"Retry-After": "5"})
