"""Who reads which task, asked in SQL (issue 14): the lists' query (`authorization.readable_tasks`)
finds exactly the tasks the policy lets each person read when asked task by task (`may_read`), for
every relation a person can stand in — lead, coordinating, above a sub-task, directing, reviewer,
outside. On SQLite and PostgreSQL."""

import asyncio
from typing import Any

from sqlalchemy import delete, func, select, update

from db import models
from domain.refusals import Refusal
from domain.task import TaskState
from services import authorization, people, tasks
from services.tasks import selection
from services.views import TaskFilter
from tests.helpers import Stack, act, app_of, assigned, ok, task_row, unique_code
from tests.test_api_cascade import _in_execution, _split
from tests.test_api_results import MET, in_review, submit_evidence


async def test_the_list_query_finds_exactly_the_tasks_the_policy_lets_each_person_read(stack: Stack) -> None:
    await in_review(stack, MET)  # one with a reviewer assigned
    parent = await _in_execution(stack, "BKHCN", "bkhcn.head")
    ok(await _split(stack, "bkhcn.head", parent, "BKHCN-CDS"), 201)  # a part: BKHCN stands above it
    ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": unique_code("DOC"), "title": "Nhiệm vụ có cơ quan chỉ đạo", "lead_agency": "HCM",
        "directing_agency": "HNI", "deadline": "31/12/2027"}), 201)
    ctx = app_of(stack).state.ctx
    async with stack.sessions() as session:
        states = [TaskState.model_validate(row.state) for row in await session.scalars(select(models.Task))]
    for username in ("office", "committee", "finance", "reviewer", "hni.head", "hni.officer", "bkhcn.head",
                     "bkhcn.officer", "cds.head", "btc.head", "auditor"):
        actor = await people.person(ctx, username)
        assert actor is not None, username
        expected = set()
        for state in states:
            try:
                authorization.may_read(ctx.enforcer, actor, state)
            except Refusal:
                continue
            expected.add(state.code)
        for walk in (False, True):  # codes looked up, or checked walking the list's order
            async with stack.sessions() as session:
                found = set(await session.scalars(
                    authorization.readable_tasks(ctx.enforcer, actor, walk).with_only_columns(models.Task.code)))
            assert found == expected, (username, walk, sorted(found ^ expected)[:5])


async def test_a_page_walked_in_order_is_the_page_looked_up(stack: Stack) -> None:
    """The two ways to a page of a large selection (services/tasks.py `walks`) give the same page, for
    a person's own list and for an agency's, at every offset."""
    for n in range(7):  # more than two pages of three, led by HNI or coordinated by it
        ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
            "code": unique_code("WALK"), "title": "Nhiệm vụ của Hà Nội", "deadline": f"{n + 1:02d}/12/2027",
            "lead_agency": "HNI" if n % 2 else "BCA", "coordinating_agencies": [] if n % 2 else ["HNI"]}), 201)
    ctx = app_of(stack).state.ctx
    for username, chosen in (("hni.head", TaskFilter()), ("office", TaskFilter(agency="HNI")),
                             ("office", TaskFilter(agency="HNI", relation="coordinating", overdue=False))):
        actor = await people.person(ctx, username)
        assert actor is not None
        pages = []
        for walk in (False, True):
            query = selection(ctx, actor, chosen, walk).with_only_columns(models.Task.code)
            async with stack.sessions() as session:
                pages.append([list(await session.scalars(query.limit(3).offset(offset))) for offset in (0, 3, 6)])
        assert pages[0] == pages[1] and pages[0][0] and pages[0][1], (username, chosen)


async def test_a_persons_page_read_off_their_agencys_rows_is_the_page_of_the_tasks_order(stack: Stack) -> None:
    """Whoever reads their agency's rows and the tasks they review has a page of their list read off
    those rows, in the deadline order they keep (services/tasks.py `_first_readable`): the page the
    tasks' own order gives, at every offset — a task they review and their agency stands to, once."""
    await _reviewed_where_the_reviewers_agency_directs(stack)
    for n in range(7):  # more than two pages of three, led by HNI or coordinated by it
        ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
            "code": unique_code("FIRST"), "title": "Nhiệm vụ của Hà Nội", "deadline": f"{n + 1:02d}/11/2027",
            "lead_agency": "HNI" if n % 2 else "BCA", "coordinating_agencies": [] if n % 2 else ["HNI"]}), 201)
    ctx = app_of(stack).state.ctx
    for username in ("hni.head", "reviewer", "bkhcn.officer"):
        actor = await people.person(ctx, username)
        assert actor is not None
        first = tasks._first_readable(ctx, actor, TaskFilter())
        assert first is not None, username
        ordered = selection(ctx, actor, TaskFilter()).with_only_columns(models.Task.code)
        async with stack.sessions() as session:
            total = len(list(await session.scalars(ordered)))
            for offset in sorted({0, 3, 6, max(0, total - 2), total}):
                page = list(await session.scalars(first.with_only_columns(models.Task.code).limit(3).offset(offset)
                                                  .params(first=offset + 3)))
                assert page == list(await session.scalars(ordered.limit(3).offset(offset))), (username, offset)
                assert len(page) == max(0, min(3, total - offset)), (username, offset)
    office = await people.person(ctx, "office")
    assert office is not None and tasks._first_readable(ctx, office, TaskFilter()) is None  # reads every task


