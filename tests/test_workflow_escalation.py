"""Escalation inside TaskLifecycleWorkflow on Temporal's time-skipping test server, with the real
recording and notification activities writing to a SQLite file of this module's own (design.md,
"Deadlines and escalation").

Time is moved with `time_skipping.sleep`: the server fires every timer due in the skipped span and
the worker handles it before the server's clock moves on. Deadlines are set relative to the
server's clock, which only ever goes forward and is shared by every module of the session. A
workflow whose worker is gone holds that clock back (see conftest `close_open_workflows`): every workflow a
test starts is terminated when it ends, and what earlier modules left open is terminated first."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from db import models
from db.session import create_schema, make_engine, make_sessions
from domain import commands as c
from domain.actors import Actor
from domain.escalation import LADDER, next_report_due
from domain.stages import Stage
from domain.task import EvidenceFile, LifecycleSettings, Reporting, TaskSpec, TaskState
from policies.enforcer import subject
from settings import Settings
from tests.helpers import TEST_SECRET, close_open_workflows, code_of, send_act, unique_code
from worker import build_worker
from workflows.start import TaskStart
from workflows.task_lifecycle import TaskLifecycleWorkflow, workflow_id

OFFICE = Actor(username="office", agency="VPTW", roles=["steering_office"])
HEAD = Actor(username="hni.head", agency="HNI", roles=["agency_head"])
OFFICER = Actor(username="hni.officer", agency="HNI", roles=["agency_officer"])
REVIEWER = Actor(username="dng.reviewer", agency="DNG", roles=["cross_check_reviewer"])
FILE = EvidenceFile(sha256="c" * 64, filename="ket-qua.pdf", size=100, content_type="application/pdf")

# Who is in the database, what they may be told (agency, e-mail, Casbin roles).
PEOPLE: dict[str, tuple[str, str | None, list[str]]] = {
    "hni.head": ("HNI", "hni.head@hanoi.gov.vn", ["agency_head"]),
    "hni.deputy": ("HNI", None, ["agency_head"]),  # no mail address: told in the app only
    "hni.officer": ("HNI", "hni.officer@hanoi.gov.vn", ["agency_officer"]),
    "hni.clerk": ("HNI", "hni.clerk@hanoi.gov.vn", ["agency_officer"]),  # not the task's officer
    "hcm.head": ("HCM", "hcm.head@hcm.gov.vn", ["agency_head"]),  # another agency's head
    "office": ("VPTW", "office@vptw.gov.vn", ["steering_office"]),
    "office.2": ("VPTW", "office2@vptw.gov.vn", ["steering_office", "auditor"]),
    "committee": ("BCD", "committee@bcd.gov.vn", ["steering_committee"]),
    "admin": ("VPTW", "admin@vptw.gov.vn", ["admin"]),
    "dng.reviewer": ("DNG", "reviewer@danang.gov.vn", ["cross_check_reviewer"]),
}
LEVEL_1 = {"hni.head", "hni.deputy", "hni.officer"}  # the lead agency's heads and the task's officer
LEVEL_2 = {"office", "office.2"}
LEVEL_3 = {"committee"}
AUDIENCE = {1: LEVEL_1, 2: LEVEL_2, 3: LEVEL_3}

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
FAST = LifecycleSettings(escalation_steps=[timedelta(0), HOUR, 2 * HOUR], accept_sla=timedelta(days=300))
T = TypeVar("T")


async def seed_people(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        for code in sorted({agency for agency, _, _ in PEOPLE.values()}):
            session.add(models.Agency(code=code, name=f"Cơ quan {code}", kind="ministry"))
        await session.flush()
        for username, (agency, email, roles) in PEOPLE.items():
            session.add(models.User(username=username, password_hash="x", full_name=username, agency=agency,
                                    email=email, created_at=datetime.now(UTC)))
            session.add_all(models.CasbinRule(ptype="g", v0=subject(username), v1=role) for role in roles)
        session.add(models.CasbinRule(ptype="p", v0="agency_head", v1="task", v2="accept"))  # not a role link


@dataclass
class World:
    env: WorkflowEnvironment
    client: Client
    task_queue: str
    sessions: async_sessionmaker[AsyncSession]
    started: list[WorkflowHandle[Any, Any]] = field(default_factory=list)

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def start(self, *, deadline: datetime, settings: LifecycleSettings = FAST,
                    reporting: Reporting = Reporting.NONE, budget_required: bool = False,
                    state: TaskState | None = None, code: str | None = None) -> WorkflowHandle[Any, TaskState]:
        spec = TaskSpec(code=code or unique_code("ESC"), title="Số hóa hồ sơ cấp xã", lead_agency="HNI",
                        coordinating_agencies=["BKHCN"], deadline=deadline.isoformat(),
                        budget_required=budget_required, reporting=reporting)
        handle = await self.client.start_workflow(
            TaskLifecycleWorkflow.run,
            TaskStart(spec=spec, deadline=deadline, created_by=OFFICE.username, settings=settings, state=state),
            id=workflow_id(spec.code), task_queue=self.task_queue, execution_timeout=timedelta(days=800))
        self.started.append(handle)
        await handle.execute_update(TaskLifecycleWorkflow.snapshot)
        return handle

    async def events(self, handle: WorkflowHandle[Any, Any], kind: str | None = None) -> list[models.Event]:
        async with self.sessions() as session:
            query = select(models.Event).where(models.Event.task_code == code_of(handle))
            if kind is not None:
                query = query.where(models.Event.type == kind)
            return list(await session.scalars(query.order_by(models.Event.seq)))

    async def escalations(self, handle: WorkflowHandle[Any, Any]) -> list[dict]:
        return [row.data for row in await self.events(handle, "escalated")]

    async def notifications(self, handle: WorkflowHandle[Any, Any]) -> list[models.Notification]:
        async with self.sessions() as session:
            return list(await session.scalars(select(models.Notification)
                                               .where(models.Notification.task_code == code_of(handle))
                                               .order_by(models.Notification.event_seq,
                                                         models.Notification.username)))

    async def task_row(self, handle: WorkflowHandle[Any, Any]) -> models.Task:
        async with self.sessions() as session:
            row = await session.get(models.Task, code_of(handle))
            assert row is not None
            return row


async def eventually(probe: Callable[[], Awaitable[T]], check: Callable[[T], bool], *, within: float = 15.0,
                     what: str = "") -> T:
    """Poll until `check` holds (bounded); fail with the last value seen."""
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while True:
        value = await probe()
        if check(value):
            return value
        if loop.time() > end:
            pytest.fail(f"not reached in {within}s: {what}; last seen {value!r}")
        await asyncio.sleep(0.05)


async def current(handle: WorkflowHandle[Any, Any]) -> TaskState:
    return await handle.query(TaskLifecycleWorkflow.current)


async def level_reaches(handle: WorkflowHandle[Any, Any], level: int) -> TaskState:
    return await eventually(lambda: current(handle), lambda s: s.escalation_level == level,
                            what=f"escalation level {level}")


async def act(handle: WorkflowHandle[Any, Any], actor: Actor, command: Any) -> TaskState:
    return await send_act(handle, c.ActionRequest(actor=actor, command=command))


@pytest.fixture(scope="module")
async def world_base(time_skipping: WorkflowEnvironment,
                     tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    await close_open_workflows(time_skipping)
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('escalation') / 'esc.db'}")
    await create_schema(engine)
    sessions = make_sessions(engine)
    await seed_people(sessions)
    task_queue = f"escalation-{uuid.uuid4().hex[:8]}"
    settings = Settings(task_queue=task_queue, smtp_url="", webhook_url="", secret_key=TEST_SECRET)
    async with build_worker(time_skipping.client, settings, sessions):
        yield World(time_skipping, time_skipping.client, task_queue, sessions)
    await engine.dispose()


@pytest.fixture
async def world(world_base: World) -> AsyncIterator[World]:
    world_base.started = []
    yield world_base
    for handle in world_base.started:  # a workflow left behind would hold the shared clock back
        if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            await handle.terminate(reason="test over")


def by_event(rows: list[models.Notification]) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {}
    for row in rows:
        found.setdefault(row.event_seq, set()).add(row.username)
    return found


async def escalated_rows(world: World, handle: WorkflowHandle[Any, Any], count: int) -> list[models.Event]:
    return await eventually(lambda: world.events(handle, "escalated"), lambda rows: len(rows) >= count,
                            what=f"{count} escalated events")


def due_of(row: models.Event) -> datetime:
    return datetime.fromisoformat(row.data["due"])


async def check_notified(world: World, handle: WorkflowHandle[Any, Any], rows: list[models.Event], *,
                         officer: bool = True) -> None:
    """Each escalated event told its level's audience, one row per person, nobody else."""
    notes = await world.notifications(handle)
    assert len(notes) == len({(note.username, note.event_seq) for note in notes}), "a notification twice"
    audience = {**AUDIENCE, 1: LEVEL_1 if officer else LEVEL_1 - {"hni.officer"}}
    assert by_event(notes) == {row.seq: audience[row.data["level"]] for row in rows}
    for note in notes:
        level = next(row.data["level"] for row in rows if row.seq == note.event_seq)
        assert note.level == level and str(level) in note.subject and code_of(handle) in note.subject


