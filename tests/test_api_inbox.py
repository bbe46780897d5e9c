"""The inbox answers "what, by when, why" (issue 13): for each task, the deadline running for this
person (their own: the review for the reviewer, the rework for the lead…) and, when work came back,
the decision that returned it with its findings. On SQLite and PostgreSQL."""

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter
from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db import models
from db.states import read_kept
from domain.actors import Actor
from domain.lifecycle import awaited_actions
from domain.stages import OPEN_STAGES, Stage
from domain.task import TaskState
from services import authorization, people, reports
from services.views import InboxItem
from tests.helpers import (
    ORIGIN,
    Stack,
    act,
    app_of,
    assigned,
    browser_at,
    csrf_of,
    ok,
    statements,
    unique_code,
    web_login,
)
from tests.test_api_results import MET, in_review


async def inbox_item(stack: Stack, user: str, code: str) -> dict[str, Any]:
    items = ok(await stack.http.get("/api/v1/inbox", headers=await stack.login(user)))
    return next(item for item in items if item["code"] == code)


def awaiting(enforcer: Any, actor: Actor, stack: Stack, at_most: int = 100_000) -> Any:
    """The tasks' codes `authorization.awaiting_me` finds, merged as the inbox merges them, on the
    stack's database."""
    dialect = "postgresql" if stack.database == "postgres" else "sqlite"
    return authorization.most_urgent(authorization.awaiting_me(enforcer, actor, at_most, dialect), at_most)


async def test_the_reviewer_sees_the_review_running(stack: Stack) -> None:
    code = await in_review(stack, MET)
    item = await inbox_item(stack, "reviewer", code)
    assert (item["running"]["kind"], item["running"]["owner"]) == ("review", "reviewer")
    assert item["returned"] is None


async def test_a_head_whose_work_came_back_sees_the_rework_deadline_and_the_findings(stack: Stack) -> None:
    code = await in_review(stack, MET)
    rejected = await act(stack, "reviewer", code, "review.reject", {
        "reason": "Chưa dùng được", "findings": ["Thiếu biên bản nghiệm thu", "Số liệu chưa khớp"]})
    item = await inbox_item(stack, "bkhcn.head", code)
    assert item["running"]["kind"] == "rework" and item["running"]["due"] == rejected["rework_deadline"]
    assert item["running"]["due"] != item["deadline"]  # the task's own deadline is not what runs now
    assert item["returned"]["action"] == "review.reject"
    assert item["returned"]["findings"] == ["Thiếu biên bản nghiệm thu", "Số liệu chưa khớp"]


async def test_the_inbox_page_says_what_by_when_and_why(stack: Stack) -> None:
    code = await in_review(stack, MET)
    await act(stack, "reviewer", code, "review.reject", {"reason": "Chưa dùng được",
                                                        "findings": ["Thiếu biên bản nghiệm thu"]})
    async with browser_at(stack) as browser:
        await web_login(browser, "bkhcn.head")
        page = (await browser.get("/inbox")).text
    card = page.split(f'href="/tasks/{code}"', 1)[1].split("</li>", 1)[0]
    assert "Hạn khắc phục" in card and ("còn " in card or "trễ " in card)
    assert "Chưa dùng được" in card and "Thiếu biên bản nghiệm thu" in card


async def _alert(stack: Stack, username: str, code: str, seq: int) -> int:
    async with stack.sessions() as session:
        note = models.Notification(username=username, task_code=code, event_seq=seq, level=1,
                                   subject=f"Nhắc hạn {code}", body="", created_at=datetime.now(UTC))
        session.add(note)
        await session.commit()
        return note.id


async def test_the_header_counts_unread_alerts_and_marking_one_read_lowers_it(stack: Stack) -> None:
    code = unique_code("ALERT")
    async with browser_at(stack) as browser:
        await web_login(browser, "btc.head")
        before = _unread_in_header((await browser.get("/inbox")).text)
        first, _ = await _alert(stack, "btc.head", code, 1), await _alert(stack, "btc.head", code, 2)
        page = (await browser.get("/notifications")).text
        assert _unread_in_header(page) == before + 2 and f"Nhắc hạn {code}" in page
        done = await browser.post(f"/notifications/{first}/read", headers={"Origin": ORIGIN},
                                  data={"csrf_token": csrf_of(await browser.get("/notifications"))})
        assert done.status_code == 303
        assert _unread_in_header((await browser.get("/inbox")).text) == before + 1
        await browser.post("/notifications/read", headers={"Origin": ORIGIN},
                           data={"csrf_token": csrf_of(await browser.get("/notifications"))})
        assert _unread_in_header((await browser.get("/inbox")).text) == 0


