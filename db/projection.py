"""Writes the workflows' events and state into the database. The workflow decides; this follows.

The key is (task, seq). A row that already holds the same event (same hash) is left alone, so a
retried activity or a replayed workflow neither doubles nor loses an event. A row that holds
another event was written by an attempt that never became durable: it is set apart in
`superseded_events` and replaced — unless a newer attempt (a higher fence) wrote it, in which case
this attempt is the stale one and writes nothing."""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Row, Select, String, Text, and_, bindparam, cast, delete, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from db import models
from db.states import parsed
from domain.actors import Relation
from domain.audit import GENESIS
from domain.events import RecordedEvent
from domain.lifecycle import awaiting
from domain.stages import OPEN_STAGES
from domain.task import TaskState
from domain.text import fold

_COLUMNS = ("task_code", "seq", "type", "actor", "at", "data", "request_id", "prev_hash", "hash", "fence")
# What the `deadline` and `original_deadline` columns (NOT NULL) hold for a task without a deadline's
# instant (standing, pending, recurring without a final one): far enough ahead that lists sorted by
# deadline show it last and no period of the index holds it. Only the columns hold it: the task's
# state (what every answer and page is made of) keeps None, and nothing shows the columns.
NO_DEADLINE = datetime(9999, 1, 1, tzinfo=UTC)
# The tables every recording writes, as tables: plain statements, no ORM objects.
_EVENTS, _TASKS, _TASK_AGENCIES, _INBOX = (models.Base.metadata.tables[name] for name in (
    "events", "tasks", "task_agencies", "inbox_rows"))
# Every statement a recording runs, built once: each run passes its values as parameters (building a
# statement and its cache key again for every event took a tenth of the worker's time).
_INSERT_EVENT, _INSERT_TASK, _INSERT_AGENCIES, _INSERT_INBOX = (insert(table) for table in (
    _EVENTS, _TASKS, _TASK_AGENCIES, _INBOX))
_UPDATE_TASK = update(_TASKS).where(_TASKS.c.code == bindparam("task"))
_DELETE_AGENCIES = delete(_TASK_AGENCIES).where(_TASK_AGENCIES.c.task_code == bindparam("task"))
_MOVE_AGENCIES = (update(_TASK_AGENCIES).where(_TASK_AGENCIES.c.task_code == bindparam("task"))
                  .values(deadline=bindparam("deadline")))
_DELETE_INBOX = delete(_INBOX).where(_INBOX.c.task_code == bindparam("task"))
_NAMES = (select(models.Agency.code, models.Agency.name, models.Agency.name_en)
          .where(models.Agency.code.in_(bindparam("codes", expanding=True))))


async def record_event(session: AsyncSession, state: TaskState, event: RecordedEvent, fence: int) -> bool:
    """Put the event in its place and bring the task row up to it. True when the row before it is
    the event this one chains to (the projection is in step with the workflow's log). Every
    recording runs this: one statement reads what it compares (`_held`), plain ones write, no ORM
    objects (a whole event row is read only when one is set apart)."""
    code = state.code
    connection = await session.connection()
    row, rows = await _read_held(connection, code, since=event.seq - 1)
    here = rows.get(event.seq)
    displaced = False
    if here is None or not _same(here, event):
        later = [line for seq, line in rows.items() if seq >= event.seq]
        if any(line.fence > fence for line in later):
            return True  # a newer attempt stands here: this one will never be durable
        if later:
            await _set_apart(session, list(await session.scalars(
                select(models.Event).where(models.Event.task_code == code, models.Event.seq >= event.seq))))
            displaced = True
        await connection.execute(_INSERT_EVENT, _values(code, event, fence))
    before = rows.get(event.seq - 1)
    in_step = before.hash == event.prev_hash if before is not None else event.prev_hash == GENESIS
    await _project_task(connection, state, fence, row, force=displaced)  # a displaced row's state goes too
    return in_step


