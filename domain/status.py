"""Status classes, as the Government Office counts tasks: each task that is not cancelled stands in
exactly one class at a moment, so the classes of any set of tasks add up to its total.

- completed on time / completed late: completed (or, a recurring or standing task, closed), late
  when the lead delivered its evidence after the deadline (domain/task.py, `delivered_at`);
- overdue: open, with a deadline lapsed (whoever holds it: `lapsed_owners` says whose delay);
- due soon: open, its deadline (a periodic task's next report) within NQ57_DUE_SOON;
- in progress: open, within its deadline;
- deadline pending: open, its deadline still to be set by the Standing Office.

What people read for each is the catalogs' `status.<value>`."""

from datetime import datetime, timedelta
from enum import StrEnum

from domain.escalation import OFFICES_OWN, DeadlineKind, Owner, open_deadlines, owner_of
from domain.periods import Period
from domain.stages import CLOSED_STAGES, Stage
from domain.task import TaskKind, TaskState


class StatusClass(StrEnum):
    COMPLETED_ON_TIME = "completed_on_time"
    COMPLETED_LATE = "completed_late"
    IN_PROGRESS = "in_progress"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    DEADLINE_PENDING = "deadline_pending"


def in_period(state: TaskState, period: Period) -> bool:
    """Whether a task is counted in a period: one with a deadline when its ORIGINAL deadline falls in
    it (an extension does not move it out); one without, when it runs through the period (assigned
    before it ends, not closed before it begins)."""
    if state.original_deadline is not None:
        return period.contains(state.original_deadline)
    return state.created_at < period.end and (state.stage not in CLOSED_STAGES or state.updated_at >= period.start)


def lapsed_owners(state: TaskState, now: datetime) -> list[Owner]:
    """Whose deadlines have lapsed on an open task, each once, in the order of the deadlines: the
    Office's reminder to set a deadline is no lapse (the task waits for its deadline, it is not late)."""
    owners = [owner_of(d.kind) for d in open_deadlines(state) if d.due <= now and d.kind not in OFFICES_OWN]
    return list(dict.fromkeys(owners))


def next_due(state: TaskState) -> datetime | None:
    """What the task is due by next: its deadline, or a periodic task's next report."""
    if state.deadline is not None:
        return state.deadline
    reports = [d.due for d in open_deadlines(state) if d.kind == DeadlineKind.REPORT]
    return min(reports, default=None)


def status_class(state: TaskState, now: datetime, due_soon: timedelta) -> StatusClass | None:
    """The class a task stands in now; None for a cancelled task (counted in no class, nor the total)."""
    if state.stage == Stage.CANCELLED:
        return None
    if state.stage in (Stage.COMPLETED, Stage.CLOSED):
        return StatusClass.COMPLETED_LATE if state.late else StatusClass.COMPLETED_ON_TIME
    if lapsed_owners(state, now):
        return StatusClass.OVERDUE
    if state.kind == TaskKind.DEADLINE_PENDING and state.deadline is None:
        return StatusClass.DEADLINE_PENDING
    due = next_due(state)
    if due is not None and due - now <= due_soon:
        return StatusClass.DUE_SOON
    return StatusClass.IN_PROGRESS
