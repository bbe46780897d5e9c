"""Who may do what: the one place that asks the policy (Casbin) with the person's relation to the
task. Routes, pages and the other services ask here, never the enforcer itself.

The order of the checks is the design's: the task's stage first (409: nobody may do this now), then
the policy (403: someone may, not you)."""

from collections.abc import Sequence
from typing import Any, cast

from casbin import AsyncEnforcer
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    CompoundSelect,
    Integer,
    ScalarSelect,
    Select,
    and_,
    bindparam,
    exists,
    false,
    func,
    or_,
    select,
    true,
    type_coerce,
    union,
    union_all,
)
from sqlalchemy.types import NullType

from db import models
from db.projection import ANYONE
from db.states import ByState
from domain.actors import Actor, Relation, relation_of
from domain.commands import Action
from domain.lifecycle import ACTION_STAGES, AWAITABLE, FORWARD_ACTIONS, available_actions, check_stage
from domain.refusals import Code, Refusal
from domain.stages import OPEN_STAGES, Stage
from domain.task import TaskState
from policies.enforcer import permits


def relation(actor: Actor, state: TaskState) -> Relation:
    return relation_of(actor, state.lead_agency, state.coordinating_agencies, state.reviewer,
                       state.spec.directing_agency, state.overseers)


def allows(enforcer: AsyncEnforcer, username: str, relation: Relation, stage: str, action: str) -> bool:
    """The policy for this relation. A directing agency, or one above a sub-task, keeps what anyone
    outside the task may do (a finance reviewer of the directing ministry still decides budgets):
    `directing` and `above` add to `other`."""
    return permits(enforcer, username, relation, stage, action) or (
        relation in _ADDING_TO_OTHER and permits(enforcer, username, Relation.OTHER, stage, action))


_ADDING_TO_OTHER = frozenset({Relation.DIRECTING, Relation.ABOVE})


def may(enforcer: AsyncEnforcer, actor: Actor, action: str) -> bool:
    """An action on no task in particular (create a task, add a user, publish the index)."""
    return permits(enforcer, actor.username, Relation.NONE, "*", action)


def require(enforcer: AsyncEnforcer, actor: Actor, action: str) -> None:
    if not may(enforcer, actor, action):
        raise Refusal(Code.NOT_PERMITTED, username=actor.username, action=action)


def may_on_any_task(enforcer: AsyncEnforcer, actor: Actor, action: str) -> bool:
    """Whether the person may do this to a task they have nothing to do with (e.g. read every task)."""
    return permits(enforcer, actor.username, Relation.OTHER, "*", action)


def decide(enforcer: AsyncEnforcer, actor: Actor, state: TaskState, action: Action) -> Relation:
    """May this person take this action on this task now? The relation when yes; otherwise the
    refusal: the stage's (409) before the policy's (403)."""
    check_stage(state.stage, action)
    found = relation(actor, state)
    if not allows(enforcer, actor.username, found, state.stage, action):
        raise Refusal(Code.FORBIDDEN_ACTION, username=actor.username, roles=list(actor.roles),
                      relation=found.value, action=action, task=state.code)
    return found


def reads(enforcer: AsyncEnforcer, actor: Actor, state: TaskState, action: str = "task.read") -> bool:
    """Whether the person may read the task (or its evidence): the policy with their relation, at any stage."""
    return allows(enforcer, actor.username, relation(actor, state), state.stage, action)


def may_read(enforcer: AsyncEnforcer, actor: Actor, state: TaskState, action: str = "task.read") -> None:
    """`reads`, or the refusal."""
    if not reads(enforcer, actor, state, action):
        found = relation(actor, state)
        raise Refusal(Code.FORBIDDEN_ACTION, username=actor.username, roles=list(actor.roles),
                      relation=found.value, action=action, task=state.code)


def permitted_actions(enforcer: AsyncEnforcer, actor: Actor, state: TaskState) -> list[str]:
    """The actions this person may take on this task now: the lifecycle's and the policy's answer
    together, so pages and inboxes never keep a second copy of either."""
    found, available = relation(actor, state), _available(state)
    return list(enforcer.remembered("actions", (actor.username, found, state.stage, *available), lambda: [
        action for action in available if allows(enforcer, actor.username, found, state.stage, action)]))


