"""Login throttling: wrong passwords counted per username and per client address, in this process."""

import math
import time
from collections import deque
from typing import Self

from settings import Settings


class LoginThrottle:
    """Wrong passwords are counted per username and per client address over `lockout` seconds; a
    key that reaches its limit is locked for `lockout` seconds from its last wrong password. A
    right password clears its username's count, never its address's (one account of one's own must
    not reset the guessing of others)."""

    def __init__(self, per_user: int, per_client: int, lockout: float) -> None:
        self.limits = {"user": per_user, "client": per_client}
        self.lockout = lockout
        self.failures: dict[tuple[str, str], deque[float]] = {}
        self.locked_until: dict[tuple[str, str], float] = {}

    @classmethod
    def of(cls, settings: Settings) -> Self:
        return cls(settings.login_attempts, settings.login_attempts_per_client, settings.login_lockout.total_seconds())

    @staticmethod
    def _keys(username: str, client: str) -> list[tuple[str, str]]:
        return [("user", _user_key(username)), ("client", client)]

    async def retry_after(self, username: str, client: str) -> int:
        """Seconds until this username may try from this client again; 0 when it may now."""
        now = time.monotonic()
        waits = [self.locked_until.get(key, 0.0) - now for key in self._keys(username, client)]
        return max(math.ceil(max(waits)), 0)

    async def failed(self, username: str, client: str) -> None:
        now = time.monotonic()
        for key in self._keys(username, client):
            hits = self.failures.setdefault(key, deque())
            while hits and hits[0] <= now - self.lockout:
                hits.popleft()
            hits.append(now)
            if len(hits) >= self.limits[key[0]]:
                self.locked_until[key] = now + self.lockout
                hits.clear()
        if len(self.failures) > 10_000:  # forget keys that went quiet, so memory stays bounded
            self.failures = {k: v for k, v in self.failures.items() if v and v[-1] > now - self.lockout}
            self.locked_until = {k: v for k, v in self.locked_until.items() if v > now}

    async def succeeded(self, username: str) -> None:
        """A right password, or an administrator's reset: the username starts afresh."""
        key = ("user", _user_key(username))
        self.failures.pop(key, None)
        self.locked_until.pop(key, None)


def _user_key(username: str) -> str:
    return username.strip().lower()[:64]  # usernames are at most 64 characters: a longer one costs no memory

