"""Login throttling: wrong passwords counted per username and per client address, in the database,
so that every API process counts the same guesses (issue 15)."""

import contextlib
import math
import time
from typing import Self

from sqlalchemy import ColumnElement, and_, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import LoginFailure, LoginLock
from db.session import transaction
from settings import Settings


class LoginThrottle:
    """Wrong passwords are counted per username and per client address over `lockout` seconds; a
    key that reaches its limit is locked for `lockout` seconds from its last wrong password. A
    right password clears its username's count, never its address's (one account of one's own must
    not reset the guessing of others). Times are the wall clock's, one for every process."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], per_user: int, per_client: int,
                 lockout: float) -> None:
        self.sessions = sessions
        self.limits = {"user": per_user, "client": per_client}
        self.lockout = lockout

    @classmethod
    def of(cls, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Self:
        return cls(sessions, settings.login_attempts, settings.login_attempts_per_client,
                   settings.login_lockout.total_seconds())

    @staticmethod
    def _keys(username: str, client: str) -> list[tuple[str, str]]:
        return [("user", _user_key(username)), ("client", client[:100])]

    async def retry_after(self, username: str, client: str) -> int:
        """Seconds until this username may try from this client again; 0 when it may now."""
        async with self.sessions() as session:
            until = await session.scalar(select(func.max(LoginLock.until)).where(
                _any_of(LoginLock, self._keys(username, client))))
        return max(math.ceil((until or 0.0) - time.time()), 0)

    async def failed(self, username: str, client: str) -> None:
        now = time.time()
        keys = self._keys(username, client)
        with contextlib.suppress(IntegrityError):  # another process locked the same key at once
            async with transaction(self.sessions) as session:
                # Everyone's guesses older than the lockout, and ended locks, go: the tables stay small.
                await session.execute(delete(LoginFailure).where(LoginFailure.at <= now - self.lockout))
                await session.execute(delete(LoginLock).where(LoginLock.until <= now))
                session.add_all(LoginFailure(scope=scope, key=key, at=now) for scope, key in keys)
                await session.flush()
                for scope, key in keys:
                    mine = _any_of(LoginFailure, [(scope, key)])
                    if (await session.scalar(select(func.count()).where(mine)) or 0) >= self.limits[scope]:
                        await session.merge(LoginLock(scope=scope, key=key, until=now + self.lockout))
                        await session.execute(delete(LoginFailure).where(mine))

    async def succeeded(self, username: str) -> None:
        """A right password, or an administrator's reset: the username starts afresh."""
        key = [("user", _user_key(username))]
        async with transaction(self.sessions) as session:
            await session.execute(delete(LoginFailure).where(_any_of(LoginFailure, key)))
            await session.execute(delete(LoginLock).where(_any_of(LoginLock, key)))


def _any_of(table: type[LoginFailure] | type[LoginLock], keys: list[tuple[str, str]]) -> ColumnElement[bool]:
    return or_(*(and_(table.scope == scope, table.key == key) for scope, key in keys))


def _user_key(username: str) -> str:
    return username.strip().lower()[:64]  # usernames are at most 64 characters: a longer one costs no more
