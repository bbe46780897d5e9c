"""Limits per client: requests a minute on the public endpoints, so a crawler cannot take the
service down (counted for every API process together), and who the client is behind trusted proxies. The login
throttle, which counts wrong passwords, is services/login_throttle.py."""

import asyncio
import ipaddress
import logging
import math
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from fastapi import Request
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import PublicHits
from db.session import transaction, upsert
from domain.refusals import Code, Refusal

log = logging.getLogger("nq57.rate_limit")


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


T = TypeVar("T")
Counts = dict[tuple[str, int], int]  # (client, minute) -> requests; a minute is seconds since the epoch // 60


class PublicRateLimit:
    """Requests a minute per client on the public endpoints, counted for every API process together
    in the database (db.models.PublicHits).

    A request writes nothing: each process counts in memory and, every `sync_seconds`, adds what it
    counted to the database and reads back every process's counts for the clients it saw. A client
    is refused once those counts and the ones not yet added reach the limit, so with N processes a
    client gets past the limit by at most what the others let through in two sync periods (one to add
    their counts, one to read them back). The minute slides: the previous minute's count weighs as
    much of it as is still within the last 60 s."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], per_minute: int, sync_seconds: float = 1.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.sessions, self.per_minute, self.sync_seconds, self.clock = sessions, per_minute, sync_seconds, clock
        self.known: Counts = {}  # every process's counts, as last read
        self.sending: Counts = {}  # this process's, being added
        self.pending: Counts = {}  # this process's, not yet added
        self.seen: set[str] = set()  # new clients since the last sync: with those known, whose counts to read back
        self.swept = 0  # the minute up to which old counts were deleted

    def count(self, client: str, minute: int) -> int:
        key = (client, minute)
        return self.known.get(key, 0) + self.sending.get(key, 0) + self.pending.get(key, 0)

    def check(self, client: str) -> None:
        client = client[:100]
        now = self.clock()
        minute, into = divmod(now, 60)
        current, previous = self.count(client, int(minute)), self.count(client, int(minute) - 1)
        if current + previous * (1 - into / 60) >= self.per_minute:
            retry = _seconds_until_under(self.per_minute, current, previous, into)
            raise Refusal(Code.TOO_MANY_REQUESTS, extra={"retry_after": retry}, per_minute=self.per_minute,
                          seconds=retry)
        key = (client, int(minute))
        self.pending[key] = self.pending.get(key, 0) + 1
        self.seen.add(client)

    async def sync(self) -> None:
        """Add this process's counts to the database's, and read back every process's."""
        minute = int(self.clock() // 60)
        if not self.pending and not self.seen and not self.known and self.swept >= minute:
            return  # a quiet second: nothing to add, nobody to ask about
        # Minutes no window reaches any more are dropped (a sync that failed for long kept them).
        self.sending = {key: hits for key, hits in self.pending.items() if key[1] >= minute - 1}
        self.pending = {}
        clients, self.seen = self.seen | {client for client, _ in self.known}, set()
        try:
            # In one order in every process (no two lock the same rows crosswise), committed before
            # the reads, in statements of a bounded size.
            for chunk in _chunks(sorted(self.sending), 500):
                async with transaction(self.sessions) as session:
                    insert = upsert(session)(PublicHits).values(
                        [{"client": client, "minute": at, "hits": self.sending[client, at]} for client, at in chunk])
                    await session.execute(insert.on_conflict_do_update(
                        index_elements=["client", "minute"], set_={"hits": PublicHits.hits + insert.excluded.hits}))
            async with self.sessions() as session:
                if self.swept < minute:  # counts no window reaches any more, once a minute
                    await session.execute(delete(PublicHits).where(PublicHits.minute < minute - 1))
                    await session.commit()
                    self.swept = minute
                known: Counts = {}
                for names in _chunks(sorted(clients), 500):
                    rows = await session.execute(select(PublicHits.client, PublicHits.minute, PublicHits.hits).where(
                        PublicHits.minute >= minute - 1, PublicHits.client.in_(names)))
                    known.update({(client, at): hits for client, at, hits in rows})
        except BaseException:
            for key, hits in self.sending.items():  # counted next time
                self.pending[key] = self.pending.get(key, 0) + hits
            self.seen |= clients
            raise
        finally:
            self.sending = {}
        self.known = known

    async def follow(self) -> None:
        """`sync` every `sync_seconds` as long as the process runs (a database that does not answer
        is tried again, and said once; meanwhile the process counts alone)."""
        failing = False
        while True:
            await asyncio.sleep(self.sync_seconds)
            try:
                await self.sync()
                failing = False
            except Exception as error:  # noqa: BLE001 (kept counting: the next try may answer)
                if not failing:
                    log.warning("Không cộng được số lượt truy cập công khai vào cơ sở dữ liệu, sẽ thử lại: %s", error)
                failing = True


def _seconds_until_under(limit: int, current: int, previous: int, into: float) -> int:
    """Whole seconds, at least 1, until a client with these counts is under the limit again, if it
    sends nothing more: later in this minute as the previous one weighs less, or in the next one."""
    if current < limit:  # previous * (1 - (into + t) / 60) < limit - current
        wait = 60 * (1 - (limit - current) / previous) - into
    else:  # next minute: current * (1 - u / 60) < limit
        wait = (60 - into) + 60 * (1 - limit / current)
    return max(math.floor(wait) + 1, 1)


def _chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


async def public_rate_limit(request: Request) -> None:
    request.app.state.public_limiter.check(client_address(request))
