"""Deadlines that lapse climb a ladder: level 1 (the lead agency), 2 (the Standing Office),
3 (the Steering Committee), at the offsets of NQ57_ESCALATION_STEPS after the deadline. The ladder
is `LADDER`, here and nowhere else: whatever needs the levels (who is told, the agency index, the
settings check) reads it.

Every open deadline of a task has its own ladder, keyed by what it is and when it falls due, so
an extension (a new due time) starts a fresh ladder and clears the old one. Pure functions: the
workflow calls them with `workflow.now()` and sleeps until `next_wake`.

Each kind of task (domain/task.py, TaskKind) has its deadlines here: a one-off its deadline; a
recurring or standing task its report each period (and a recurring one its final deadline, if
any); a task whose deadline is pending, the Standing Office's reminder to set one (`unset`): one
rung only, the Office's own (level 2), due NQ57_DEADLINE_PENDING_REMINDER after creation and again
each such period until the deadline is set. That reminder is the Office's business, never a point
against the lead agency (`OFFICES_OWN`).

What people read (a level's name, who is told, a deadline's kind, the notice) is in the message
catalogs (messages/): `level.<n>`, `audience.<audience>`, `kind.<kind>`, `notice.subject|body`."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from pydantic import BaseModel

import messages
from domain.actors import Role
from domain.deadlines import end_of_day, end_of_month
from domain.events import SYSTEM_ACTOR, Event, Happening
from domain.stages import OPEN_STAGES, Stage
from domain.task import Reporting, TaskKind, TaskState

LEAD_AGENCY = "lead_agency"  # the audience of a level that names no role


@dataclass(frozen=True)
class Level:
    """One rung of the ladder: who is told when a deadline climbs to it."""

    number: int
    role: Role | None  # whose holders are told; None: the lead agency's heads and its officer in charge

    @property
    def audience(self) -> str:
        return LEAD_AGENCY if self.role is None else self.role.value

    @property
    def label_key(self) -> str:
        """The message catalogs' key for the level's name."""
        return f"level.{self.number}"

    @property
    def audience_key(self) -> str:
        """The message catalogs' key for who is told."""
        return f"audience.{self.audience}"

    @property
    def audience_vi(self) -> str:
        """Who is told, in Vietnamese: the value the `escalated` event records as its `audience`
        (histories keep it: the catalog's sentence must not be reworded)."""
        return _NOTICE[self.audience_key]


# The ladder, lowest first: NQ57_ESCALATION_STEPS names one offset for each level.
LADDER: tuple[Level, ...] = (
    Level(1, None),
    Level(2, Role.STEERING_OFFICE),
    Level(3, Role.STEERING_COMMITTEE),
)
assert [level.number for level in LADDER] == list(range(1, len(LADDER) + 1)), "levels are numbered 1, 2, 3…"


def level(number: int) -> Level:
    """The level of this number: every rise is one (due_escalations stops at the top level)."""
    if not 1 <= number <= len(LADDER):
        raise ValueError(f"Thang cảnh báo không có cấp {number} (chỉ có cấp 1–{len(LADDER)})")
    return LADDER[number - 1]


def ladder_mismatch(steps: tuple[timedelta, ...]) -> str | None:
    """Why these escalation steps cannot drive the ladder (None: they can): one offset per level,
    in increasing order. The settings check refuses them at start."""
    example = ",".join(f"{7 * index}d" for index in range(len(LADDER)))
    if len(steps) != len(LADDER):
        names = ", ".join(f"{level.number} – {level.audience_vi}" for level in LADDER)
        return (f"NQ57_ESCALATION_STEPS có {len(steps)} mốc nhưng thang cảnh báo có {len(LADDER)} cấp ({names}): "
                f"cần đúng {len(LADDER)} mốc tăng dần, ví dụ {example}")
    if list(steps) != sorted(steps):
        return f"NQ57_ESCALATION_STEPS cần các mốc tăng dần, ví dụ {example}"
    return None


class DeadlineKind(StrEnum):
    ACCEPT = "accept"
    BUDGET = "budget"
    DEADLINE = "deadline"
    REWORK = "rework"
    REVIEW = "review"
    REPORT = "report"
    UNSET = "unset"  # a deadline still to be set: the Standing Office's


class Owner(StrEnum):
    """Who holds a task while a deadline runs, and answers for it when it lapses: the task's time
    waits on its holder, and a lapse counts against that holder, never against the lead for another's
    delay. What people read is the catalogs' `owner.<value>`."""

    LEAD = "lead"  # the lead agency: its heads and the officer in charge
    FINANCE = "finance"  # the finance reviewers deciding a budget
    OFFICE = "office"  # the Standing Office
    REVIEWER = "reviewer"  # the assigned cross-check reviewer


