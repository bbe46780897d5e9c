"""Deadlines that lapse climb a ladder: level 1 (the deadline's owner itself), 2 (the Standing
Office), 3 (the Steering Committee), at the offsets of NQ57_ESCALATION_STEPS after the deadline. The
ladder is `LADDER`, here and nowhere else: whatever needs the levels (who is told, the agency index,
the settings check) reads it.

Every deadline has an owner (`OWNERS`): whoever holds the task while it runs, and answers for it when
it lapses. The lead agency owns acceptance, budget registration, the task's deadline, rework and the
periodic reports; the finance reviewers the budget decision (and an amendment's); the Standing
Office the assignment of a cross-check reviewer and the decision on an extension; the assigned
reviewer the review. A lapsed deadline climbs its owner's own line (`ladder_of`): level 1 tells the
owner (the lead agency's heads and officer, the assigned reviewer, the finance reviewers), then the
Office, then the Committee; the Office's own deadlines start at the Office's level and go up to the
Committee at the next step.

Every open deadline of a task has its own ladder, keyed by what it is and when it falls due, so
an extension (a new due time) starts a fresh ladder and clears the old one. Pure functions: the
workflow calls them with `workflow.now()` and sleeps until `next_wake`.

Each kind of task (domain/task.py, TaskKind) has its deadlines here: a one-off its deadline; a
recurring or standing task its report each period (and a recurring one its final deadline, if
any); a task whose deadline is pending, the Standing Office's reminder to set one (`unset`): one
rung only, the Office's own (level 2), due NQ57_DEADLINE_PENDING_REMINDER after creation and again
each such period until the deadline is set. That reminder is the Office's business, never a point
against the lead agency (`OFFICES_OWN`).

Early warning ("phát hiện sớm", `due_reminders`): before each open deadline but the Office's reminder
to set one, at the offsets NQ57_REMINDERS (e.g. 7d, 3d, 1d before), its owner is reminded: a
`reminded` event, an in-app notification at level 0 (a reminder, not an escalation), mail and webhook.
A deadline's owners, its new kinds (`budget_decision`, `review_assign`, `extension_decision`) and its
reminders bind only a task started with their settings (domain/task.py, LifecycleSettings): an older
task's recorded history replays unchanged.

What people read (a level's name, who is told, a deadline's kind, the notice, the reminder) is in the
message catalogs (messages/): `level.<n>`, `audience.<audience>`, `kind.<kind>`, `notice.subject|body`,
`reminder.subject|body`, `duration.<unit>`."""

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

LEAD_AGENCY = "lead_agency"  # the audience of level 1 of the lead's deadlines: its heads and officer in charge
REVIEWER = "reviewer"  # the audience of level 1 of a review: the assigned reviewer alone


@dataclass(frozen=True)
class Level:
    """One rung of the ladder: who is told when a deadline climbs to it."""

    number: int
    role: Role | None  # whose holders are told; None: the deadline's owner (the lead agency, for the lead's)

    @property
    def audience(self) -> str:
        """Who this level tells on the lead's own ladder (the pages name the levels by it)."""
        return LEAD_AGENCY if self.role is None else self.role.value

    def told(self, owner: "Owner") -> str:
        """Who this level tells when a deadline of this owner lapses: level 1 is the owner itself."""
        return OWNER_AUDIENCE[owner] if self.role is None else self.role.value

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
    BUDGET_DECISION = "budget_decision"  # the finance reviewers' decision on a budget or an amendment
    REVIEW_ASSIGN = "review_assign"  # the Standing Office's assignment of a cross-check reviewer
    EXTENSION_DECISION = "extension_decision"  # the Standing Office's decision on an extension request


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
    DeadlineKind.BUDGET_DECISION: Owner.FINANCE,
    DeadlineKind.REVIEW_ASSIGN: Owner.OFFICE,
    DeadlineKind.EXTENSION_DECISION: Owner.OFFICE,
}
assert set(OWNERS) == set(DeadlineKind), "every deadline has its owner"


def owner_of(kind: DeadlineKind) -> Owner:
    return OWNERS[kind]