async def test_nobody_marks_someone_elses_alert_read(stack: Stack) -> None:
    theirs = await _alert(stack, "btc.head", unique_code("ALERT"), 1)
    async with browser_at(stack) as browser:
        await web_login(browser, "hni.head")
        answer = await browser.post(f"/notifications/{theirs}/read", headers={"Origin": ORIGIN},
                                    data={"csrf_token": csrf_of(await browser.get("/notifications"))})
    assert answer.status_code == 404
    alerts = ok(await stack.http.get("/api/v1/notifications", params={"unread": True},
                                     headers=await stack.login("btc.head")))
    assert theirs in [note["id"] for note in alerts]


async def test_the_inbox_answers_its_items_as_the_response_model_writes_them(stack: Stack) -> None:
    """Each item's JSON is made once with the item (services/reports.inbox_json): the answer is, byte
    for byte, what FastAPI writes for the items; an item with an alert carries it, and once it is read
    the item is as before."""
    code = await in_review(stack, MET)
    headers, ctx = await stack.login("reviewer"), app_of(stack).state.ctx
    actor = await people.person(ctx, "reviewer")
    assert actor is not None
    written = TypeAdapter(list[InboxItem])
    before = await stack.http.get("/api/v1/inbox", headers=headers)
    assert before.content == written.dump_json(await reports.inbox(ctx, actor), by_alias=True)
    note = await _alert(stack, "reviewer", code, 1)
    alerted = await stack.http.get("/api/v1/inbox", headers=headers)
    assert alerted.content == written.dump_json(await reports.inbox(ctx, actor), by_alias=True)
    assert [alert["id"] for alert in next(item for item in alerted.json() if item["code"] == code)
            ["notifications"]] == [note]
    ok(await stack.http.post(f"/api/v1/notifications/{note}/read", headers=headers))
    assert (await stack.http.get("/api/v1/inbox", headers=headers)).content == before.content


async def test_an_inbox_read_again_unchanged_is_the_same_answer_made_anew_when_it_moves(stack: Stack) -> None:
    """The whole answer is made once while its tasks' states, the person's unread alerts and the policy
    stay (services/reports.py `inbox_json`): read again unchanged, it is the very same bytes; once an
    alert comes, or a task in it moves, it is made anew, and it is what its items say. A reviewer of
    their own, whose inbox holds this task alone."""
    username = f"kt-{unique_code('R').lower()}"
    ok(await stack.http.post("/api/v1/users", headers=await stack.login("admin"), json={
        "username": username, "password": "Sen-vang-2026-ha-noi", "full_name": "Kiểm tra chéo",
        "agency": "HCM", "roles": ["cross_check_reviewer"]}), 201)
    code = await in_review(stack, MET, reviewer=username)
    ctx, written = app_of(stack).state.ctx, TypeAdapter(list[InboxItem])
    actor = await people.person(ctx, username)
    assert actor is not None
    # The new account's policy caught up with here, not by `follow` between two reads (a reading of
    # the policy forgets what was built from it, the answer too).
    await ctx.enforcer.catch_up()
    first = await reports.inbox_json(ctx, actor)
    assert [item["code"] for item in json.loads(first)] == [code]
    assert await reports.inbox_json(ctx, actor) is first
    await _alert(stack, username, code, 1)
    alerted = await reports.inbox_json(ctx, actor)
    assert alerted == written.dump_json(await reports.inbox(ctx, actor), by_alias=True)
    assert len(json.loads(alerted)[0]["notifications"]) == 1
    await act(stack, await stack.login(username, "Sen-vang-2026-ha-noi"), code, "review.reject",
              {"reason": "Chưa đạt", "findings": ["Thiếu biên bản"]})
    moved = await reports.inbox_json(ctx, actor)  # back with the lead: only the unread alert keeps it here
    assert moved == written.dump_json(await reports.inbox(ctx, actor), by_alias=True)
    assert json.loads(moved)[0]["to_do"] == [] and json.loads(moved)[0]["stage"] != json.loads(first)[0]["stage"]


