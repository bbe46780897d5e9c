"""What a task's page sets side by side, so that a reader compares rather than reads reports: each
KPI's target against the figures reported over time and the result the cross-check confirmed; the
budget approved against what was disbursed; a completed task's delivery against its deadline.

Worked example: deadline 31/03/2027 (end of day), evidence submitted 02/04/2027 at 10:00 → late by
2 days (a part of a day counts as a day: the deadline lapsed at midnight of the 31st, the evidence
came on the 2nd); submitted 29/03/2027 at 10:00 → on time, 2 days early (whole days only).

Pure: no I/O, no clock; everything is read off the task's state."""

import math
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel

from domain.results import kpi_achievement
from domain.stages import Stage
from domain.task import BudgetStatus, Kpi, TaskState

_DAY = timedelta(days=1)


class Reading(BaseModel):
    """One figure reported for a KPI: in a progress report of the lead, or stated with its evidence."""

    at: datetime
    value: float
    source: Literal["report", "evidence"]


class KpiComparison(BaseModel):
    """A KPI, the figures reported for it in order, and where it ended (or stands)."""

    kpi: Kpi
    readings: list[Reading]
    result: float | None  # the cross-check's confirmed figure, once the task is completed
    achievement: float | None  # of the result once confirmed, else of the latest reading (None: no figure yet)


def kpi_readings(state: TaskState, name: str) -> list[Reading]:
    """The figures the lead agency gave for the KPI, oldest first: its own progress reports (a
    coordinating agency's contribution is not the lead's figure), then what each evidence stated.
    The same figures `TaskState.latest_actuals` takes the last of."""
    found = [Reading(at=report.at, value=report.kpi_actuals[name], source="report")
             for report in state.progress if not report.contribution and name in report.kpi_actuals]
    for evidence in state.evidence:
        value = evidence.kpi_results.get(name)
        if isinstance(value, float | int):
            found.append(Reading(at=evidence.at, value=float(value), source="evidence"))
    return found


def compare_kpis(state: TaskState) -> list[KpiComparison]:
    """Each KPI of the task side by side with its readings and its result, in the spec's order."""
    compared = []
    for kpi in state.spec.kpis:
        readings = kpi_readings(state, kpi.name)
        result = state.confirmed_results.get(kpi.name)
        last = result if result is not None else (readings[-1].value if readings else None)
        compared.append(KpiComparison(kpi=kpi, readings=readings, result=result,
                                      achievement=None if last is None else kpi_achievement(kpi, last)))
    return compared


class Disbursement(BaseModel):
    """What had been disbursed in all by a progress report (reports give the running total)."""

    at: datetime
    total_vnd: int


class Spending(BaseModel):
    """The approved budget against what was disbursed of it."""

    approved_vnd: int
    disbursed_vnd: int
    remaining_vnd: int
    share: float  # disbursed / approved, 0..1 (0 for a budget of nothing)
    pending_vnd: int | None  # an amendment's new amount, while finance has not decided it
    disbursements: list[Disbursement]


def spending(state: TaskState) -> Spending | None:
    """The budget approved against the disbursed, once a budget is approved (None before: a budget
    submitted or returned is no ceiling yet)."""
    budget = state.budget
    if budget is None or budget.status != BudgetStatus.APPROVED:
        return None
    approved, disbursed = budget.amount_vnd, budget.disbursed_vnd
    pending = budget.pending_amendment
    return Spending(approved_vnd=approved, disbursed_vnd=disbursed, remaining_vnd=max(approved - disbursed, 0),
                    share=round(min(disbursed / approved, 1.0), 4) if approved > 0 else 0.0,
                    pending_vnd=pending.amount_vnd if pending is not None else None,
                    disbursements=[Disbursement(at=report.at, total_vnd=report.disbursed_vnd)
                                   for report in state.progress
                                   if report.disbursed_vnd is not None and not report.contribution])


def days_late(moment: datetime, deadline: datetime) -> int:
    """Whole days after the deadline, a part of a day counting as one (0: on time)."""
    return math.ceil((moment - deadline) / _DAY) if moment > deadline else 0


def days_early(moment: datetime, deadline: datetime) -> int:
    """Whole days to spare before the deadline (0: late, or less than a day to spare)."""
    return math.floor((deadline - moment) / _DAY) if moment <= deadline else 0


class Timeliness(BaseModel):
    """A completed task's delivery against its deadline, and against the one first assigned when an
    extension (or a correction) moved it."""

    delivered_at: datetime
    deadline: datetime
    late: bool
    days_late: int
    days_early: int
    original_deadline: datetime | None  # only when it differs from the deadline
    days_late_original: int  # against the original deadline (0: on time by it too)


def timeliness(state: TaskState) -> Timeliness | None:
    """On time or late, and by how much, for a completed task with a deadline (None otherwise). The
    lead delivered when it submitted the evidence approved: the review's time is not held against
    it (as `late` in domain/lifecycle.py)."""
    delivered, deadline = state.delivered_at, state.deadline
    if state.stage != Stage.COMPLETED or delivered is None or deadline is None:
        return None
    original = state.original_deadline if state.original_deadline not in (None, deadline) else None
    return Timeliness(delivered_at=delivered, deadline=deadline, late=delivered > deadline,
                      days_late=days_late(delivered, deadline), days_early=days_early(delivered, deadline),
                      original_deadline=original,
                      days_late_original=days_late(delivered, original) if original is not None else 0)