_available = ByState(available_actions)
_AGENCY_RELATIONS = (Relation.LEAD, Relation.COORDINATING, Relation.ABOVE, Relation.DIRECTING)


def _held(actor: Actor) -> tuple[Relation, ...]:
    """The relations a person can stand in to a task (`relation_of`): an agency's only with an agency."""
    return (Relation.REVIEWER, *(_AGENCY_RELATIONS if actor.agency else ()), Relation.OTHER)


def _reading(enforcer: AsyncEnforcer, actor: Actor) -> dict[frozenset[Stage], list[Relation]]:
    """The relations in which the person reads a task, grouped by the stages at which they read."""
    groups: dict[frozenset[Stage], list[Relation]] = {}
    for relation_held in _held(actor):
        stages = frozenset(stage for stage in Stage if allows(enforcer, actor.username, relation_held, stage,
                                                               "task.read"))
        if stages:
            groups.setdefault(stages, []).append(relation_held)
    return groups


def readable_tasks(enforcer: AsyncEnforcer, actor: Actor, walk: bool = False) -> Select[models.Task]:
    """The tasks this person may read, as `may_read` decides one task, in SQL: the relations that read
    at the same stages taken together (one index lookup of the agency's rows for all of them, not one
    per relation), each group at its stages. `walk`: the codes are only checked, never looked up
    (`among`). Built once per person while the policy stays as it is."""
    return cast(Select[models.Task], enforcer.remembered(
        "query", ("readable_tasks", actor.username, actor.agency, walk),
        lambda: _readable_tasks(enforcer, actor, walk)))


def _readable_tasks(enforcer: AsyncEnforcer, actor: Actor, walk: bool) -> Select[models.Task]:
    groups = _reading(enforcer, actor)
    everywhere = frozenset(Stage)
    query = select(models.Task)
    if groups.get(everywhere, []) == list(_held(actor)):  # every task, whatever the relation
        return query
    ways = [_standing(actor, relations, walk) if stages == everywhere else
            and_(_standing(actor, relations, walk), models.Task.stage.in_(sorted(stage.value for stage in stages)))
            for stages, relations in groups.items()]
    return query.where(or_(*ways)) if ways else query.where(false())


def reads_every_task(enforcer: AsyncEnforcer, actor: Actor) -> bool:
    """Whether the person reads every task, whatever their relation to it: their query has no condition."""
    return readable_tasks(enforcer, actor).whereclause is None


def readable_codes(enforcer: AsyncEnforcer, actor: Actor) -> CompoundSelect[Any] | None:
    """The codes of the tasks this person may read, where that is all their reading is: the tasks of
    their agency's rows and those they review, at every stage (an agency's people, by the default
    policy). Such codes are counted without reading a task's row (services/tasks.py `page`), each once.
    None where their reading needs a task's own columns (some stages only, tasks no agency of theirs
    stands to) or where they read every task. Built once per person while the policy stays as it is."""
    def built() -> CompoundSelect[Any] | None:
        relations = _agency_reading(enforcer, actor)
        return None if relations is None else _agency_and_reviewed(actor, relations)
    return cast(CompoundSelect[Any] | None,
                enforcer.remembered("query", ("readable_codes", actor.username, actor.agency), built))


def _agency_reading(enforcer: AsyncEnforcer, actor: Actor) -> list[str] | None:
    """The relations of the agency's rows a person reads, where all their reading is those rows and
    the tasks they review, at every stage (`readable_codes`); None otherwise."""
    groups = _reading(enforcer, actor)
    relations = groups.get(frozenset(Stage), [])
    if len(groups) != 1 or not actor.agency or Relation.REVIEWER not in relations or Relation.OTHER in relations:
        return None
    return [held.value for held in _AGENCY_RELATIONS if held in relations]