def _unread_in_header(page: str) -> int:
    found = re.search(r'id="alerts"[^>]*>[^<]*(?:<span class="count"[^>]*>(\d+)</span>)?', page)
    assert found, "no alerts link in the header"
    return int(found.group(1) or 0)


async def test_the_inbox_query_finds_exactly_the_tasks_the_policy_says_wait_for_each_person(stack: Stack) -> None:
    """The inbox is read off the inbox rows (issue 14); what it finds must be what asking the policy
    task by task finds: every open task whose awaited actions this person may take now."""
    await in_review(stack, MET)  # one waiting for the reviewer, among the demo's and the other tests' tasks
    ctx = app_of(stack).state.ctx
    async with stack.sessions() as session:
        states = [TaskState.model_validate(row.state) for row in await session.scalars(
            select(models.Task).where(models.Task.stage.in_([s.value for s in OPEN_STAGES])))]
    for username in ("office", "committee", "finance", "reviewer", "hni.head", "hni.officer", "bkhcn.head",
                     "btc.head", "auditor"):
        actor = await people.person(ctx, username)
        assert actor is not None
        expected = {state.code for state in states
                    if set(authorization.permitted_actions(ctx.enforcer, actor, state)) & awaited_actions(state)}
        found = {item.code for item in await reports.inbox(ctx, actor, limit=100_000) if item.to_do}
        assert found == expected, username
        async with stack.sessions() as session:  # the query itself, before the inbox checks each task again
            queried = set(await session.scalars(awaiting(ctx.enforcer, actor, stack)))
        assert queried == expected, (username, sorted(queried ^ expected)[:5])
        if username == "reviewer":
            assert expected, "the task waiting for the reviewer is found at all"


async def test_a_step_taken_as_an_outsider_leaves_out_the_tasks_one_stands_to_otherwise(stack: Stack) -> None:
    """The Office approves an extension as an outsider or a coordinating agency, never for a task its
    agency leads or it reviews (the policy's relations): the inbox's one range of such steps over every
    task (authorization._rows_held) leaves those out, as asking the policy task by task does. One
    person holds the Office's role and the cross-checker's; another stands for the Office's people
    seen as of BKHCN, the lead."""
    both = f"xo-{unique_code('R').lower()}"
    ok(await stack.http.post("/api/v1/users", headers=await stack.login("admin"), json={
        "username": both, "password": "Sen-vang-2026-ha-noi", "full_name": "Kiểm tra chéo kiêm Văn phòng",
        "agency": "HCM", "roles": ["steering_office", "cross_check_reviewer"]}), 201)
    code = await in_review(stack, MET, reviewer=both)  # BKHCN's
    await act(stack, await stack.login(both, "Sen-vang-2026-ha-noi"), code, "review.reject",
              {"reason": "Chưa đạt", "findings": ["Thiếu biên bản"]})
    await act(stack, "bkhcn.head", code, "extension.request", {"new_deadline": "2028-06", "reason": "Làm lại"})
    ctx = app_of(stack).state.ctx
    async with stack.sessions() as session:
        state = TaskState.model_validate((await session.get(models.Task, code)).state)
    assert state.reviewer == both and state.extension_request is not None
    reviewer = await people.person(ctx, both)
    assert reviewer is not None
    as_lead, as_outsider = (Actor(username="office", agency=agency, roles=["steering_office"])
                            for agency in ("BKHCN", "HNI"))
    for actor, waits in ((reviewer, False), (as_lead, False), (as_outsider, True)):
        assert ("extension.approve" in authorization.permitted_actions(ctx.enforcer, actor, state)) is waits, actor
        async with stack.sessions() as session:
            queried = set(await session.scalars(awaiting(ctx.enforcer, actor, stack)))
        assert (code in queried) is waits, actor


