"""Who reads which task, asked in SQL (issue 14): the lists' query (`authorization.readable_tasks`)
finds exactly the tasks the policy lets each person read when asked task by task (`may_read`), for
every relation a person can stand in — lead, coordinating, above a sub-task, directing, reviewer,
outside. On SQLite and PostgreSQL."""

from sqlalchemy import select

from db import models
from domain.refusals import Refusal
from domain.task import TaskState
from services import authorization, people
from tests.helpers import Stack, app_of, ok, unique_code
from tests.test_api_cascade import _in_execution, _split
from tests.test_api_results import MET, in_review


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
        async with stack.sessions() as session:
            found = set(await session.scalars(
                authorization.readable_tasks(ctx.enforcer, actor).with_only_columns(models.Task.code)))
        assert found == expected, (username, sorted(found ^ expected)[:5])
