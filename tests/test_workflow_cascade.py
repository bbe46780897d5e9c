"""Sub-tasks in the workflow, on the time-skipping test server: the parent's workflow records the
hand-down and starts the part's own workflow; the part tells its parent when it closes (signed, so
nobody else can); the parent's evidence waits until every part has closed."""

from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowHandle

from domain import commands as c
from domain.actors import Actor
from domain.events import Happening, SubtaskClosure
from domain.task import TaskState
from tests.helpers import wait_until
from tests.test_workflow_lifecycle import FILE, HEAD, KPIS, OFFICE, Lifecycle, act, lifecycle, refused
from workflows.task_lifecycle import TaskLifecycleWorkflow, workflow_id

__all__ = ["lifecycle"]  # the module's worker and database, shared with the lifecycle tests' fixture

COMMUNE_HEAD = Actor(username="hoankiem.head", agency="HNI-HOANKIEM", roles=["agency_head"])


async def _in_execution(lifecycle: Lifecycle) -> WorkflowHandle[Any, TaskState]:
    handle = await lifecycle.start(budget_required=False, coordinating=[])
    await act(handle, HEAD, c.Accept())
    return handle


def _part(parent: str, unit: str = "HNI-HOANKIEM", deadline: str = "2099-Q1",
          above: list[str] | None = None) -> c.SubtaskCreate:
    return c.SubtaskCreate(code=f"{parent}-{unit}", title="Phần việc của phường", lead_agency=unit,
                           deadline=deadline, kpis=KPIS, lead_ancestors=["HNI"] if above is None else above)


async def _split(lifecycle: Lifecycle, handle: WorkflowHandle[Any, TaskState]
                 ) -> tuple[TaskState, WorkflowHandle[Any, TaskState]]:
    code = handle.id.removeprefix("task-")
    parent = await act(handle, HEAD, _part(code))
    child = lifecycle.client.get_workflow_handle_for(TaskLifecycleWorkflow.run, workflow_id(f"{code}-HNI-HOANKIEM"))
    return parent, child


async def test_the_hand_down_is_recorded_and_starts_the_parts_own_workflow(lifecycle: Lifecycle) -> None:
    handle = await _in_execution(lifecycle)
    parent, child = await _split(lifecycle, handle)
    assert parent.subtasks == [child.id.removeprefix("task-")]
    part = await child.execute_update(TaskLifecycleWorkflow.snapshot)
    assert part.parent == parent.code and part.overseers == ["HNI"]
    assert part.lead_agency == "HNI-HOANKIEM" and part.spec.kpis == KPIS
    assert [row.type for row in await lifecycle.events(handle)][-1] == "subtask.create"
    created = (await lifecycle.events(child))[0]
    assert created.data["parent"] == parent.code and created.data["overseers"] == ["HNI"]


async def test_a_unit_not_under_the_lead_is_refused_before_history(lifecycle: Lifecycle) -> None:
    handle = await _in_execution(lifecycle)
    code = handle.id.removeprefix("task-")
    failure, _ = await refused(handle, HEAD, _part(code, unit="BKHCN-CDS", above=["BKHCN"]))
    assert failure.type == "RuleViolation" and failure.details[0]["code"] == "subtask_not_under_lead"
    assert (await handle.query(TaskLifecycleWorkflow.current)).subtasks == []


async def test_a_part_due_after_the_task_is_refused(lifecycle: Lifecycle) -> None:
    handle = await _in_execution(lifecycle)
    failure, _ = await refused(handle, HEAD, _part(handle.id.removeprefix("task-"), deadline="2099-Q3"))
    assert failure.details[0]["code"] == "subtask_deadline_after_parent"


async def test_the_parent_waits_for_its_part_and_hears_when_it_closes(lifecycle: Lifecycle) -> None:
    handle = await _in_execution(lifecycle)
    _, child = await _split(lifecycle, handle)
    evidence = c.EvidenceSubmit(summary="Xong", kpi_results={"Xã có dịch vụ công": 100}, files=[FILE])
    failure, _ = await refused(handle, HEAD, evidence)
    assert failure.type == "StageConflict" and failure.details[0]["code"] == "subtasks_open"
    await act(child, OFFICE, c.Cancel(reason="Không còn cần thiết"))
    heard = await wait_until(lambda: handle.query(TaskLifecycleWorkflow.current),
                             lambda state: bool(state.closed_subtasks), what="the parent hears the part closed")
    assert heard.closed_subtasks == {child.id.removeprefix("task-"): "cancelled"} and heard.open_subtasks == []
    assert [row.type for row in await lifecycle.events(handle)][-1] == Happening.SUBTASK_CLOSED
    assert (await act(handle, HEAD, evidence)).stage == "cross_check"


async def test_a_closure_nobody_signed_is_ignored(lifecycle: Lifecycle) -> None:
    """Anyone reaching Temporal could signal; only a part's own workflow can sign its word."""
    handle = await _in_execution(lifecycle)
    parent, child = await _split(lifecycle, handle)
    forged = SubtaskClosure(parent=parent.code, code=parent.subtasks[0], stage="completed", proof="0" * 64)
    await handle.signal(TaskLifecycleWorkflow.subtask_closed, forged)
    after = await act(handle, HEAD, c.Comment(text="Sau tin báo giả"))  # handled after the signal
    assert after.closed_subtasks == {} and after.open_subtasks == parent.subtasks
    assert (await child.query(TaskLifecycleWorkflow.current)).stage == "assigned"


async def test_a_commune_acts_on_its_part_as_its_own_task(lifecycle: Lifecycle) -> None:
    handle = await _in_execution(lifecycle)
    _, child = await _split(lifecycle, handle)
    await child.execute_update(TaskLifecycleWorkflow.snapshot)
    accepted = await act(child, COMMUNE_HEAD, c.Accept())
    assert accepted.stage == "in_progress"
    assert accepted.deadline is not None and accepted.deadline - accepted.created_at > timedelta(days=365)