# --- the ladder -----------------------------------------------------------------------------------

async def test_lapsed_deadline_climbs_levels_1_2_3_at_the_configured_offsets(world: World) -> None:
    start = await world.now()
    deadline = start + HOUR
    handle = await world.start(deadline=deadline)
    accepted = await act(handle, HEAD, c.Accept(officer="hni.officer"))
    assert accepted.stage == Stage.IN_PROGRESS and accepted.escalation_level == 0 and not accepted.overdue

    await world.env.sleep(HOUR - 5 * MINUTE)  # not yet
    state = await current(handle)
    assert state.escalation_level == 0 and state.overdue is False
    assert await world.escalations(handle) == []

    for level in (1, 2, 3):
        offset = FAST.escalation_steps[level - 1]
        await world.env.sleep(deadline + offset + MINUTE - await world.now())
        state = await level_reaches(handle, level)
        assert state.overdue is True
        rows = await escalated_rows(world, handle, level)
        assert [row.data["level"] for row in rows] == list(range(1, level + 1))  # one event per rise
        newest = rows[-1]
        assert deadline + offset <= newest.at < deadline + offset + MINUTE  # at the offset, not before
        assert newest.actor == "system"
        assert due_of(newest) == deadline
        assert {**newest.data, "due": None} == {"kind": "deadline", "due": None, "level": level,
                                                "audience": LADDER[level - 1].audience_vi, "lead_agency": "HNI",
                                                "days_late": 0}
        assert newest.seq == state.seq  # the escalation is the latest thing that happened
        row = await world.task_row(handle)
        assert row.escalation_level == level and row.overdue is True

    await world.env.sleep(10 * HOUR)  # the top of the ladder: nothing more
    rows = await world.events(handle, "escalated")
    assert [row.data["level"] for row in rows] == [1, 2, 3]
    assert (await current(handle)).escalation_level == 3
    await check_notified(world, handle, rows)
    assert len(await world.notifications(handle)) == len(LEVEL_1) + len(LEVEL_2) + len(LEVEL_3)