def readable_in_order(enforcer: AsyncEnforcer, actor: Actor) -> Select[str] | None:
    """`readable_codes` in the lists' order (deadline, then code), the first `:first` of them: as many
    of the agency's rows, read in the deadline order they keep (db/models.py TaskAgency), and of the
    tasks the person reviews, taken together. A page of an agency's 2,400 tasks among 100,000 is then
    read off those rows alone, where walking the tasks' deadline order checked each task met against
    all 2,400 codes (1.4 ms on PostgreSQL, 0.3 at 1,000 tasks). None where `readable_codes` is. Built
    once per person while the policy stays as it is."""
    def built() -> Select[str] | None:
        if (relations := _agency_reading(enforcer, actor)) is None:
            return None
        task, row, first = models.Task, models.TaskAgency, bindparam("first", type_=Integer)
        reviewed = (select(task.code, task.deadline).where(_reviewed_alone(actor, relations))
                    .order_by(task.deadline, task.code).limit(first).subquery())
        rows = (_agency_rows(actor, relations).add_columns(row.deadline)
                .order_by(row.deadline, row.task_code).limit(first).subquery())
        both = union_all(select(*reviewed.c), select(*rows.c)).subquery()
        code, deadline = both.c
        return select(code).order_by(deadline, code).limit(first)
    return cast(Select[str] | None, enforcer.remembered("query", ("readable_in_order", actor.username, actor.agency),
                                                        built))


def among(codes: Select[Any] | CompoundSelect[Any], walk: bool) -> ColumnElement[bool]:
    """The task's code is one of `codes`. Both databases look such codes up, then sort what they found;
    with `walk` the condition is only checked as the list's order is walked (`IS true`: neither
    planner turns a condition so wrapped into a lookup): faster where the codes are a large share of
    the program and a page is met early (services/tasks.py `walks`)."""
    found = models.Task.code.in_(codes)
    return found.is_(true()) if walk else found


def _standing(actor: Actor, relations: list[Relation], walk: bool = False) -> ColumnElement[bool]:
    """The tasks to which the person stands in one of these relations, with `relation_of`'s
    precedence: the reviewer first. An agency has one row per task, in the relation `relation_of`
    gives it (db/projection.py writes it so), so only the reviewer's precedence needs saying — and
    not when the reviewer is among these relations: then the codes the person reviews and those of the
    agency's rows are one set, which the tasks' own code index finds without reading a row."""
    reviewing = Relation.REVIEWER in relations
    not_reviewing = models.Task.reviewer.is_distinct_from(actor.username)  # NULL too: nobody reviews it
    agency = [held.value for held in _AGENCY_RELATIONS if held in relations]
    ways: list[ColumnElement[bool]] = []
    if agency and actor.agency:
        ways.append(among(_agency_and_reviewed(actor, agency), walk) if reviewing
                    else and_(not_reviewing, among(_agency_rows(actor, agency), walk)))
    elif reviewing:
        ways.append(models.Task.reviewer == actor.username)
    if Relation.OTHER in relations:
        outside = models.Task.code.not_in(select(models.TaskAgency.task_code).where(
            models.TaskAgency.agency == actor.agency)) if actor.agency else true()
        ways.append(outside if reviewing else and_(not_reviewing, outside))
    return or_(false(), *ways)


def _agency_rows(actor: Actor, relations: list[str]) -> Select[str]:
    """The codes of the tasks to which the person's agency stands in one of these relations."""
    return select(models.TaskAgency.task_code).where(models.TaskAgency.agency == actor.agency,
                                                     models.TaskAgency.relation.in_(relations))


def agency_count(agency: str, relations: Sequence[str]) -> ScalarSelect[int]:
    """How many tasks the agency stands to in these relations, as the counts kept say (db/models.py
    AgencyTaskCount): one row read per relation, however many tasks the agency has."""
    kept = models.AgencyTaskCount
    return (select(func.coalesce(func.sum(kept.tasks), 0))
            .where(kept.agency == agency, kept.relation.in_(relations)).scalar_subquery())