OWNERS: dict[DeadlineKind, Owner] = {
    DeadlineKind.ACCEPT: Owner.LEAD,
    DeadlineKind.BUDGET: Owner.LEAD,
    DeadlineKind.DEADLINE: Owner.LEAD,
    DeadlineKind.REWORK: Owner.LEAD,
    DeadlineKind.REPORT: Owner.LEAD,
    DeadlineKind.REVIEW: Owner.REVIEWER,
    DeadlineKind.UNSET: Owner.OFFICE,
}
assert set(OWNERS) == set(DeadlineKind), "every deadline has its owner"


def owner_of(kind: DeadlineKind) -> Owner:
    return OWNERS[kind]


# Deadlines the Standing Office keeps, not the lead agency: their lapse makes no task overdue and
# counts against no agency in the index (domain/agency_index.py).
OFFICES_OWN = frozenset({DeadlineKind.UNSET})
# The one rung of the Office's reminder: the level whose audience is the Standing Office.
OFFICE_LEVEL = 2

_BEFORE_CROSS_CHECK = frozenset({Stage.ASSIGNED, Stage.BUDGET_REGISTRATION, Stage.BUDGET_REVIEW, Stage.IN_PROGRESS})


class OpenDeadline(BaseModel):
    kind: DeadlineKind
    due: datetime

    @property
    def key(self) -> str:
        return f"{self.kind}@{self.due.isoformat()}"


class Escalation(BaseModel):
    """One rise of one ladder: what the `escalated` event records."""

    kind: DeadlineKind
    due: datetime
    level: int


def open_deadlines(state: TaskState) -> list[OpenDeadline]:
    """The deadlines that bind the task in its present stage."""
    rules = state.settings
    found: list[OpenDeadline] = []
    if state.stage == Stage.ASSIGNED:
        found.append(OpenDeadline(kind=DeadlineKind.ACCEPT, due=state.created_at + rules.accept_sla))
    if state.stage == Stage.BUDGET_REGISTRATION and state.accepted_at is not None:
        since = max(state.accepted_at, state.budget_returned_at or state.accepted_at)
        found.append(OpenDeadline(kind=DeadlineKind.BUDGET, due=since + rules.budget_sla))
    if state.stage in _BEFORE_CROSS_CHECK and state.deadline is not None:
        found.append(OpenDeadline(kind=DeadlineKind.DEADLINE, due=state.deadline))
    if state.stage == Stage.IN_PROGRESS and state.rework_deadline is not None:
        found.append(OpenDeadline(kind=DeadlineKind.REWORK, due=state.rework_deadline))
    if state.stage == Stage.CROSS_CHECK and state.reviewer is not None and state.reviewer_assigned_at is not None:
        found.append(OpenDeadline(kind=DeadlineKind.REVIEW, due=state.reviewer_assigned_at + rules.review_sla))
    if state.stage == Stage.IN_PROGRESS and state.spec.reporting != Reporting.NONE:
        # Time in cross-check, where no report can be filed, does not count against the lead.
        anchor = max((m for m in (state.last_report_at, state.in_progress_since) if m is not None),
                     default=state.created_at)
        found.append(OpenDeadline(kind=DeadlineKind.REPORT,
                                  due=next_report_due(anchor, state.spec.reporting, rules.timezone)))
    if state.stage in OPEN_STAGES and state.kind == TaskKind.DEADLINE_PENDING and state.deadline is None:
        found.append(OpenDeadline(kind=DeadlineKind.UNSET, due=_next_reminder(state)))
    return found


def _next_reminder(state: TaskState) -> datetime:
    """The first reminder period's end, counted from creation, whose reminder is not yet recorded:
    once the Office is reminded, the next period's reminder binds."""
    every = state.settings.deadline_pending_reminder
    due = state.created_at + every
    while state.ladders.get(OpenDeadline(kind=DeadlineKind.UNSET, due=due).key, 0) >= OFFICE_LEVEL:
        due += every
    return due


