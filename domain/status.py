"""Status classes, as the Government Office counts tasks: each task that is not cancelled stands in
exactly one class at a moment, so the classes of any set of tasks add up to its total.

- completed on time / completed late: completed (or, a recurring or standing task, closed), late
  when the lead delivered its evidence after the deadline (domain/task.py, `delivered_at`);
- overdue: open, with a deadline lapsed (whoever holds it: `lapsed_owners` says whose delay);
- due soon: open, the nearest of its own deadlines (`next_due`: the task's deadline, a rework
  deadline, a periodic task's next report) within NQ57_DUE_SOON;
- in progress: open, within its deadlines (a task in cross-check waits on its reviewer: in progress
  until the review's own deadline lapses);
- deadline pending: open, its deadline still to be set by the Standing Office.

A set of tasks is counted by `tally` (`StatusTally.add`, one task at a time): how many stand in each
class, whose delay holds up the overdue ones (`overdue_by_owner`), and, asked for, which tasks they
are. services/status.py reads the tasks; what people read for each class is the catalogs'
`status.<value>`, for each owner `owner.<value>`."""

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

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


# Kinds of task that report every period: they belong to each period they run through, whatever
# their final deadline (their reports fall due, and lapse, in each).
PERIODIC = frozenset({TaskKind.RECURRING, TaskKind.STANDING})


def in_period(state: TaskState, period: Period) -> bool:
    """Whether a task is counted in a period: one with a deadline when its ORIGINAL deadline falls in
    it (an extension does not move it out); a periodic one, or one whose deadline is still to be set,
    when it runs through the period (assigned before it ends, not closed before it begins)."""
    if state.original_deadline is not None and state.kind not in PERIODIC:
        return period.contains(state.original_deadline)
    return state.created_at < period.end and (state.stage not in CLOSED_STAGES or state.updated_at >= period.start)


def lapsed_owners(state: TaskState, now: datetime) -> list[Owner]:
    """Whose deadlines have lapsed on an open task, each once, in the order of the deadlines: the
    Office's reminder to set a deadline is no lapse (the task waits for its deadline, it is not late)."""
    owners = [owner_of(d.kind) for d in open_deadlines(state) if d.due <= now and d.kind not in OFFICES_OWN]
    return list(dict.fromkeys(owners))


# The deadlines a task is "due" by: its product's (the deadline, a rework, a periodic report). The
# steps on the way (acceptance, budget registration) and the deadlines others hold (a budget
# decision, a review) make a task overdue when they lapse, but do not make it due soon: every task
# would be "due soon" in its first week, and a task in cross-check past its deadline would be too.
DUE_BY = frozenset({DeadlineKind.DEADLINE, DeadlineKind.REWORK, DeadlineKind.REPORT})


def next_due(state: TaskState) -> datetime | None:
    """What the task is due by next: the nearest of its product's deadlines that bind now (None: none
    binds — a task in cross-check, one whose deadline is still to be set, a closed one)."""
    return min((d.due for d in open_deadlines(state) if d.kind in DUE_BY), default=None)


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


# --- counting a set of tasks ---------------------------------------------------------------------


class StatusLine(BaseModel):
    """One task of a class, for the drill-down."""

    code: str
    title: str
    lead_agency: str
    deadline: datetime | None = Field(description="the present deadline (null: none set, or a periodic task's)")
    accountable: str | None = Field(description="the head accountable now (a username; null: none named yet)")
    owners: list[Owner] = Field(default=[], description="an overdue task's: whose deadlines have lapsed")

    @classmethod
    def of(cls, state: TaskState, owners: list[Owner]) -> "StatusLine":
        return cls(code=state.code, title=state.spec.title, lead_agency=state.lead_agency, deadline=state.deadline,
                   accountable=state.accountable_person, owners=owners)


class OwnerCounts(BaseModel):
    """Overdue tasks by whose delay ("do ai chậm"): a task held up by two owners at once (the lead's
    report and the finance reviewer's decision on an amendment) counts for each, so these need not
    add up to `overdue`."""

    lead: int = 0
    finance: int = 0
    office: int = 0
    reviewer: int = 0


class StatusLines(BaseModel):
    """The tasks of each class, in the order they were counted."""

    completed_on_time: list[StatusLine] = []
    completed_late: list[StatusLine] = []
    in_progress: list[StatusLine] = []
    due_soon: list[StatusLine] = []
    overdue: list[StatusLine] = []
    deadline_pending: list[StatusLine] = []


class StatusCounts(BaseModel):
    """How many tasks stand in each class; the classes add up to `total` (a cancelled task is in
    none, nor in the total)."""

    completed_on_time: int = 0
    completed_late: int = 0
    in_progress: int = 0
    due_soon: int = 0
    overdue: int = 0
    deadline_pending: int = 0
    total: int = 0
    overdue_by_owner: OwnerCounts = Field(default_factory=OwnerCounts, description=(
        "overdue tasks by whose delay (the lead, the finance reviewers, the Standing Office, the reviewer)"))


class StatusTally(StatusCounts):
    """The counts, and with `tasks` (start it with `StatusLines()`) which tasks they are."""

    tasks: StatusLines | None = Field(default=None, description="the tasks of each class (asked with `details`)")

    def add(self, state: TaskState, now: datetime, due_soon: timedelta) -> StatusClass | None:
        """Count one task in the class it stands in now (returned; None: cancelled, not counted)."""
        found = status_class(state, now, due_soon)
        if found is None:
            return None
        setattr(self, found.value, getattr(self, found.value) + 1)
        self.total += 1
        owners = lapsed_owners(state, now) if found == StatusClass.OVERDUE else []
        for owner in owners:
            setattr(self.overdue_by_owner, owner.value, getattr(self.overdue_by_owner, owner.value) + 1)
        if self.tasks is not None:
            getattr(self.tasks, found.value).append(StatusLine.of(state, owners))
        return found


assert set(OwnerCounts.model_fields) == set(Owner), "overdue counted for every owner"
assert set(StatusLines.model_fields) == set(StatusClass), "tasks listed for every class"
assert set(StatusClass) < set(StatusCounts.model_fields), "every class counted"


def tally(states: Iterable[TaskState], now: datetime, due_soon: timedelta, details: bool = False) -> StatusTally:
    """The classes of these tasks now (due soon: within `due_soon`), and with `details` their lines."""
    counted = StatusTally(tasks=StatusLines() if details else None)
    for state in states:
        counted.add(state, now, due_soon)
    return counted


def counts(states: Iterable[TaskState], now: datetime, due_soon: timedelta) -> StatusCounts:
    """The classes of these tasks now, counted only."""
    return StatusCounts.model_validate(tally(states, now, due_soon).model_dump(exclude={"tasks"}))