async def test_with_neither_mail_nor_webhook_configured_an_escalation_starts_no_delivery(world: World) -> None:
    """Its people are told in the app; no activity is started that would have nowhere to deliver
    (a program's deadlines lapsing together once ran a webhook activity each for nothing)."""
    deadline = await world.now() + HOUR
    handle = await world.start(deadline=deadline)
    await act(handle, HEAD, c.Accept(officer="hni.officer"))
    await world.env.sleep(HOUR + MINUTE)
    rows = await escalated_rows(world, handle, 1)
    await check_notified(world, handle, rows)
    history = await handle.fetch_history()
    assert not [event for event in history.events if event.HasField("activity_task_scheduled_event_attributes")]


async def test_an_escalation_is_recorded_and_told_by_one_activity(world: World) -> None:
    """Its event and its in-app notices are written together, by one local activity in one
    transaction (RECORD_AND_TELL_PATCH), not one to record and one to tell."""
    deadline = await world.now() + HOUR
    handle = await world.start(deadline=deadline)
    await act(handle, HEAD, c.Accept(officer="hni.officer"))
    await world.env.sleep(HOUR + MINUTE)
    await check_notified(world, handle, await escalated_rows(world, handle, 1))
    steps = [json.loads(payload.data)["activity_type"] for event in (await handle.fetch_history()).events
             if event.marker_recorded_event_attributes.marker_name == "core_local_activity"
             for payload in event.marker_recorded_event_attributes.details["data"].payloads]
    assert steps.count("record_and_tell") == 1 and "tell_in_app" not in steps
    assert steps.count("record_event") == 2  # its creation and its acceptance


