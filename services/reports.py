"""What the projection tells about many tasks at once: a person's inbox and notifications, the
overdue list, the agency index and its published snapshots, the public's view ("ba công khai")."""

import operator
from datetime import UTC, datetime
from typing import cast

from casbin import AsyncEnforcer
from sqlalchemy import Integer, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db import models, states
from db.index_data import index_tasks
from domain import limits
from domain.actors import Actor, Role
from domain.agency_index import agency_index
from domain.escalation import Owner, open_deadlines, owner_of, running_for
from domain.lifecycle import awaited_actions
from domain.periods import Period, parse_period
from domain.refusals import Code, Refusal
from domain.stages import OPEN_STAGES, Stage
from domain.status import StatusClass
from domain.task import TaskKind, TaskState
from services import authorization, status, tasks
from services.context import Context
from services.status import StatusFilter
from services.views import (
    Dashboard,
    DeadlineView,
    Headline,
    InboxItem,
    IndexRow,
    NotificationOut,
    OverdueItem,
    PublicRanking,
    PublicTask,
    PublicTaskPage,
    PublishedPeriod,
    RankingSnapshotOut,
    TaskView,
    answer_text,
)

INBOX_LIMIT = 200  # the most urgent first; the rest wait their turn
_open_deadlines = states.ByState(open_deadlines)

# --- a person's own -------------------------------------------------------------------------------


async def inbox(ctx: Context, actor: Actor, limit: int = INBOX_LIMIT) -> list[InboxItem]:
    """Tasks that wait for an action of mine, and open tasks I was alerted about (an escalation
    addressed to me and not yet read: chasing it is my job); the most urgent first, at most `limit`.
    However large the program, the `limit` most urgent of each kind of work I may take, read off one
    index (services/authorization.py `awaiting_me`), then those tasks alone."""
    return [item for item, _ in _items(ctx.enforcer, actor, limit, *await _read(ctx, actor, limit))]


async def inbox_json(ctx: Context, actor: Actor, limit: int = INBOX_LIMIT) -> bytes:
    """`inbox` as the API answers it (a JSON array of InboxItem): each item's text made with the item,
    and the whole answer made once while its tasks' states, this person's unread alerts and the policy
    stay. An inbox read again unchanged is the very same bytes, which the API then compresses once
    (api/compression.py `answer`): a head's inbox of 200 is about 250 KB of JSON."""
    found, unread = await _read(ctx, actor, limit)
    last: list[tuple[list[TaskState], dict[str, list[NotificationOut]], bytes]] = ctx.enforcer.remembered(
        "answers", ("inbox", actor.username, actor.agency, *actor.roles, limit), list)
    if last and _same(last[0][0], found) and last[0][1] == unread:
        return last[0][2]
    text = b"[" + b",".join(text for _, text in _items(ctx.enforcer, actor, limit, found, unread)) + b"]"
    last[:] = [(found, unread, text)]  # one assignment: a reader sees the old answer or the new one
    return text


def _same(kept: list[TaskState], found: list[TaskState]) -> bool:
    """The same states (`db/states.py` hands out one state per version of a row while it keeps it)."""
    return len(kept) == len(found) and all(map(operator.is_, kept, found))


async def _read(ctx: Context, actor: Actor, limit: int) -> tuple[list[TaskState], dict[str, list[NotificationOut]]]:
    """The states of the tasks this person's inbox may show, the most urgent first, and their unread
    alerts by task."""
    unread: dict[str, list[NotificationOut]] = {}
    async with ctx.sessions() as session:
        for note in await session.scalars(select(models.Notification).where(
                models.Notification.username == actor.username, models.Notification.read_at.is_(None))
                .order_by(models.Notification.id.desc()).limit(limits.NOTIFICATIONS)):
            unread.setdefault(note.task_code, []).append(NotificationOut.model_validate(note))
        dialect = (await session.connection()).dialect.name
        found = await states.read_kept(session, _waiting(ctx.enforcer, actor, limit, dialect),
                                       {"alerted": [*unread], "shown": limit + len(unread)})
    return found, unread


def _items(enforcer: AsyncEnforcer, actor: Actor, limit: int, found: list[TaskState],
           unread: dict[str, list[NotificationOut]]) -> list[tuple[InboxItem, bytes]]:
    """The inbox's items and their JSON: of the open tasks found, the first `limit` that wait for this
    person or that they were alerted about, each with its alerts."""
    shown = []
    for state in [state for state in found if state.stage in OPEN_STAGES][:limit]:
        made, alerts = inbox_item(enforcer, actor, state), unread.get(state.code, [])
        if made is None or not (made[0].to_do or alerts):
            continue
        if alerts:  # an item of its own, with its alerts
            alerted = made[0].model_copy(update={"notifications": alerts})
            made = alerted, answer_text(alerted)
        shown.append(made)
    return shown