async def _reviewed_where_the_reviewers_agency_directs(stack: Stack) -> str:
    """A task in cross-check whose reviewer ("reviewer", of HCM) is of the agency that directs it."""
    code = unique_code("DIR")
    ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": code, "title": "Nhiệm vụ do TP Hồ Chí Minh chỉ đạo", "lead_agency": "BKHCN",
        "directing_agency": "HCM", "deadline": "31/12/2027"}), 201)
    await act(stack, "bkhcn.head", code, "accept", {})
    await submit_evidence(stack, code, summary="Đã xong")
    await act(stack, "office", code, "review.assign", {"reviewer": "reviewer"})  # HCM's, as HCM directs it
    return code


async def test_a_total_read_without_a_task_s_row_is_the_number_of_tasks_selected(stack: Stack) -> None:
    """A list's total read off the counts kept and the agencies' and reviewers' codes alone
    (services/tasks.py `_count`) is the number of tasks its query selects: for each person, unfiltered
    and by agency — a task the person reviews and their agency stands to (directing) counted once."""
    await _reviewed_where_the_reviewers_agency_directs(stack)
    await in_review(stack, MET)  # one the reviewer reviews and their agency does not stand to
    ctx = app_of(stack).state.ctx
    read_without_rows = []
    for username in ("office", "committee", "reviewer", "hni.head", "hni.officer", "bkhcn.head", "auditor"):
        actor = await people.person(ctx, username)
        assert actor is not None, username
        for chosen in (TaskFilter(), TaskFilter(agency="HNI"), TaskFilter(agency="BKHCN", relation="lead"),
                       TaskFilter(agency="HNI", relation="coordinating"), TaskFilter(agency="HCM")):
            counted = tasks._count(ctx, actor, chosen)
            async with stack.sessions() as session:
                selected = len(list(await session.scalars(selection(ctx, actor, chosen).with_only_columns(
                    models.Task.code))))
                total = await tasks._total(session, selection(ctx, actor, chosen), chosen, counted)
            assert total == (selected, True), (username, chosen)
            if counted is not None:
                read_without_rows.append((username, chosen.agency))
    assert {("hni.head", None), ("reviewer", None), ("reviewer", "HCM"), ("office", "HNI"),
            ("office", None)} <= set(read_without_rows), read_without_rows


async def test_the_codes_a_person_reads_name_each_task_once(stack: Stack) -> None:
    """A task the person reviews and their agency stands to (directing) is among their codes once,
    not once as reviewed and once as their agency's: a list's total counts the codes, unsorted."""
    code = await _reviewed_where_the_reviewers_agency_directs(stack)
    ctx = app_of(stack).state.ctx
    reviewer = await people.person(ctx, "reviewer")
    assert reviewer is not None and reviewer.agency == "HCM"
    codes = authorization.readable_codes(ctx.enforcer, reviewer)
    assert codes is not None
    async with stack.sessions() as session:
        named = list(await session.scalars(codes))
    assert named.count(code) == 1 and len(named) == len(set(named))


async def test_a_persons_queries_are_built_once_while_the_policy_stays_and_afresh_once_it_changes(
        stack: Stack) -> None:
    """What one reads, what awaits one and what one may do at a stage (authorization.readable_tasks,
    awaiting_me, permitted_actions) are kept beside the policy's decisions, and forgotten with them
    when a rule changes."""
    code = unique_code("KEPT")
    ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": code, "title": "Nhiệm vụ của Hà Nội", "lead_agency": "HNI", "deadline": "31/12/2027"}), 201)
    ctx = app_of(stack).state.ctx
    enforcer, actor = ctx.enforcer, await people.person(ctx, "hni.head")
    assert actor is not None
    async with stack.sessions() as session:
        state = TaskState.model_validate((await session.get(models.Task, code)).state)
    assert "accept" in authorization.permitted_actions(enforcer, actor, state)
    reads = authorization.readable_tasks(enforcer, actor)
    awaits = authorization.awaiting_me(enforcer, actor, 10, "sqlite")
    assert authorization.readable_tasks(enforcer, actor) is reads
    assert authorization.awaiting_me(enforcer, actor, 10, "sqlite") is awaits
    rule = ["agency_head", "lead", "assigned", "accept"]
    assert await enforcer.remove_policy(*rule)
    try:
        without = authorization.awaiting_me(enforcer, actor, 10, "sqlite")
        assert without is not awaits and len(without) == len(awaits) - 1  # no `accept` range any more
        assert "accept" in _values(awaits) and "accept" not in _values(without)
        assert authorization.readable_tasks(enforcer, actor) is not reads
        assert "accept" not in authorization.permitted_actions(enforcer, actor, state)
    finally:
        assert await enforcer.add_policy(*rule)
    assert "accept" in authorization.permitted_actions(enforcer, actor, state)
    again = authorization.awaiting_me(enforcer, actor, 10, "sqlite")
    assert [str(query) for query in again] == [str(query) for query in awaits] and _values(again) == _values(awaits)