async def test_actions_under_one_deadline_keep_its_timer_and_it_still_lapses_on_time(world: World) -> None:
    """An action that leaves the next escalation where it was starts no timer and cancels none
    (KEPT_TIMER_PATCH): the one timer started for the deadline is the one that fires."""
    deadline = await world.now() + HOUR
    handle = await world.start(deadline=deadline)
    await act(handle, HEAD, c.Accept(officer="hni.officer"))
    await act(handle, OFFICER, c.ProgressReportCommand(percent=20))
    await act(handle, OFFICER, c.ProgressReportCommand(percent=40))
    history = await handle.fetch_history()
    assert [event.HasField("timer_started_event_attributes") for event in history.events].count(True) == 1
    assert not [event for event in history.events if event.HasField("timer_canceled_event_attributes")]
    await world.env.sleep(deadline + MINUTE - await world.now())
    rows = await escalated_rows(world, handle, 1)
    assert deadline <= rows[0].at < deadline + MINUTE


async def test_unaccepted_task_escalates_the_accept_sla_to_the_heads_and_acceptance_clears_it(
        world: World) -> None:
    settings = FAST.model_copy(update={"accept_sla": HOUR})
    handle = await world.start(deadline=await world.now() + timedelta(days=60), settings=settings)
    await world.env.sleep(HOUR + MINUTE)
    state = await level_reaches(handle, 1)
    assert state.overdue is True and state.officer is None
    rows = await escalated_rows(world, handle, 1)
    assert [(row.data["kind"], row.data["level"]) for row in rows] == [("accept", 1)]
    notes = await world.notifications(handle)
    assert {note.username for note in notes} == LEVEL_1 - {"hni.officer"}  # no officer named yet

    accepted = await act(handle, HEAD, c.Accept(officer="hni.officer"))
    assert accepted.overdue is False and accepted.escalation_level == 0
    await world.env.sleep(3 * HOUR)  # the accept ladder's later rungs have passed: it no longer binds
    assert [row.data["level"] for row in await world.events(handle, "escalated")] == [1]
    assert (await world.task_row(handle)).overdue is False


