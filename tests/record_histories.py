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
from workflows.task_lifecycle import TaskLifecycleWorkflow, TaskStart, workflow_id

HISTORIES = Path(__file__).with_name("histories")
HEAD = Actor(username="hni.head", agency="HNI", roles=["agency_head"])
OFFICER = Actor(username="hni.officer", agency="HNI", roles=["agency_officer"])
FINANCE = Actor(username="finance", agency="BTC", roles=["finance_reviewer"])
OFFICE = Actor(username="office", agency="VPTW", roles=["steering_office"])
REVIEWER = Actor(username="reviewer", agency="HCM", roles=["cross_check_reviewer"])
FILE = EvidenceFile(sha256="a" * 64, filename="bien-ban.pdf", size=10, content_type="application/pdf")
STEPS = LifecycleSettings(escalation_steps=[timedelta(0), timedelta(hours=1), timedelta(hours=2)])


async def _start(client: Client, queue: str, deadline: datetime, budget: bool = True) -> WorkflowHandle:
    code = f"REC-{uuid.uuid4().hex[:8]}"
    spec = TaskSpec(code=code, title="Nhiệm vụ ghi lịch sử", lead_agency="HNI", coordinating_agencies=["BKHCN"],
                    deadline=deadline.isoformat(), kpis=[Kpi(name="Xã", target=100, unit="%")],
                    budget_required=budget, reporting="monthly")
    start = TaskStart(spec=spec, deadline=deadline, created_by="office", settings=STEPS)
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


BRANCHES: dict[str, tuple[Callable[[WorkflowEnvironment, WorkflowHandle], Awaitable[None]], timedelta]] = {
    "approve": (approve, timedelta(days=365)),
    "reject_then_rework": (reject_then_rework, timedelta(days=365)),
    "escalate": (escalate, timedelta(minutes=1)),
    "extension": (extension, timedelta(minutes=1)),
    "cancel": (cancel, timedelta(days=365)),
}


async def record(target: Path = HISTORIES) -> list[Path]:
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
                for name, (branch, until_deadline) in BRANCHES.items():
                    handle = await _start(env.client, queue, datetime.now(UTC) + until_deadline)
                    await branch(env, handle)
                    path = target / f"{name}.json"
                    path.write_text((await handle.fetch_history()).to_json())
                    written.append(path)
        finally:
            await env.shutdown()
            await engine.dispose()
    return written


if __name__ == "__main__":
    for path in asyncio.run(record()):
        print(path)