def readable_count(enforcer: AsyncEnforcer, actor: Actor) -> Select[int] | None:
    """How many tasks the person reads, where `readable_codes` is all their reading: their agency's
    counts kept (`agency_count`) and the tasks they review that the agency's rows do not name. None
    otherwise. Built once per person while the policy stays as it is."""
    def built() -> Select[int] | None:
        if (relations := _agency_reading(enforcer, actor)) is None:
            return None
        reviewed = select(func.count()).select_from(models.Task).where(_reviewed_alone(actor, relations))
        return select(agency_count(actor.agency or "", relations) + reviewed.scalar_subquery())
    return cast(Select[int] | None, enforcer.remembered("query", ("readable_count", actor.username, actor.agency),
                                                        built))


def _agency_and_reviewed(actor: Actor, relations: list[str]) -> CompoundSelect[Any]:
    """`_agency_rows` and the codes of the tasks the person reviews that those rows do not name: each
    code once (an agency has one row per task), so a list's total counts them without sorting them
    (services/tasks.py `_count`: an agency's 2,400 of 100,000 tasks and a reviewer's, 0.2 ms on
    SQLite where a count of distinct codes took 1.1)."""
    return union_all(select(models.Task.code).where(_reviewed_alone(actor, relations)), _agency_rows(actor, relations))


def _reviewed_alone(actor: Actor, relations: list[str]) -> ColumnElement[bool]:
    """The person reviews the task, and no row of their agency's in these relations names it."""
    task, row = models.Task, models.TaskAgency
    named = exists().where(row.task_code == task.code, row.agency == actor.agency, row.relation.in_(relations))
    return and_(task.reviewer == actor.username, ~named)


def _awaited_steps(enforcer: AsyncEnforcer, actor: Actor) -> dict[Relation, list[tuple[Stage, Action]]]:
    """Per relation the person can stand in: the work items (stage and action) the policy lets them
    take in it."""
    return {held: steps for held in _held(actor) if (steps := [
        (stage, action) for stage in OPEN_STAGES for action in sorted(AWAITABLE)
        if stage in ACTION_STAGES[action] and allows(enforcer, actor.username, held, stage, action)])}


def most_urgent_first(code: Any, overdue: Any, level: Any, deadline: Any) -> tuple[Any, ...]:
    """The inbox's order of tasks by these columns (db/models.py InboxRow): overdue first, then the
    most escalated, the earliest deadline, then by code."""
    return overdue.desc(), level.desc(), deadline, code


URGENCY = most_urgent_first(models.InboxRow.task_code, models.InboxRow.overdue, models.InboxRow.escalation_level,
                            models.InboxRow.deadline)


# Inbox rows' (code, version, overdue, level, deadline), the last three as the database gives them.
Inbox = Select[str, int, Any, Any, Any]


def awaiting_me(enforcer: AsyncEnforcer, actor: Actor, at_most: int, dialect: str) -> list[Inbox]:
    """The tasks that wait for an action this person may take, as `permitted_actions` and
    `awaited_actions` decide one task, in SQL: for each step the policy lets a relation of theirs
    take, the inbox rows held in that relation (by their agency, by them as the reviewer, by anyone
    else), where that relation is indeed theirs (`relation_of`'s precedence: the reviewer first;
    anyone else is no agency of theirs) — each query one range of one index, in urgency order, to be
    merged by `most_urgent` on the database of this `dialect`. On PostgreSQL, which reads every range
    whole before merging them, each range is also ordered and cut at `at_most` itself; SQLite merges
    ranges that are not cut as they run, in the index's order, and stops at the merge's limit (a
    head's inbox of 200 and an alert at 100,000 tasks, the statement alone in sqlite3: 0.36 ms, where
    the statement before 2026-12-08, with its sorts to remove duplicates and to order the alerted
    tasks in, took 0.70; at 1,000 tasks, 0.04 and 0.20). Built once per person while the policy
    stays as it is."""
    return cast(list[Inbox], enforcer.remembered(
        "query", ("awaiting_me", actor.username, actor.agency, at_most, dialect),
        lambda: _awaiting_me(enforcer, actor, at_most, dialect)))