async def test_task_created_past_its_deadline_starts_at_the_level_it_has_reached(world: World) -> None:
    start = await world.now()
    deadline = start - timedelta(days=10)
    settings = LifecycleSettings(accept_sla=timedelta(days=300))  # the default 0d, 7d, 14d
    handle = await world.start(deadline=deadline, settings=settings)
    state = await level_reaches(handle, 2)
    assert state.overdue is True
    rows = await escalated_rows(world, handle, 2)
    assert [row.type for row in await world.events(handle)] == ["created", "escalated", "escalated"]
    assert [row.data["level"] for row in rows] == [1, 2]
    assert all(row.data["days_late"] == 10 for row in rows)
    await check_notified(world, handle, rows, officer=False)

    await world.env.sleep(deadline + timedelta(days=14) + MINUTE - await world.now())
    state = await level_reaches(handle, 3)
    rows = await escalated_rows(world, handle, 3)
    assert [row.data["level"] for row in rows] == [1, 2, 3]
    assert deadline + timedelta(days=14) <= rows[-1].at < deadline + timedelta(days=14, minutes=1)
    await check_notified(world, handle, rows, officer=False)


async def test_task_created_long_after_its_deadline_gets_levels_1_2_3_at_once(world: World) -> None:
    handle = await world.start(deadline=await world.now() - timedelta(days=400),
                               settings=LifecycleSettings(accept_sla=timedelta(days=300)))
    state = await level_reaches(handle, 3)
    rows = await escalated_rows(world, handle, 3)
    assert [row.data["level"] for row in rows] == [1, 2, 3] and [row.seq for row in rows] == [2, 3, 4]
    assert state.seq == 4
    await check_notified(world, handle, rows, officer=False)


# --- extensions -----------------------------------------------------------------------------------

async def test_approved_extension_clears_the_level_and_rearms_the_timers_for_the_new_deadline(
        world: World) -> None:
    start = await world.now()
    deadline = start + HOUR
    handle = await world.start(deadline=deadline)
    await act(handle, HEAD, c.Accept(officer="hni.officer"))
    await world.env.sleep(deadline + HOUR + MINUTE - await world.now())
    await level_reaches(handle, 2)

    new_deadline = (start + 6 * HOUR).replace(microsecond=0)
    await act(handle, HEAD, c.ExtensionRequestCommand(new_deadline=new_deadline.isoformat(), reason="Chờ vốn"))
    extended = await act(handle, OFFICE, c.ExtensionApprove(reason="Đồng ý"))
    assert extended.deadline == new_deadline and extended.extensions_granted == 1
    assert extended.overdue is False and extended.escalation_level == 0
    row = await world.task_row(handle)
    assert row.overdue is False and row.escalation_level == 0 and row.deadline == new_deadline

    # The old ladder's level 3 (deadline + 2h) passes without a word.
    await world.env.sleep(deadline + 3 * HOUR - await world.now())
    assert [row.data["level"] for row in await world.events(handle, "escalated")] == [1, 2]
    assert (await current(handle)).escalation_level == 0

    # The new deadline lapses: a fresh ladder from level 1.
    await world.env.sleep(new_deadline + MINUTE - await world.now())
    state = await level_reaches(handle, 1)
    assert state.overdue is True
    rows = await escalated_rows(world, handle, 3)
    assert [(due_of(row), row.data["level"]) for row in rows] == [
        (deadline, 1), (deadline, 2), (new_deadline, 1)]
    assert new_deadline <= rows[-1].at < new_deadline + MINUTE
    await check_notified(world, handle, rows)

    await world.env.sleep(HOUR)
    await level_reaches(handle, 2)
    assert [row.data["level"] for row in await escalated_rows(world, handle, 4)] == [1, 2, 1, 2]


async def test_extension_request_is_refused_once_the_maximum_is_granted(world: World) -> None:
    start = await world.now()
    handle = await world.start(deadline=start + timedelta(days=30),
                               settings=FAST.model_copy(update={"max_extensions": 2}))
    await act(handle, HEAD, c.Accept())
    for months in (2, 3):
        new = (start + timedelta(days=30 * months)).replace(microsecond=0).isoformat()
        await act(handle, HEAD, c.ExtensionRequestCommand(new_deadline=new, reason="Thêm thời gian"))
        await act(handle, OFFICE, c.ExtensionApprove())
    assert (await current(handle)).extensions_granted == 2
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await act(handle, HEAD, c.ExtensionRequestCommand(new_deadline="2099-Q4", reason="Lần ba"))
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "StageConflict"
    state = await current(handle)
    assert state.extension_request is None and state.extensions_granted == 2
    assert [row.type for row in await world.events(handle)][-1] == "extension.approve"


