"""Tasks' states read from the projection: each row's JSON text handed to pydantic whole, with no
Python dict in between (half the time of `json.loads` then validation, which every list, inbox and
task page pays per task), and the states of the texts read last remembered (`parsed`)."""

from collections.abc import AsyncIterator, Callable
from functools import lru_cache
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, Text, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import models
from domain.task import TaskState

# The column as text, which no driver decodes (PostgreSQL's would hand over a dict).
TEXT = cast(models.Task.state, Text)
# About 8 KiB each (a task of the demo's size), with their views (services/views.py TaskView.of).
STATES_REMEMBERED = 2048


@lru_cache(maxsize=STATES_REMEMBERED)
def parsed(text: str) -> TaskState:
    """A row's state. The same text is the same state, and a task that moves gets a new text: the
    states of the texts read last are remembered, so the inbox, a list or a page read again parses
    only what changed. Shared by every reader: none changes a state it read."""
    return TaskState.model_validate_json(text)


T = TypeVar("T")


class ByState(Generic[T]):
    """What a function of a state alone makes of it (its view, the actions it allows), remembered
    for as many states as `parsed` keeps: a list, an inbox or a page read again makes it only for
    what changed. Keyed by the state's identity, the state kept beside it (its id is not reused while
    it is here); what it hands out is shared, and nobody changes it."""

    def __init__(self, make: Callable[[TaskState], T]) -> None:
        self._make = make
        self._known: dict[int, tuple[TaskState, T]] = {}

    def __call__(self, state: TaskState) -> T:
        seen = self._known.get(id(state))
        if seen is None or seen[0] is not state:
            seen = state, self._make(state)
            if len(self._known) >= STATES_REMEMBERED:
                del self._known[next(iter(self._known))]  # the oldest
            self._known[id(state)] = seen
        return seen[1]


async def read(session: AsyncSession, query: Select[Any]) -> list[TaskState]:
    """The states of the tasks a query of tasks selects (its filters, order and limit), in its order."""
    return await read_kept(session, query.with_only_columns(TEXT), {})


async def read_kept(session: AsyncSession, query: Select[str], parameters: dict[str, Any]) -> list[TaskState]:
    """`read` for a query of `TEXT` built once and kept (services/reports.py `_waiting`): run as it is,
    with these parameters, no statement made per read. Run on the session's connection, as a plain
    statement: the ORM's loading of each row (text alone, nothing to load) cost a 200-task inbox
    0.3 ms more, measured."""
    texts = (await (await session.connection()).execute(query, parameters)).scalars()
    return [parsed(text) for text in texts]


async def stream(session: AsyncSession, query: Select[Any], rows_at_once: int) -> AsyncIterator[TaskState]:
    """`read` for more tasks than are held at once: `rows_at_once` rows fetched at a time."""
    found = await session.stream_scalars(query.with_only_columns(TEXT).execution_options(yield_per=rows_at_once))
    async for text in found:
        yield parsed(text)


async def one(session: AsyncSession, code: str) -> TaskState | None:
    """One task's state; None when it has no row."""
    text = await session.scalar(select(TEXT).where(models.Task.code == code))
    return None if text is None else parsed(text)