def _waiting(enforcer: AsyncEnforcer, actor: Actor, limit: int, dialect: str) -> states.Kept:
    """The codes and versions (with their urgency) of the tasks most urgently waiting for this person
    (`awaiting_me`, read off the inbox rows alone, which carry their tasks' urgency and version) and of
    those the parameter `alerted` names (their tasks' rows, each looked up by its code), the most
    urgent first, each task once, as `states.read_kept` reads them: the first `shown` of them, which
    is `limit` and as many as are alerted (an alerted task may have closed, and the inbox then shows
    the next). One statement, built once per person, limit and database while the policy stays."""
    def built() -> states.Kept:
        task = models.Task
        alerted = select(*authorization.inbox_columns(
            task.code, task.version, task.overdue, task.escalation_level, task.deadline)).where(
            task.code.in_(bindparam("alerted", expanding=True)))
        awaited = authorization.awaiting_me(enforcer, actor, limit, dialect)
        return authorization.most_urgent([*awaited, alerted], bindparam("shown", type_=Integer))
    return cast(states.Kept, enforcer.remembered("query", ("inbox", actor.username, actor.agency, limit, dialect),
                                                 built))


def inbox_item(enforcer: AsyncEnforcer, actor: Actor, state: TaskState) -> tuple[InboxItem, bytes] | None:
    """The task as this person's inbox shows it (its alerts aside) and its JSON, or None where they may
    not read it (a policy that lets one act on a task it hides shows it not). Made once per state and
    person while the policy stays: an inbox read again makes them only for the tasks that moved."""
    def made() -> tuple[TaskState, tuple[InboxItem, bytes] | None]:
        if not authorization.reads(enforcer, actor, state):
            return state, None
        actions = authorization.permitted_actions(enforcer, actor, state)
        running = running_for(state, _owners(actor, state), _open_deadlines(state))
        item = InboxItem.of(
            state, actions=actions, to_do=[action for action in actions if action in awaited_actions(state)],
            notifications=[], returned=InboxItem.returned_of(state),
            running=DeadlineView(kind=running.kind, due=running.due, level=state.ladders.get(running.key, 0),
                                 owner=owner_of(running.kind)) if running else None)
        return state, (item, answer_text(item))
    # The state is kept beside its item, so its id is not another's while the item is remembered.
    kept = enforcer.remembered("inbox", (id(state), actor.username, actor.agency, *actor.roles), made)
    return cast(tuple[InboxItem, bytes] | None, kept[1])


def _owners(actor: Actor, state: TaskState) -> set[Owner]:
    """Which holders of a task this person is: its lead agency's, its reviewer, a finance reviewer,
    the Standing Office."""
    found = {Owner.LEAD} if actor.agency == state.lead_agency else set()
    found |= {Owner.REVIEWER} if actor.username == state.reviewer else set()
    found |= {Owner.FINANCE} if Role.FINANCE_REVIEWER in actor.roles else set()
    return found | ({Owner.OFFICE} if Role.STEERING_OFFICE in actor.roles else set())


async def open_tasks_by_stage(ctx: Context) -> dict[Stage, int]:
    """How many open tasks stand at each open stage now, as the projection has them (for the
    operators' metrics: no one's view, no policy)."""
    async with ctx.sessions() as session:
        counted = dict((await session.execute(select(models.Task.stage, func.count()).where(
            models.Task.stage.in_([stage.value for stage in OPEN_STAGES])).group_by(models.Task.stage))).all())
    return {stage: counted.get(stage.value, 0) for stage in sorted(OPEN_STAGES)}


async def notifications(ctx: Context, actor: Actor, unread: bool, limit: int) -> list[NotificationOut]:
    query = select(models.Notification).where(models.Notification.username == actor.username)
    if unread:
        query = query.where(models.Notification.read_at.is_(None))
    async with ctx.sessions() as session:
        rows = await session.scalars(query.order_by(models.Notification.id.desc()).limit(limit))
        return [NotificationOut.model_validate(row) for row in rows]


async def unread_count(ctx: Context, actor: Actor) -> int:
    """How many alerts this person has not read yet (the count in every page's header)."""
    async with ctx.sessions() as session:
        counted = await session.scalar(select(func.count()).select_from(models.Notification).where(
            models.Notification.username == actor.username, models.Notification.read_at.is_(None)))
        return counted or 0


