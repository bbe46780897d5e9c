"""The status classes report ("tình trạng thực hiện nhiệm vụ"): how many tasks stand in each class of
domain/status.py now, whose delay holds up the overdue ones, and, asked for, which tasks they are —
for a period, a lead agency, a group of agencies, a directive, a head accountable, or any of these
together.

Who reads it: whoever reads every task (the Committee, its Office, auditors, finance reviewers), any
report; a person of an agency, its own agency's (`agency` naming theirs), counted over the tasks they
may read; anyone else is refused (403). A sub-task is counted in no report: the agency leading the
task it was split from answers for it, as in the agency index and the quarterly publication.

It reads the projection (each task's state) and counts in Python, one row at a time as the rows
stream in: a request holds the counts, and with `details` the lines of the tasks it selected, never
the states themselves. SQL selects (period, agency, group, directive, what the person may read); the
state decides the rest (the period exactly, the head accountable, the class). Issue 14 will move the
counting into SQL."""

from datetime import UTC, datetime

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import models, states
from db.projection import NO_DEADLINE
from domain.actors import Actor
from domain.periods import Period
from domain.refusals import Code, Refusal
from domain.status import PERIODIC, StatusLines, StatusTally, in_period
from domain.task import TaskState
from services import authorization, tasks
from services.context import Context
from services.views import TaskFilter

_ROWS = 500  # rows fetched from the database at a time


class StatusFilter(BaseModel):
    """Which tasks the report counts: any left empty does not filter."""

    agency: str | None = Field(default=None, description="the lead agency's code")
    group: str | None = Field(default=None, description="an agency group's code (GET /api/v1/agency-groups): "
                              "the tasks its members lead, and the tasks of directives addressed to it")
    document: str | None = Field(default=None, description="the source directive's number")
    accountable: str | None = Field(default=None, description="the head accountable now (a username)")


class StatusReport(StatusTally, StatusFilter):
    """The status classes of the tasks selected, the filters that selected them, and the period."""

    period: str | None = Field(default=None, description="the period counted (null: every task, whenever due)")


def may_read(ctx: Context, actor: Actor, chosen: StatusFilter) -> None:
    """Whoever reads every task reads any report; a person of an agency, its own agency's."""
    if authorization.may_on_any_task(ctx.enforcer, actor, "task.read"):
        return
    if actor.agency is None or chosen.agency != actor.agency:
        raise Refusal(Code.NOT_PERMITTED, username=actor.username, action="task.read")


async def report(ctx: Context, actor: Actor, chosen: StatusFilter, period: Period | None = None,
                 details: bool = False, now: datetime | None = None) -> StatusReport:
    """The classes of the tasks the filters select, judged at `now` (tests give one; due soon: within
    NQ57_DUE_SOON of it); with `details`, each class's tasks by deadline. `period`: the tasks
    domain/status.py counts in it (`in_period`). An unknown group is refused (404)."""
    may_read(ctx, actor, chosen)
    now = now or datetime.now(UTC)
    counted = StatusReport(**chosen.model_dump(), period=period.label if period else None,
                           tasks=StatusLines() if details else None)
    # The person's tasks of the directive, selected as the task list selects them (by deadline).
    query = tasks.selection(ctx, actor, TaskFilter(document=chosen.document))
    if not details:
        query = query.order_by(None)  # counting needs no order
    if chosen.agency:
        query = query.where(models.Task.lead_agency == chosen.agency)
    if period is not None:
        query = query.where(_may_fall_in(period))
    async with ctx.sessions() as session:
        if chosen.group:
            query = query.where(await _of_group(session, chosen.group))
        async for state in states.stream(session, query, _ROWS):
            if _counted(state, chosen, period):
                counted.add(state, now, ctx.settings.due_soon)
    return counted


def _counted(state: TaskState, chosen: StatusFilter, period: Period | None) -> bool:
    """What only the state knows: a sub-task is not counted, the period's exact rule, the head now."""
    return (state.parent is None and (period is None or in_period(state, period))
            and (chosen.accountable is None or state.accountable_person == chosen.accountable))


def _may_fall_in(period: Period) -> ColumnElement[bool]:
    """In SQL, the tasks `in_period` may count (it decides each): those whose original deadline falls
    in the period, and those that run through periods (periodic, or without a deadline) assigned
    before it ends."""
    deadline = models.Task.original_deadline
    running = or_(models.Task.state["spec"]["kind"].as_string().in_([kind.value for kind in PERIODIC]),
                  deadline == NO_DEADLINE)
    return or_(and_(deadline >= period.start, deadline < period.end),
               and_(running, models.Task.created_at < period.end))


async def _of_group(session: AsyncSession, code: str) -> ColumnElement[bool]:
    """The tasks of an agency group: led by its members, or made from a directive addressed to it
    (a member's task the Committee has since given to another agency stays the group's)."""
    group = await session.get(models.AgencyGroup, code)
    if group is None:
        raise Refusal(Code.GROUP_NOT_FOUND, group=code)
    directives = await session.scalars(select(models.TaskGroup.children).where(models.TaskGroup.agency_group == code))
    children = [child for listed in directives for child in listed]
    return or_(models.Task.lead_agency.in_(group.members), models.Task.code.in_(children))