async def test_a_shorter_inbox_is_the_start_of_the_longer_one_most_urgent_first(stack: Stack) -> None:
    """`limit` takes the most urgent across every kind of work (each read off its own index range):
    the same tasks in the same order as the first of a longer inbox."""
    await in_review(stack, MET)
    for number, deadline in enumerate(["2028-Q2", "2027-Q1", "2027-Q3", "2028-Q1", "2027-Q2", "2027-Q4"]):
        code = unique_code("KHAN")  # Hà Nội's: three to accept, three to carry out, deadlines interleaved
        ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
            "code": code, "title": "Việc khẩn", "lead_agency": "HNI", "deadline": deadline}), 201)
        if number % 2:
            await act(stack, "hni.head", code, "accept", {})
    ctx = app_of(stack).state.ctx
    longest = 0
    for username in ("office", "finance", "reviewer", "hni.head", "bkhcn.head"):
        actor = await people.person(ctx, username)
        assert actor is not None
        whole = [item.code for item in await reports.inbox(ctx, actor, 100_000)]
        longest = max(longest, len(whole))
        async with stack.sessions() as session:
            rows = {row.code: row for row in await session.scalars(select(models.Task).where(
                models.Task.code.in_(whole)))}
        urgency = [(not rows[code].overdue, -rows[code].escalation_level, rows[code].deadline, code) for code in whole]
        assert urgency == sorted(urgency), username
        for limit in (1, 2, 5):
            assert [item.code for item in await reports.inbox(ctx, actor, limit)] == whole[:limit], (username, limit)
    assert longest > 5, "someone's inbox is long enough to be cut"


async def test_an_alert_about_a_task_that_closed_takes_no_place_in_a_shorter_inbox(stack: Stack) -> None:
    """The inbox reads the `limit` most urgent tasks waiting and those the person was alerted about,
    `limit` and one more per alert (services/reports.py `_waiting`): a task alerted about that closed
    meanwhile, however urgent, is left out, and the next waiting task shows in its place."""
    for _ in range(4):  # Hà Nội's to accept
        await assigned(stack, "CHO")
    code = await assigned(stack, "DONG")
    async with stack.sessions() as session:  # cancelled, overdue at the top level, as no step writes it
        row = await session.get(models.Task, code)
        assert row is not None
        state = TaskState.model_validate(row.state)
        state.stage = Stage.CANCELLED
        row.stage, row.state, row.overdue, row.escalation_level = Stage.CANCELLED.value, state.model_dump(
            mode="json"), True, 3
        await session.execute(delete(models.InboxRow).where(models.InboxRow.task_code == code))
        await session.commit()
    await _alert(stack, "hni.head", code, 1)
    ctx = app_of(stack).state.ctx
    head = await people.person(ctx, "hni.head")
    assert head is not None
    whole = [item.code for item in await reports.inbox(ctx, head, 100_000)]
    assert code not in whole and len(whole) > 3
    for limit in (1, 2, 3):
        assert [item.code for item in await reports.inbox(ctx, head, limit)] == whole[:limit], limit


async def _rewrite_title(stack: Stack, code: str, title: str) -> None:
    """The task's row rewritten straight in the database, by no recording step: its state's title."""
    async with stack.sessions() as session:
        row = await session.get(models.Task, code)
        assert row is not None
        state = TaskState.model_validate(row.state)
        state.spec.title = title
        row.title, row.state = title, state.model_dump(mode="json")
        await session.commit()


async def test_the_database_gives_a_row_a_new_version_whenever_its_state_is_written(stack: Stack) -> None:
    """db/models.py Task.version, set by the database's triggers (migration 0007), whoever writes."""
    code = await assigned(stack)

    async def version() -> int:
        async with stack.sessions() as session:
            found = await session.scalar(select(models.Task.version).where(models.Task.code == code))
        assert found is not None
        return found

    async def written(statement: str) -> None:
        async with stack.sessions() as session:
            await session.execute(text(statement), {"code": code})
            await session.commit()

    first = await version()
    assert first != 0  # set as the row was made (the column's default is 0)
    await written("UPDATE tasks SET search = 'khác' WHERE code = :code")
    assert await version() == first  # not the state: the same version
    await _rewrite_title(stack, code, "Nhiệm vụ viết lại")
    rewritten = await version()
    assert rewritten not in (first, 0)
    await written("UPDATE tasks SET state = state WHERE code = :code")  # written, even unchanged
    assert await version() not in (first, rewritten, 0)