async def mark_all_read(ctx: Context, actor: Actor) -> int:
    """Every unread alert of this person marked read; how many were."""
    async with ctx.sessions() as session:
        done = await session.execute(update(models.Notification).where(
            models.Notification.username == actor.username, models.Notification.read_at.is_(None))
            .values(read_at=datetime.now(UTC)))
        await session.commit()
        return int(getattr(done, "rowcount", 0) or 0)


async def mark_read(ctx: Context, actor: Actor, notification_id: int) -> NotificationOut:
    async with ctx.sessions() as session:
        row = await session.get(models.Notification, notification_id)
        if row is None or row.username != actor.username:
            raise Refusal(Code.NOTIFICATION_NOT_FOUND, id=notification_id)
        row.read_at = row.read_at or datetime.now(UTC)
        await session.commit()
        return NotificationOut.model_validate(row)


# --- the overdue list and the index ------------------------------------------------------------------


def overdue_item(state: TaskState, now: datetime) -> OverdueItem:
    lapsed = [DeadlineView(kind=d.kind, due=d.due, level=state.ladders.get(d.key, 0))
              for d in open_deadlines(state) if d.due <= now]
    earliest = min((d.due for d in lapsed), default=state.deadline or now)
    return OverdueItem(code=state.code, title=state.spec.title, lead_agency=state.lead_agency, stage=state.stage,
                       deadline=state.deadline, days_late=max((now - earliest).days, 0),
                       escalation_level=state.escalation_level, lapsed=lapsed)


async def overdue(ctx: Context, actor: Actor) -> list[OverdueItem]:
    """Open tasks past a deadline that this person may read, most escalated first, then the longest
    late; the lead agency answers."""
    query = authorization.readable_tasks(ctx.enforcer, actor).where(
        models.Task.overdue.is_(True), models.Task.stage.in_([stage.value for stage in OPEN_STAGES]))
    now = datetime.now(UTC)
    async with ctx.sessions() as session:
        items = [overdue_item(state, now) for state in await states.read(session, query)]
    return sorted(items, key=lambda item: (-item.escalation_level, -item.days_late, item.code))


async def deadline_pending(ctx: Context, actor: Actor) -> list[TaskView]:
    """Open tasks whose deadline is still to be set, that this person may read, the longest waiting
    first: listed apart from the overdue list and due in no period of the index, until the Standing
    Office sets each one (`correct` with a deadline)."""
    query = authorization.readable_tasks(ctx.enforcer, actor).where(
        models.Task.state["spec"]["kind"].as_string() == TaskKind.DEADLINE_PENDING.value,
        models.Task.stage.in_([stage.value for stage in OPEN_STAGES]))
    async with ctx.sessions() as session:
        found = await states.read(session, query.order_by(models.Task.created_at, models.Task.code))
        return [TaskView.of(state) for state in found]


async def overdue_by_agency(ctx: Context) -> dict[str, dict[int, int]]:
    """Open overdue tasks per lead agency and escalation level (the Committee's dashboard)."""
    async with ctx.sessions() as session:
        rows = (await session.execute(
            select(models.Task.lead_agency, models.Task.escalation_level, func.count())
            .where(models.Task.overdue.is_(True), models.Task.stage.in_([s.value for s in OPEN_STAGES]))
            .group_by(models.Task.lead_agency, models.Task.escalation_level))).all()
    found: dict[str, dict[int, int]] = {}
    for agency, level, count in rows:
        found.setdefault(agency, {})[level] = count
    return found


def period(text: str, ctx: Context) -> Period:
    """`2026`, `2026-Q1` or `2026-03`, in the system's time zone."""
    try:
        return parse_period(text, ctx.settings.timezone)
    except ValueError:
        raise Refusal(Code.PERIOD_INVALID, field="period", period=text) from None


def current_quarter(ctx: Context) -> Period:
    now = datetime.now(UTC)
    return parse_period(f"{now.year}-Q{(now.month - 1) // 3 + 1}", ctx.settings.timezone)


async def index(ctx: Context, chosen: Period) -> list[IndexRow]:
    async with ctx.sessions() as session:
        return await index_rows(session, chosen)


async def index_rows(session: AsyncSession, chosen: Period) -> list[IndexRow]:
    names = dict((await session.execute(select(models.Agency.code, models.Agency.name))).all())
    now = datetime.now(UTC)
    rows = agency_index(await index_tasks(session, chosen, now), now)
    return [IndexRow(**row.model_dump(), agency_name=names.get(row.agency, row.agency)) for row in rows]


