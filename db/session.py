"""Engines and sessions, SQLite or PostgreSQL by URL."""

import asyncio
import contextlib
import logging
import sqlite3
import time
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from db import sqlite_driver, word_index

log = logging.getLogger("nq57.db")

def make_engine(url: str, pool_size: int = 10, max_overflow: int = 20, pool_timeout: float = 10) -> AsyncEngine:
    """Connections are held only for the moments they are used (never while waiting on Temporal);
    a request that cannot get one within `pool_timeout` seconds is answered 503, not left waiting."""
    pool = {"pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": pool_timeout}
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, module=sqlite_driver.dbapi(), **pool)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:  # a DB-API connection
            # The API and separate worker processes write the same file: WAL lets readers go on.
            cursor = dbapi_connection.cursor()
            write_ahead(cursor)
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    engine = create_async_engine(url, **pool)
    _check_after_rest(engine)
    return engine


# A pooled PostgreSQL connection that rested this long is checked before it is handed out (the
# database may have restarted meanwhile): a check is three round trips, as many as the rest of a
# task's read, so a connection in steady use is not checked every time. One lost all the same (the
# database restarted within the second) fails its request with 503 and Retry-After
# (api/errors.py), and every connection pooled before it is replaced.
CHECK_AFTER_REST = 1.0  # seconds
clock: Callable[[], float] = time.monotonic
_RETURNED = "nq57_returned_at"


def _check_after_rest(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED] = clock()

    @event.listens_for(engine.sync_engine, "checkout")
    def _rested(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get(_RETURNED)  # none yet: a connection just made
        if returned is None or clock() - returned < CHECK_AFTER_REST:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            if not engine.dialect.is_disconnect(error, dbapi_connection, None):
                raise  # not a lost connection: a fault, said as one
            raise InvalidatePoolError(str(error)) from error  # replaced, with every one pooled before it


def write_ahead(cursor: Any) -> None:
    """The file in WAL mode, its own once set. Two connections switching a new file at once both need
    it alone, and SQLite refuses one of them at once ("database is locked", its busy wait skipped so
    that they do not deadlock): that one looks again after a moment (two services starting together on
    a new file met it about one time in six)."""
    for attempt in range(WAL_TRIES):
        cursor.execute("PRAGMA journal_mode")
        if cursor.fetchone()[0] == "wal":
            return
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if attempt == WAL_TRIES - 1:
                raise
            time.sleep(0.01 * (attempt + 1))


WAL_TRIES = 20


def make_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


MIGRATIONS = Path(__file__).with_name("migrations")
_MIGRATING = 5757  # PostgreSQL's advisory lock: one process migrates, the others wait and find it done


async def create_schema(engine: AsyncEngine) -> None:
    """The schema brought to the newest revision (`db/migrations/versions`), whichever process starts
    first: in one transaction that the others wait for, then find nothing left to do. A database
    from before migrations is brought to the first revision's schema (missing tables, columns and
    indexes made, its rows untouched), then on as any other."""
    async with engine.connect() as connection:  # rolled back on an error
        if connection.dialect.name == "sqlite":
            await connection.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock first: the others wait here
        else:
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATING})
        await connection.run_sync(_upgrade)  # in this transaction (Alembic commits nothing of its own)
        await connection.commit()
    await word_index.ensure(engine)


def migrated(name: str | None, kind: str, _parents: object) -> bool:
    """What the migrations keep (Alembic's `include_name`): all but the word index (db/word_index.py)."""
    return kind != "table" or name is None or not word_index.owns(name)


def _upgrade(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


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


def upsert(session: AsyncSession) -> Callable[[Any], Any]:
    """The dialect's INSERT, the one with `on_conflict_do_update` (SQLite and PostgreSQL write it alike)."""
    return sqlite_insert if session.get_bind().dialect.name == "sqlite" else postgresql_insert
