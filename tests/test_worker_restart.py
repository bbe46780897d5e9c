"""A worker killed in the middle of a task's life: a new one takes over, the task goes on, and its
events in the database are exactly 1..n, none lost, none doubled.

The worker is a real `python worker.py` process with its own SQLite file and task queue, driven
through the Temporal client of the session's dev server. It runs once, not once per database."""

import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateStage

from domain.actors import Actor
from domain.audit import GENESIS, event_hash
from domain.commands import Accept, ActionRequest, BudgetApprove, BudgetSubmit, Comment
from domain.deadlines import parse_deadline
from domain.task import BudgetLine, TaskSpec, TaskState
from tests.helpers import TEST_SECRET, Stack, proven, send_act, unique_code, wait_until
from workflows.task_lifecycle import TaskLifecycleWorkflow, TaskStart, workflow_id

ROOT = Path(__file__).resolve().parent.parent
HEAD = Actor(username="hni.head", agency="HNI", roles=["agency_head"])
FINANCE = Actor(username="finance", agency="BTC", roles=["finance_reviewer"])
OFFICER = Actor(username="bkhcn.officer", agency="BKHCN", roles=["agency_officer"])
TIMEOUT = 90.0  # seconds: a killed worker's workflow task must time out before another takes it


class Worker:
    """One `python worker.py` process; its output goes to a log file shown when a test fails."""

    def __init__(self, env: dict[str, str], log: Path):
        self.env, self.log = env, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, temporal_address: str | None = None) -> None:
        assert self.process is None
        env = {**self.env, **({"NQ57_TEMPORAL_ADDRESS": temporal_address} if temporal_address else {})}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env,
                                            stdout=out, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """kill -9: no shutdown, no goodbye to Temporal, work in flight is simply lost."""
        assert self.process is not None
        self.process.kill()
        assert self.process.wait(timeout=30) == -9
        self.process = None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


def _events(db: Path, code: str) -> list[tuple[int, str, str, str | None, str, str, str, str]]:
    """The task's events straight from the worker's SQLite file (none while the schema is missing)."""
    if not db.exists():
        return []
    connection = sqlite3.connect(db, timeout=30)
    try:
        return connection.execute(
            "SELECT seq, type, actor, request_id, at, data, prev_hash, hash FROM events "
            "WHERE task_code = ? ORDER BY seq", (code,)).fetchall()
    except sqlite3.OperationalError as error:  # the worker has not created the tables yet
        assert "no such table" in str(error), error
        return []
    finally:
        connection.close()


async def _until(condition: Callable[[], bool], what: str, worker: Worker) -> None:
    """Poll `condition` until it holds; fail after TIMEOUT seconds naming what did not happen."""
    try:
        await wait_until(condition, bool, what=what, seconds=TIMEOUT, interval=0.1)
    except AssertionError as error:
        pytest.fail(f"{error}; worker output:\n{worker.output()}")