def next_report_due(anchor: datetime, reporting: Reporting, timezone: str) -> datetime:
    """A report covers a month (or quarter): after one filed in March, the next is due by the
    end of April (of the next quarter)."""
    local = anchor.astimezone(ZoneInfo(timezone))
    months = 1 if reporting == Reporting.MONTHLY else 3
    period_start = local.month if months == 1 else ((local.month - 1) // 3) * 3 + 1
    last_month = period_start + 2 * months - 1  # the last month of the following period
    year, month = local.year + (last_month - 1) // 12, (last_month - 1) % 12 + 1
    return end_of_day(end_of_month(year, month), timezone)


def _steps(state: TaskState) -> tuple[timedelta, ...]:
    """The offset of each level. A task started with more steps than the ladder has levels (the
    settings check now refuses them) stops at the top level."""
    return tuple(state.settings.escalation_steps[:len(LADDER)])


def _reached(deadline: OpenDeadline, state: TaskState, now: datetime) -> list[int]:
    """The levels a deadline's ladder has reached by now: the Office's reminder has one rung."""
    if deadline.kind == DeadlineKind.UNSET:
        return [OFFICE_LEVEL] if deadline.due <= now else []
    return list(range(1, sum(1 for offset in _steps(state) if deadline.due + offset <= now) + 1))


def due_escalations(state: TaskState, now: datetime) -> list[Escalation]:
    """Every level each ladder has reached by now and not yet recorded, lowest first. A task
    created long after its deadline rises through each level at once."""
    rises = []
    for deadline in open_deadlines(state):
        recorded = state.ladders.get(deadline.key, 0)
        rises += [Escalation(kind=deadline.kind, due=deadline.due, level=number)
                  for number in _reached(deadline, state, now) if number > recorded]
    return sorted(rises, key=lambda rise: (rise.level, rise.due))


def refresh(state: TaskState, now: datetime) -> None:
    """`overdue` and `escalation_level` follow from the open deadlines: a ladder whose deadline no
    longer binds (accepted, extended, completed) stops counting, but is kept, so the same deadline
    binding again (rework after a rejected cross-check) does not escalate twice."""
    open_now = open_deadlines(state)
    state.overdue = any(deadline.due <= now for deadline in open_now if deadline.kind not in OFFICES_OWN)
    state.escalation_level = max((state.ladders.get(d.key, 0) for d in open_now), default=0)


def escalate(state: TaskState, rise: Escalation, now: datetime) -> tuple[TaskState, Event]:
    """The state after one rise, and the `escalated` event that records it."""
    new = state.model_copy(deep=True)
    key = OpenDeadline(kind=rise.kind, due=rise.due).key
    new.ladders[key] = max(new.ladders.get(key, 0), rise.level)
    refresh(new, now)
    new.seq += 1
    new.updated_at = now
    data = {**rise.model_dump(mode="json"), "audience": level(rise.level).audience_vi,
            "lead_agency": new.lead_agency, "days_late": (now - rise.due).days}
    return new, Event(seq=new.seq, type=Happening.ESCALATED, actor=SYSTEM_ACTOR, at=now, data=data)


# The notice's words, read from the catalogs (Vietnamese, the language of record) when this module is
# imported. The workflow words the notice and may not read a file; it passes domain modules through
# its sandbox, so they are imported, and these read, outside it.
_NOTICE: dict[str, str] = messages.frozen(
    ("notice.subject", "notice.body", *(f"kind.{kind.value}" for kind in DeadlineKind),
     *(rung.audience_key for rung in LADDER)))


def notice_text(state: TaskState, rise: Escalation) -> tuple[str, str]:
    """Subject and body of what the people at this level are told (the catalogs' `notice.*`)."""
    params = {"level": rise.level, "code": state.code, "title": state.spec.title, "lead_agency": state.lead_agency,
              "kind": _NOTICE[f"kind.{rise.kind.value}"], "due": rise.due.isoformat(),
              "audience": _NOTICE[level(rise.level).audience_key]}
    return messages.fill(_NOTICE["notice.subject"], params), messages.fill(_NOTICE["notice.body"], params)


def next_wake(state: TaskState) -> datetime | None:
    """When the next ladder rises, if nothing else happens first."""
    steps = _steps(state)
    times = [deadline.due if deadline.kind == DeadlineKind.UNSET else
             deadline.due + steps[state.ladders.get(deadline.key, 0)]
             for deadline in open_deadlines(state) if state.ladders.get(deadline.key, 0) < _top(deadline, steps)]
    return min(times, default=None)


def _top(deadline: OpenDeadline, steps: tuple[timedelta, ...]) -> int:
    """The highest level a deadline's ladder climbs to."""
    return OFFICE_LEVEL if deadline.kind == DeadlineKind.UNSET else len(steps)