# --- reports --------------------------------------------------------------------------------------

async def test_missed_monthly_report_escalates_and_a_filed_report_clears_it(world: World) -> None:
    start = await world.now()
    handle = await world.start(deadline=start + timedelta(days=400), reporting=Reporting.MONTHLY,
                               settings=LifecycleSettings(accept_sla=timedelta(days=300)))
    accepted = await act(handle, HEAD, c.Accept(officer="hni.officer"))
    assert accepted.in_progress_since is not None
    due = next_report_due(accepted.in_progress_since, Reporting.MONTHLY, "Asia/Ho_Chi_Minh")
    assert timedelta(days=28) < due - start < timedelta(days=63)

    await world.env.sleep(due - MINUTE - await world.now())
    assert (await current(handle)).overdue is False and await world.escalations(handle) == []

    await world.env.sleep(2 * MINUTE)
    state = await level_reaches(handle, 1)
    assert state.overdue is True
    rows = await escalated_rows(world, handle, 1)
    assert [(row.data["kind"], due_of(row), row.data["level"]) for row in rows] == [("report", due, 1)]
    await check_notified(world, handle, rows)

    reported = await act(handle, OFFICER, c.ProgressReportCommand(percent=40, note="Báo cáo tháng"))
    assert reported.overdue is False and reported.escalation_level == 0
    assert reported.last_report_at is not None
    next_due = next_report_due(reported.last_report_at, Reporting.MONTHLY, "Asia/Ho_Chi_Minh")
    assert next_due > due + timedelta(days=28)
    row = await world.task_row(handle)
    assert row.overdue is False and row.escalation_level == 0

    await world.env.sleep(timedelta(days=8))  # past where the missed report's level 2 would have been
    assert [row.data["level"] for row in await world.events(handle, "escalated")] == [1]
    assert (await current(handle)).escalation_level == 0


# --- completion -----------------------------------------------------------------------------------

async def test_completion_after_the_deadline_is_late_and_stops_the_ladder(world: World) -> None:
    start = await world.now()
    deadline = start + HOUR
    handle = await world.start(deadline=deadline)
    await act(handle, HEAD, c.Accept(officer="hni.officer"))
    await world.env.sleep(HOUR + MINUTE)
    await level_reaches(handle, 1)

    await act(handle, HEAD, c.EvidenceSubmit(summary="Đã xong", files=[FILE]))
    await act(handle, OFFICE, c.ReviewAssign(reviewer="dng.reviewer", reviewer_agency="DNG"))
    done = await act(handle, REVIEWER, c.ReviewApprove(reason="Đạt"))
    assert done.stage == Stage.COMPLETED and done.late is True
    row = await world.task_row(handle)
    assert row.stage == "completed" and row.late is True
    completed = [row for row in await world.events(handle) if row.type == "review.approve"]
    assert len(completed) == 1

    await world.env.sleep(3 * HOUR)  # levels 2 and 3 would have fallen due: the task is done
    assert [row.data["level"] for row in await world.events(handle, "escalated")] == [1]
    assert (await current(handle)).late is True


async def test_completion_before_the_deadline_is_not_late(world: World) -> None:
    handle = await world.start(deadline=await world.now() + 5 * HOUR)
    await act(handle, HEAD, c.Accept(officer="hni.officer"))
    await world.env.sleep(HOUR)
    await act(handle, HEAD, c.EvidenceSubmit(summary="Đã xong", files=[FILE]))
    await act(handle, OFFICE, c.ReviewAssign(reviewer="dng.reviewer", reviewer_agency="DNG"))
    done = await act(handle, REVIEWER, c.ReviewApprove())
    assert done.stage == Stage.COMPLETED and done.late is False
    assert (await world.task_row(handle)).late is False