def _held(events: bool) -> Select[Any]:
    """The task's row `:code`, what a recording compares of it (`code` NULL: there is none), on each
    of its events from `:since` on (or on one line of NULLs) when `events`: both in one statement."""
    key = select(cast(bindparam("code"), String).label("code")).subquery()
    task, event = _TASKS.c, _EVENTS.c
    held = key.outerjoin(_TASKS, task.code == key.c.code)
    columns = [task.code, task.fence.label("task_fence"), task.seq.label("task_seq"), task.search,
               cast(task.state, Text).label("state")]
    if not events:
        return select(*columns).select_from(held)
    return (select(*columns, event.seq, event.hash, event.prev_hash, event.request_id, event.fence)
            .select_from(held.outerjoin(_EVENTS, and_(event.task_code == key.c.code,
                                                      event.seq >= bindparam("since")))))


_HELD_WITH_EVENTS, _HELD = _held(True), _held(False)  # built once: every recording asks


async def _read_held(connection: AsyncConnection, code: str, since: int | None = None
                     ) -> tuple[Row[Any] | None, dict[int, Row[Any]]]:
    """The task's row as `_held` reads it (None: there is none), and its events from `since` on by seq
    (none asked when `since` is None)."""
    if since is None:
        found = (await connection.execute(_HELD, {"code": code})).all()
    else:
        found = (await connection.execute(_HELD_WITH_EVENTS, {"code": code, "since": since})).all()
    row = found[0] if found[0].code is not None else None  # the task's row, the same on every line
    return row, {line.seq: line for line in found if since is not None and line.seq is not None}


async def rebuild(session: AsyncSession, state: TaskState, events: Sequence[RecordedEvent], fence: int) -> int:
    """Make the task's rows exactly the workflow's events; the number of rows written or set apart."""
    code = state.code
    rows = {row.seq: row for row in await session.scalars(
        select(models.Event).where(models.Event.task_code == code))}
    # Rows the log holds in full are rewritten to match it; rows past its end were never recorded.
    # Rows it summarizes (earlier runs) or does not reach back to are left for audit to judge.
    wanted = {event.seq: event for event in events if event.data is not None}
    last = state.seq
    wrong = [row for seq, row in rows.items()
             if seq > last or (seq in wanted and not _same(row, wanted[seq]))]
    await _set_apart(session, wrong)
    missing = [event for event in wanted.values() if event.seq not in rows or rows[event.seq] in wrong]
    session.add_all(_row(code, event, fence) for event in missing)
    await session.flush()  # the events written, then the task's row, through the session's connection
    connection = await session.connection()
    await _project_task(connection, state, fence, (await _read_held(connection, code))[0], force=True)
    return len(wrong) + len(missing)


class _Chained(Protocol):
    hash: str
    prev_hash: str
    request_id: str | None


def _same(row: _Chained, event: RecordedEvent) -> bool:
    return row.hash == event.hash and row.prev_hash == event.prev_hash and row.request_id == event.request_id


def _values(code: str, event: RecordedEvent, fence: int) -> dict[str, Any]:
    """An event's row (db/models.py Event)."""
    assert event.data is not None, "a summarized event cannot be written"
    return {"task_code": code, "seq": event.seq, "type": event.type.value, "actor": event.actor, "at": event.at,
            "data": event.data, "request_id": event.request_id, "prev_hash": event.prev_hash, "hash": event.hash,
            "fence": fence}


def _row(code: str, event: RecordedEvent, fence: int) -> models.Event:
    return models.Event(**_values(code, event, fence))


async def _set_apart(session: AsyncSession, rows: Sequence[models.Event]) -> None:
    if not rows:
        return
    now = datetime.now(UTC)
    session.add_all(models.SupersededEvent(**{name: getattr(row, name) for name in _COLUMNS}, superseded_at=now)
                    for row in rows)
    await session.execute(delete(models.Event).where(models.Event.id.in_([row.id for row in rows])))
    await session.flush()


async def _search_text(connection: AsyncConnection, state: TaskState) -> str:
    names = (await connection.execute(_NAMES, {"codes": [state.lead_agency, *state.coordinating_agencies]})).all()
    return search_text(state, {code: (name, name_en) for code, name, name_en in names})


def search_text(state: TaskState, names: Mapping[str, tuple[str, str]]) -> str:
    """What a search finds the task by: its words and its agencies' names (`names`: an agency's code
    to its names in both languages)."""
    agencies = [state.lead_agency, *state.coordinating_agencies]
    return fold(" ".join([state.code, state.spec.title, state.spec.product,
                          *(name for code in agencies for name in names.get(code, ()))]))


