"""SQLite through aiosqlite in one hop per statement.

SQLAlchemy's aiosqlite adapter asks aiosqlite's thread four times for each statement (make a cursor,
execute, fetch the rows, close the cursor), and every ask is a round trip between the event loop
and that thread. This cursor does all four in one: the statement runs, its rows are fetched and its
cursor closed in the thread, and what SQLAlchemy reads afterwards (description, rowcount,
lastrowid, rows) is handed back together. Everything else is SQLAlchemy's dialect as it is: the
engine takes this module in place of its own (`create_async_engine(..., module=dbapi())`, db/session.py);
server-side cursors (`stream`) stay SQLAlchemy's.

A task read (one row by its key) took 5 round trips: 4 for the statement, 1 to end a transaction
SQLite never began for a read. It takes 1 now (`OneHopConnection.rollback` skips the other)."""

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

_Done = tuple[Any, list[Any], int, int | None]  # description, rows, rowcount, lastrowid


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ("_description", "_rowcount", "_lastrowid")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:  # no cursor made yet
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]  # None before an insert, as sqlite3's

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    async def _async_soft_close(self) -> None:
        pass  # nothing is open in the thread

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            self._keep(await_(self._in_thread(operation, parameters, many=False)))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        try:
            self._keep(await_(self._in_thread(operation, seq_of_parameters, many=True)))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def _keep(self, done: _Done) -> None:
        self._description, rows, self._rowcount, self._lastrowid = done
        self._rows = collections.deque(rows)

    async def _in_thread(self, operation: Any, parameters: Any, many: bool) -> _Done:
        connection = self._connection

        def run() -> _Done:
            cursor = connection._conn.cursor()
            try:
                if many:
                    cursor.executemany(operation, parameters)
                elif parameters is None:
                    cursor.execute(operation)
                else:
                    cursor.execute(operation, parameters)
                description = cursor.description
                return description, cursor.fetchall() if description else [], cursor.rowcount, cursor.lastrowid
            finally:
                cursor.close()

        async with self._adapt_connection._execute_mutex:
            return await connection._execute(run)  # type: ignore[no-any-return]


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneHopCursor  # type: ignore[assignment]  # a subclass; mypy reads the base's as exact

    def rollback(self) -> None:
        """No round trip when SQLite holds no transaction: after a read (sqlite3 begins one only for a
        write or an explicit BEGIN), every connection going back to the pool had one for nothing."""
        held = self._connection._connection
        if held is not None and not held.in_transaction:
            return
        super().rollback()


class _OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    # SQLAlchemy's connect opens aiosqlite's connection (its thread, daemonized); ours wraps that same one.
    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        return OneHopConnection(self, super().connect(*arg, **kw)._connection)


def dbapi() -> AsyncAdapt_aiosqlite_dbapi:
    """The DB-API module an SQLite engine takes (`module=`): aiosqlite's, with `OneHopCursor`."""
    return _OneHopDBAPI(aiosqlite, sqlite3)
