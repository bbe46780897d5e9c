"""Quarterly publication ("định kỳ hằng quý công bố, công khai"): the Standing Office publishes a
quarter once it has ended, and the whole quarterly picture is frozen as it stands at that moment —
the status classes per lead agency, the cross-check results of every task completed, and the agency
index. What the public reads afterwards is the frozen copy: later changes to tasks never reach it,
and there is no route to change or withdraw it.

The quarter's tasks are those domain/status.py counts in it (`in_period`: the original deadline falls
in it), not cancelled, and not sub-tasks: the lead of the task above answers for a part handed down.
Nothing published names a person (no publisher, reviewer or head) and no budget line or finding."""

import re
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from db import models, states
from domain.actors import Actor
from domain.periods import YEAR_PATTERN, Period, parse_period
from domain.refusals import Code, Refusal
from domain.results import kpi_achievement
from domain.stages import Stage
from domain.status import StatusCounts, counts, in_period
from domain.task import Direction, Outcome, TaskKind, TaskState
from services import authorization
from services.context import Context
from services.reports import index_rows
from services.views import IndexRow

_QUARTER = re.compile(rf"^\s*({YEAR_PATTERN})-[Qq]([1-4])\s*$")  # the years a period may name
# The kinds recorded in a task's spec (a one-off's is left out of it: domain/task.py); a task of these
# may have no original deadline, and counts in the quarters it runs through.
_OTHER_KINDS = [kind.value for kind in TaskKind if kind != TaskKind.ONE_OFF]


# --- what a publication says --------------------------------------------------------------------


class PublicationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    period: str = Field(max_length=16, description="a quarter that has ended, e.g. 2026-Q1",
                        json_schema_extra={"pattern": _QUARTER.pattern})  # checked by `quarter`, with its code


class AgencyStatus(StatusCounts):
    agency: str
    agency_name: str


class KpiResult(BaseModel):
    """One KPI of a completed task: its target and the result the cross-check confirmed."""

    name: str
    unit: str
    target: float
    baseline: float | None
    direction: Direction
    result: float | None = Field(description="the figure the cross-check confirmed (null: none)")
    achievement: float | None = Field(description="0..1, domain/results.py (null without a result)")


class CrossCheckLine(BaseModel):
    """A task completed in the quarter, as its cross-check judged it: "hoàn thành, đạt chỉ tiêu" (met),
    "hoàn thành, không đạt chỉ tiêu" (not met), and whether the product is usable."""

    code: str
    title: str
    lead_agency: str
    outcome: Outcome | None = Field(description="met or not_met (null: completed before outcomes were kept)")
    usable: bool | None
    achievement: float | None = Field(description="0..1 (null: a task without KPIs)")
    late: bool
    kpis: list[KpiResult]


class Publication(BaseModel):
    """A published quarter as everyone reads it, without login."""

    period: str
    published_at: datetime
    agencies: list[AgencyStatus] = Field(description="status classes per lead agency, by agency code")
    totals: StatusCounts = Field(description="the status classes over all agencies")
    results: list[CrossCheckLine] = Field(description="the cross-check results of the tasks completed")
    index: list[IndexRow] = Field(description="the agency index of the quarter")


class PublicationOut(Publication):
    """What the Standing Office is answered when it publishes."""

    published_by: str


class PublishedQuarter(BaseModel):
    period: str
    published_at: datetime


# --- the snapshot: pure, from the tasks' states -------------------------------------------------


def counted(state: TaskState, quarter: Period) -> bool:
    """Whether the quarter's publication counts the task: in the quarter, not cancelled, not a part."""
    return state.parent is None and state.stage != Stage.CANCELLED and in_period(state, quarter)


def cross_check_line(state: TaskState) -> CrossCheckLine:
    kpis = []
    for kpi in state.spec.kpis:
        result = state.confirmed_results.get(kpi.name)
        kpis.append(KpiResult(name=kpi.name, unit=kpi.unit, target=kpi.target, baseline=kpi.baseline,
                              direction=kpi.direction, result=result,
                              achievement=None if result is None else kpi_achievement(kpi, result)))
    return CrossCheckLine(code=state.code, title=state.spec.title, lead_agency=state.lead_agency,
                          outcome=state.outcome, usable=state.usable, achievement=state.achievement,
                          late=state.late, kpis=kpis)