# --- continue-as-new ------------------------------------------------------------------------------

async def force_continue_as_new(handle: WorkflowHandle[Any, Any]) -> int:
    """Long comments (as long as a comment may be) push the history past the size at which the
    server suggests continue-as-new."""
    first_run = (await handle.describe()).run_id
    for number in range(600):
        await act(handle, OFFICER, c.Comment(text=f"Ghi chú {number}: " + "nội dung dài " * 760))
        description = await handle.describe()
        if description.run_id != first_run:
            return number + 1
    pytest.fail("the workflow never continued as new")


async def test_continue_as_new_keeps_ladders_extension_request_and_level(world: World) -> None:
    start = await world.now()
    deadline = start + HOUR
    handle = await world.start(deadline=deadline)
    await act(handle, HEAD, c.Accept(officer="hni.officer"))
    await world.env.sleep(HOUR + MINUTE)
    await level_reaches(handle, 1)
    pending = await act(handle, HEAD, c.ExtensionRequestCommand(
        new_deadline=(start + timedelta(days=30)).replace(microsecond=0).isoformat(), reason="Chờ vốn"))
    assert pending.extension_request is not None
    before = await current(handle)

    comments = await force_continue_as_new(handle)
    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.RUNNING
    after = await current(handle)
    assert after.seq == before.seq + comments
    assert after.model_dump(exclude={"seq", "updated_at"}) == before.model_dump(exclude={"seq", "updated_at"})

    events = await world.events(handle)
    assert [row.seq for row in events] == list(range(1, after.seq + 1))  # no gap, no double
    assert [row.type for row in events].count("created") == 1
    assert [row.type for row in events].count("escalated") == 1

    # The new run goes on with the old run's ladders: level 2 at its offset, not level 1 again.
    await world.env.sleep(deadline + HOUR + MINUTE - await world.now())
    await level_reaches(handle, 2)
    rows = await escalated_rows(world, handle, 2)
    assert [row.data["level"] for row in rows] == [1, 2]
    await check_notified(world, handle, rows)
    # And the extension asked for in the old run is approved in the new one.
    extended = await act(handle, OFFICE, c.ExtensionApprove())
    assert extended.extensions_granted == 1 and extended.escalation_level == 0 and extended.overdue is False
    assert (await handle.describe()).run_id == description.run_id


async def test_started_with_a_state_resumes_without_recording_creation_again(world: World) -> None:
    """The handover continue-as-new relies on, driven directly: a TaskStart carrying the state."""
    start = await world.now()
    deadline = start - timedelta(days=8)  # levels 1 and 2 are due
    original = await world.start(deadline=deadline, settings=LifecycleSettings(accept_sla=timedelta(days=300)))
    await level_reaches(original, 2)
    state = await current(original)
    await original.terminate(reason="handover")
    world.started.remove(original)

    handle = await world.client.start_workflow(
        TaskLifecycleWorkflow.run,
        TaskStart(spec=state.spec, deadline=state.deadline, created_by="office", state=state),
        id=original.id, task_queue=world.task_queue, execution_timeout=timedelta(days=800))
    world.started.append(handle)
    resumed = await handle.execute_update(TaskLifecycleWorkflow.snapshot)
    assert resumed.seq == state.seq and resumed.ladders == state.ladders and resumed.escalation_level == 2
    assert resumed.created_at == state.created_at
    await world.env.sleep(deadline + timedelta(days=14, minutes=1) - await world.now())
    await level_reaches(handle, 3)
    types = [row.type for row in await world.events(handle)]
    assert types == ["created", "escalated", "escalated", "escalated"]
