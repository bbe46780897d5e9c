"""The agency index: how each agency delivered the tasks it leads that fall due in a period.

Written once here; the README states the same weights for readers. A task belongs to the period
in which its ORIGINAL deadline falls, so an extension cannot move a task out of a period, and it
counts for the agency leading it now (a task reassigned "from whoever delays" counts for the new
lead). A task is *due* once its deadline has passed or it is completed.

score = 100 × (0.30 × confirmed achievement rate
             + 0.25 × on-time rate against the original deadline
             + 0.15 × on-time rate against the revised deadline (after extensions)
             + 0.10 × first-pass cross-check rate
             + 0.10 × budget disbursement rate
             + 0.10 × (1 − share of due tasks still open and overdue))
        − 5 × (1·L1 + 2·L2 + 3·L3 escalations of the lead's own deadlines) / due tasks,
        clamped to 0..100, one decimal.

Results, not reports: the achievement rate adds up what each completed due task achieved as its
cross-check confirmed (`credit`: its KPIs' achievement, domain/results.py; a product judged not
usable earns 0; "completed, targets not met" without KPIs earns 0) over the due tasks, so a task
counted as done whose result is unusable does not lift its agency. Timeliness is the lead's:
judged by when its evidence came in (TaskState.delivered_at), never by how long the review took.
An escalation weighs its level's number (domain.escalation.LADDER) and counts only when the lapsed
deadline was the lead's own (domain.escalation.owner_of): a reviewer's, the finance reviewer's or
the Standing Office's delay never counts against the lead.

The rates are over due tasks (first-pass over completed tasks; disbursement over approved
budgets). With nothing completed the first-pass rate is 0; with no approved budget the
disbursement rate is 1 (nothing to disburse is no failure). An agency with no due task in the
period has no score and no rank ("not ranked"), so it never stands above one that delivered.
Agencies with the same score share a rank (1, 1, 3…), listed by code.

Worked example (tests/test_agency_index.py has it figure by figure): two tasks due, both completed
and met; one on time against its original deadline, the other only after an extension and a
rejected first cross-check; 1,300 M of 1,500 M approved disbursed; no escalation:
100 × (0.30 × 1 + 0.25 × 0.5 + 0.15 × 1 + 0.10 × 0.5 + 0.10 × 0.8667 + 0.10 × 1) = 81.2.

Each kind of task (domain/task.py) has its place. The due tasks above are one-offs. A recurring
or standing task is assessed by its reports: it is in every period it runs through (`periodic`),
never an assigned or completed item, and each missed report (any escalation of it whose lapsed
deadline falls in the period) counts against its lead as any escalation does. A task whose
deadline is pending is counted apart (`deadline_pending`), due in no period; the Standing Office's
reminders to set it never count against the lead (domain.escalation.OFFICES_OWN), its other
escalations count as a periodic task's do."""

from datetime import datetime

from pydantic import BaseModel, Field

from domain.escalation import LADDER, DeadlineKind, Owner, owner_of
from domain.periods import Period
from domain.stages import CLOSED_STAGES, Stage
from domain.task import BudgetStatus, Decision, Outcome, TaskKind, TaskState

WEIGHTS = {"achievement": 0.30, "on_time_original": 0.25, "on_time_revised": 0.15, "first_pass": 0.10,
           "disbursement": 0.10, "not_overdue": 0.10}
assert round(sum(WEIGHTS.values()), 9) == 1.0
ESCALATION_PENALTY = 5.0


def concerns(state: TaskState, period: Period, now: datetime) -> bool:
    """Whether a task has its place in the period's index: a one-off whose original deadline falls in
    it; a task of another kind that runs through the period — assigned before it ends, not closed
    before it begins (its last change), and the period begun (nothing is assessed ahead of time).
    A sub-task is not an item of its own: the agency leading the task it was split from answers for
    the whole, so units and communes do not stand in the national index beside ministries."""
    if state.parent is not None:
        return False
    if state.kind == TaskKind.ONE_OFF:
        return state.original_deadline is not None and period.contains(state.original_deadline)
    return (period.start <= now and state.created_at < period.end
            and (state.stage not in CLOSED_STAGES or state.updated_at >= period.start))


def counts(state: TaskState, kind: DeadlineKind, due: datetime, period: Period) -> bool:
    """Whether one `escalated` event of a task the period concerns counts against its lead: only a
    deadline the lead owns (never a reviewer's, the finance reviewer's or the Office's); a one-off's
    whenever it fell; another kind's when the lapsed deadline fell in the period."""
    if owner_of(kind) != Owner.LEAD:
        return False
    return state.kind == TaskKind.ONE_OFF or period.contains(due)


class IndexTask(BaseModel):
    """What the index needs of one task."""

    state: TaskState
    escalations: dict[int, int] = {}  # level -> `escalated` events that count in the period (`counts`)

    @property
    def completed_at(self) -> datetime | None:
        """When the lead delivered what completed the task: its evidence (a task recorded without
        evidence, the approval)."""
        if self.state.stage != Stage.COMPLETED:
            return None
        approved = [review.at for review in self.state.reviews if review.decision == Decision.APPROVED]
        return self.state.delivered_at or (approved[-1] if approved else None)


def credit(state: TaskState) -> float:
    """What a completed task earns towards the achievement rate: 0 for a product not usable; its KPIs'
    confirmed achievement; without KPIs 1 when met, 0 when not (a task completed before outcomes
    were recorded counts as met)."""
    if state.usable is False:
        return 0.0
    if state.achievement is not None:
        return state.achievement
    return 0.0 if state.outcome == Outcome.NOT_MET else 1.0