def snapshot(states: list[TaskState], names: dict[str, str], now: datetime, due_soon: timedelta,
             ) -> tuple[list[AgencyStatus], StatusCounts, list[CrossCheckLine]]:
    """The status classes per lead agency and over all (due soon: within `due_soon` of `now`), and
    one line per completed task."""
    by_agency: dict[str, list[TaskState]] = {}
    for state in states:
        by_agency.setdefault(state.lead_agency, []).append(state)
    agencies = [AgencyStatus(agency=agency, agency_name=names.get(agency, agency),
                             **dict(counts(led, now, due_soon)))
                for agency, led in sorted(by_agency.items())]
    totals = counts(states, now, due_soon)
    results = [cross_check_line(state) for state in sorted(states, key=lambda s: (s.lead_agency, s.code))
               if state.stage == Stage.COMPLETED]
    return agencies, totals, results


# --- publishing and reading ------------------------------------------------------------------------


def quarter(text: str, ctx: Context) -> Period:
    """`2026-Q1` (or `2026-q1`) in the system's time zone; anything else is not a quarter."""
    if not _QUARTER.match(text):
        raise Refusal(Code.PUBLICATION_NOT_A_QUARTER, field="period", period=text)
    try:
        return parse_period(text, ctx.settings.timezone)
    except ValueError:  # 9999-Q4 ends past the calendar (domain/periods.py, LAST_YEAR)
        raise Refusal(Code.PERIOD_INVALID, field="period", period=text) from None


async def publish(ctx: Context, actor: Actor, text: str, now: datetime | None = None) -> PublicationOut:
    """Freeze a quarter that has ended, once. `now` is the moment of publication (tests give one)."""
    authorization.require(ctx.enforcer, actor, "ranking.publish")
    chosen = quarter(text, ctx)
    now = now or datetime.now(UTC)
    if now < chosen.end:
        raise Refusal(Code.PERIOD_NOT_ENDED, field="period", period=chosen.label)
    async with ctx.sessions() as session:
        if await session.get(models.Publication, chosen.label) is not None:
            raise Refusal(Code.ALREADY_PUBLISHED, period=chosen.label)
        found = await states.read(session, select(models.Task).where(or_(
            (models.Task.original_deadline >= chosen.start) & (models.Task.original_deadline < chosen.end),
            models.Task.state["spec"]["kind"].as_string().in_(_OTHER_KINDS))))
        period_states = [state for state in found if counted(state, chosen)]
        names = dict((await session.execute(select(models.Agency.code, models.Agency.name))).all())
        agencies, totals, results = snapshot(period_states, names, now, ctx.settings.due_soon)
        published = PublicationOut(period=chosen.label, published_at=now, published_by=actor.username,
                                   agencies=agencies, totals=totals, results=results,
                                   index=await index_rows(session, chosen))
        frozen = published.model_dump(mode="json", include={"agencies", "totals", "results", "index"})
        session.add(models.Publication(period=chosen.label, published_at=now, published_by=actor.username,
                                       snapshot=frozen))
        try:
            await session.commit()
        except IntegrityError:  # published by someone else meanwhile
            await session.rollback()
            raise Refusal(Code.ALREADY_PUBLISHED, period=chosen.label) from None
    return published


async def published_quarters(ctx: Context) -> list[PublishedQuarter]:
    """The quarters published, the latest first."""
    async with ctx.sessions() as session:
        rows = await session.execute(select(models.Publication.period, models.Publication.published_at)
                                     .order_by(models.Publication.period.desc()))
        return [PublishedQuarter(period=period, published_at=at) for period, at in rows.all()]


async def published(ctx: Context, text: str) -> Publication:
    """A published quarter, exactly as it was frozen; anything else (not a quarter, not published) is
    not found."""
    label = f"{match.group(1)}-Q{match.group(2)}" if (match := _QUARTER.match(text)) else None
    async with ctx.sessions() as session:
        row = await session.get(models.Publication, label) if label else None
    if row is None:
        raise Refusal(Code.PUBLICATION_NOT_FOUND, period=text)
    return Publication(period=row.period, published_at=row.published_at, **row.snapshot)
