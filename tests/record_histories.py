"""Records one history per branch of the task workflow into tests/histories/, for test_replay.py.

Run it (`.venv/bin/python -m tests.record_histories`) when a deliberate change to the workflow
is made under `workflow.patched(...)`: keep the old files (running tasks still have those
histories) and add the new ones. Replaying old histories is what proves running tasks survive."""

import asyncio
import shutil
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from db.session import create_schema, make_engine, make_sessions
from domain import commands as c
from domain.actors import Actor
from domain.task import EvidenceFile, Kpi, LifecycleSettings, TaskSpec
from settings import Settings
from tests.helpers import TEST_SECRET, send_act
from worker import build_worker
from workflows.start import TaskStart
from workflows.task_lifecycle import TaskLifecycleWorkflow, workflow_id

HISTORIES = Path(__file__).with_name("histories")
HEAD = Actor(username="hni.head", agency="HNI", roles=["agency_head"])
OFFICER = Actor(username="hni.officer", agency="HNI", roles=["agency_officer"])
FINANCE = Actor(username="finance", agency="BTC", roles=["finance_reviewer"])
OFFICE = Actor(username="office", agency="VPTW", roles=["steering_office"])
REVIEWER = Actor(username="reviewer", agency="HCM", roles=["cross_check_reviewer"])
FILE = EvidenceFile(sha256="a" * 64, filename="bien-ban.pdf", size=10, content_type="application/pdf")
STEPS = LifecycleSettings(escalation_steps=[timedelta(0), timedelta(hours=1), timedelta(hours=2)])
# Every deadline with its owner, and reminders before each (a task started since owners and early warning).
OWNED = STEPS.model_copy(update={
    "reminders": (timedelta(hours=3), timedelta(hours=1)), "review_sla": timedelta(hours=1),
    "budget_decision_sla": timedelta(hours=1), "review_assign_sla": timedelta(hours=1),
    "extension_decision_sla": timedelta(hours=1)})


async def _start(client: Client, queue: str, due: datetime | None, settings: LifecycleSettings = STEPS,
                 **spec_fields: object) -> WorkflowHandle:
    """A task led by Hà Nội, due then; None for a kind without an instant (`spec_fields` say which)."""
    code = f"REC-{uuid.uuid4().hex[:8]}"
    fields = {"code": code, "title": "Nhiệm vụ ghi lịch sử", "lead_agency": "HNI", "coordinating_agencies": ["BKHCN"],
              "deadline": due.isoformat() if due else "", "kpis": [Kpi(name="Xã", target=100, unit="%")],
              "budget_required": True, "reporting": "monthly", **spec_fields}
    spec = TaskSpec.model_validate(fields)
    start = TaskStart(spec=spec, deadline=due, created_by="office", settings=settings)
    handle = await client.start_workflow(TaskLifecycleWorkflow.run, start, id=workflow_id(code), task_queue=queue)
    await handle.execute_update(TaskLifecycleWorkflow.snapshot)
    return handle


async def _act(handle: WorkflowHandle, actor: Actor, command: object) -> None:
    await send_act(handle, c.ActionRequest(actor=actor, command=command))


async def _to_cross_check(handle: WorkflowHandle) -> None:
    await _act(handle, HEAD, c.Accept(officer="hni.officer"))
    await _act(handle, HEAD, c.BudgetSubmit(amount_vnd=10, source="NSNN", lines=[{"item": "x", "amount_vnd": 10}]))
    await _act(handle, FINANCE, c.BudgetApprove())
    await _act(handle, OFFICER, c.ProgressReportCommand(percent=50, kpi_actuals={"Xã": 50}))
    await _act(handle, HEAD, c.EvidenceSubmit(summary="xong", kpi_results={"Xã": 100}, files=[FILE]))
    await _act(handle, OFFICE, c.ReviewAssign(reviewer="reviewer", reviewer_agency="HCM"))


async def approve(env: WorkflowEnvironment, handle: WorkflowHandle) -> None:
    await _to_cross_check(handle)
    await _act(handle, REVIEWER, c.ReviewApprove(reason="đạt"))


async def reject_then_rework(env: WorkflowEnvironment, handle: WorkflowHandle) -> None:
    await _to_cross_check(handle)
    await _act(handle, REVIEWER, c.ReviewReject(reason="chưa dùng được", findings=["thiếu dữ liệu"]))
    await _act(handle, HEAD, c.EvidenceSubmit(summary="đã sửa", kpi_results={"Xã": 100}, files=[FILE]))
    await _act(handle, REVIEWER, c.ReviewApprove())


