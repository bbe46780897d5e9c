"""Limits per client: requests a minute on the public endpoints, so a crawler cannot take the
service down (in this process's memory), and who the client is behind trusted proxies. The login
throttle, which counts wrong passwords, is services/login_throttle.py."""

import ipaddress
import time
from collections import deque

from fastapi import Request

from domain.refusals import Code, Refusal


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
            raise Refusal(Code.TOO_MANY_REQUESTS, extra={"retry_after": retry}, per_minute=self.per_minute,
                          seconds=retry)
        hits.append(now)
        if len(self.seen) > 10_000:  # forget clients that went quiet, so memory stays bounded
            self.seen = {key: value for key, value in self.seen.items() if value and value[-1] > now - self.window}


async def public_rate_limit(request: Request) -> None:
    request.app.state.public_limiter.check(client_address(request))
