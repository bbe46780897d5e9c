"""The bare-Temporal floor, measured in this run on this machine: the same `temporal` binary that
`make run` starts (same flags, persisted to a file, another port), a worker in this process, and
the workflows of bench/floor_workflows.py.

- lifecycles: N workflows started and taken through as many updates as NQ57's lifecycle has actions,
  by C clients at once: lifecycles/s, update p50/p99, CPU per lifecycle (this process: worker and
  clients; and the dev server);
- deadlines: M workflows whose timers lapse at one instant, each then running one local activity:
  how fast they all ran (timers+activities per second after the instant);
- creations: K workflows created as an import creates tasks (update-with-start answered once the
  creation is recorded, as many at once as the import starts): creations/s, the import's floor;
- batch starts: K more started alone, as many at once, each answered once Temporal took the start
  and recorded by the worker after: how fast the starts were answered, and how fast the worker
  recorded them all (what an import that answered before its tasks were recorded could reach)."""

import asyncio
import contextlib
import shutil
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from bench import floor_workflows
from bench.common import CpuUse, Run, cpu_seconds, pct, rss_mib, run_clients, stop_group
from bench.floor_workflows import (
    FloorCreationWorkflow,
    FloorDeadlineWorkflow,
    FloorWorkflow,
    record,
    record_creation,
    stamp,
)
from tests.helpers import free_port  # the ports the tests choose, for the same dev server

QUEUE = "bench-floor"


def temporal_cli() -> str:
    from server import temporal_cli as found  # the one `make run` uses

    return found()


def dev_server_store(db_file: Path) -> list[str]:
    from server import dev_server_store as flags  # the store make run gives its dev server

    return flags(db_file)


def die_with_us() -> Any:
    """A `preexec_fn` that has the kernel kill the child if this process dies (server.py's own)."""
    from server import _die_with_parent_hook

    return _die_with_parent_hook()


class FloorServer:
    """A dev server of the floor's own, started as server.py starts the stack's."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="nq57-bench-floor-"))
        self.port = free_port()
        command = [temporal_cli(), "server", "start-dev", *dev_server_store(self.dir / "temporal.db"),
                   "--ip", "127.0.0.1", "--port", str(self.port), "--ui-port", str(free_port()),
                   "--namespace", "default", "--log-level", "error", "--ui-disable-news-fetch"]
        with (self.dir / "temporal.log").open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True, preexec_fn=die_with_us())

    async def client(self, seconds: float = 60) -> Client:
        """Connected once the frontend answers (a describe of no workflow answers NOT_FOUND)."""
        deadline = time.monotonic() + seconds
        reason = ""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the floor's dev server stopped: see {self.dir / 'temporal.log'}")
            try:
                client = await Client.connect(f"127.0.0.1:{self.port}")
                await client.get_workflow_handle("bench-readiness-probe").describe()
                return client
            except RuntimeError as error:
                reason = str(error)
            except RPCError as error:
                if error.status == RPCStatusCode.NOT_FOUND:
                    return client
                reason = error.message
            await asyncio.sleep(0.3)
        raise SystemExit(f"the floor's dev server was not ready in {seconds:.0f} s: {reason}")

    def stop(self) -> None:
        stop_group(self.process, grace=15)


async def lifecycles(client: Client, total: int, clients: int, actions: int, seconds: float,
                     server_pid: int) -> dict[str, Any]:
    """`total` lifecycles of a start and `actions` updates, `clients` at once."""

    async def one(run: Run) -> None:
        start = time.perf_counter()
        handle = await client.start_workflow(FloorWorkflow.run, actions, id=f"floor-{uuid.uuid4().hex}",
                                             task_queue=QUEUE)
        run.add("start", time.perf_counter() - start)
        for n in range(actions):
            start = time.perf_counter()
            await handle.execute_update(FloorWorkflow.act, n == actions - 1)
            run.add("update", time.perf_counter() - start)

    cpu, server_cpu = time.process_time(), cpu_seconds(server_pid)
    run = await run_clients(total, clients, one, seconds)
    cpu, server_cpu = time.process_time() - cpu, cpu_seconds(server_pid) - server_cpu
    updates = run.latencies.get("update", [])
    return {"done": run.done, "cut_short": run.cut_short, "seconds": run.seconds, "lifecycles_per_s": run.rate,
            "cpus_busy": run.cpus_busy, "clients_share": run.clients_share,
            "start_p50_ms": pct(run.latencies.get("start", []), 0.5) * 1000,
            "update_p50_ms": pct(updates, 0.5) * 1000, "update_p99_ms": pct(updates, 0.99) * 1000,
            "cpu_s_per_lifecycle": cpu / max(run.done, 1),
            "dev_server_cpu_s_per_lifecycle": server_cpu / max(run.done, 1)}


async def deadlines(client: Client, count: int, seconds: float, server_pid: int) -> dict[str, Any]:
    """`count` timers lapsing at one instant, each followed by a local activity. The instant is set
    far enough ahead for every start to land before it (checked: a figure whose starts overran the
    instant is marked so). From the instant on, the CPU of this process (the worker) and of the dev
    server, each timer's share, and how busy the machine was."""
    lead = 5 + count / 40  # starts run at 50-100 a second here (10,000 overran a lead of count / 100)
    at = datetime.now(UTC) + timedelta(seconds=lead)
    gate = asyncio.Semaphore(50)
    prefix = uuid.uuid4().hex[:8]

    async def start(n: int) -> WorkflowHandle[Any, float]:
        async with gate:
            return await client.start_workflow(FloorDeadlineWorkflow.run, at.isoformat(), id=f"lapse-{prefix}-{n}",
                                               task_queue=QUEUE)

    handles = await asyncio.gather(*(start(n) for n in range(count)))
    started_by = datetime.now(UTC)

    async def result(handle: WorkflowHandle[Any, float]) -> float:
        async with gate:
            return await handle.result()

    await asyncio.sleep(max(0.0, (at - datetime.now(UTC)).total_seconds()))
    used = CpuUse.since([server_pid])  # from the instant: the timers, their activities, the results read
    ran = await asyncio.wait_for(asyncio.gather(*(result(handle) for handle in handles)),
                                 timeout=lead + seconds)
    cpu = used.until()
    instant = at.timestamp()
    after = sorted(moment - instant for moment in ran)
    return {"count": count, "starts_overran_instant": started_by > at,
            "first_s": after[0], "p50_s": pct(after, 0.5), "all_s": after[-1],
            "per_s": count / max(after[-1], 1e-3), "cpus_busy": cpu.busy,
            "cpu_s_each": cpu.own / count, "dev_server_cpu_s_each": cpu.processes / count}