def deadline_of(state: TaskState) -> datetime:
    """The task's deadline as its rows keep it (the task's, its agencies', its inbox rows'): one with
    none sorts last."""
    return state.deadline or NO_DEADLINE


def columns(state: TaskState) -> dict[str, Any]:
    """The task row's columns for this state (but its search text and fence)."""
    return {"title": state.spec.title, "lead_agency": state.lead_agency, "stage": state.stage.value,
            "deadline": deadline_of(state), "original_deadline": state.original_deadline or NO_DEADLINE,
            "overdue": state.overdue, "late": state.late, "escalation_level": state.escalation_level,
            "reviewer": state.reviewer, "officer": state.officer, "seq": state.seq,
            "updated_at": state.updated_at, "state": state.model_dump(mode="json")}


def _agencies(state: TaskState) -> list[tuple[str, Relation]]:
    """Which agencies stand in which relation to the task: each once, in the relation
    `domain.actors.relation_of` gives it (lead, then coordinating, above, directing)."""
    return ([(state.lead_agency, Relation.LEAD)]
            + [(code, Relation.COORDINATING) for code in state.coordinating_agencies]
            + [(code, Relation.ABOVE) for code in dict.fromkeys(state.overseers)
               if code != state.lead_agency and code not in state.coordinating_agencies]
            + [(code, Relation.DIRECTING) for code in [state.spec.directing_agency]
               if code and code != state.lead_agency and code not in state.coordinating_agencies
               and code not in state.overseers])


def agency_rows(state: TaskState) -> list[dict[str, Any]]:
    """The task's agencies (`_agencies`) as rows (db/models.py TaskAgency)."""
    return [{"task_code": state.code, "agency": code, "relation": relation.value,
             "deadline": deadline_of(state)} for code, relation in _agencies(state)]


# Who holds no part of a task (InboxRow.holder): anyone else, in the relation `other`.
ANYONE = ""


def inbox_rows(state: TaskState) -> list[dict[str, Any]]:
    """What the task waits for now and from which of its holders: the rows of db/models.py InboxRow.
    A recording rewrites them when the rows of its state differ from those of the state before
    (`_project_task`): a release that changes what they are made of (`awaiting`, `_agencies`) comes
    with a migration that empties the table, for `fill_in` to write them all again at start."""
    holders = [*_agencies(state), *([(state.reviewer, Relation.REVIEWER)] if state.reviewer else []),
               (ANYONE, Relation.OTHER)]
    urgency = {"overdue": state.overdue, "escalation_level": state.escalation_level,
               "deadline": deadline_of(state)}
    return [{"task_code": state.code, "action": action.value, "holder": holder, "relation": relation.value,
             "stage": state.stage.value, **urgency}
            for action in awaiting(state) for holder, relation in holders]


_INBOX_COLUMNS = ("action", "holder", "relation", "stage", "overdue", "escalation_level", "deadline")
_HELD_INBOX = select(*(_INBOX.c[name] for name in _INBOX_COLUMNS)).where(_INBOX.c.task_code == bindparam("task"))


async def _write_inbox_rows(connection: AsyncConnection, state: TaskState,
                            were: list[dict[str, Any]] | None = None) -> bool:
    """The task's inbox rows, rewritten only when they changed (most actions move the stage, an
    escalation its level); whether they did. `were`: the rows of the state the task's row held (they
    were written with it), else the rows are read. Plain rows, not ORM objects."""
    rows = inbox_rows(state)
    if were is None:
        held = [tuple(line) for line in (await connection.execute(_HELD_INBOX, {"task": state.code})).all()]
    else:
        held = [tuple(wanted[name] for name in _INBOX_COLUMNS) for wanted in were]
    if sorted(held) == sorted(tuple(wanted[name] for name in _INBOX_COLUMNS) for wanted in rows):
        return False
    if held:
        await connection.execute(_DELETE_INBOX, {"task": state.code})
    if rows:
        await connection.execute(_INSERT_INBOX, rows)
    return True


def _placement(state: TaskState) -> tuple[Any, ...]:
    """What a task's search text and agency rows are made of."""
    spec = state.spec
    return (spec.title, spec.product, spec.directing_agency, state.lead_agency, state.coordinating_agencies,
            state.overseers)