# Who an owner is, as told (its level 1, and its reminders): the catalogs' `audience.<value>`.
OWNER_AUDIENCE: dict[Owner, str] = {
    Owner.LEAD: LEAD_AGENCY,
    Owner.REVIEWER: REVIEWER,
    Owner.FINANCE: Role.FINANCE_REVIEWER.value,
    Owner.OFFICE: Role.STEERING_OFFICE.value,
}
assert set(OWNER_AUDIENCE) == set(Owner), "every owner can be told"


# Deadlines that are the Standing Office's reminders, not lapses: the task waits for its deadline to be
# set, it is not late. They make no task overdue and count against no one in the index
# (domain/agency_index.py). The Office's other deadlines lapse as any do, against the Office (`owner_of`).
OFFICES_OWN = frozenset({DeadlineKind.UNSET})
# The Office's own rung: the level whose audience is the Standing Office (its reminder to set a
# deadline has this one rung; its other deadlines start their ladder there).
OFFICE_LEVEL = next(rung.number for rung in LADDER if rung.role == Role.STEERING_OFFICE)


def ladder_of(owner: Owner) -> tuple[Level, ...]:
    """The levels a lapsed deadline of this owner climbs, lowest first: the owner itself, then those
    above it. The Office answers to the Committee alone, so its ladder starts at its own level."""
    return LADDER[OFFICE_LEVEL - 1:] if owner == Owner.OFFICE else LADDER

_BEFORE_CROSS_CHECK = frozenset({Stage.ASSIGNED, Stage.BUDGET_REGISTRATION, Stage.BUDGET_REVIEW, Stage.IN_PROGRESS})


class OpenDeadline(BaseModel):
    kind: DeadlineKind
    due: datetime
    # Since when it binds (its holder's time began): no reminder is due at or before it, so a task is
    # never "reminded" of a deadline the moment it is set (7 days to accept, 7 days' warning).
    since: datetime | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}@{self.due.isoformat()}"


# The kinds of deadline there were before each had its owner: who their rises told then is what
# their recorded `escalated` events say.
_KINDS_BEFORE_OWNERS = frozenset({DeadlineKind.ACCEPT, DeadlineKind.BUDGET, DeadlineKind.DEADLINE,
                                  DeadlineKind.REWORK, DeadlineKind.REVIEW, DeadlineKind.REPORT, DeadlineKind.UNSET})


class Escalation(BaseModel):
    """One rise of one ladder: what the `escalated` event records."""

    kind: DeadlineKind
    due: datetime
    level: int
    # Told as before each deadline had its owner (a lapsed review's level 1 went to the lead agency):
    # how a workflow replaying a history recorded then words the rise (`retold`). Never recorded.
    before_owners: bool = False

    @property
    def audience(self) -> str:
        """Who this rise tells (the catalogs' `audience.<value>`)."""
        rung = level(self.level)
        return rung.audience if self.before_owners else rung.told(owner_of(self.kind))

    @property
    def retold(self) -> bool:
        """Whether a version before deadlines had owners told someone else of this rise: the workflow
        then asks `workflow.patched`, and a history recorded then replays with the audience it records."""
        rung = level(self.level)
        return self.kind in _KINDS_BEFORE_OWNERS and rung.told(owner_of(self.kind)) != rung.audience


class Reminder(BaseModel):
    """One early warning: a deadline's owner told, this long before it falls due (`before`, one of
    NQ57_REMINDERS' offsets), that it is coming. What the `reminded` event records."""

    kind: DeadlineKind
    due: datetime
    before: timedelta

    @property
    def owner(self) -> Owner:
        return owner_of(self.kind)

    @property
    def audience(self) -> str:
        return OWNER_AUDIENCE[self.owner]