async def creations(client: Client, total: int, at_once: int, seconds: float, server_pid: int) -> dict[str, Any]:
    """`total` workflows created `at_once` at a time, each answered once its creation is recorded."""

    async def one(run: Run) -> None:
        operation = WithStartWorkflowOperation(FloorCreationWorkflow.run, 365, id=f"create-{uuid.uuid4().hex}",
                                               task_queue=QUEUE, id_conflict_policy=WorkflowIDConflictPolicy.FAIL)
        await client.execute_update_with_start_workflow(FloorCreationWorkflow.created,
                                                        start_workflow_operation=operation)

    cpu, server_cpu = time.process_time(), cpu_seconds(server_pid)
    run = await run_clients(total, at_once, one, seconds)
    cpu, server_cpu = time.process_time() - cpu, cpu_seconds(server_pid) - server_cpu
    return {"done": run.done, "cut_short": run.cut_short, "seconds": run.seconds, "per_s": run.rate,
            "at_once": at_once, "cpu_s_per_creation": cpu / max(run.done, 1),
            "dev_server_cpu_s_per_creation": server_cpu / max(run.done, 1)}


async def batch_starts(client: Client, total: int, at_once: int, seconds: float) -> dict[str, Any]:
    """`total` creation workflows started `at_once` at a time, nothing waiting on their recording:
    starts answered per second, then recordings per second until all were recorded (or `seconds`)."""
    recorded = floor_workflows.CREATIONS_RECORDED
    before, start = recorded.count, time.perf_counter()

    async def one(run: Run) -> None:
        await client.start_workflow(FloorCreationWorkflow.run, 365, id=f"start-{uuid.uuid4().hex}", task_queue=QUEUE,
                                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL)

    run = await run_clients(total, at_once, one, seconds)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(recorded.reach(before + run.done), max(0.0, seconds - (time.perf_counter() - start)))
    took = time.perf_counter() - start
    return {"started": run.done, "started_per_s": run.rate, "recorded": recorded.count - before,
            "recorded_per_s": (recorded.count - before) / took, "at_once": at_once}


async def measure(total: int, clients: int, actions: int, lapsing: int, seconds: float,
                  which: set[str], creating: int, at_once: int) -> dict[str, Any]:
    """The floor's figures; `which` names the parts to run (`lifecycles`, `deadlines`, `creations`:
    `creating` of them, `at_once` at a time). Creations run last: their workflows stay, sleeping."""
    server = FloorServer()
    found: dict[str, Any] = {}
    try:
        client = await server.client()
        async with Worker(client, task_queue=QUEUE,
                          workflows=[FloorWorkflow, FloorDeadlineWorkflow, FloorCreationWorkflow],
                          activities=[record, record_creation, stamp]):
            if "lifecycles" in which:
                found["lifecycles"] = await lifecycles(client, total, clients, actions, seconds, server.process.pid)
            if "deadlines" in which and lapsing:
                found["deadlines"] = await deadlines(client, lapsing, seconds, server.process.pid)
            if "creations" in which and creating:
                found["creations"] = await creations(client, creating, at_once, seconds, server.process.pid)
                found["batch_starts"] = await batch_starts(client, creating, at_once, seconds)
        found["dev_server_rss_mib"] = rss_mib(server.process.pid)
    finally:
        server.stop()
    shutil.rmtree(server.dir, ignore_errors=True)
    return found
