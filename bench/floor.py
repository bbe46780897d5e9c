"""The floor: the least a Temporal workflow with role-based actions could cost on this machine — a
workflow that takes each action as an update recorded by a local activity (as NQ57's recording step
is), and nothing else: no policy, no database, no HTTP."""

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
async def record(seq: int) -> int:
    return seq


@workflow.defn
class FloorWorkflow:
    def __init__(self) -> None:
        self.seq = 0
        self.done = False

    @workflow.run
    async def run(self, actions: int) -> int:
        await workflow.wait_condition(lambda: self.done)
        return self.seq

    @workflow.update
    async def act(self, last: bool) -> int:
        self.seq = await workflow.execute_local_activity(record, self.seq + 1,
                                                         start_to_close_timeout=timedelta(seconds=10))
        self.done = last
        return self.seq