def open_deadlines(state: TaskState) -> list[OpenDeadline]:
    """The deadlines that bind the task in its present stage."""
    rules = state.settings
    found: list[OpenDeadline] = []
    if state.stage == Stage.ASSIGNED:
        found.append(OpenDeadline(kind=DeadlineKind.ACCEPT, due=state.created_at + rules.accept_sla,
                                  since=state.created_at))
    if state.stage == Stage.BUDGET_REGISTRATION and state.accepted_at is not None:
        since = max(state.accepted_at, state.budget_returned_at or state.accepted_at)
        found.append(OpenDeadline(kind=DeadlineKind.BUDGET, due=since + rules.budget_sla, since=since))
    if state.stage in _BEFORE_CROSS_CHECK and state.deadline is not None:
        found.append(OpenDeadline(kind=DeadlineKind.DEADLINE, due=state.deadline, since=state.created_at))
    if state.stage == Stage.IN_PROGRESS and state.rework_deadline is not None:
        found.append(OpenDeadline(kind=DeadlineKind.REWORK, due=state.rework_deadline,
                                  since=state.rework_deadline - rules.rework_period))
    if state.stage == Stage.CROSS_CHECK and state.reviewer is not None and state.reviewer_assigned_at is not None:
        found.append(OpenDeadline(kind=DeadlineKind.REVIEW, due=state.reviewer_assigned_at + rules.review_sla,
                                  since=state.reviewer_assigned_at))
    if state.stage == Stage.IN_PROGRESS and state.spec.reporting != Reporting.NONE:
        # Time in cross-check, where no report can be filed, does not count against the lead.
        anchor = max((m for m in (state.last_report_at, state.in_progress_since) if m is not None),
                     default=state.created_at)
        found.append(OpenDeadline(kind=DeadlineKind.REPORT,
                                  due=next_report_due(anchor, state.spec.reporting, rules.timezone), since=anchor))
    if state.stage in OPEN_STAGES and state.kind == TaskKind.DEADLINE_PENDING and state.deadline is None:
        found.append(OpenDeadline(kind=DeadlineKind.UNSET, due=_next_reminder(state)))
    return found + _held_by_others(state)


def running_for(state: TaskState, owners: set[Owner], deadlines: list[OpenDeadline] | None = None
                ) -> OpenDeadline | None:
    """The deadline running for whoever holds these parts of the task (a reviewer: the review; the
    lead: acceptance, budget, rework or the deadline itself…): the earliest of theirs still open.
    `deadlines`: the task's `open_deadlines`, when the caller has them."""
    found = open_deadlines(state) if deadlines is None else deadlines
    mine = [d for d in found if owner_of(d.kind) in owners and d.kind not in OFFICES_OWN]
    return min(mine, key=lambda d: d.due, default=None)


def _held_by_others(state: TaskState) -> list[OpenDeadline]:
    """The deadlines of those who hold the task besides the lead and the reviewer: the finance
    reviewers' decision on a budget (or an amendment), the Office's assignment of a reviewer and its
    decision on an extension. Each binds only on a task started with its SLA (None: an older task)."""
    rules = state.settings
    found: list[OpenDeadline] = []
    budget_since = _budget_waiting_since(state)
    if rules.budget_decision_sla is not None and budget_since is not None:
        found.append(OpenDeadline(kind=DeadlineKind.BUDGET_DECISION, due=budget_since + rules.budget_decision_sla,
                                  since=budget_since))
    unassigned = state.stage == Stage.CROSS_CHECK and state.reviewer is None and state.evidence
    if rules.review_assign_sla is not None and unassigned:
        found.append(OpenDeadline(kind=DeadlineKind.REVIEW_ASSIGN, due=state.evidence[-1].at + rules.review_assign_sla,
                                  since=state.evidence[-1].at))
    request = state.extension_request if state.stage in OPEN_STAGES else None
    if rules.extension_decision_sla is not None and request is not None:
        found.append(OpenDeadline(kind=DeadlineKind.EXTENSION_DECISION, due=request.at + rules.extension_decision_sla,
                                  since=request.at))
    return found


def _budget_waiting_since(state: TaskState) -> datetime | None:
    """Since when the finance reviewers hold a decision: a budget in review, or an amendment pending
    while the task is carried out."""
    if state.stage == Stage.BUDGET_REVIEW:
        return state.budget_submitted_at
    amendment = state.budget.pending_amendment if state.budget is not None else None
    return amendment.at if state.stage == Stage.IN_PROGRESS and amendment is not None else None


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


def _rungs(deadline: OpenDeadline, state: TaskState) -> list[tuple[int, timedelta]]:
    """Each level a deadline's ladder climbs to, lowest first, with its offset after the deadline: its
    owner's levels at the escalation steps, one step each (a task started with more steps than the
    ladder has levels stops at the top level); the Office's reminder to set a deadline has one rung,
    at the deadline."""
    if deadline.kind == DeadlineKind.UNSET:
        return [(OFFICE_LEVEL, timedelta(0))]
    steps = state.settings.escalation_steps
    return [(rung.number, offset) for rung, offset in zip(ladder_of(owner_of(deadline.kind)), steps, strict=False)]


