"""Whom a token speaks for, remembered for a moment: every request names its user, and reading the
user's row each time cost a database session per request (issue 14, task detail). Each process
remembers an account's standing for `SIGNED_IN_FOR` seconds; its own changes (logout, disabling,
an agency moved, a password reset) forget it at once, and another process's reach it within that
time, as a policy change does (policies/enforcer.py)."""

import time
from collections.abc import Callable
from dataclasses import dataclass

SIGNED_IN_FOR = 1.0  # seconds
KEPT_AT_MOST = 10_000  # accounts; past this the oldest half is forgotten


@dataclass(frozen=True)
class Standing:
    """What a token is checked against, and what the actor is made of (services/people.signed_in)."""

    username: str
    agency: str | None
    disabled: bool
    token_version: int


class SignedInCache:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._known: dict[str, tuple[float, Standing]] = {}
        self._forgotten = 0  # how many times anyone was forgotten: a read begun before is not kept

    def get(self, username: str) -> Standing | None:
        """The account's standing as read less than SIGNED_IN_FOR seconds ago, else None."""
        found = self._known.get(username)
        if found is None or self._clock() - found[0] >= SIGNED_IN_FOR:
            return None
        return found[1]

    def reading(self) -> int:
        """Said before the account's row is read; handed back to `put` with what was read."""
        return self._forgotten

    def put(self, standing: Standing, reading: int) -> None:
        """Remember what was read, unless someone was forgotten since the read began: a logout that
        committed while the row was being read must not be undone by the older row."""
        if reading != self._forgotten:
            return
        if len(self._known) >= KEPT_AT_MOST:
            for username in list(self._known)[: KEPT_AT_MOST // 2]:  # the oldest: dicts keep their order
                del self._known[username]
        self._known.pop(standing.username, None)
        self._known[standing.username] = (self._clock(), standing)

    def forget(self, username: str) -> None:
        self._forgotten += 1
        self._known.pop(username, None)
