"""The public endpoints' rate limit is counted for every API process together (issue 15): requests
spread over two processes are refused once they reach the limit in both, the minute slides, and a
request never waits on the database. Two limiters on one database stand for two processes; the
clock is handed in, so no test waits for a minute to pass."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.rate_limit import PublicRateLimit
from db.models import PublicHits
from db.session import create_schema, make_engine, make_sessions
from domain.refusals import Refusal
from tests.conftest import POSTGRES_URL, postgres_database

START = 3_999_999_960.0  # 2096, a minute's start: after anything a running stack counts, never swept by it


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def _two(url: str, per_minute: int) -> AsyncIterator[tuple[Clock, PublicRateLimit, PublicRateLimit]]:
    engines = [make_engine(url) for _ in range(2)]
    clock = Clock()
    try:
        await create_schema(engines[0])
        yield clock, *(PublicRateLimit(make_sessions(engine), per_minute, clock=clock) for engine in engines)
    finally:
        for engine in engines:
            await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.skipif(
    not POSTGRES_URL, reason="NQ57_TEST_POSTGRES_URL is not set: the PostgreSQL run is skipped"))])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'nq57.db'}"
    return (await postgres_database()).replace("postgresql://", "postgresql+asyncpg://", 1)


async def _sync_fails(limiter: PublicRateLimit, tmp_path: Path) -> async_sessionmaker[AsyncSession]:
    """One sync of the limiter fails (its database does not open); its own sessions, to put back."""
    sessions = limiter.sessions
    limiter.sessions = make_sessions(make_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'x.db'}"))
    with pytest.raises(Exception):  # noqa: B017, PT011 (the database does not open)
        await limiter.sync()
    return sessions


def client() -> str:
    return f"198.51.100.{uuid.uuid4().int % 250}-{uuid.uuid4().hex[:6]}"


def allowed(limiter: PublicRateLimit, who: str) -> bool:
    try:
        limiter.check(who)
    except Refusal:
        return False
    return True


async def test_requests_spread_over_two_processes_are_refused_in_both_at_the_limit(database: str) -> None:
    async with _two(database, per_minute=6) as (_, first, second):
        who = client()
        assert all(allowed(first, who) for _ in range(3))
        assert all(allowed(second, who) for _ in range(3))
        await first.sync()
        await second.sync()
        await first.sync()  # reads what the second added
        assert not allowed(first, who)
        assert not allowed(second, who)


async def test_another_client_is_not_held_back(database: str) -> None:
    async with _two(database, per_minute=2) as (_, first, second):
        who, other = client(), client()
        assert allowed(first, who) and allowed(first, who) and not allowed(first, who)
        await first.sync()
        await second.sync()
        assert allowed(second, other)


async def test_the_refusal_says_when_to_come_back(database: str) -> None:
    async with _two(database, per_minute=3) as (clock, first, _):
        who = client()
        clock.now = START + 20
        for _ in range(3):
            first.check(who)
        with pytest.raises(Refusal) as refused:
            first.check(who)
        # Three in this minute: under the limit only once the next minute's share of them is under it.
        assert refused.value.extra["retry_after"] == 41
        clock.now += 41
        assert allowed(first, who)


async def test_the_minute_slides_the_previous_one_weighs_what_is_left_of_it(database: str) -> None:
    async with _two(database, per_minute=4) as (clock, first, second):
        who = client()
        clock.now = START + 50
        for _ in range(4):
            first.check(who)
        await first.sync()
        clock.now = START + 75  # 15 s into the next minute: the four weigh 4 × 45/60 = 3
        await second.sync()
        second.seen.add(who)
        await second.sync()
        assert allowed(second, who)  # 3 + 0 < 4
        assert not allowed(second, who)  # 3 + 1
        clock.now = START + 180  # two minutes on: nothing weighs any more
        assert allowed(second, who)


async def test_old_minutes_are_deleted_so_the_table_stays_small(database: str) -> None:
    async with _two(database, per_minute=100) as (clock, first, _):
        who = client()
        first.check(who)
        await first.sync()
        clock.now = START + 180
        first.check(who)
        await first.sync()
        async with first.sessions() as session:
            minutes = await session.scalars(select(PublicHits.minute).where(PublicHits.client == who))
            assert sorted(minutes) == [int(clock.now // 60)]


async def test_what_a_failed_sync_held_is_added_the_next_time(database: str, tmp_path: Path) -> None:
    async with _two(database, per_minute=100) as (_, first, _):
        who = client()
        for _ in range(5):
            first.check(who)
        sessions = await _sync_fails(first, tmp_path)
        assert first.count(who, int(START // 60)) == 5  # still counted here
        first.sessions = sessions
        await first.sync()
        async with sessions() as session:
            assert await session.scalar(select(func.sum(PublicHits.hits)).where(PublicHits.client == who)) == 5


async def test_counts_held_through_a_long_outage_go_once_no_window_reaches_them(database: str, tmp_path: Path) -> None:
    async with _two(database, per_minute=100) as (clock, first, _):
        who = client()
        for _ in range(3):
            first.check(who)
        sessions = await _sync_fails(first, tmp_path)
        first.sessions = sessions
        clock.now = START + 180  # three minutes on: the held counts weigh nothing any more
        first.check(who)
        await first.sync()
        async with sessions() as session:
            rows = (await session.execute(select(PublicHits.minute, PublicHits.hits).where(
                PublicHits.client == who))).all()
        assert [tuple(row) for row in rows] == [(int(clock.now // 60), 1)]