async def test_a_task_s_inbox_rows_carry_its_version_whoever_writes_either(stack: Stack) -> None:
    """db/models.py InboxRow.version, kept by the database's triggers (migration 0009): rows written
    with the task, the task's state written by another writer, rows written anew by another writer
    (as `fill_in` and the benchmark's rows do), an action."""
    code = await assigned(stack)

    async def versions() -> tuple[int | None, set[int]]:
        async with stack.sessions() as session:
            task = await session.scalar(select(models.Task.version).where(models.Task.code == code))
            rows = set(await session.scalars(select(models.InboxRow.version).where(models.InboxRow.task_code == code)))
        assert rows, "the task waits for someone"
        return task, rows

    first, rows = await versions()
    assert rows == {first}
    await _rewrite_title(stack, code, "Nhiệm vụ viết lại")
    rewritten, rows = await versions()
    assert rows == {rewritten} and rewritten != first
    async with stack.sessions() as session:
        held = [dict(row._mapping) for row in await session.execute(
            select(models.InboxRow.__table__).where(models.InboxRow.task_code == code))]
        await session.execute(text("DELETE FROM inbox_rows WHERE task_code = :code"), {"code": code})
        await session.execute(models.InboxRow.__table__.insert(), [row | {"version": 0} for row in held])
        await session.commit()
    assert await versions() == (rewritten, {rewritten})
    await act(stack, "hni.head", code, "accept", {})
    accepted, rows = await versions()
    assert rows == {accepted} and accepted != rewritten


async def test_an_inbox_shows_each_task_as_its_row_stands_whoever_rewrote_it(stack: Stack) -> None:
    """The states an inbox reads are remembered by their row's version, which the database sets
    (db/states.py): a row rewritten by any writer, not only by the recording step, is read afresh."""
    code = await assigned(stack)
    assert (await inbox_item(stack, "hni.head", code))["title"] == "Nhiệm vụ thử"
    await _rewrite_title(stack, code, "Nhiệm vụ sửa thẳng trong cơ sở dữ liệu")
    assert (await inbox_item(stack, "hni.head", code))["title"] == "Nhiệm vụ sửa thẳng trong cơ sở dữ liệu"


async def test_an_inbox_read_again_reads_the_text_of_the_rows_rewritten_alone(stack: Stack) -> None:
    """An inbox reads its rows' versions, then the text only of the rows whose version this process
    has not met: read again, none; once one row is rewritten, that row's alone."""
    code, headers = await assigned(stack), await stack.login("hni.head")
    ok(await stack.http.get("/api/v1/inbox", headers=headers))

    async def texts_read() -> list[str]:
        with statements(stack.sessions) as said:
            ok(await stack.http.get("/api/v1/inbox", headers=headers))
        return [statement for statement in said if "AS TEXT" in statement]

    assert await texts_read() == []
    await _rewrite_title(stack, code, "Nhiệm vụ viết lại")
    read = await texts_read()
    assert len(read) == 1 and len(re.findall(r"\$\d|\?", read[0].split(" IN ", 1)[1])) == 1, read
    assert await texts_read() == []


async def test_postgresql_reads_an_inbox_by_its_generic_plan_in_its_own_transaction(stack: Stack) -> None:
    """An inbox's statement is the same plan for any parameters: PostgreSQL runs it by its generic
    plan, not planned anew at every read (db/states.py `read_kept`). The setting ends with the read's
    transaction."""
    if stack.database != "postgres":
        pytest.skip("a plan of PostgreSQL's")
    code, ctx = await assigned(stack), app_of(stack).state.ctx
    head = await people.person(ctx, "hni.head")
    assert head is not None
    engine = stack.sessions.kw["bind"]
    async with engine.connect() as connection:
        async with AsyncSession(connection) as session:
            assert await session.scalar(text("SHOW plan_cache_mode")) == "auto"
            found = await read_kept(session, reports._waiting(ctx.enforcer, head, 200, "postgresql"),
                                    {"alerted": [], "shown": 200})
            assert await session.scalar(text("SHOW plan_cache_mode")) == "force_generic_plan"
            read = {state.code for state in found}
            assert code in read and read == set(await session.scalars(awaiting(ctx.enforcer, head, stack, 200)))
            await session.rollback()
        assert await connection.scalar(text("SHOW plan_cache_mode")) == "auto"