@contextlib.contextmanager
def _write_lock(db: Path) -> Iterator[None]:
    """Holds SQLite's write lock, so the worker's recording activity waits on it (WAL: reads go on)."""
    connection = sqlite3.connect(db, timeout=30, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield
        connection.execute("ROLLBACK")
    finally:
        connection.close()


def _assert_chain(events: list[tuple[Any, ...]], code: str, types: list[str]) -> None:
    """Exactly seq 1..n of the expected types, each once, and an unbroken hash chain."""
    assert [(e[0], e[1]) for e in events] == list(enumerate(types, start=1))
    previous = GENESIS
    for seq, type_, actor, _request, at, data, prev_hash, hash_ in events:
        moment = datetime.fromisoformat(at)
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        assert prev_hash == previous, f"event {seq} does not follow event {seq - 1}"
        assert hash_ == event_hash(prev_hash, code, seq, type_, actor, moment, json.loads(data)), seq
        previous = hash_


class Proxy:
    """A TCP relay between a worker and Temporal that can stop passing bytes: a worker whose
    messages no longer reach the server, while it goes on writing to the database."""

    def __init__(self, target: str):
        host, _, port = target.rpartition(":")
        self.target = (host, int(port))
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.pipes: set[asyncio.Task[None]] = set()
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> "Proxy":
        self.server = await asyncio.start_server(self._connect, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.server is not None
        self.server.close()
        for pipe in self.pipes:
            pipe.cancel()
        await asyncio.gather(*self.pipes, return_exceptions=True)

    @property
    def address(self) -> str:
        assert self.server is not None
        return f"127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        for source, sink in ((reader, upstream_writer), (upstream_reader, writer)):
            pipe = asyncio.create_task(self._pipe(source, sink))
            self.pipes.add(pipe)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                await self.flowing.wait()
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            sink.close()


@pytest.fixture
async def worker(stack: Stack, tmp_path: Path) -> Any:
    if stack.database != "sqlite":
        pytest.skip("runs once: the worker under test keeps its own SQLite file whatever the stack's database")
    env = {key: value for key, value in os.environ.items() if not key.startswith("NQ57_")}
    env.update({
        "NQ57_WORKER_METRICS_PORT": "0",
        "NQ57_TEMPORAL_ADDRESS": stack.temporal_env.client.service_client.config.target_host,
        "NQ57_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'worker.db'}",
        "NQ57_TASK_QUEUE": f"nq57-restart-{uuid.uuid4().hex[:8]}",
        "NQ57_DATA_DIR": str(tmp_path / "data"),
        "NQ57_SECRET_KEY": TEST_SECRET,
        "PYTHONUNBUFFERED": "1",
    })
    process = Worker(env, tmp_path / "worker.log")
    yield process
    if process.alive():
        process.kill()


async def _start_task(stack: Stack, worker: Worker, db: Path) -> tuple[str, WorkflowHandle[Any, TaskState]]:
    """A task whose creation the (running) worker has recorded."""
    code = unique_code("RESTART")
    spec = TaskSpec(code=code, title="Nhiệm vụ qua lần khởi động lại", lead_agency="HNI",
                    coordinating_agencies=["BKHCN"], deadline="2027-Q4", budget_required=True)
    handle = await stack.temporal.start_workflow(
        TaskLifecycleWorkflow.run, TaskStart(spec=spec, deadline=parse_deadline(spec.deadline), created_by="office"),
        id=workflow_id(code), task_queue=worker.env["NQ57_TASK_QUEUE"], execution_timeout=timedelta(hours=1))
    await _until(lambda: len(_events(db, code)) == 1, "the worker records the task's creation", worker)
    return code, handle


async def _updates_completed(handle: WorkflowHandle[Any, TaskState]) -> list[str]:
    """The ids of the updates whose completion Temporal's history holds, in order."""
    actions, completed = set(), []
    async for event in handle.fetch_history_events():
        if event.HasField("workflow_execution_update_accepted_event_attributes"):
            accepted = event.workflow_execution_update_accepted_event_attributes
            if accepted.accepted_request.input.name == "act":  # not the catch-up's `resync`
                actions.add(accepted.accepted_request.meta.update_id)
        if event.HasField("workflow_execution_update_completed_event_attributes"):
            completed.append(event.workflow_execution_update_completed_event_attributes.meta.update_id)
    return [update_id for update_id in completed if update_id in actions]


def _budget() -> ActionRequest:
    return ActionRequest(actor=HEAD, command=BudgetSubmit(
        amount_vnd=900, source="Ngân sách thành phố",
        lines=[BudgetLine(item="Thiết bị", amount_vnd=600), BudgetLine(item="Đào tạo", amount_vnd=300)]))


async def test_worker_killed_while_an_update_is_being_recorded(stack: Stack, worker: Worker, tmp_path: Path) -> None:
    db = tmp_path / "worker.db"
    worker.start()
    code, handle = await _start_task(stack, worker, db)
    accepted = await asyncio.wait_for(send_act(
        handle, ActionRequest(actor=HEAD, command=Accept(officer="hni.officer")), "accept"), TIMEOUT)
    assert accepted.stage == "budget_registration" and accepted.seq == 2
    assert [e[1] for e in _events(db, code)] == ["created", "accept"]

    # The update is accepted by the workflow, whose recording activity then waits on the database;
    # the worker dies right there.
    with _write_lock(db):
        in_flight = await asyncio.wait_for(handle.start_update(
            TaskLifecycleWorkflow.act, proven(_budget(), code, "budget-submit"), id="budget-submit",
            wait_for_stage=WorkflowUpdateStage.ACCEPTED),
            TIMEOUT)
        worker.kill()
    assert [e[1] for e in _events(db, code)] == ["created", "accept"]  # not recorded: truly in flight

    worker.start()
    state = await asyncio.wait_for(in_flight.result(), TIMEOUT)
    assert state.stage == "budget_review" and state.seq == 3 and state.budget is not None
    assert state.budget.amount_vnd == 900

    # The task goes on with the new worker.
    approved = await asyncio.wait_for(send_act(
        handle, ActionRequest(actor=FINANCE, command=BudgetApprove()), "approve"), TIMEOUT)
    assert approved.stage == "in_progress" and approved.seq == 4
    assert (await handle.query(TaskLifecycleWorkflow.current)).seq == 4
    events = _events(db, code)
    _assert_chain(events, code, ["created", "accept", "budget.submit", "budget.approve"])
    assert [e[3] for e in events] == [None, "accept", "budget-submit", "approve"]


async def test_update_sent_while_no_worker_runs_completes_after_restart(
    stack: Stack, worker: Worker, tmp_path: Path,
) -> None:
    db = tmp_path / "worker.db"
    worker.start()
    code, handle = await _start_task(stack, worker, db)
    await asyncio.wait_for(send_act(handle, ActionRequest(actor=HEAD, command=Accept()), "accept"), TIMEOUT)
    worker.kill()

    # Two updates sent to a task whose worker is gone: they wait, nothing is recorded.
    budget = asyncio.ensure_future(send_act(handle, _budget(), "budget-submit"))
    comment = asyncio.ensure_future(send_act(
        handle, ActionRequest(actor=OFFICER, command=Comment(text="Đang chờ")), "comment"))
    done, _ = await asyncio.wait([budget, comment], timeout=3)
    assert not done, "an update completed with no worker running"
    assert [e[1] for e in _events(db, code)] == ["created", "accept"]

    worker.start()
    states = await asyncio.wait_for(asyncio.gather(budget, comment), TIMEOUT)
    assert sorted(state.seq for state in states) == [3, 4]
    final = await handle.query(TaskLifecycleWorkflow.current)
    assert final.stage == "budget_review" and final.seq == 4

    # A retry of an update already done is answered from the workflow, not recorded again.
    again = await asyncio.wait_for(send_act(handle, _budget(), "budget-submit"),
                                   TIMEOUT)
    assert again.seq == states[0].seq
    events = _events(db, code)
    assert sorted(e[1] for e in events[2:]) == ["budget.submit", "comment"]
    _assert_chain(events, code, ["created", "accept", *[e[1] for e in events[2:]]])
    assert {e[3] for e in events} == {None, "accept", "budget-submit", "comment"}


async def test_worker_killed_after_recording_but_before_telling_temporal(
    stack: Stack, worker: Worker, tmp_path: Path,
) -> None:
    """The recording activity has written the event, but its result never reached Temporal: the
    next worker runs the activity again, and the event is still there once."""
    db = tmp_path / "worker.db"
    async with Proxy(worker.env["NQ57_TEMPORAL_ADDRESS"]) as proxy:
        worker.start(proxy.address)
        code, handle = await _start_task(stack, worker, db)
        await asyncio.wait_for(send_act(handle, ActionRequest(actor=HEAD, command=Accept()), "accept"), TIMEOUT)

        with _write_lock(db):
            in_flight = await asyncio.wait_for(handle.start_update(
                TaskLifecycleWorkflow.act, proven(_budget(), code, "budget-submit"), id="budget-submit",
                wait_for_stage=WorkflowUpdateStage.ACCEPTED), TIMEOUT)
            proxy.flowing.clear()  # from here on the worker talks to no one
        await _until(lambda: len(_events(db, code)) == 3, "the cut-off worker records budget.submit", worker)
        worker.kill()
    assert await _updates_completed(handle) == ["accept"], "Temporal heard of the result before the cut"

    worker.start()  # straight to Temporal this time
    state = await asyncio.wait_for(in_flight.result(), TIMEOUT)
    assert state.stage == "budget_review" and state.seq == 3
    approved = await asyncio.wait_for(send_act(
        handle, ActionRequest(actor=FINANCE, command=BudgetApprove()), "approve"), TIMEOUT)
    assert approved.seq == 4
    _assert_chain(_events(db, code), code, ["created", "accept", "budget.submit", "budget.approve"])
    assert await _updates_completed(handle) == ["accept", "budget-submit", "approve"]  # each answered once
