"""Tasks' states read from the projection: each row's JSON text handed to pydantic whole, with no
Python dict in between (half the time of `json.loads` then validation, which every list, inbox and
task page pays per task)."""

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Select, Text, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import models
from domain.task import TaskState

# The column as text, which no driver decodes (PostgreSQL's would hand over a dict).
TEXT = cast(models.Task.state, Text)


async def read(session: AsyncSession, query: Select[Any]) -> list[TaskState]:
    """The states of the tasks a query of tasks selects (its filters, order and limit), in its order."""
    return [TaskState.model_validate_json(text) for text in await session.scalars(query.with_only_columns(TEXT))]


async def stream(session: AsyncSession, query: Select[Any], rows_at_once: int) -> AsyncIterator[TaskState]:
    """`read` for more tasks than are held at once: `rows_at_once` rows fetched at a time."""
    found = await session.stream_scalars(query.with_only_columns(TEXT).execution_options(yield_per=rows_at_once))
    async for text in found:
        yield TaskState.model_validate_json(text)


async def one(session: AsyncSession, code: str) -> TaskState | None:
    """One task's state; None when it has no row."""
    text = await session.scalar(select(TEXT).where(models.Task.code == code))
    return None if text is None else TaskState.model_validate_json(text)
