"""Engines and sessions, SQLite or PostgreSQL by URL."""

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Connection, event, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.schema import CreateColumn

from db import word_index
from db.models import Base

log = logging.getLogger("nq57.db")

def make_engine(url: str, pool_size: int = 10, max_overflow: int = 20, pool_timeout: float = 10) -> AsyncEngine:
    """Connections are held only for the moments they are used (never while waiting on Temporal);
    a request that cannot get one within `pool_timeout` seconds is answered 503, not left waiting."""
    pool = {"pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": pool_timeout}
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **pool)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:  # a DB-API connection
            # The API and separate worker processes write the same file: WAL lets readers go on.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True, **pool)


def make_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def create_schema(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":  # the search's trigram index (db/models.py Task)
            await connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        await connection.run_sync(Base.metadata.create_all)
        await connection.run_sync(_add_missing_columns)
        await connection.run_sync(_add_missing_indexes)
    if engine.dialect.name == "sqlite":
        await word_index.ensure(engine)


def _add_missing_columns(connection: Connection) -> None:
    """The bridge until migrations (a later issue brings Alembic): `create_all` makes missing tables
    but never touches an existing one, so a column a model gained since the data directory was made
    is added here — only one the old rows can do without (nullable, or with a server default).
    Anything else is for the migrations."""
    inspector = inspect(connection)
    preparer = connection.dialect.identifier_preparer
    if_missing = "IF NOT EXISTS " if connection.dialect.name == "postgresql" else ""  # two processes starting
    for table in Base.metadata.sorted_tables:
        if not inspector.has_table(table.name, schema=table.schema):
            continue
        present = {column["name"] for column in inspector.get_columns(table.name, schema=table.schema)}
        for column in table.columns:
            if column.name in present or not (column.nullable or column.server_default is not None):
                continue
            spec = str(CreateColumn(column).compile(dialect=connection.dialect))
            spec += "".join(f" REFERENCES {preparer.format_table(key.column.table)} ({preparer.quote(key.column.name)})"
                            for key in column.foreign_keys)
            connection.execute(text(f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN {if_missing}{spec}"))
            log.info("Đã thêm cột '%s' vào bảng '%s' (cơ sở dữ liệu cũ hơn mã nguồn)", column.name, table.name)


def _add_missing_indexes(connection: Connection) -> None:
    """The same bridge for indexes: one a model gained is created on an existing table (one made for
    the other database only, `ddl_if`, is left out by `create` itself)."""
    for table in Base.metadata.sorted_tables:
        if not inspect(connection).has_table(table.name, schema=table.schema):
            continue
        present = _index_names(connection, table.name, table.schema)
        for index in table.indexes:
            if index.name not in present:
                index.create(connection, checkfirst=True)
        for name in _index_names(connection, table.name, table.schema) - present:
            log.info("Đã thêm chỉ mục '%s' cho bảng '%s'", name, table.name)


def _index_names(connection: Connection, table: str, schema: str | None) -> set[str]:
    return {index["name"] for index in inspect(connection).get_indexes(table, schema=schema) if index["name"]}


# SQLite takes one writer at a time, and one that waits for another retries in sleeps of up to 100 ms
# that favour nobody: under ten concurrent recordings a few waited over a second. Within a process
# its writers take turns here instead (first come, first served); other processes still wait as before.
_writers: weakref.WeakKeyDictionary[AsyncEngine, asyncio.Lock] = weakref.WeakKeyDictionary()


def _turn(sessions: async_sessionmaker[AsyncSession]) -> contextlib.AbstractAsyncContextManager[Any]:
    engine = sessions.kw.get("bind")
    if not isinstance(engine, AsyncEngine) or engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    return _writers.setdefault(engine, asyncio.Lock())


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session in a transaction, committed at the end (rolled back on an error)."""
    async with _turn(sessions), sessions() as session, session.begin():
        yield session
