"""Wrong passwords are counted where every API process counts them (issue 15): guesses spread over
two processes lock the username out in both, a lock is lifted for all by a right password, and the
counts of the lockout's span alone are kept. Two throttles on one database stand for two processes."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import func, select

from db.models import LoginFailure
from db.session import create_schema, make_engine, make_sessions
from services.login_throttle import LoginThrottle


@asynccontextmanager
async def _two(tmp_path: Path, per_user: int = 4, lockout: float = 900) -> AsyncIterator[tuple[LoginThrottle, ...]]:
    engines = [make_engine(f"sqlite+aiosqlite:///{tmp_path / 'nq57.db'}") for _ in range(2)]
    try:
        await create_schema(engines[0])
        yield tuple(LoginThrottle(make_sessions(engine), per_user, 100, lockout) for engine in engines)
    finally:
        for engine in engines:
            await engine.dispose()


async def test_guesses_spread_over_two_processes_lock_the_username_in_both(tmp_path: Path) -> None:
    async with _two(tmp_path) as (first, second):
        for throttle in (first, second, first):
            await throttle.failed("hni.head", "10.0.0.1")
        assert await first.retry_after("hni.head", "10.0.0.2") == 0  # three of four: not yet
        await second.failed("HNI.Head ", "10.0.0.3")  # the same username, however written
        for throttle in (first, second):
            assert 0 < await throttle.retry_after("hni.head", "10.0.0.9") <= 900


async def test_a_right_password_in_one_process_lifts_the_username_for_all(tmp_path: Path) -> None:
    async with _two(tmp_path, per_user=2) as (first, second):
        await first.failed("hni.head", "10.0.0.1")
        await first.failed("hni.head", "10.0.0.1")
        assert await second.retry_after("hni.head", "10.0.0.1") > 0
        await second.succeeded("hni.head")
        assert await first.retry_after("hni.head", "10.0.0.1") == 0


async def test_guesses_older_than_the_lockout_are_not_kept(tmp_path: Path) -> None:
    async with _two(tmp_path, lockout=0.0) as (first, _):  # every guess is at once older than the span
        for number in range(5):
            await first.failed(f"user-{number}", f"10.0.0.{number}")
        async with first.sessions() as session:
            assert await session.scalar(select(func.count()).select_from(LoginFailure)) == 2  # the last one's
        assert await first.retry_after("user-4", "10.0.0.4") == 0