def _values(queries: list[Any]) -> set[Any]:
    """The values the queries compare their columns with."""
    return {value for query in queries for value in query.compile().params.values()}


async def test_every_task_s_count_follows_rows_added_and_removed_by_whoever_writes_them(stack: Stack) -> None:
    """The unfiltered list's total is the count kept of the tasks (db/models.py TaskCount), not counted
    at each read: it follows the recording step, rows written straight to the database, several
    transactions adding at once and a row removed."""
    async def counts() -> tuple[int | None, int | None]:
        async with stack.sessions() as session:
            return (await session.scalar(select(models.TaskCount.tasks)),
                    await session.scalar(select(func.count()).select_from(models.Task)))

    async def add(code: str) -> None:
        async with stack.sessions() as session, session.begin():
            session.add(task_row(code))

    kept, counted = await counts()
    assert kept == counted
    await assigned(stack, "DEM")  # the recording step
    codes = [unique_code("DEM") for _ in range(4)]
    await asyncio.gather(*(add(code) for code in codes))
    assert await counts() == (kept + 5, counted + 5)
    async with stack.sessions() as session, session.begin():
        await session.execute(delete(models.Task).where(models.Task.code == codes[0]))
    assert await counts() == (kept + 4, counted + 4)
    async with stack.sessions() as session, session.begin():  # the others too: rows with no state to show
        await session.execute(delete(models.Task).where(models.Task.code.in_(codes[1:])))
    listed = ok(await stack.http.get("/api/v1/tasks", params={"limit": 1}, headers=await stack.login("office")))
    assert (listed["total"], listed["total_exact"]) == (kept + 1, True)


async def test_each_agency_s_counts_follow_its_rows_whoever_writes_them(stack: Stack) -> None:
    """An agency's people's list and a list by agency read their total off the counts kept of each
    agency's tasks by relation (db/models.py AgencyTaskCount): they follow the recording step, rows
    written straight to the database by several transactions at once, a relation changed and a task
    removed with its rows."""
    async def counts() -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
        async with stack.sessions() as session:
            kept = {(row.agency, row.relation): row.tasks for row in await session.scalars(
                select(models.AgencyTaskCount).where(models.AgencyTaskCount.tasks != 0))}
            rows = await session.execute(select(models.TaskAgency.agency, models.TaskAgency.relation, func.count())
                                         .group_by(models.TaskAgency.agency, models.TaskAgency.relation))
            return kept, {(agency, relation): tasks for agency, relation, tasks in rows}

    async def add(code: str) -> None:
        async with stack.sessions() as session, session.begin():
            row = task_row(code)
            session.add(row)
            await session.flush()
            session.add_all(models.TaskAgency(task_code=code, agency=agency, relation=relation, deadline=row.deadline)
                            for agency, relation in (("HNI", "lead"), ("BCA", "coordinating")))

    kept, counted = await counts()
    assert kept == counted
    before = counted.get(("HNI", "lead"), 0)
    await assigned(stack, "DEM")  # the recording step: HNI leads it
    codes = [unique_code("DEM") for _ in range(4)]
    await asyncio.gather(*(add(code) for code in codes))
    kept, counted = await counts()
    assert kept == counted and counted[("HNI", "lead")] == before + 5
    async with stack.sessions() as session, session.begin():
        await session.execute(update(models.TaskAgency).where(models.TaskAgency.task_code == codes[0],
                                                              models.TaskAgency.agency == "HNI")
                              .values(relation="coordinating"))
        await session.execute(delete(models.Task).where(models.Task.code == codes[1]))  # its rows go with it
    kept, counted = await counts()
    assert kept == counted and counted[("HNI", "lead")] == before + 3
    async with stack.sessions() as session, session.begin():  # the others too: rows with no state to show
        await session.execute(delete(models.Task).where(models.Task.code.in_(codes)))
    assert (await counts())[0] == (await counts())[1]
