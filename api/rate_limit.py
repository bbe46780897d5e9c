"""A per-client limit on the public endpoints, so a crawler cannot take the service down."""

import time
from collections import deque

from fastapi import Request

from api.errors import ApiError


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
    request.app.state.public_limiter.check(request.client.host if request.client else "unknown")
