"""Limits per client: requests a minute on the public endpoints, so a crawler cannot take the
service down, and wrong passwords per username and per client address, so nobody can guess them.
Both live in this process's memory; the login throttle is behind a small async interface so a
shared store (the database, Redis) can stand in for it when several API processes run."""

import ipaddress
import math
import time
from collections import deque

from fastapi import Request

from api.errors import ApiError
from domain.durations import parse_duration
from settings import Settings


def client_address(request: Request) -> str:
    """The address of the client itself. `X-Forwarded-For` counts only when the peer is a trusted
    proxy (NQ57_TRUSTED_PROXIES); then the right-most address that is not a trusted proxy is the
    client, since a client can write anything to the left of what its proxies appended."""
    peer = request.client.host if request.client else "unknown"
    trusted = request.app.state.settings.trusted_proxy_networks
    if not trusted or not _within(peer, trusted):
        return peer
    forwarded = [part.strip() for header in request.headers.getlist("x-forwarded-for") for part in header.split(",")]
    for address in reversed([part for part in forwarded if part]):
        if not _within(address, trusted):
            return address if _within(address, None) else peer
    return peer


def _within(address: str, networks: tuple | None) -> bool:
    """Whether `address` is in one of `networks`; with None, whether it is an IP address at all."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return networks is None or any(ip in network for network in networks)


class RateLimiter:
    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self.window = 60.0
        self.seen: dict[str, deque[float]] = {}

    def check(self, client: str) -> None:
        now = time.monotonic()
        hits = self.seen.setdefault(client, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.per_minute:
            retry = max(int(hits[0] + self.window - now) + 1, 1)
            raise ApiError(429, f"Quá nhiều yêu cầu: tối đa {self.per_minute} yêu cầu mỗi phút, "
                                f"thử lại sau {retry} giây", retry_after=retry)
        hits.append(now)
        if len(self.seen) > 10_000:  # forget clients that went quiet, so memory stays bounded
            self.seen = {key: value for key, value in self.seen.items() if value and value[-1] > now - self.window}


async def public_rate_limit(request: Request) -> None:
    request.app.state.public_limiter.check(client_address(request))


class LoginThrottle:
    """Wrong passwords are counted per username and per client address over `lockout` seconds; a
    key that reaches its limit is locked for `lockout` seconds from its last wrong password. A
    right password clears its username's count, never its address's (one account of one's own must
    not reset the guessing of others)."""

    def __init__(self, per_user: int, per_client: int, lockout: float):
        self.limits = {"user": per_user, "client": per_client}
        self.lockout = lockout
        self.failures: dict[tuple[str, str], deque[float]] = {}
        self.locked_until: dict[tuple[str, str], float] = {}

    @classmethod
    def of(cls, settings: Settings) -> "LoginThrottle":
        return cls(settings.login_attempts, settings.login_attempts_per_client,
                   parse_duration(settings.login_lockout).total_seconds())

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
