"""Each kind of task's timers inside TaskLifecycleWorkflow, on Temporal's time-skipping test server
with the real recording and notification activities (the world of tests/test_workflow_escalation.py):
a recurring or standing task climbs the report ladder each period and has no deadline ladder; a
standing one is closed by the Standing Office; a task whose deadline is pending reminds the Office
(level 2) each period until the Office sets the deadline, which then binds as a one-off's.

Time moves only with `world.env.sleep`, never the wall clock."""

from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowHandle

from domain import commands as c
from domain.deadlines import due_of as instant_of
from domain.escalation import next_report_due
from domain.stages import Stage
from domain.task import Reporting, TaskKind, TaskSpec, TaskState
from tests import test_workflow_escalation as escalation
from tests.helpers import unique_code
from tests.test_workflow_escalation import (
    FAST,
    HEAD,
    HOUR,
    LEVEL_1,
    LEVEL_2,
    MINUTE,
    OFFICE,
    OFFICER,
    World,
    act,
    by_event,
    current,
    due_of,
    escalated_rows,
    eventually,
)
from workflows.task_lifecycle import TaskLifecycleWorkflow, TaskStart, workflow_id

# The escalation tests' world: its worker, database and people, each test's workflows ended after it.
world_base, world = escalation.world_base, escalation.world
TZ = "Asia/Ho_Chi_Minh"
PENDING = FAST.model_copy(update={"deadline_pending_reminder": HOUR})


async def start(world: World, kind: TaskKind, *, deadline: str = "", reporting: Reporting = Reporting.NONE,
                settings: Any = FAST) -> WorkflowHandle[Any, TaskState]:
    spec = TaskSpec(code=unique_code("KIND"), title="Nhiệm vụ theo loại", lead_agency="HNI", kind=kind,
                    deadline=deadline, reporting=reporting)
    handle = await world.client.start_workflow(
        TaskLifecycleWorkflow.run,
        TaskStart(spec=spec, deadline=instant_of(spec.deadline), created_by=OFFICE.username, settings=settings),
        id=workflow_id(spec.code), task_queue=world.task_queue, execution_timeout=timedelta(days=800))
    world.started.append(handle)
    await handle.execute_update(TaskLifecycleWorkflow.snapshot)
    return handle


async def test_a_recurring_task_without_a_deadline_climbs_only_the_report_ladder(world: World) -> None:
    handle = await start(world, TaskKind.RECURRING, reporting=Reporting.MONTHLY)
    accepted = await act(handle, HEAD, c.Accept(officer="hni.officer"))
    assert accepted.deadline is None and accepted.in_progress_since is not None
    due = next_report_due(accepted.in_progress_since, Reporting.MONTHLY, TZ)

    await world.env.sleep(due + MINUTE - await world.now())
    rows = await escalated_rows(world, handle, 1)
    assert [(row.data["kind"], row.data["level"]) for row in rows] == [("report", 1)]
    assert by_event(await world.notifications(handle)) == {rows[0].seq: LEVEL_1}

    reported = await act(handle, OFFICER, c.ProgressReportCommand(percent=10, note="Báo cáo tháng"))
    assert reported.overdue is False and reported.escalation_level == 0
    await world.env.sleep(timedelta(days=8))  # past where the missed report's level 2 would have been
    assert [row.data["kind"] for row in await world.events(handle, "escalated")] == ["report"]


async def test_a_standing_task_is_assessed_each_quarter_and_the_office_closes_it(world: World) -> None:
    handle = await start(world, TaskKind.STANDING)
    accepted = await act(handle, HEAD, c.Accept(officer="hni.officer"))
    assert accepted.spec.reporting == Reporting.QUARTERLY and accepted.in_progress_since is not None
    due = next_report_due(accepted.in_progress_since, Reporting.QUARTERLY, TZ)

    await world.env.sleep(due + MINUTE - await world.now())
    rows = await escalated_rows(world, handle, 1)
    assert [(row.data["kind"], row.data["level"]) for row in rows] == [("report", 1)]

    closed = await act(handle, OFFICE, c.Close(reason="Đã lồng ghép vào nhiệm vụ khác"))
    assert (closed.stage, closed.close_reason) == (Stage.CLOSED, "Đã lồng ghép vào nhiệm vụ khác")
    assert (await world.task_row(handle)).stage == "closed"
    await world.env.sleep(timedelta(days=8))  # the missed report's level 2 would have fallen due
    assert [row.data["level"] for row in await world.events(handle, "escalated")] == [1]


async def test_a_pending_deadline_reminds_the_office_each_period_until_it_is_set(world: World) -> None:
    handle = await start(world, TaskKind.ONE_OFF, deadline="khẩn trương", settings=PENDING)
    created = await current(handle)
    assert (created.kind, created.deadline, created.deadline_text) == (
        TaskKind.DEADLINE_PENDING, None, "khẩn trương")
    await act(handle, HEAD, c.Accept(officer="hni.officer"))

    await world.env.sleep(created.created_at + HOUR + MINUTE - await world.now())
    first = await escalated_rows(world, handle, 1)
    assert [(row.data["kind"], row.data["level"]) for row in first] == [("unset", 2)]
    assert by_event(await world.notifications(handle)) == {first[0].seq: LEVEL_2}  # the Office, not the lead
    state = await current(handle)
    assert state.overdue is False and state.escalation_level == 0

    await world.env.sleep(created.created_at + 2 * HOUR + MINUTE - await world.now())
    second = await escalated_rows(world, handle, 2)
    assert [due_of(row) for row in second] == [created.created_at + n * HOUR for n in (1, 2)]

    deadline = (await world.now() + 5 * HOUR).replace(microsecond=0)
    set_ = await act(handle, OFFICE, c.Correct(reason="Luật đã có hiệu lực", deadline=deadline.isoformat()))
    assert (set_.kind, set_.deadline, set_.original_deadline) == (TaskKind.ONE_OFF, deadline, deadline)
    assert (await world.task_row(handle)).deadline == deadline

    await world.env.sleep(deadline + MINUTE - await world.now())  # past two more reminder periods
    rows = await eventually(lambda: world.events(handle, "escalated"),
                            lambda found: any(row.data["kind"] == "deadline" for row in found),
                            what="the set deadline's first level")
    assert [(row.data["kind"], row.data["level"]) for row in rows] == [("unset", 2), ("unset", 2), ("deadline", 1)]