def due_escalations(state: TaskState, now: datetime) -> list[Escalation]:
    """Every level each ladder has reached by now and not yet recorded, lowest first. A task
    created long after its deadline rises through each level at once."""
    rises = []
    for deadline in open_deadlines(state):
        recorded = state.ladders.get(deadline.key, 0)
        rises += [Escalation(kind=deadline.kind, due=deadline.due, level=number)
                  for number, offset in _rungs(deadline, state) if number > recorded and deadline.due + offset <= now]
    return sorted(rises, key=lambda rise: (rise.level, rise.due))


def refresh(state: TaskState, now: datetime) -> None:
    """`overdue` and `escalation_level` follow from the open deadlines: a ladder whose deadline no
    longer binds (accepted, extended, completed) stops counting, but is kept, so the same deadline
    binding again (rework after a rejected cross-check) does not escalate twice."""
    open_now = open_deadlines(state)
    state.overdue = any(deadline.due <= now for deadline in open_now if deadline.kind not in OFFICES_OWN)
    state.escalation_level = max((state.ladders.get(d.key, 0) for d in open_now), default=0)


def escalate(state: TaskState, rise: Escalation, now: datetime) -> tuple[TaskState, Event]:
    """The state after one rise, and the `escalated` event that records it. Its data reads as it did
    before deadlines had owners (the owner follows from the kind: `owner_of`): events are chained by
    their hashes, and a replayed history must make the same ones."""
    new = state.model_copy(deep=True)
    key = OpenDeadline(kind=rise.kind, due=rise.due).key
    new.ladders[key] = max(new.ladders.get(key, 0), rise.level)
    refresh(new, now)
    new.seq += 1
    new.updated_at = now
    data = {**rise.model_dump(mode="json", exclude={"before_owners"}), "audience": _NOTICE[f"audience.{rise.audience}"],
            "lead_agency": new.lead_agency, "days_late": (now - rise.due).days}
    return new, Event(seq=new.seq, type=Happening.ESCALATED, actor=SYSTEM_ACTOR, at=now, data=data)


def due_reminders(state: TaskState, now: datetime) -> list[Reminder]:
    """The early warnings due by now and not yet given, earliest deadline first: for each open
    deadline (but the Office's reminder to set one, itself a reminder), the nearest offset of
    NQ57_REMINDERS whose time has come. When several have come at once (a task assigned two days
    before its deadline) only the nearest is given; none once the deadline has lapsed (its ladder
    speaks then); each offset at most once (`TaskState.reminded`: a nearer one given covers the
    farther ones)."""
    found = []
    for deadline in open_deadlines(state):
        come = [offset for offset in _untold(state, deadline) if deadline.due - offset <= now < deadline.due]
        if come:
            found.append(Reminder(kind=deadline.kind, due=deadline.due, before=min(come)))
    return sorted(found, key=lambda reminder: (reminder.due, reminder.kind))


def _untold(state: TaskState, deadline: OpenDeadline) -> list[timedelta]:
    """The offsets before this deadline not yet given: those nearer to it than the nearest told, and
    falling after the deadline began to bind. The Office's reminder to set a deadline is a reminder
    itself: none before it."""
    if deadline.kind == DeadlineKind.UNSET:
        return []
    told = state.reminded.get(deadline.key)
    return [offset for offset in state.settings.reminders
            if offset > timedelta(0) and (told is None or offset.total_seconds() < told)
            and (deadline.since is None or deadline.due - offset > deadline.since)]


def remind(state: TaskState, reminder: Reminder, now: datetime) -> tuple[TaskState, Event]:
    """The state after one reminder, and the `reminded` event that records it: `kind`, `due`,
    `before` (the offset, written as NQ57_REMINDERS writes it: `3d`, `12h`) and `owner`."""
    new = state.model_copy(deep=True)
    new.reminded[OpenDeadline(kind=reminder.kind, due=reminder.due).key] = int(reminder.before.total_seconds())
    refresh(new, now)
    new.seq += 1
    new.updated_at = now
    data = {**reminder.model_dump(mode="json", include={"kind", "due"}), "before": written(reminder.before),
            "owner": reminder.owner.value}
    return new, Event(seq=new.seq, type=Happening.REMINDED, actor=SYSTEM_ACTOR, at=now, data=data)


