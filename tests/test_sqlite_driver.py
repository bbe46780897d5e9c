"""db/sqlite_driver.py: an SQLite engine asks aiosqlite's thread once per statement, and SQLAlchemy
reads the same rows, counts, ids and errors as through its own adapter."""

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from db.session import make_engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    made = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with made.begin() as connection:
        await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
    yield made
    await made.dispose()


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The calls made in aiosqlite's thread, by name, from now on."""
    made: list[str] = []
    real = aiosqlite.Connection._execute

    def counted(self: aiosqlite.Connection, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Awaitable[Any]:
        made.append(getattr(fn, "__name__", repr(fn)))
        return real(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return made


async def test_a_statement_is_one_round_trip_to_the_thread(engine: AsyncEngine, round_trips: list[str]) -> None:
    async with engine.connect() as connection:
        round_trips.clear()  # a connection's checkout may ask the thread too
        rows = (await connection.execute(text("SELECT 1, 'một'"))).all()
        assert len(round_trips) == 1
    assert rows == [(1, "một")]


async def test_rows_counts_and_ids_come_back_as_sqlalchemy_reads_them(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        inserted = await connection.execute(text("INSERT INTO t (name) VALUES ('a')"))
        assert inserted.lastrowid == 1
        await connection.execute(text("INSERT INTO t (name) VALUES (:name)"), [{"name": "b"}, {"name": "c"}])
        changed = await connection.execute(text("UPDATE t SET name = name || '!' WHERE id > 1"))
        assert changed.rowcount == 2
    async with engine.connect() as connection:
        found = await connection.execute(text("SELECT id, name FROM t ORDER BY id"))
        assert list(found.keys()) == ["id", "name"]
        assert found.all() == [(1, "a"), (2, "b!"), (3, "c!")]
        assert await connection.scalar(text("SELECT name FROM t WHERE id = 9")) is None


async def test_a_refused_statement_raises_sqlalchemys_error_and_the_connection_goes_on(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("INSERT INTO t (name) VALUES ('a')"))
        with pytest.raises(IntegrityError):
            await connection.execute(text("INSERT INTO t (name) VALUES ('a')"))
        await connection.rollback()
        assert await connection.scalar(text("SELECT count(*) FROM t")) == 0


async def test_many_rows_stream_through_sqlalchemys_own_server_side_cursor(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO t (name) VALUES (:name)"), [{"name": str(n)} for n in range(250)])
    async with engine.connect() as connection:
        streamed = await connection.stream(text("SELECT id FROM t ORDER BY id"))
        assert [row.id async for row in streamed] == list(range(1, 251))


async def test_a_read_returns_its_connection_to_the_pool_without_another_round_trip(
        engine: AsyncEngine, round_trips: list[str]) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
        round_trips.clear()
    assert round_trips == []  # no transaction to end: SQLite begins one only to write


async def test_a_write_not_committed_is_rolled_back_when_its_connection_goes_back(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("INSERT INTO t (name) VALUES ('a')"))
    async with engine.connect() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM t")) == 0
