"""Tasks' states read from the projection: each row's JSON text handed to pydantic whole, with no
Python dict in between (half the time of `json.loads` then validation, which every list, inbox and
task page pays per task), and the states of the texts read last remembered (`parsed`). An inbox
reads each row's version first and the text only of a version not met before (`read_kept`)."""

from collections.abc import AsyncIterator, Callable, Sequence
from functools import lru_cache
from typing import Any, Generic, TypeVar

from sqlalchemy import CompoundSelect, Select, Text, bindparam, cast, func, select, true
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

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


K = TypeVar("K")
T = TypeVar("T")


class ByIdentity(Generic[K, T]):
    """What a function of an object alone makes of it, remembered for the `kept` objects met last:
    keyed by the object's identity, the object kept beside it (its id is not reused while it is here).
    For objects handed out again, the very same, while they stand for the same thing (a state per
    version of a row, an answer's bytes while the answer stays); what it hands out is shared, and
    nobody changes it."""

    def __init__(self, make: Callable[[K], T], kept: int) -> None:
        self._make, self._kept = make, kept
        self._known: dict[int, tuple[K, T]] = {}

    def __call__(self, key: K) -> T:
        seen = self._known.get(id(key))
        if seen is None or seen[0] is not key:
            seen = key, self._make(key)
            if len(self._known) >= self._kept:
                del self._known[next(iter(self._known))]  # the oldest
            self._known[id(key)] = seen
        return seen[1]


class ByState(ByIdentity[TaskState, T]):
    """What a function of a state alone makes of it (its view, the actions it allows), remembered
    for as many states as `parsed` keeps: a list, an inbox or a page read again makes it only for
    what changed."""

    def __init__(self, make: Callable[[TaskState], T]) -> None:
        super().__init__(make, STATES_REMEMBERED)


async def read(session: AsyncSession, query: Select[Any]) -> list[TaskState]:
    """The states of the tasks a query of tasks selects (its filters, order and limit), in its order."""
    texts = (await (await session.connection()).execute(query.with_only_columns(TEXT))).scalars()
    return [parsed(text) for text in texts]


# A query of tasks' codes and versions, then what it orders them by (services/authorization.py `Inbox`), in
# the order wanted, built once and kept.
Kept = CompoundSelect[str, int, Any, Any, Any]


async def read_kept(session: AsyncSession, query: Kept, parameters: dict[str, Any]) -> list[TaskState]:
    """`read` for a query of codes and versions built once and kept (services/reports.py `_waiting`):
    run as it is, with these parameters, no statement made per read, each code once (where it is
    first named). Run on the session's connection, as a plain statement: the ORM's loading of each
    row (nothing to load) cost a 200-task inbox 0.3 ms more, measured. The versions (db/models.py
    Task.version, which the database sets anew whenever a state is written, and keeps on the inbox
    rows) come first, then the text of the rows whose version this process has not met
    (`_VERSIONS`): a head's inbox of 200 at 100,000 tasks read 330 KB of text each time, decoded
    and hashed it, for states it mostly held already (on PostgreSQL 0.6–0.8 ms of its 4–5 in the
    service; on SQLite 0.4–0.9 ms of 2.0–2.5).

    PostgreSQL runs the statement by its generic plan (the rest of the transaction): made once per
    connection, it is the same for any parameters (each range of the query is one index's, with a
    limit). Left to choose, PostgreSQL planned the Standing Office's inbox of eleven ranges anew at
    every read at 100,000 tasks, 2.4 ms of planning for 0.25 ms of work, where at 1,000 it kept the
    generic plan (0.4 ms in all)."""
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        await connection.execute(_GENERIC_PLANS)
    named: dict[str, int] = {}
    for code, version, *_ in (await connection.execute(query, parameters)).all():  # fetched at once, not row by row
        named.setdefault(code, version)
    return await _by_version(connection, list(named.items()))


_GENERIC_PLANS = select(func.set_config("plan_cache_mode", "force_generic_plan", true()))

# code -> (its row's version, that version's state), for as many tasks as `parsed` keeps, the
# oldest met first forgotten.
_VERSIONS: dict[str, tuple[int, TaskState]] = {}


async def _by_version(connection: AsyncConnection, rows: Sequence[tuple[str, int]]) -> list[TaskState]:
    """The states of these rows (code, version), each read as text only where the version held here
    is not the row's. A row rewritten in between is read as it stands then (the newer state); one
    deleted in between is left out."""
    found = {code: held[1] for code, version in rows if (held := _VERSIONS.get(code)) and held[0] == version}
    if unknown := [code for code, _ in rows if code not in found]:
        for code, version, text in await connection.execute(
                select(models.Task.code, models.Task.version, TEXT).where(models.Task.code.in_(unknown))):
            found[code] = parsed(text)
            _VERSIONS.pop(code, None)
            if len(_VERSIONS) >= STATES_REMEMBERED:
                del _VERSIONS[next(iter(_VERSIONS))]  # the oldest met
            _VERSIONS[code] = version, found[code]
    return [found[code] for code, _ in rows if code in found]


async def stream(session: AsyncSession, query: Select[Any], rows_at_once: int) -> AsyncIterator[TaskState]:
    """`read` for more tasks than are held at once: `rows_at_once` rows fetched at a time."""
    found = await session.stream_scalars(query.with_only_columns(TEXT).execution_options(yield_per=rows_at_once))
    async for text in found:
        yield parsed(text)


# Built once, run as a plain statement on the session's connection: every task read and every action
# asks (building it and running it through the ORM took a quarter of a task read's time).
_ONE = select(TEXT).where(models.Task.code == bindparam("code"))


async def one(session: AsyncSession, code: str) -> TaskState | None:
    """One task's state; None when it has no row."""
    text = await (await session.connection()).scalar(_ONE, {"code": code})
    return None if text is None else parsed(text)
