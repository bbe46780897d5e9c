"""The floor's workflows: the least a Temporal workflow with role-based actions and deadlines could
cost on this machine. Each action is an update recorded by a local activity (as NQ57's recording
step is); each deadline is a timer followed by a local activity (as NQ57's escalation records and
tells); each creation is a start whose update answers once a local activity recorded it, the
workflow then waiting for its deadline (as an imported task's is), or the same start alone, answered
as soon as Temporal took it (batch starts: the recording follows, counted). No policy, no database, no HTTP.

Kept apart from the runner (bench/floor.py): the worker's sandbox re-imports this module for every
workflow instance, so it imports nothing but temporalio and the standard library."""

import asyncio
import time
from datetime import datetime, timedelta

from temporalio import activity, workflow

RECORD_TIMEOUT = timedelta(seconds=30)


@activity.defn
async def record(seq: int) -> int:
    """The recording step, with nothing to record."""
    return seq


class Counted:
    """How many creations this process's worker recorded (`record_creation`), and a wait for a number
    of them: the batch starts' figure counts them, since nothing waits on each one."""

    def __init__(self) -> None:
        self.count = 0
        self._moved = asyncio.Event()

    def add(self) -> None:
        self.count += 1
        self._moved.set()

    async def reach(self, count: int) -> None:
        while self.count < count:
            self._moved.clear()
            await self._moved.wait()


CREATIONS_RECORDED = Counted()


@activity.defn
async def record_creation(seq: int) -> int:
    """The recording step of a creation, counted."""
    CREATIONS_RECORDED.add()
    return seq


@activity.defn
async def stamp(seq: int) -> float:
    """When the deadline's step ran (wall clock, seconds since the epoch)."""
    return time.time()


@workflow.defn
class FloorWorkflow:
    """A task whose actions are updates; the last one finishes it. Its start records one event too,
    as NQ57's `task.created` is."""

    def __init__(self) -> None:
        self.seq = 0
        self.done = False

    @workflow.run
    async def run(self, actions: int) -> int:
        self.seq = await workflow.execute_local_activity(record, 1, start_to_close_timeout=RECORD_TIMEOUT)
        await workflow.wait_condition(lambda: self.done)
        return self.seq

    @workflow.update
    async def act(self, last: bool) -> int:
        await workflow.wait_condition(lambda: self.seq > 0)
        self.seq = await workflow.execute_local_activity(record, self.seq + 1, start_to_close_timeout=RECORD_TIMEOUT)
        self.done = last
        return self.seq


@workflow.defn
class FloorDeadlineWorkflow:
    """A deadline at an instant (ISO text): a timer, then one local activity; answers when it ran."""

    @workflow.run
    async def run(self, at: str) -> float:
        wait = (datetime.fromisoformat(at) - workflow.now()).total_seconds()
        if wait > 0:
            await workflow.sleep(wait)
        return await workflow.execute_local_activity(stamp, 1, start_to_close_timeout=RECORD_TIMEOUT)


@workflow.defn
class FloorCreationWorkflow:
    """A task created as NQ57 creates one (update-with-start: `created` answers once the creation is
    recorded by a local activity), then waiting on a timer for its deadline, `days` ahead."""

    def __init__(self) -> None:
        self.seq = 0

    @workflow.run
    async def run(self, days: int) -> int:
        self.seq = await workflow.execute_local_activity(record_creation, 1, start_to_close_timeout=RECORD_TIMEOUT)
        await workflow.sleep(timedelta(days=days))
        return self.seq

    @workflow.update
    async def created(self) -> int:
        await workflow.wait_condition(lambda: self.seq > 0)
        return self.seq