async def _project_task(connection: AsyncConnection, state: TaskState, fence: int, held: Row[Any] | None,
                        force: bool = False) -> None:
    """The task's row brought to `state`, and its children (inbox and agency rows, search text) where
    they change. `held`: what `_held` read of the row (None: there is none yet)."""
    if held is not None and not force and (held.task_fence, held.task_seq) > (fence, state.seq):
        return  # a later recording already projected a newer state
    values = columns(state) | {"fence": max(fence, held.task_fence or 0) if held else fence,
                               "recorded_at": datetime.now(UTC)}
    # The state the row's children were written with; None when there are none yet (no row, or
    # `search` NULL: fill_in's to do). They are rewritten only when they change (most actions move
    # the stage, few move the agencies).
    before = None if held is None or held.search is None else parsed(held.state)
    placed = before is None or _placement(before) != _placement(state)
    moved = before is None or force or before.deadline != state.deadline  # an extension, a rework…
    if placed:
        values["search"] = await _search_text(connection, state)
    if held is None:
        await connection.execute(_INSERT_TASK, {"code": state.code, "created_at": state.created_at, **values})
    else:
        await connection.execute(_UPDATE_TASK, {"task": state.code, **values})
    # Whether the inbox rows change is told from `before`; a row rewritten whole reads them. A new row
    # has no children yet: they hang on it (foreign keys, ON DELETE CASCADE), so none are read or deleted.
    were = [] if held is None else inbox_rows(before) if before is not None and not force else None
    await _write_inbox_rows(connection, state, were=were)
    if placed:
        if held is not None:
            await connection.execute(_DELETE_AGENCIES, {"task": state.code})
        await connection.execute(_INSERT_AGENCIES, agency_rows(state))
    elif moved:  # the agency rows keep the task's deadline: an agency's list walks them in its order
        await connection.execute(_MOVE_AGENCIES, {"task": state.code, "deadline": deadline_of(state)})


async def chain_head(session: AsyncSession, code: str) -> RecordedEvent | None:
    """The task's last recorded event, summarized: the anchor a run started without a log (from a
    version that did not carry one) continues its chain from."""
    row = await session.scalar(select(models.Event).where(models.Event.task_code == code)
                               .order_by(models.Event.seq.desc()).limit(1))
    if row is None:
        return None
    return RecordedEvent(seq=row.seq, type=row.type, actor=row.actor, at=row.at, data=None,
                         request_id=row.request_id, prev_hash=row.prev_hash, hash=row.hash)


async def renamed(session: AsyncSession, agency: str) -> int:
    """An agency's name changed: the search text of the tasks it leads or coordinates is written
    again (fill_in), as a recording would; how many."""
    led = select(models.TaskAgency.task_code).where(
        models.TaskAgency.agency == agency,
        models.TaskAgency.relation.in_([Relation.LEAD.value, Relation.COORDINATING.value]))
    await session.execute(update(models.Task).where(models.Task.code.in_(led)).values(search=None))
    return await fill_in(session)


async def fill_in(session: AsyncSession, batch: int = 1000) -> int:
    """Rows projected before their search text was (`search` is NULL), and open tasks projected
    before their inbox rows were: filled in from the state they hold, a batch at a time; how many.
    Run at start; a row a recording rewrites is filled by that recording anyway."""
    done = 0
    # Each batch's rows locked (PostgreSQL; SQLite's writers take turns): a recording of one of them
    # waits, so the rows filled in here are never those of a state it has just replaced.
    while rows := list(await session.scalars(select(models.Task).where(models.Task.search.is_(None))
                                             .limit(batch).with_for_update())):
        connection = await session.connection()
        for row in rows:
            state = TaskState.model_validate(row.state)
            row.search = await _search_text(connection, state)
            await _write_inbox_rows(connection, state)
        await session.commit()
        done += len(rows)
    after = ""  # by code: an open task that awaits nothing has no rows, and is looked at once
    while rows := list(await session.scalars(select(models.Task).where(
            models.Task.code > after, models.Task.stage.in_([stage.value for stage in OPEN_STAGES]),
            ~exists().where(models.InboxRow.task_code == models.Task.code)).order_by(models.Task.code).limit(batch)
            .with_for_update())):
        connection = await session.connection()
        for row in rows:
            done += await _write_inbox_rows(connection, TaskState.model_validate(row.state))
        after = rows[-1].code
        await session.commit()
    return done