def most_urgent(queries: Sequence[Inbox], at_most: int | BindParameter[int]) -> CompoundSelect[str, int, Any, Any, Any]:
    """The rows of these queries of inbox rows' columns (`Inbox`), each row once (a task's rows carry
    its urgency and version alike), the most urgent first, at most `at_most`."""
    together = union(*queries) if queries else union(select(*INBOX_COLUMNS).where(false()))
    code, _, overdue, level, deadline = together.selected_columns
    return together.order_by(*most_urgent_first(code, overdue, level, deadline)).limit(at_most)


def _awaiting_me(enforcer: AsyncEnforcer, actor: Actor, at_most: int, dialect: str) -> list[Inbox]:
    row = models.InboxRow
    allowed: dict[tuple[Stage, Action], set[Relation]] = {}  # each step, and the relations it is theirs in
    for held, steps in _awaited_steps(enforcer, actor).items():
        for step in steps:
            allowed.setdefault(step, set()).add(held)
    rows = {relations: _rows_held(actor, relations) for relations in {frozenset(held) for held in allowed.values()}}
    ranges = [query.where(row.stage == stage.value, row.action == action.value)
              for (stage, action), held in allowed.items() for query in rows[frozenset(held)]]
    return ranges if dialect == "sqlite" else [query.order_by(*URGENCY).limit(at_most) for query in ranges]


def inbox_columns(code: Any, version: Any, overdue: Any, level: Any, deadline: Any) -> tuple[Any, ...]:
    """Columns of inbox rows (or of tasks) as `most_urgent` merges them: the code and version, then
    the urgency, which only orders the rows and is handed over as the database gives it, not
    converted row by row (a head's inbox of 200 spent 0.3 ms converting deadlines it never read)."""
    return code, version, *(type_coerce(column, NullType()).label(column.key) for column in (overdue, level, deadline))


INBOX_COLUMNS = inbox_columns(models.InboxRow.task_code, models.InboxRow.version, models.InboxRow.overdue,
                              models.InboxRow.escalation_level, models.InboxRow.deadline)


def _rows_held(actor: Actor, relations: frozenset[Relation]) -> list[Inbox]:
    """The inbox rows of the tasks to which the person stands in one of these relations (`relation_of`'s
    precedence: the reviewer first): one query per relation — or, where they stand outside too, one
    query of the rows anyone holds, less the tasks they stand to otherwise (the Office's inbox: 11
    ranges, not 44, and PostgreSQL plans each one)."""
    row = models.InboxRow
    # The tasks they review, looked up once (by the reviewer's index), not the task's row per inbox row.
    reviews = row.task_code.in_(select(models.Task.code).where(models.Task.reviewer == actor.username))
    if Relation.OTHER in relations:
        apart = [held.value for held in _held(actor) if held in _AGENCY_RELATIONS and held not in relations]
        not_apart = ~exists().where(models.TaskAgency.task_code == row.task_code,
                                    models.TaskAgency.agency == actor.agency,
                                    models.TaskAgency.relation.in_(apart)) if apart else true()
        return [select(*INBOX_COLUMNS).where(row.holder == ANYONE, row.relation == Relation.OTHER.value,
                                              or_(reviews, not_apart) if Relation.REVIEWER in relations
                                              else and_(~reviews, not_apart))]
    queries = []
    for held in sorted(relations):
        holder = actor.username if held == Relation.REVIEWER else actor.agency
        query = select(*INBOX_COLUMNS).where(row.holder == holder, row.relation == held.value)
        queries.append(query if held == Relation.REVIEWER else query.where(~reviews))
    return queries


def stages_open_to_outsiders(enforcer: AsyncEnforcer, actor: Actor) -> set[str]:
    """Stages where this person may move a task forward without being part of it (a finance
    reviewer at budget_review, the Standing Office at cross_check...)."""
    return {
        stage.value for action in FORWARD_ACTIONS for stage in ACTION_STAGES[action] & OPEN_STAGES
        if permits(enforcer, actor.username, Relation.OTHER, stage.value, action)
    }
