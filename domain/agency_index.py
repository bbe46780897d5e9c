"""The agency index: how each agency delivered the tasks it leads that fall due in a period.

Written once here; the README states the same weights for readers. A task belongs to the period
in which its ORIGINAL deadline falls, so an extension cannot move a task out of a period, and it
counts for the agency leading it now (a task reassigned "from whoever delays" counts for the new
lead). A task is *due* once its deadline has passed or it is completed.

score = 100 × (0.40 × on-time rate against the original deadline
             + 0.20 × on-time rate against the revised deadline
             + 0.20 × first-pass cross-check rate
             + 0.10 × budget disbursement rate
             + 0.10 × (1 − share of due tasks still open and overdue))
        − 5 × (1·L1 + 2·L2 + 3·L3 escalations) / due tasks,   clamped to 0..100, one decimal.

An escalation weighs its level's number (domain.escalation.LADDER).

The rates are over due tasks (first-pass over completed tasks; disbursement over approved
budgets). With nothing completed the first-pass rate is 0; with no approved budget the
disbursement rate is 1 (nothing to disburse is no failure). An agency with no due task has no
score and no rank, so it never stands above one that delivered. Ties are broken by more tasks
completed on time, then by the agency code, so a ranking is always the same for the same data.

Each kind of task (domain/task.py) has its place. The due tasks above are one-offs. A recurring
or standing task is assessed by its reports: it is in every period it runs through (`periodic`),
never an assigned or completed item, and each missed report (any escalation of it whose lapsed
deadline falls in the period) counts against its lead as any escalation does. A task whose
deadline is pending is counted apart (`deadline_pending`), due in no period; the Standing Office's
reminders to set it never count against the lead (domain.escalation.OFFICES_OWN), its other
escalations count as a periodic task's do."""

from datetime import datetime

from pydantic import BaseModel, Field

from domain.escalation import LADDER, OFFICES_OWN, DeadlineKind
from domain.periods import Period
from domain.stages import CLOSED_STAGES, Stage
from domain.task import BudgetStatus, Decision, TaskKind, TaskState

WEIGHTS = {"on_time_original": 0.40, "on_time_revised": 0.20, "first_pass": 0.20, "disbursement": 0.10,
           "not_overdue": 0.10}
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
    """Whether one `escalated` event of a task the period concerns counts against its lead: never the
    Office's own deadline; a one-off's whenever it fell; another kind's when the lapsed deadline
    fell in the period."""
    if kind in OFFICES_OWN:
        return False
    return state.kind == TaskKind.ONE_OFF or period.contains(due)


class IndexTask(BaseModel):
    """What the index needs of one task."""

    state: TaskState
    escalations: dict[int, int] = {}  # level -> `escalated` events that count in the period (`counts`)

    @property
    def completed_at(self) -> datetime | None:
        approved = [review.at for review in self.state.reviews if review.decision == Decision.APPROVED]
        return approved[-1] if self.state.stage == Stage.COMPLETED and approved else None


class AgencyRow(BaseModel):
    agency: str
    assigned: int = 0
    periodic: int = Field(default=0, description="recurring and standing tasks led, assessed by their reports")
    deadline_pending: int = Field(default=0, description="tasks led whose deadline is still to be set")
    due: int = 0
    completed_on_time: int = 0
    completed_late: int = 0
    overdue_open: int = 0
    escalations: dict[int, int] = Field(default_factory=lambda: {level.number: 0 for level in LADDER})
    extensions_granted: int = 0
    rejection_rounds: int = 0
    first_pass_rate: float | None = None
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
    approved_vnd = disbursed_vnd = 0
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
            on_time_original += state.original_deadline is not None and done_at <= state.original_deadline
        elif is_due and state.stage not in CLOSED_STAGES and state.overdue:
            row.overdue_open += 1
        rejections = sum(review.decision == Decision.REJECTED for review in state.reviews)
        row.rejection_rounds += rejections
        first_pass += done_at is not None and rejections == 0
        row.extensions_granted += state.extensions_granted
        _add_escalations(row, task)
        if state.budget is not None and state.budget.status == BudgetStatus.APPROVED:
            approved_vnd += state.budget.amount_vnd
            disbursed_vnd += state.budget.disbursed_vnd
    row.first_pass_rate = _rate(first_pass, completed)
    row.disbursement_rate = _rate(disbursed_vnd, approved_vnd)
    row.on_time_rate_original = _rate(on_time_original, row.due)
    row.on_time_rate_revised = _rate(row.completed_on_time, row.due)
    row.score = score(row)
    return row


def score(row: AgencyRow) -> float | None:
    if row.due == 0:
        return None
    parts = {
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
    """Scored agencies first, best first, ranks 1..n; then the unscored, by code, without a rank."""
    scored = sorted((r for r in rows if r.score is not None),
                    key=lambda r: (-(r.score or 0), -r.completed_on_time, r.agency))
    for position, row in enumerate(scored, start=1):
        row.rank = position
    return scored + sorted((r for r in rows if r.score is None), key=lambda r: r.agency)


def agency_index(tasks: list[IndexTask], now: datetime) -> list[AgencyRow]:
    by_agency: dict[str, list[IndexTask]] = {}
    for task in tasks:
        by_agency.setdefault(task.state.lead_agency, []).append(task)
    return rank([agency_row(agency, group, now) for agency, group in by_agency.items()])
