"""Deadlines that lapse climb a ladder: level 1 (the lead agency), 2 (the Standing Office),
3 (the Steering Committee), at the offsets of NQ57_ESCALATION_STEPS after the deadline.

Every open deadline of a task has its own ladder, keyed by what it is and when it falls due, so
an extension (a new due time) starts a fresh ladder and clears the old one. Pure functions: the
workflow calls them with `workflow.now()` and sleeps until `next_wake`."""

import calendar
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from domain.events import SYSTEM_ACTOR, Event
from domain.stages import Stage
from domain.task import Reporting, TaskState

LEVEL_AUDIENCE_VI = {1: "cơ quan chủ trì", 2: "Cơ quan Thường trực", 3: "Ban Chỉ đạo"}
DEADLINE_KINDS_VI = {
    "accept": "hạn tiếp nhận nhiệm vụ",
    "budget": "hạn đăng ký kinh phí",
    "deadline": "hạn hoàn thành nhiệm vụ",
    "rework": "hạn khắc phục sau kiểm tra chéo",
    "review": "hạn kiểm tra chéo",
    "report": "hạn báo cáo định kỳ",
}
_BEFORE_CROSS_CHECK = frozenset({Stage.ASSIGNED, Stage.BUDGET_REGISTRATION, Stage.BUDGET_REVIEW, Stage.IN_PROGRESS})


class OpenDeadline(BaseModel):
    kind: str
    due: datetime

    @property
    def key(self) -> str:
        return f"{self.kind}@{self.due.isoformat()}"


class Escalation(BaseModel):
    """One rise of one ladder: what the `escalated` event records."""

    kind: str
    due: datetime
    level: int


def open_deadlines(state: TaskState) -> list[OpenDeadline]:
    """The deadlines that bind the task in its present stage."""
    rules = state.settings
    found: list[OpenDeadline] = []
    if state.stage == Stage.ASSIGNED:
        found.append(OpenDeadline(kind="accept", due=state.created_at + rules.accept_sla))
    if state.stage == Stage.BUDGET_REGISTRATION and state.accepted_at is not None:
        since = max(moment for moment in (state.accepted_at, state.budget_returned_at) if moment is not None)
        found.append(OpenDeadline(kind="budget", due=since + rules.budget_sla))
    if state.stage in _BEFORE_CROSS_CHECK:
        found.append(OpenDeadline(kind="deadline", due=state.deadline))
    if state.stage == Stage.IN_PROGRESS and state.rework_deadline is not None:
        found.append(OpenDeadline(kind="rework", due=state.rework_deadline))
    if state.stage == Stage.CROSS_CHECK and state.reviewer is not None and state.reviewer_assigned_at is not None:
        found.append(OpenDeadline(kind="review", due=state.reviewer_assigned_at + rules.review_sla))
    if state.stage == Stage.IN_PROGRESS and state.spec.reporting != Reporting.NONE:
        # Time in cross-check, where no report can be filed, does not count against the lead.
        anchor = max((m for m in (state.last_report_at, state.in_progress_since) if m is not None),
                     default=state.created_at)
        found.append(OpenDeadline(kind="report",
                                  due=next_report_due(anchor, state.spec.reporting, rules.timezone)))
    return found


def next_report_due(anchor: datetime, reporting: Reporting, timezone: str) -> datetime:
    """A report covers a month (or quarter): after one filed in March, the next is due by the
    end of April (of the next quarter)."""
    local = anchor.astimezone(ZoneInfo(timezone))
    months = 1 if reporting == Reporting.MONTHLY else 3
    period_start = local.month if months == 1 else ((local.month - 1) // 3) * 3 + 1
    last_month = period_start + 2 * months - 1  # the last month of the following period
    year, month = local.year + (last_month - 1) // 12, (last_month - 1) % 12 + 1
    day = date(year, month, calendar.monthrange(year, month)[1])
    return datetime.combine(day, time(23, 59, 59), ZoneInfo(timezone))


def _reached(deadline: OpenDeadline, state: TaskState, now: datetime) -> int:
    return sum(1 for offset in state.settings.escalation_steps if deadline.due + offset <= now)


def due_escalations(state: TaskState, now: datetime) -> list[Escalation]:
    """Every level each ladder has reached by now and not yet recorded, lowest first. A task
    created long after its deadline rises through each level at once."""
    rises = []
    for deadline in open_deadlines(state):
        recorded = state.ladders.get(deadline.key, 0)
        rises += [Escalation(kind=deadline.kind, due=deadline.due, level=level)
                  for level in range(recorded + 1, _reached(deadline, state, now) + 1)]
    return sorted(rises, key=lambda rise: (rise.level, rise.due))


def refresh(state: TaskState, now: datetime) -> None:
    """`overdue` and `escalation_level` follow from the open deadlines: a ladder whose deadline no
    longer binds (accepted, extended, completed) stops counting, but is kept, so the same deadline
    binding again (rework after a rejected cross-check) does not escalate twice."""
    open_now = open_deadlines(state)
    state.overdue = any(deadline.due <= now for deadline in open_now)
    state.escalation_level = max((state.ladders.get(d.key, 0) for d in open_now), default=0)


def escalate(state: TaskState, rise: Escalation, now: datetime) -> tuple[TaskState, Event]:
    """The state after one rise, and the `escalated` event that records it."""
    new = state.model_copy(deep=True)
    key = OpenDeadline(kind=rise.kind, due=rise.due).key
    new.ladders[key] = max(new.ladders.get(key, 0), rise.level)
    refresh(new, now)
    new.seq += 1
    new.updated_at = now
    data = {**rise.model_dump(mode="json"), "audience": LEVEL_AUDIENCE_VI[rise.level],
            "lead_agency": new.lead_agency, "days_late": (now - rise.due).days}
    return new, Event(seq=new.seq, type="escalated", actor=SYSTEM_ACTOR, at=now, data=data)


def notice_text(state: TaskState, rise: Escalation) -> tuple[str, str]:
    """Subject and body of what the people at this level are told (Vietnamese)."""
    what = DEADLINE_KINDS_VI[rise.kind]
    subject = f"[NQ57] Cảnh báo cấp {rise.level}: nhiệm vụ {state.code} quá {what}"
    body = (f"Nhiệm vụ {state.code} — {state.spec.title}\n"
            f"Cơ quan chủ trì: {state.lead_agency}\n"
            f"Đã quá {what} ({rise.due.isoformat()}); cảnh báo cấp {rise.level} gửi {LEVEL_AUDIENCE_VI[rise.level]}.\n")
    return subject, body


def next_wake(state: TaskState) -> datetime | None:
    """When the next ladder rises, if nothing else happens first."""
    steps = state.settings.escalation_steps
    times = [deadline.due + steps[state.ladders.get(deadline.key, 0)]
             for deadline in open_deadlines(state) if state.ladders.get(deadline.key, 0) < len(steps)]
    return min(times, default=None)
