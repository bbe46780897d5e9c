"""The Temporal worker: runs the task workflows and their activities. `python worker.py` runs one
on its own (as many as needed, against NQ57_TEMPORAL_ADDRESS); `server.py` also runs one inside
the API process unless NQ57_RUN_WORKER=0."""

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from activities.notifications import NotificationActivities
from activities.projection import ProjectionActivities
from db.session import create_schema, make_engine, make_sessions
from settings import Settings
from workflows.task_lifecycle import TaskLifecycleWorkflow


async def connect(settings: Settings) -> Client:
    return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace,
                                data_converter=pydantic_data_converter)


def build_worker(client: Client, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Worker:
    notifications = NotificationActivities(sessions, settings)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[TaskLifecycleWorkflow],
        activities=[ProjectionActivities(sessions).record_event, notifications.notify_in_app,
                    notifications.send_mail, notifications.post_webhook],
    )


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = Settings()
    if not settings.temporal_address:
        raise SystemExit("worker.py cần NQ57_TEMPORAL_ADDRESS (địa chỉ Temporal, ví dụ 127.0.0.1:7233)")
    engine = make_engine(settings.async_database_url)
    await create_schema(engine)
    worker = build_worker(await connect(settings), settings, make_sessions(engine))
    logging.getLogger("nq57.worker").info("Worker đang chạy, hàng đợi '%s'", settings.task_queue)
    try:
        await worker.run()
    finally:
        await engine.dispose()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
