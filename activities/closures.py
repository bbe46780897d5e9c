"""Whether a sub-task's word that it closed is really its own (domain/events.py, SubtaskClosure).

Checked in a local activity, not in the parent workflow's signal handler: an activity's answer is
recorded in history, so a replay (on a worker whose key was rotated since, or in a replayer with
no key at all) follows the verdict given at the time instead of deciding again."""

from temporalio import activity

from domain.events import SubtaskClosure
from workflows import trust


@activity.defn
async def closure_proven(closure: SubtaskClosure) -> bool:
    return closure.proven(trust.key())
