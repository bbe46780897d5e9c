"""PostgreSQL connections the database dropped (it restarted): a pooled connection that rested is
checked before it is used, and replaced when it is gone; one used a moment ago is not checked, so a
request meeting it fails with 503 and Retry-After, and the pool replaces it for the next
(db/session.py `CHECK_AFTER_REST`, api/errors.py `_database_lost`). The clock is the test's own."""

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from api import errors
from db import session as db_session
from db.session import make_engine
from tests.conftest import POSTGRES_URL, postgres_database

needs_postgres = pytest.mark.skipif(not POSTGRES_URL, reason="NQ57_TEST_POSTGRES_URL is not set: the PostgreSQL "
                                    "run is skipped")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(db_session, "clock", clock)
    return clock


@pytest.fixture
async def engine(clock: Clock) -> AsyncIterator[AsyncEngine]:
    url = (await postgres_database()).replace("postgresql://", "postgresql+asyncpg://", 1)
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        yield engine
    finally:
        await engine.dispose()


async def _backend(engine: AsyncEngine) -> int:
    """The server process behind the pooled connection (handed back to the pool at once)."""
    async with engine.connect() as connection:
        return int(await connection.scalar(text("SELECT pg_backend_pid()")) or 0)


async def _drop(pid: int) -> None:
    """The database ends that connection, as a restart would."""
    admin = await asyncpg.connect(await postgres_database())
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


@needs_postgres
async def test_a_dropped_connection_that_rested_is_replaced_before_it_is_used(engine: AsyncEngine,
                                                                           clock: Clock) -> None:
    before = await _backend(engine)
    await _drop(before)
    clock.now += db_session.CHECK_AFTER_REST
    assert await _backend(engine) != before


@needs_postgres
async def test_a_dropped_connection_used_a_moment_ago_fails_once_then_the_pool_replaces_it(
        engine: AsyncEngine, clock: Clock) -> None:
    before = await _backend(engine)
    await _drop(before)
    clock.now += db_session.CHECK_AFTER_REST / 2
    with pytest.raises(DBAPIError) as lost:
        await _backend(engine)
    assert lost.value.connection_invalidated
    assert await _backend(engine) != before


@needs_postgres
async def test_a_dropped_connection_found_on_checkout_has_every_one_pooled_before_it_replaced(clock: Clock) -> None:
    """A restart drops both pooled connections; the one that rested is checked and found gone, and the
    one returned a moment ago (not checked) is replaced with it, not handed out dead."""
    url = (await postgres_database()).replace("postgresql://", "postgresql+asyncpg://", 1)
    engine = make_engine(url, pool_size=2, max_overflow=0)
    try:
        async with engine.connect() as rested, engine.connect() as recent:
            pids = [int(await rested.scalar(text("SELECT pg_backend_pid()")) or 0),
                    int(await recent.scalar(text("SELECT pg_backend_pid()")) or 0)]
            await rested.close()  # returned first: it will have rested
            clock.now += db_session.CHECK_AFTER_REST * 0.6
        for pid in pids:
            await _drop(pid)
        clock.now += db_session.CHECK_AFTER_REST * 0.6  # the first rested 1.2, the second 0.6
        async with engine.connect() as first, engine.connect() as second:
            found = {int(await first.scalar(text("SELECT pg_backend_pid()")) or 0),
                     int(await second.scalar(text("SELECT pg_backend_pid()")) or 0)}
        assert not found & set(pids)
    finally:
        await engine.dispose()


def _failing_app(error: Exception) -> FastAPI:
    app = FastAPI()
    errors.install(app)

    @app.get("/read")
    async def read() -> None:
        raise error

    return app


async def test_a_request_that_met_a_dropped_connection_is_answered_503_with_retry_after() -> None:
    lost = DBAPIError("SELECT 1", None, ConnectionError("connection was closed"), connection_invalidated=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_failing_app(lost)), base_url="http://x") as http:
        answer = await http.get("/read")
    assert answer.status_code == 503 and answer.headers["Retry-After"].isdigit()
    assert answer.json() == {"detail": "Mất kết nối tới cơ sở dữ liệu, vui lòng thử lại sau ít giây",
                             "code": "database_lost"}


async def test_any_other_database_error_is_no_503() -> None:
    failed = DBAPIError("SELECT 1", None, ValueError("syntax error"), connection_invalidated=False)
    transport = httpx.ASGITransport(app=_failing_app(failed), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://x") as http:
        answer = await http.get("/read")
    assert answer.status_code == 500