async def dashboard(ctx: Context, actor: Actor, text: str, shown: str = "") -> Dashboard:
    """For whoever reads every task; a period that does not parse shows the current quarter. The
    period's status classes, and the tasks of the class `shown` (a count's drill-down; anything else
    shows none)."""
    if not authorization.may_on_any_task(ctx.enforcer, actor, "task.read"):
        raise Refusal(Code.FORBIDDEN)
    try:
        chosen = period(text, ctx) if text else current_quarter(ctx)
    except Refusal:
        chosen = current_quarter(ctx)
    status_shown = StatusClass(shown) if shown in set(StatusClass) else None
    by_status = await status.report(ctx, actor, StatusFilter(), chosen, details=status_shown is not None)
    if not text and by_status.total == 0:  # opened on a quarter with nothing in it: the year instead
        chosen = parse_period(chosen.label[:4], ctx.settings.timezone)
        by_status = await status.report(ctx, actor, StatusFilter(), chosen, details=status_shown is not None)
    by_agency = await overdue_by_agency(ctx)
    async with ctx.sessions() as session:
        by_stage = dict((await session.execute(
            select(models.Task.stage, func.count()).group_by(models.Task.stage))).all())
        rows = await index_rows(session, chosen)
    return Dashboard(by_stage=by_stage, stage_top=max(by_stage.values(), default=1), overdue=by_agency,
                     index=rows, period=chosen.label, by_status=by_status, status_shown=status_shown,
                     overdue_top=max((sum(levels.values()) for levels in by_agency.values()), default=1),
                     can_publish=authorization.may(ctx.enforcer, actor, "ranking.publish")
                     and any(row.due for row in rows),
                     headline=Headline(tasks=by_status.total, on_time=by_status.completed_on_time,
                                       overdue=by_status.overdue, approved_vnd=sum(row.approved_vnd for row in rows),
                                       disbursed_vnd=sum(row.disbursed_vnd for row in rows)))


async def publish(ctx: Context, actor: Actor, text: str) -> RankingSnapshotOut:
    """The period's index, frozen and made public; a publication never changes."""
    authorization.require(ctx.enforcer, actor, "ranking.publish")
    chosen = period(text, ctx)
    async with ctx.sessions() as session:
        if await session.get(models.RankingSnapshot, chosen.label) is not None:
            raise Refusal(Code.ALREADY_PUBLISHED, period=chosen.label)
        rows = await index_rows(session, chosen)
        snapshot = models.RankingSnapshot(period=chosen.label, published_at=datetime.now(UTC),
                                          published_by=actor.username,
                                          rows=[row.model_dump(mode="json") for row in rows])
        session.add(snapshot)
        try:
            await session.commit()
        except IntegrityError:  # published by someone else meanwhile
            await session.rollback()
            raise Refusal(Code.ALREADY_PUBLISHED, period=chosen.label) from None
        return RankingSnapshotOut.model_validate(snapshot)


# --- the public's view: no login -----------------------------------------------------------------


async def public_tasks(ctx: Context, agency: str | None, stage: Stage | None, overdue: bool | None,
                       limit: int, offset: int) -> PublicTaskPage:
    query = select(models.Task)
    if agency:
        query = query.where(models.Task.code.in_(tasks.of_agency(agency)))
    if stage is not None:
        query = query.where(models.Task.stage == stage.value)
    if overdue is not None:
        query = query.where(models.Task.overdue == overdue)
    async with ctx.sessions() as session:
        total = await session.scalar(tasks.counting(query))
        found = await states.read(session, query.order_by(models.Task.deadline, models.Task.code)
                                  .limit(limit).offset(offset))
        return PublicTaskPage(items=[PublicTask.of(state) for state in found],
                              total=total or 0)


async def published_periods(ctx: Context) -> list[PublishedPeriod]:
    async with ctx.sessions() as session:
        rows = await session.scalars(select(models.RankingSnapshot).order_by(models.RankingSnapshot.period.desc()))
        return [PublishedPeriod(period=row.period, published_at=row.published_at) for row in rows]


async def published_ranking(ctx: Context, text: str) -> PublicRanking:
    async with ctx.sessions() as session:
        snapshot = await session.get(models.RankingSnapshot, period(text, ctx).label)
    if snapshot is None:
        raise Refusal(Code.RANKING_NOT_PUBLISHED, period=text)
    return PublicRanking(period=snapshot.period, published_at=snapshot.published_at,
                         rows=[IndexRow.model_validate(row) for row in snapshot.rows])
