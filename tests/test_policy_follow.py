"""One policy for every process (issue 15): a change of a policy line or of someone's roles made
through one API process moves the database's policy version on, and every other process reads the
policy again when it sees the version move — at once when asked (`catch_up`), within a second while
it follows (`follow`). Two enforcers on one database stand for two processes here; the multi-process
test runs real ones."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from casbin import AsyncEnforcer

from db.session import create_schema, make_engine
from domain.actors import Relation
from policies.enforcer import Enforcer, give_roles, load_enforcer, permits, roles_of
from tests.helpers import wait_until

CREATE = ["steering_office", "none", "*", "task.create"]


def _creates(enforcer: AsyncEnforcer, username: str) -> bool:
    return permits(enforcer, username, Relation.NONE, "*", "task.create")


@asynccontextmanager
async def _two_processes(tmp_path: Path) -> AsyncIterator[tuple[Enforcer, Enforcer]]:
    engines = [make_engine(f"sqlite+aiosqlite:///{tmp_path / 'nq57.db'}") for _ in range(2)]
    try:
        await create_schema(engines[0])
        first = await load_enforcer(engines[0])
        second = await load_enforcer(engines[1])
        await give_roles(first, "office", ["steering_office"])
        await second.catch_up()
        yield first, second
    finally:
        for engine in engines:
            await engine.dispose()


async def test_a_rule_removed_through_one_process_is_refused_by_the_other_once_it_catches_up(tmp_path: Path) -> None:
    async with _two_processes(tmp_path) as (first, second):
        assert _creates(first, "office") and _creates(second, "office")
        await first.remove_policy(*CREATE)
        assert not _creates(first, "office")
        assert await second.catch_up() is True
        assert not _creates(second, "office")


async def test_roles_given_through_one_process_reach_the_other(tmp_path: Path) -> None:
    async with _two_processes(tmp_path) as (first, second):
        await give_roles(first, "newcomer", ["steering_office"])
        assert await second.catch_up() is True
        assert await roles_of(second, "newcomer") == ["steering_office"] and _creates(second, "newcomer")


async def test_nothing_changed_is_nothing_read_again(tmp_path: Path) -> None:
    async with _two_processes(tmp_path) as (_, second):
        assert await second.catch_up() is False


async def test_a_following_process_sees_the_change_by_itself(tmp_path: Path) -> None:
    async with _two_processes(tmp_path) as (first, second):
        following = asyncio.create_task(second.follow())
        try:
            await first.remove_policy(*CREATE)
            await wait_until(lambda: _creates(second, "office"), lambda creates: not creates,
                             what="the other process refuses what the policy no longer allows", seconds=10)
        finally:
            following.cancel()


async def test_a_reading_of_the_policy_under_way_never_puts_back_a_rule_removed_meanwhile(tmp_path: Path) -> None:
    """The follower reads the stored rules again (after a change of this very process) while a
    request removes a rule: the removal waits for the reading, so the rule read before it was
    removed is not put back (the API answered 200 for a moment after a 204 that removed the rule)."""
    async with _two_processes(tmp_path) as (first, _):
        await first.add_policy("auditor", "none", "*", "task.import")  # moves the version on: a reading is due
        read, go_on = asyncio.Event(), asyncio.Event()
        reading = first.adapter.load_policy

        async def slow_reading(model: object) -> None:
            await reading(model)  # the rules as stored now, the rule still among them
            read.set()
            await go_on.wait()

        first.adapter.load_policy = slow_reading
        following = asyncio.create_task(first.catch_up())
        await read.wait()
        removing = asyncio.create_task(first.remove_policy(*CREATE))
        await asyncio.wait([removing], timeout=0.2)  # without waiting its turn, the removal ends here
        go_on.set()
        assert await following is True
        assert await removing is True
        first.adapter.load_policy = reading
        assert not _creates(first, "office")


async def test_a_decision_asked_while_roles_change_is_not_kept_past_the_change(tmp_path: Path) -> None:
    """pycasbin links the roles anew only after the change is stored: a question asked meanwhile (here,
    while the version moves on) is answered with the old roles, and must not be remembered past it."""
    async with _two_processes(tmp_path) as (first, _):
        moving_on = first._moved_on

        async def asked_meanwhile() -> None:
            _creates(first, "newcomer")  # still without the role
            await moving_on()
        first._moved_on = asked_meanwhile  # type: ignore[method-assign]
        await give_roles(first, "newcomer", ["steering_office"])
        assert _creates(first, "newcomer")