class AgencyRow(BaseModel):
    agency: str
    assigned: int = 0
    periodic: int = Field(default=0, description="recurring and standing tasks led, assessed by their reports")
    deadline_pending: int = Field(default=0, description="tasks led whose deadline is still to be set")
    due: int = 0
    completed_on_time: int = 0
    completed_late: int = 0
    completed_not_met: int = Field(default=0, description="of the completed, those approved as \"hoàn thành, không "
                                   "đạt chỉ tiêu\" (their results short of a target, or the product not usable)")
    overdue_open: int = 0
    escalations: dict[int, int] = Field(default_factory=lambda: {level.number: 0 for level in LADDER})
    extensions_granted: int = 0
    rejection_rounds: int = 0
    achievement_rate: float | None = Field(default=None, description="confirmed achievement of the completed "
                                           "due tasks over the due tasks, 0..1")
    first_pass_rate: float | None = None
    approved_vnd: int = 0
    disbursed_vnd: int = 0
    disbursement_rate: float | None = None
    on_time_rate_original: float | None = None
    on_time_rate_revised: float | None = None
    score: float | None = None
    rank: int | None = None


def _rate(part: int | float, whole: int | float) -> float | None:
    return round(part / whole, 4) if whole else None


def _add_escalations(row: AgencyRow, task: IndexTask) -> None:
    for level, count in task.escalations.items():
        row.escalations[level] = row.escalations.get(level, 0) + count


def agency_row(agency: str, tasks: list[IndexTask], now: datetime) -> AgencyRow:
    row = AgencyRow(agency=agency)
    on_time_original = first_pass = completed = 0
    achieved = 0.0
    for task in tasks:
        state, done_at = task.state, task.completed_at
        if state.kind != TaskKind.ONE_OFF:  # assessed by its reports, or its deadline pending: apart
            if state.stage != Stage.CANCELLED:
                row.deadline_pending += state.kind == TaskKind.DEADLINE_PENDING
                row.periodic += state.kind != TaskKind.DEADLINE_PENDING
                _add_escalations(row, task)
            continue
        row.assigned += 1
        if state.stage == Stage.CANCELLED or state.deadline is None:
            continue
        is_due = done_at is not None or state.deadline <= now
        row.due += is_due
        if done_at is not None:
            completed += 1
            row.completed_late += state.late
            row.completed_on_time += not state.late
            row.completed_not_met += state.outcome == Outcome.NOT_MET or state.usable is False
            achieved += credit(state)
            on_time_original += state.original_deadline is not None and done_at <= state.original_deadline
        elif is_due and state.stage not in CLOSED_STAGES and state.overdue:
            row.overdue_open += 1
        rejections = sum(review.decision == Decision.REJECTED for review in state.reviews)
        row.rejection_rounds += rejections
        first_pass += done_at is not None and rejections == 0
        row.extensions_granted += state.extensions_granted
        _add_escalations(row, task)
        if state.budget is not None and state.budget.status == BudgetStatus.APPROVED:
            row.approved_vnd += state.budget.amount_vnd
            row.disbursed_vnd += state.budget.disbursed_vnd
    row.achievement_rate = _rate(achieved, row.due)
    row.first_pass_rate = _rate(first_pass, completed)
    row.disbursement_rate = _rate(row.disbursed_vnd, row.approved_vnd)
    row.on_time_rate_original = _rate(on_time_original, row.due)
    row.on_time_rate_revised = _rate(row.completed_on_time, row.due)
    row.score = score(row)
    return row


def score(row: AgencyRow) -> float | None:
    if row.due == 0:
        return None
    parts = {
        "achievement": row.achievement_rate or 0.0,
        "on_time_original": row.on_time_rate_original or 0.0,
        "on_time_revised": row.on_time_rate_revised or 0.0,
        "first_pass": row.first_pass_rate or 0.0,
        "disbursement": 1.0 if row.disbursement_rate is None else min(row.disbursement_rate, 1.0),
        "not_overdue": 1 - row.overdue_open / row.due,
    }
    weighted = sum(level.number * row.escalations.get(level.number, 0) for level in LADDER)
    value = 100 * sum(WEIGHTS[name] * part for name, part in parts.items()) - ESCALATION_PENALTY * weighted / row.due
    return round(min(max(value, 0.0), 100.0), 1)


def rank(rows: list[AgencyRow]) -> list[AgencyRow]:
    """Scored agencies first, best first: equal scores share a rank (1, 1, 3…) and are listed by code;
    then the agencies with nothing due ("not ranked"), by code, without a rank."""
    scored = sorted((r for r in rows if r.score is not None), key=lambda r: (-(r.score or 0), r.agency))
    for position, row in enumerate(scored, start=1):
        previous = scored[position - 2] if position > 1 else None
        row.rank = previous.rank if previous is not None and previous.score == row.score else position
    return scored + sorted((r for r in rows if r.score is None), key=lambda r: r.agency)


def agency_index(tasks: list[IndexTask], now: datetime) -> list[AgencyRow]:
    by_agency: dict[str, list[IndexTask]] = {}
    for task in tasks:
        by_agency.setdefault(task.state.lead_agency, []).append(task)
    return rank([agency_row(agency, group, now) for agency, group in by_agency.items()])