async def escalate(env: WorkflowEnvironment, handle: WorkflowHandle) -> None:
    await _act(handle, HEAD, c.Accept())
    await env.sleep(timedelta(hours=3))
    await handle.query(TaskLifecycleWorkflow.current)


async def extension(env: WorkflowEnvironment, handle: WorkflowHandle) -> None:
    await _act(handle, HEAD, c.Accept())
    await env.sleep(timedelta(minutes=90))
    await _act(handle, HEAD, c.ExtensionRequestCommand(new_deadline="2099-Q4", reason="chờ hạ tầng"))
    await _act(handle, OFFICE, c.ExtensionApprove())


async def cancel(env: WorkflowEnvironment, handle: WorkflowHandle) -> None:
    await _act(handle, HEAD, c.Accept())
    await _act(handle, OFFICE, c.Cancel(reason="không còn phù hợp"))


async def subtask(env: WorkflowEnvironment, handle: WorkflowHandle) -> None:
    """Split a part off for a commune; the part is cancelled; the parent hears it and takes evidence."""
    await _act(handle, HEAD, c.Accept())
    code = handle.id.removeprefix("task-")
    await _act(handle, HEAD, c.SubtaskCreate(code=f"{code}-HK", title="Phần việc của phường", lead_agency="HNI-HK",
                                             deadline="2090-Q1", lead_ancestors=["HNI"]))
    part = handle._client.get_workflow_handle_for(TaskLifecycleWorkflow.run, workflow_id(f"{code}-HK"))
    await part.execute_update(TaskLifecycleWorkflow.snapshot)
    await _act(part, OFFICE, c.Cancel(reason="không còn cần thiết"))
    for _ in range(100):  # the parent hears it by a signal: bounded polling, never a sleep on the clock
        if (await handle.query(TaskLifecycleWorkflow.current)).closed_subtasks:
            break
        await asyncio.sleep(0.1)
    await _act(handle, HEAD, c.EvidenceSubmit(summary="xong", kpi_results={"Xã": 100}, files=[FILE]))


async def close_standing(env: WorkflowEnvironment, handle: WorkflowHandle) -> None:
    await _act(handle, HEAD, c.Accept())
    await env.sleep(timedelta(days=130))  # the next quarter's report lapses and climbs
    await _act(handle, OFFICE, c.Close(reason="đã đưa vào chương trình thường xuyên của Bộ"))


async def deadline_pending(env: WorkflowEnvironment, handle: WorkflowHandle) -> None:
    await env.sleep(timedelta(days=31))  # the Office is reminded to set the deadline
    await handle.query(TaskLifecycleWorkflow.current)
    await _act(handle, OFFICE, c.Correct(reason="Luật có hiệu lực", deadline="2099-Q3"))


async def owners_and_reminders(env: WorkflowEnvironment, handle: WorkflowHandle) -> None:
    """The lead reminded before its deadline; the Office late to assign a reviewer (its own ladder,
    from level 2); the reviewer late to review (told first); completed on time all the same."""
    await _act(handle, HEAD, c.Accept(officer="hni.officer"))
    await env.sleep(timedelta(hours=2, minutes=1))  # 3h before the deadline: the lead is reminded
    await _act(handle, HEAD, c.EvidenceSubmit(summary="xong", kpi_results={"Xã": 100}, files=[FILE]))
    await env.sleep(timedelta(hours=1, minutes=1))  # no reviewer assigned within the hour: the Office is told
    await _act(handle, OFFICE, c.ReviewAssign(reviewer="reviewer", reviewer_agency="HCM"))
    await env.sleep(timedelta(hours=1, minutes=1))  # the review lapses: the reviewer is told
    await handle.query(TaskLifecycleWorkflow.current)
    await _act(handle, REVIEWER, c.ReviewApprove(reason="đạt"))