_UNITS = (("d", "days", timedelta(days=1)), ("h", "hours", timedelta(hours=1)), ("m", "minutes", timedelta(minutes=1)),
          ("s", "seconds", timedelta(seconds=1)))


def written(duration: timedelta) -> str:
    """A duration as the settings write it (`7d`, `36h`, `90m`): in the largest unit it is a whole
    number of (domain/durations.py reads it back)."""
    for unit, _, size in _UNITS:
        if duration % size == timedelta(0):
            return f"{duration // size}{unit}"
    return f"{duration.total_seconds():g}s"


# The notice's words, read from the catalogs (Vietnamese, the language of record) when this module is
# imported. The workflow words the notice and may not read a file; it passes domain modules through
# its sandbox, so they are imported, and these read, outside it.
_NOTICE: dict[str, str] = messages.frozen(
    ("notice.subject", "notice.body", "reminder.subject", "reminder.body",
     *(f"kind.{kind.value}" for kind in DeadlineKind),
     *(f"audience.{audience}" for audience in {*(rung.audience for rung in LADDER), *OWNER_AUDIENCE.values()}),
     *(f"duration.{name}" for name in ("days", "hours", "minutes", "seconds"))))


def notice_text(state: TaskState, rise: Escalation) -> tuple[str, str]:
    """Subject and body of what the people at this level are told (the catalogs' `notice.*`)."""
    params = {"level": rise.level, "code": state.code, "title": state.spec.title, "lead_agency": state.lead_agency,
              "kind": _NOTICE[f"kind.{rise.kind.value}"], "due": rise.due.isoformat(),
              "audience": _NOTICE[f"audience.{rise.audience}"]}
    return messages.fill(_NOTICE["notice.subject"], params), messages.fill(_NOTICE["notice.body"], params)


def reminder_text(state: TaskState, reminder: Reminder, now: datetime) -> tuple[str, str]:
    """Subject and body of what a deadline's owner is reminded (the catalogs' `reminder.*`): how long
    is left says the time truly left (less than the offset when the reminder comes at once)."""
    params = {"code": state.code, "title": state.spec.title, "lead_agency": state.lead_agency,
              "kind": _NOTICE[f"kind.{reminder.kind.value}"], "due": reminder.due.isoformat(),
              "left": _left(reminder.due - now), "audience": _NOTICE[f"audience.{reminder.audience}"]}
    return messages.fill(_NOTICE["reminder.subject"], params), messages.fill(_NOTICE["reminder.body"], params)


def _left(left: timedelta) -> str:
    """Time left in words, in its largest unit, to the nearest (`3 ngày`, `5 giờ`): a reminder told a
    moment after its time still says a whole day."""
    near = timedelta(seconds=round(left.total_seconds() / 60) * 60) if left >= timedelta(minutes=1) else left
    name, size = next(((name, size) for _, name, size in _UNITS if near >= size), ("seconds", timedelta(seconds=1)))
    return messages.fill(_NOTICE[f"duration.{name}"], {"n": max(0, round(near / size))})


def next_wake(state: TaskState, now: datetime | None = None) -> datetime | None:
    """When the next ladder rises or the next reminder is due, if nothing else happens first. Given
    `now`, a deadline lapsed by then has no reminder left to wait for (None: every deadline is taken
    to be ahead)."""
    times = [time for deadline in open_deadlines(state)
             for time in (_next_rise(state, deadline), _next_warning(state, deadline, now)) if time is not None]
    return min(times, default=None)


def _next_rise(state: TaskState, deadline: OpenDeadline) -> datetime | None:
    """When this deadline's ladder rises next (None: it is at its top)."""
    recorded = state.ladders.get(deadline.key, 0)
    return next((deadline.due + offset for number, offset in _rungs(deadline, state) if number > recorded), None)


def _next_warning(state: TaskState, deadline: OpenDeadline, now: datetime | None) -> datetime | None:
    """When the next reminder before this deadline is due (None: none is left, or the deadline has lapsed)."""
    untold = _untold(state, deadline)
    if not untold or (now is not None and deadline.due <= now):
        return None
    return deadline.due - max(untold)
