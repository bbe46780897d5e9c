"""The workflow decides what happened; the projection follows it exactly (issue "Nothing
acknowledged is ever lost").

First the recording rules on a database of their own (db/projection.py), then the same promises
through the running stack: a retried key goes to the workflow, a row left by an attempt that never
became durable is replaced and kept apart, a catch-up converges, a rewritten and re-hashed row is
named by audit verify, a create retried with its key answers the task, and nothing waits forever."""

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db import models
from db.projection import rebuild, record_event
from db.reconcile import catch_up, compare
from db.session import create_schema, make_engine, make_sessions, transaction
from domain.audit import GENESIS, chained, event_hash
from domain.deadlines import parse_deadline
from domain.events import Event, RecordedEvent
from domain.stages import Stage
from domain.task import TaskSpec, TaskState
from tests.helpers import Stack, ok, post_action, statements, unique_code
from workflows.start import TaskStart
from workflows.task_lifecycle import TaskLifecycleWorkflow, workflow_id

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
CODE = "PROJ-1"


def _state(seq: int, stage: Stage = Stage.ASSIGNED) -> TaskState:
    spec = TaskSpec(code=CODE, title="Chiếu dữ liệu", lead_agency="HNI", deadline="2027-Q4")
    deadline = parse_deadline(spec.deadline)
    return TaskState(spec=spec, lead_agency="HNI", coordinating_agencies=[], stage=stage, deadline=deadline,
                     deadline_text=spec.deadline, original_deadline=deadline, created_at=T0, updated_at=T0, seq=seq)


def _chain(*kinds: str) -> list[RecordedEvent]:
    """Events 1..n of the given types, chained as the workflow chains them."""
    events: list[RecordedEvent] = []
    for seq, kind in enumerate(kinds, start=1):
        event = Event(seq=seq, type=kind, actor="hni.head", at=T0 + timedelta(minutes=seq), data={"n": kind})
        events.append(chained(events[-1].hash if events else GENESIS, CODE, event, f"key-{kind}-{seq}"))
    return events


@pytest.fixture
async def sessions(tmp_path: Path) -> Any:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'projection.db'}")
    await create_schema(engine)
    yield make_sessions(engine)
    await engine.dispose()


async def _record(sessions: async_sessionmaker[AsyncSession], event: RecordedEvent, fence: int,
                  stage: Stage = Stage.ASSIGNED) -> bool:
    async with transaction(sessions) as session:
        return await record_event(session, _state(event.seq, stage), event, fence)


async def _rows(sessions: async_sessionmaker[AsyncSession], table: type = models.Event) -> list[tuple[int, str]]:
    async with sessions() as session:
        return [(row.seq, row.type) for row in await session.scalars(select(table).order_by(table.seq, table.id))]


async def _task_row(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, str]:
    async with sessions() as session:
        row = await session.get(models.Task, CODE)
        assert row is not None
        return row.seq, row.stage


# The recording rules -------------------------------------------------------------------------

async def test_the_same_event_recorded_again_is_written_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    created, accept = _chain("created", "accept")
    assert await _record(sessions, created, 10)
    assert await _record(sessions, accept, 20)
    assert await _record(sessions, accept, 20)  # a retried activity
    assert await _record(sessions, accept, 25)  # the same event decided again after a crash
    assert await _rows(sessions) == [(1, "created"), (2, "accept")]
    assert await _rows(sessions, models.SupersededEvent) == []


async def _inbox(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, str]]:
    async with sessions() as session:
        return sorted((row.action, row.relation) for row in await session.scalars(select(models.InboxRow)))