async def results(env: WorkflowEnvironment, handle: WorkflowHandle) -> None:
    """Held to the rules of results: the budget amended and its amendment approved, disbursement within
    it, evidence short of the target, and the cross-check completing the task as not met."""
    await _act(handle, HEAD, c.Accept(officer="hni.officer"))
    await _act(handle, HEAD, c.BudgetSubmit(amount_vnd=10, source="NSNN", lines=[{"item": "x", "amount_vnd": 10}]))
    await _act(handle, FINANCE, c.BudgetApprove())
    await _act(handle, HEAD, c.BudgetAmend(amount_vnd=15, reason="mở rộng", lines=[{"item": "x", "amount_vnd": 15}]))
    await _act(handle, FINANCE, c.BudgetApprove(reason="đủ căn cứ"))
    await _act(handle, OFFICER, c.ProgressReportCommand(percent=50, kpi_actuals={"Xã": 40}, disbursed_vnd=15))
    await _act(handle, HEAD, c.EvidenceSubmit(summary="xong một phần", kpi_results={"Xã": 60}, files=[FILE]))
    await _act(handle, OFFICE, c.ReviewAssign(reviewer="reviewer", reviewer_agency="HCM"))
    await _act(handle, REVIEWER, c.ReviewApprove(kpi_results={"Xã": 55}, outcome="not_met", reason="chưa đạt"))


Branch = Callable[[WorkflowEnvironment, WorkflowHandle], Awaitable[None]]
# Each branch: what drives it, when the task falls due from now (None: no instant), and its spec's own fields.
BRANCHES: dict[str, tuple[Branch, timedelta | None, dict[str, object]]] = {
    "approve": (approve, timedelta(days=365), {}),
    "reject_then_rework": (reject_then_rework, timedelta(days=365), {}),
    "escalate": (escalate, timedelta(minutes=1), {}),
    # The same, since a notice starts only the deliveries configured (TOLD_PATCH): none here.
    "escalate_told": (escalate, timedelta(minutes=1), {}),
    # The same, since an escalation's event and its notices are written by one activity (RECORD_AND_TELL_PATCH).
    "escalate_together": (escalate, timedelta(minutes=1), {}),
    "extension": (extension, timedelta(minutes=1), {}),
    "cancel": (cancel, timedelta(days=365), {}),
    "subtask": (subtask, timedelta(days=365 * 70), {"budget_required": False, "reporting": "none"}),
    "close_standing": (close_standing, None, {"kind": "standing", "budget_required": False, "reporting": "quarterly"}),
    "deadline_pending": (deadline_pending, None, {"kind": "deadline_pending", "deadline": "khẩn trương",
                                                  "budget_required": False, "reporting": "none"}),
    "owners_and_reminders": (owners_and_reminders, timedelta(hours=5), {"budget_required": False, "reporting": "none"}),
    "owners_and_reminders_together": (owners_and_reminders, timedelta(hours=5),  # as escalate_together
                                      {"budget_required": False, "reporting": "none"}),
    "results": (results, timedelta(days=365), {"reporting": "none"}),
    # These three again, since the timer of the next escalation or reminder is kept across actions
    # (KEPT_TIMER_PATCH): actions under one deadline, a deadline that moves, timers that fire between actions.
    "approve_timer_kept": (approve, timedelta(days=365), {}),
    "extension_timer_kept": (extension, timedelta(minutes=1), {}),
    "owners_and_reminders_timer_kept": (owners_and_reminders, timedelta(hours=5),
                                        {"budget_required": False, "reporting": "none"}),
}
# The settings a branch's task starts with, when not STEPS.
SETTINGS: dict[str, LifecycleSettings] = {"owners_and_reminders": OWNED, "owners_and_reminders_together": OWNED,
                                          "owners_and_reminders_timer_kept": OWNED}


async def record(target: Path = HISTORIES, only: list[str] | None = None) -> list[Path]:
    """Record the branches named in `only` (every branch when None) into `target`."""
    target.mkdir(exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite+aiosqlite:///{scratch}/record.db")
        await create_schema(engine)
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=shutil.which("temporal-test-server") or
            str(Path(sys.executable).with_name("temporal-test-server")),
            data_converter=pydantic_data_converter)
        queue = f"record-{uuid.uuid4().hex[:6]}"
        try:
            settings = Settings(task_queue=queue, secret_key=TEST_SECRET)
            async with build_worker(env.client, settings, make_sessions(engine)):
                for name, (branch, until_deadline, spec_fields) in BRANCHES.items():
                    if only is not None and name not in only:
                        continue
                    due = datetime.now(UTC) + until_deadline if until_deadline is not None else None
                    handle = await _start(env.client, queue, due, SETTINGS.get(name, STEPS), **spec_fields)
                    await branch(env, handle)
                    path = target / f"{name}.json"
                    path.write_text((await handle.fetch_history()).to_json())
                    written.append(path)
        finally:
            await env.shutdown()
            await engine.dispose()
    return written


if __name__ == "__main__":  # `python -m tests.record_histories [branch ...]`: those branches, or all
    for path in asyncio.run(record(only=sys.argv[1:] or None)):
        print(path)