async def test_a_recording_that_changes_no_inbox_row_writes_none(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Whether the inbox rows change is told from the state they were written with: a comment leaves
    them as they are (a row changed behind the projection's back is not put right by it)."""
    created, comment = _chain("created", "comment")
    await _record(sessions, created, 10)
    wanted = await _inbox(sessions)
    assert wanted  # an assigned task awaits its acceptance
    async with sessions() as session, session.begin():
        await session.execute(update(models.InboxRow).values(relation="other"))
    await _record(sessions, comment, 20)
    assert await _inbox(sessions) != wanted


async def test_a_new_task_s_row_is_written_without_reading_or_deleting_children_it_cannot_have(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    """A task's inbox and agency rows hang on its row (ON DELETE CASCADE): recording its creation
    writes them without first reading or deleting any; the next recording compares as before."""
    created, accept = _chain("created", "accept")
    with statements(sessions) as said:
        await _record(sessions, created, 10)
    children = [line for line in said if "inbox_rows" in line or "task_agencies" in line]
    assert [line.split()[0] for line in children] == ["INSERT", "INSERT"], children
    assigned = await _inbox(sessions)
    assert ("accept", "lead") in assigned  # an assigned task awaits its acceptance
    await _record(sessions, accept, 20, Stage.IN_PROGRESS)
    assert {action for action, _ in await _inbox(sessions)}.isdisjoint({"accept"})  # rewritten, not added to


async def test_a_row_whose_children_are_still_to_be_filled_in_gets_its_inbox_rows(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    """A row from before the inbox rows (its search text not written yet, `fill_in`'s to do) has none
    to compare with: the next recording writes them, whatever the state before."""
    created, comment = _chain("created", "comment")
    await _record(sessions, created, 10)
    wanted = await _inbox(sessions)
    async with sessions() as session, session.begin():
        await session.execute(delete(models.InboxRow))
        await session.execute(update(models.Task).values(search=None))
    await _record(sessions, comment, 20)
    assert await _inbox(sessions) == wanted


async def test_a_row_of_an_attempt_that_never_became_durable_is_replaced_and_kept_apart(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    created, lost = _chain("created", "comment")
    decided = _chain("created", "accept")[1]  # what the workflow decided for seq 2 after the crash
    await _record(sessions, created, 10)
    await _record(sessions, lost, 20, Stage.ASSIGNED)
    assert await _record(sessions, decided, 20, Stage.BUDGET_REGISTRATION)  # same fence: a retried workflow task
    assert await _rows(sessions) == [(1, "created"), (2, "accept")]
    assert await _rows(sessions, models.SupersededEvent) == [(2, "comment")]
    assert await _task_row(sessions) == (2, "budget_registration")


async def test_rows_after_the_replaced_one_go_apart_too_and_the_task_row_follows(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    created, lost_2, lost_3 = _chain("created", "accept", "review.approve")
    decided = _chain("created", "comment")[1]
    await _record(sessions, created, 10)
    await _record(sessions, lost_2, 20, Stage.IN_PROGRESS)
    await _record(sessions, lost_3, 20, Stage.COMPLETED)
    await _record(sessions, decided, 20, Stage.ASSIGNED)
    assert await _rows(sessions) == [(1, "created"), (2, "comment")]
    assert await _rows(sessions, models.SupersededEvent) == [(2, "accept"), (3, "review.approve")]
    assert await _task_row(sessions) == (2, "assigned")  # not 'completed' any more


async def test_a_stale_attempt_writes_nothing_over_a_newer_one(sessions: async_sessionmaker[AsyncSession]) -> None:
    created, newer = _chain("created", "accept")
    stale = _chain("created", "comment")[1]
    await _record(sessions, created, 10)
    await _record(sessions, newer, 30, Stage.BUDGET_REGISTRATION)
    await _record(sessions, stale, 20)  # a cut-off worker writing late
    assert await _rows(sessions) == [(1, "created"), (2, "accept")]
    assert await _task_row(sessions) == (2, "budget_registration")


async def test_a_row_below_that_disagrees_is_reported_and_rebuild_rewrites_it_from_the_log(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    log = _chain("created", "accept", "comment")
    await _record(sessions, log[0], 10)
    async with transaction(sessions) as session:  # someone with database access edits event 1
        await session.execute(update(models.Event).values(data={"n": "edited"}, hash="f" * 64))
    assert not await _record(sessions, log[1], 20)  # event 2 does not chain to the row before it
    assert await _record(sessions, log[2], 30)  # event 3 does
    async with transaction(sessions) as session:
        changed = await rebuild(session, _state(3), log, 30)
    assert changed == 2  # the edited row set apart, the workflow's event 1 written
    async with sessions() as session:
        rows = list(await session.scalars(select(models.Event).order_by(models.Event.seq)))
    assert [row.hash for row in rows] == [event.hash for event in log]
    assert await _rows(sessions, models.SupersededEvent) == [(1, "created")]


# Through the running stack ---------------------------------------------------------------------

def _spec(code: str) -> dict[str, Any]:
    return {"code": code, "title": "Nhiệm vụ theo quy trình", "lead_agency": "HNI", "coordinating_agencies": [],
            "deadline": "2099-12-31", "kpis": [{"name": "Chỉ tiêu", "target": 1, "unit": ""}]}


async def _create(stack: Stack, key: str | None = None) -> str:
    code = unique_code("FOLLOW")
    headers = {**await stack.login("office"), **({"Idempotency-Key": key} if key else {})}
    ok(await stack.http.post("/api/v1/tasks", headers=headers, json=_spec(code)), 201)
    return code


async def _recorded_hashes(stack: Stack, code: str) -> list[str]:
    handle = stack.temporal.get_workflow_handle_for(TaskLifecycleWorkflow.run, workflow_id(code))
    return [event.hash for event in (await handle.query(TaskLifecycleWorkflow.recorded)).events]


async def _row_hashes(stack: Stack, code: str, table: type = models.Event) -> list[str]:
    async with stack.sessions() as session:
        return list(await session.scalars(select(table.hash).where(table.task_code == code).order_by(table.seq)))


async def _leave_a_lost_attempt(stack: Stack, code: str, key: str, actor: str) -> str:
    """What a crash leaves: the recording step of an update whose workflow task never completed
    wrote its event (here a comment) and moved the task row, and Temporal forgot the update."""
    async with transaction(stack.sessions) as session:
        last = await session.scalar(select(models.Event).where(models.Event.task_code == code)
                                    .order_by(models.Event.seq.desc()).limit(1))
        assert last is not None
        event = Event(seq=last.seq + 1, type="comment", actor=actor, at=datetime.now(UTC), data={"text": "mất"})
        lost = chained(last.hash, code, event, key)
        session.add(models.Event(task_code=code, seq=lost.seq, type=lost.type, actor=lost.actor, at=lost.at,
                                 data=lost.data, request_id=key, prev_hash=lost.prev_hash, hash=lost.hash,
                                 fence=last.fence))
        await session.execute(update(models.Task).where(models.Task.code == code).values(
            seq=lost.seq, stage="completed", fence=last.fence, recorded_at=datetime.now(UTC)))
    return lost.hash


async def test_a_create_retried_with_its_key_answers_the_created_task(stack: Stack) -> None:
    key = f"create-{uuid.uuid4()}"
    code = await _create(stack, key)
    headers = {**await stack.login("office"), "Idempotency-Key": key}
    again = ok(await stack.http.post("/api/v1/tasks", headers=headers, json=_spec(code)), 201)
    assert (again["code"], again["stage"]) == (code, "assigned")
    duplicate = await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json=_spec(code))
    assert duplicate.status_code == 409, duplicate.text
    # Right after an acknowledged create, the task takes its first action.
    assert ok(await post_action(stack, "hni.head", code, "accept", {}))["stage"] == "in_progress"


async def test_a_retried_key_goes_to_the_workflow_not_to_the_row_a_lost_attempt_left(stack: Stack) -> None:
    code = await _create(stack)
    ok(await post_action(stack, "hni.head", code, "accept", {}))
    key = f"comment-{uuid.uuid4()}"
    lost_hash = await _leave_a_lost_attempt(stack, code, key, "hni.head")

    answer = ok(await post_action(stack, "hni.head", code, "comment", {"text": "mất"}, key))
    assert answer["stage"] == "in_progress"
    assert await _row_hashes(stack, code) == await _recorded_hashes(stack, code)
    assert await _row_hashes(stack, code, models.SupersededEvent) == [lost_hash]
    task = ok(await stack.http.get(f"/api/v1/tasks/{code}", headers=await stack.login("office")))
    assert task["stage"] == "in_progress"
    # Retried once more, the workflow answers it from what it recorded: nothing is written twice.
    assert ok(await post_action(stack, "hni.head", code, "comment", {"text": "mất"}, key))["stage"] == "in_progress"
    assert len(await _row_hashes(stack, code)) == 3


async def test_the_catch_up_sets_apart_what_no_workflow_recorded(stack: Stack) -> None:
    code = await _create(stack)
    ok(await post_action(stack, "hni.head", code, "accept", {}))
    lost_hash = await _leave_a_lost_attempt(stack, code, f"never-retried-{uuid.uuid4()}", "hni.head")
    result = await catch_up(stack.temporal, stack.sessions, stack.settings.task_queue, codes=[code])
    assert result.resynced == [code]
    assert await _row_hashes(stack, code) == await _recorded_hashes(stack, code)
    assert await _row_hashes(stack, code, models.SupersededEvent) == [lost_hash]
    async with stack.sessions() as session:
        row = await session.get(models.Task, code)
        assert row is not None and (row.seq, row.stage) == (2, "in_progress")
    again = await catch_up(stack.temporal, stack.sessions, stack.settings.task_queue, codes=[code])
    assert again.resynced == []  # in step now


async def test_the_catch_up_after_a_start_looks_only_at_rows_written_since_the_last_one_began(stack: Stack) -> None:
    queue = stack.settings.task_queue
    await catch_up(stack.temporal, stack.sessions, queue)  # as a worker starting: it leaves its mark
    recent, old = await _create(stack), await _create(stack)
    for code in (recent, old):
        ok(await post_action(stack, "hni.head", code, "accept", {}))
        await _leave_a_lost_attempt(stack, code, f"never-retried-{uuid.uuid4()}", "hni.head")
    async with transaction(stack.sessions) as session:  # as if `old` had been written before that mark
        await session.execute(update(models.Task).where(models.Task.code == old).values(
            recorded_at=datetime.now(UTC) - timedelta(days=1)))
        program = await session.scalar(select(func.count()).select_from(models.Task))
    result = await catch_up(stack.temporal, stack.sessions, queue)
    assert recent in result.resynced and old not in result.resynced
    assert result.tasks < program  # not the whole program
    # What no crash explains (a database restored from a backup) is for `nq57 projection rebuild`.
    assert (await catch_up(stack.temporal, stack.sessions, queue, codes=[old])).resynced == [old]


async def test_a_rewritten_and_rehashed_event_is_named_by_audit_verify(stack: Stack) -> None:
    code = await _create(stack)
    ok(await post_action(stack, "hni.head", code, "accept", {}))
    ok(await post_action(stack, "hni.head", code, "comment", {"text": "Bản gốc"}))
    async with transaction(stack.sessions) as session:  # rewrite event 3 and re-hash the chain after it
        rows = list(await session.scalars(select(models.Event).where(models.Event.task_code == code)
                                          .order_by(models.Event.seq)))
        rows[2].data = {"text": "Bản đã sửa"}
        previous = rows[1].hash
        for row in rows[2:]:
            row.prev_hash = previous
            row.hash = previous = event_hash(previous, code, row.seq, row.type, row.actor, row.at, row.data)
    auditor = await stack.login("auditor")
    result = ok(await stack.http.get("/api/v1/audit/verify", headers=auditor))
    assert result["ok"] is False
    assert result["first_bad_seq"] is None  # the chain in the database is consistent in itself...
    # ...but not with what the workflow recorded:
    assert any(code in line and "sự kiện 3" in line for line in result["drift"]), result["drift"]

    await catch_up(stack.temporal, stack.sessions, stack.settings.task_queue, codes=[code])
    compared, differences = await compare(stack.temporal, stack.sessions, stack.settings.task_queue)
    assert compared >= 1 and not [line for line in differences if code in line]


async def test_an_action_no_worker_can_take_answers_503_and_is_safe_to_retry(stack: Stack) -> None:
    from services.workflows import start_task  # the test starts a task on a queue only it serves
    from worker import build_worker

    queue = f"nq57-lonely-{uuid.uuid4().hex[:8]}"
    code = unique_code("LONELY")
    spec = TaskSpec(**_spec(code))
    settings = stack.settings.model_copy(update={"task_queue": queue})
    async with build_worker(stack.temporal, settings, stack.sessions):
        await start_task(stack.temporal, queue, TaskStart(spec=spec, deadline=parse_deadline(spec.deadline),
                                                          created_by="office"), 30)
    saved, stack.settings.action_timeout = stack.settings.action_timeout, 1.5
    key = f"accept-{uuid.uuid4()}"
    try:
        answer = await post_action(stack, "hni.head", code, "accept", {}, key)
    finally:
        stack.settings.action_timeout = saved
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "5"
    assert "Idempotency-Key" in answer.json()["detail"]

    async with build_worker(stack.temporal, settings, stack.sessions):  # a worker is back
        retried = ok(await post_action(stack, "hni.head", code, "accept", {}, key))
        assert retried["stage"] == "in_progress"
        handle = stack.temporal.get_workflow_handle_for(TaskLifecycleWorkflow.run, workflow_id(code))
        assert [e.request_id for e in (await handle.query(TaskLifecycleWorkflow.recorded)).events] == [None, key]
        await handle.terminate(reason="test over")
    async with transaction(stack.sessions) as session:
        await session.execute(delete(models.Event).where(models.Event.task_code == code))
        await session.execute(delete(models.TaskAgency).where(models.TaskAgency.task_code == code))
        await session.execute(delete(models.Task).where(models.Task.code == code))


async def test_readyz_needs_a_worker_polling_the_task_queue(stack: Stack) -> None:
    answer = ok(await stack.http.get("/readyz"))
    assert answer["worker"] == "ok"
    saved, stack.settings.task_queue = stack.settings.task_queue, f"nq57-nobody-{uuid.uuid4().hex[:8]}"
    try:
        idle = await stack.http.get("/readyz")
    finally:
        stack.settings.task_queue = saved
    assert idle.status_code == 503 and idle.headers["Retry-After"] == "5"
    assert "không có worker" in idle.json()["worker"]


# An action is decided on the projection only while it is the workflow's state -----------------

async def _projected_state(stack: Stack, code: str) -> dict[str, Any]:
    async with stack.sessions() as session:
        row = await session.get(models.Task, code)
        assert row is not None
        return dict(row.state)


async def _project_back(stack: Stack, code: str, state: dict[str, Any]) -> None:
    """What a projection behind its workflow holds: an earlier state of the task."""
    async with transaction(stack.sessions) as session:
        await session.execute(update(models.Task).where(models.Task.code == code).values(
            state=state, seq=state["seq"], stage=state["stage"], lead_agency=state["lead_agency"]))


async def test_an_action_the_projection_allows_but_the_workflow_would_not_is_refused(stack: Stack) -> None:
    code = await _create(stack)
    before = await _projected_state(stack, code)  # Hà Nội leads
    ok(await post_action(stack, "committee", code, "reassign", {"lead_agency": "BCA", "reason": "Chuyển đơn vị"}))
    await _project_back(stack, code, before)

    refused = await post_action(stack, "hni.head", code, "accept", {})
    assert refused.status_code == 403, refused.text  # decided again on the workflow's state: BCA leads
    recorded = await stack.temporal.get_workflow_handle_for(TaskLifecycleWorkflow.run, workflow_id(code)).query(
        TaskLifecycleWorkflow.recorded)
    assert [event.type for event in recorded.events] == ["created", "reassign"]
    await _project_back(stack, code, recorded.state.model_dump(mode="json"))  # the stack is shared


async def test_an_action_the_projection_refuses_but_the_workflow_allows_is_taken(stack: Stack) -> None:
    code = await _create(stack)
    before = await _projected_state(stack, code)  # assigned: no progress report yet
    ok(await post_action(stack, "hni.head", code, "accept", {}))
    await _project_back(stack, code, before)

    task = ok(await post_action(stack, "hni.officer", code, "progress.report",
                                {"percent": 10, "kpi_actuals": {}, "note": "Khởi động"}))
    assert (task["stage"], task["progress"]["percent"]) == ("in_progress", 10)


async def test_an_action_on_a_task_not_yet_projected_is_decided_on_its_workflow(stack: Stack) -> None:
    code = await _create(stack)
    async with transaction(stack.sessions) as session:
        await session.execute(delete(models.Task).where(models.Task.code == code))

    assert ok(await post_action(stack, "hni.head", code, "accept", {}))["stage"] == "in_progress"
