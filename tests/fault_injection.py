"""Fault injection: "nothing acknowledged is ever lost".

An HTTP 2xx for an action means the task's Temporal workflow recorded it; the database is a
projection that must converge to the workflows. This harness checks that promise while `kill -9`
hits the worker, the API, the Temporal dev server, or all three at once.

It starts its own stack in a temporary directory, on free loopback ports: `temporal server
start-dev` (state in `<dir>/temporal.db`, so a restart keeps every workflow), `python server.py`
(NQ57_RUN_WORKER=0) and one or two `python worker.py`, each logging to its own file. The agencies
and demo people are loaded in-process before the stack starts. Then:

- C careful clients (httpx) drive their tasks through the whole lifecycle, each action with its own
  Idempotency-Key, retried with the SAME key after a connection error, a timeout, a 429 or a 5xx
  until a definite answer (2xx or 4xx); every 2xx is recorded (task, key, action, stage answered);
- a chaos loop (seeded) kills one of {worker, api, temporal, all} at random moments and restarts
  what it killed after a short random delay; processes that exit by themselves are restarted too;
- afterwards, every task is verified against Temporal's history, the workflow's `current` query,
  the `events` and `tasks` tables, `GET /api/v1/tasks/{code}` and `GET /api/v1/audit/verify`.

Run it as a command (exit code 1 when anything acknowledged is lost, doubled or mismatched, or
the audit fails):

    .venv/bin/python -m tests.fault_injection --database sqlite --tasks 20 --clients 3 --kills 12 --seed 1
    .venv/bin/python -m tests.fault_injection --database postgres --tasks 300 --kills 150

PostgreSQL uses a dedicated database (`--postgres-db`, default `nq57_fault`) on the server of
`--postgres-url` (default: NQ57_TEST_POSTGRES_URL, else postgresql://postgres@127.0.0.1:5432/test);
it is created if missing and its tables are dropped first. tests/test_fault_injection.py runs a
bounded version from pytest."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode

from api.bootstrap import DEMO_PASSWORD, load_demo_people
from db import models
from db.models import Base
from db.session import create_schema, make_engine, make_sessions
from policies.enforcer import load_enforcer
from server import dev_server_store, temporal_cli
from settings import Settings
from tests.helpers import free_port
from workflows.task_lifecycle import TaskLifecycleWorkflow, workflow_id

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("worker", "api", "temporal", "all")
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
KPIS = [{"name": "Xã được trang bị thiết bị", "target": 100, "unit": "%"},
        {"name": "Cán bộ sử dụng không gian số", "target": 90, "unit": "%"}]
COMMENTERS = ("hni.head", "hni.officer", "office", "bkhcn.officer")
CLOSED = ("completed", "cancelled", "closed")  # domain.stages.CLOSED_STAGES


# --------------------------------------------------------------------------------------------------
# Configuration and what is recorded


@dataclass
class Config:
    database: str = "sqlite"  # sqlite | postgres
    tasks: int = 20
    clients: int = 3
    kills: int = 12
    seed: int = 1
    workers: int = 1
    postgres_url: str = ""  # the dedicated database's URL (postgres only)
    min_gap: float = 1.0  # seconds between a process being ready again and the next kill
    max_gap: float = 4.0
    min_restart_delay: float = 0.2  # seconds a killed process stays down
    max_restart_delay: float = 2.0
    request_timeout: float = 20.0  # one HTTP request
    action_seconds: float = 120.0  # one action, all its retries
    chaos_seconds: float = 900.0  # the chaos stops after this (or when the kills or the clients are done)
    finish_seconds: float = 240.0  # the clients' time to finish once the chaos has stopped
    converge_seconds: float = 20.0  # the projection's time to converge before it is judged
    ready_seconds: float = 90.0  # a (re)started process's time to be ready
    work_dir: Path | None = None  # default: a new temporary directory
    keep: bool = False  # keep the temporary directory even when everything passed
    verbose: bool = True  # progress lines on stderr

    def database_url(self, work_dir: Path) -> str:
        if self.database == "sqlite":
            return f"sqlite+aiosqlite:///{(work_dir / 'nq57.db').resolve()}"
        if self.database == "postgres":
            if not self.postgres_url:
                raise ValueError("postgres needs Config.postgres_url (a dedicated database)")
            return self.postgres_url
        raise ValueError(f"unknown database {self.database!r}: sqlite or postgres")


@dataclass
class Action:
    """One action of a careful client, with every attempt it took."""

    client: int
    task: str
    key: str
    action: str
    user: str
    attempts: list[str] = field(default_factory=list)  # "ConnectError", "503", "200", ...
    status: int | None = None  # the definite answer; None: never got one
    body: Any = None
    stage: str | None = None  # the stage in a 2xx answer
    sha256: str | None = None  # evidence.submit: the file sent
    started: float = 0.0
    finished: float = 0.0

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retried(self) -> bool:
        """Some attempt before the last failed in a way that makes its outcome unknown."""
        return any(not a.isdigit() or int(a) >= 500 or int(a) == 429 for a in self.attempts[:-1])

    def describe(self) -> str:
        return (f"task {self.task} key {self.key} action {self.action} as {self.user} "
                f"(attempts: {', '.join(self.attempts) or 'none'})")


@dataclass
class Failure:
    kind: str  # lost | doubled | mismatched | audit
    task: str
    detail: str
    key: str | None = None
    action: str | None = None

    def line(self) -> str:
        what = f" key {self.key} action {self.action}" if self.key else ""
        return f"{self.kind.upper():<10} task {self.task}{what}: {self.detail}"


@dataclass
class Ledger:
    """Everything the clients and the chaos did: what the verification judges."""

    actions: list[Action] = field(default_factory=list)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)  # code -> {client, created, outcome}
    kills: Counter[str] = field(default_factory=Counter)
    kill_log: list[str] = field(default_factory=list)
    self_exits: list[str] = field(default_factory=list)
    t0: float = field(default_factory=time.monotonic)

    def at(self) -> str:
        return f"{time.monotonic() - self.t0:7.1f}s"


@dataclass
class Report:
    config: Config
    work_dir: Path
    ledger: Ledger
    failures: list[Failure]
    audit: dict[str, Any] | None
    elapsed: float
    logs: dict[str, str] = field(default_factory=dict)  # process -> tail, when something failed
    notes: list[str] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(1 for failure in self.failures if failure.kind == kind)

    @property
    def lost(self) -> int:
        return self.count("lost")

    @property
    def doubled(self) -> int:
        return self.count("doubled")

    @property
    def mismatched(self) -> int:
        return self.count("mismatched")

    @property
    def audit_ok(self) -> bool:
        return bool(self.audit and self.audit.get("ok") is True)

    @property
    def acknowledged(self) -> list[Action]:
        return [a for a in self.ledger.actions if a.acknowledged]

    @property
    def refused_after_retry(self) -> list[Action]:
        return [a for a in self.ledger.actions if a.status is not None and a.status >= 400 and a.retried]

    @property
    def refused_first(self) -> list[Action]:
        return [a for a in self.ledger.actions if a.status is not None and a.status >= 400 and not a.retried]

    @property
    def unresolved(self) -> list[Action]:
        return [a for a in self.ledger.actions if a.status is None]

    @property
    def kills(self) -> Counter[str]:
        return self.ledger.kills

    @property
    def ok(self) -> bool:
        return not (self.lost or self.doubled or self.mismatched) and self.audit_ok

    def format(self) -> str:
        c, ledger = self.config, self.ledger
        outcomes = Counter(task.get("outcome", "?") for task in ledger.tasks.values())
        by_action = Counter(a.action for a in self.acknowledged)
        lines = [
            "",
            f"== fault injection: database={c.database} seed={c.seed} tasks={c.tasks} clients={c.clients} "
            f"workers={c.workers} kills≤{c.kills}",
            f"   work dir: {self.work_dir}",
            f"kill points: {sum(ledger.kills.values())} ("
            + ", ".join(f"{t} {ledger.kills.get(t, 0)}" for t in TARGETS) + ")"
            + (f"; processes that exited by themselves: {len(ledger.self_exits)}" if ledger.self_exits else ""),
            f"tasks: {len(ledger.tasks)} (" + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) + ")",
            f"acknowledged actions: {len(self.acknowledged)} ("
            + ", ".join(f"{k} {v}" for k, v in sorted(by_action.items())) + ")",
            f"   retried: {sum(1 for a in self.ledger.actions if a.retried)}, refused after retry: "
            f"{len(self.refused_after_retry)}, refused at first attempt: {len(self.refused_first)}, "
            f"never answered: {len(self.unresolved)}",
            f"lost: {self.lost}  doubled: {self.doubled}  mismatched: {self.mismatched}  audit: "
            + ("ok" if self.audit_ok else f"NOT OK {json.dumps(self.audit, ensure_ascii=False)}"),
            f"elapsed: {self.elapsed:.1f} s",
        ]
        if self.failures:
            lines.append(f"-- failures ({len(self.failures)}):")
            lines += ["  " + failure.line() for failure in self.failures]
        if self.refused_after_retry:
            lines.append(f"-- refused after retry ({len(self.refused_after_retry)}):")
            lines += [f"  {a.status} {a.describe()}: {_short(a.body)}" for a in self.refused_after_retry]
        if self.refused_first:
            lines.append(f"-- refused at first attempt ({len(self.refused_first)}):")
            lines += [f"  {a.status} {a.describe()}: {_short(a.body)}" for a in self.refused_first]
        if self.unresolved:
            lines.append(f"-- never answered ({len(self.unresolved)}):")
            lines += [f"  {a.describe()}" for a in self.unresolved]
        if ledger.self_exits:
            lines.append("-- exited by themselves:")
            lines += [f"  {line}" for line in ledger.self_exits]
        if self.notes:
            lines.append("-- notes:")
            lines += [f"  {note}" for note in self.notes]
        if ledger.kill_log:
            lines.append("-- kill points: " + "; ".join(ledger.kill_log))
        for name, tail in self.logs.items():
            lines.append(f"-- tail of {name}.log:")
            lines += ["  | " + line for line in tail.splitlines()]
        return "\n".join(lines)


def _short(body: Any, limit: int = 400) -> str:
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "…"


# --------------------------------------------------------------------------------------------------
# Processes


class Process:
    """One child process in its own process group, logging to its own file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path):
        self.name, self.argv, self.env, self.log = name, argv, env, log
        self.popen: subprocess.Popen[bytes] | None = None
        self.wanted = False  # it should be running: an exit is noticed and the process restarted
        self.exit_noted = False  # this run's exit is already in the ledger
        self.starts = 0

    def start(self) -> None:
        assert not self.running(), f"{self.name} is already running"
        self.starts += 1
        self.exit_noted = False
        with self.log.open("ab") as out:
            out.write(f"\n===== {self.name}: start #{self.starts} at {time.strftime('%H:%M:%S')} =====\n".encode())
            out.flush()
            self.popen = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True)
        self.wanted = True

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> int | None:
        """kill -9 of the process group this process leads; its pid, or None if it was not running."""
        self.wanted = False
        if self.popen is None:
            return None
        pid = self.popen.pid
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)  # start_new_session: the group id is its own pid
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=30)
        with self.log.open("ab") as out:
            out.write(f"===== {self.name}: kill -9 at {time.strftime('%H:%M:%S')} =====\n".encode())
        return pid

    def tail(self, lines: int = 30) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


class Stack:
    """The Temporal dev server, the API and the worker(s), on free loopback ports."""

    def __init__(self, config: Config, work_dir: Path, database_url: str, ledger: Ledger):
        self.config, self.work_dir, self.ledger = config, work_dir, ledger
        self.temporal_port, ui_port, self.api_port = free_port(), free_port(), free_port()
        self.temporal_address = f"127.0.0.1:{self.temporal_port}"
        self.base_url = f"http://127.0.0.1:{self.api_port}"
        self.task_queue = f"nq57-fault-{uuid.uuid4().hex[:8]}"
        env = {key: value for key, value in os.environ.items() if not key.startswith("NQ57_")}
        env.update({
            "NQ57_TEMPORAL_ADDRESS": self.temporal_address,
            "NQ57_RUN_WORKER": "0",
            "NQ57_PORT": str(self.api_port),
            "NQ57_HOST": "127.0.0.1",
            "NQ57_DATA_DIR": str(work_dir / "data"),
            "NQ57_DATABASE_URL": database_url,
            "NQ57_TASK_QUEUE": self.task_queue,
            "NQ57_ADMIN_PASSWORD": "fault-admin",
            "NQ57_DEMO": "0",
            "NQ57_WORKER_METRICS_PORT": "0",
            "PYTHONUNBUFFERED": "1",
        })
        self.temporal = Process("temporal", [
            temporal_cli(), "server", "start-dev", *dev_server_store(work_dir / "temporal.db"),
            "--ip", "127.0.0.1", "--port", str(self.temporal_port), "--ui-port", str(ui_port), "--headless",
            "--log-level", "error"], env, work_dir / "temporal.log")
        self.api = Process("api", [sys.executable, "server.py"], env, work_dir / "api.log")
        self.workers = [Process(f"worker-{n}", [sys.executable, "worker.py"], env, work_dir / f"worker-{n}.log")
                        for n in range(1, config.workers + 1)]
        self.lock = asyncio.Lock()  # the chaos and the supervisor never act on the processes at once
        self._supervisor: asyncio.Task[None] | None = None

    @property
    def processes(self) -> list[Process]:
        return [self.temporal, self.api, *self.workers]

    def log(self, message: str) -> None:
        if self.config.verbose:
            print(f"[fault {self.ledger.at()}] {message}", file=sys.stderr, flush=True)

    # readiness

    async def temporal_ready(self) -> bool:
        """The dev server opens its port before its shards are up: a describe of a workflow that
        does not exist answers NOT_FOUND only once they are (as server.py waits for it)."""
        try:
            client = await Client.connect(self.temporal_address)
            await client.get_workflow_handle("nq57-fault-readiness-probe").describe(
                rpc_timeout=timedelta(seconds=3))
        except RPCError as error:
            return error.status == RPCStatusCode.NOT_FOUND
        except Exception:  # connection refused and the like: not up yet
            return False
        return True

    async def api_ready(self) -> bool:
        try:
            async with httpx.AsyncClient(base_url=self.base_url, timeout=3) as http:
                return (await http.get("/healthz")).status_code == 200
        except httpx.HTTPError:
            return False

    async def wait_ready(self, which: list[str]) -> None:
        """Until each named part ('temporal', 'api') answers; a process that dies meanwhile is
        restarted by the supervisor. Fails after ready_seconds, showing the logs."""
        deadline = time.monotonic() + self.config.ready_seconds
        pending = list(which)
        while pending:
            name = pending[0]
            if await (self.temporal_ready() if name == "temporal" else self.api_ready()):
                pending.pop(0)
                continue
            if time.monotonic() > deadline:
                tails = "\n".join(f"--- {p.name}.log:\n{p.tail()}" for p in self.processes)
                raise RuntimeError(f"{name} not ready after {self.config.ready_seconds:.0f}s\n{tails}")
            await asyncio.sleep(0.2)

    # life

    async def start(self) -> None:
        self._supervisor = asyncio.create_task(self._supervise())
        async with self.lock:
            self.temporal.start()
        await self.wait_ready(["temporal"])
        async with self.lock:
            self.api.start()
            for worker in self.workers:
                worker.start()
        await self.wait_ready(["api"])

    async def _supervise(self) -> None:
        """Restart any process that exits by itself (not one the chaos killed)."""
        while True:
            await asyncio.sleep(0.25)
            async with self.lock:
                for process in self.processes:
                    if process.wanted and not process.running():
                        assert process.popen is not None
                        if not process.exit_noted:
                            process.exit_noted = True
                            line = (f"{self.ledger.at().strip()} {process.name} (pid {process.popen.pid}) exited by "
                                    f"itself with code {process.popen.returncode}")
                            self.ledger.self_exits.append(line)
                            self.log(line)
                        if process is not self.temporal and not self.temporal.running():
                            continue  # restarted once Temporal is back
                        await asyncio.sleep(0.5)
                        process.start()

    async def kill(self, target: str, rng: random.Random) -> str:
        async with self.lock:
            if target == "worker":
                victims = [rng.choice(self.workers)]
            elif target == "api":
                victims = [self.api]
            elif target == "temporal":
                victims = [self.temporal]
            else:
                victims = self.processes
            pids = [f"{p.name}:{p.kill()}" for p in victims]
        return ",".join(pids)

    async def restart_all_down(self) -> None:
        """Start what is not running, Temporal first, and wait until Temporal and the API answer."""
        async with self.lock:
            if not self.temporal.running():
                self.temporal.start()
        await self.wait_ready(["temporal"])
        async with self.lock:
            for process in [self.api, *self.workers]:
                if not process.running():
                    process.start()
        await self.wait_ready(["temporal", "api"])

    async def stop(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        async with self.lock:
            for process in reversed(self.processes):
                process.kill()


# --------------------------------------------------------------------------------------------------
# The database, prepared in-process before the stack starts


def postgres_fault_url(base_url: str, database: str) -> str:
    """The dedicated database on the same server, with the same credentials, as `base_url`."""
    url = make_url(base_url)
    return url.set(drivername="postgresql", database=database).render_as_string(hide_password=False)


async def ensure_postgres_database(url: str) -> None:
    import asyncpg

    target = make_url(url)
    name = target.database
    assert name, url
    maintenance = target.set(database="postgres").render_as_string(hide_password=False)
    connection = await asyncpg.connect(maintenance)
    try:
        if not await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def drop_postgres_database(url: str) -> None:
    """Dropped once the processes that used it are gone (FORCE: a connection left over does not keep it)."""
    import asyncpg

    target = make_url(url)
    maintenance = target.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    connection = await asyncpg.connect(maintenance)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
    finally:
        await connection.close()


def async_url(url: str) -> str:
    return Settings(database_url=url).async_database_url


async def emptied(engine: AsyncEngine) -> None:
    """The database's tables dropped, and its migrations' record with them (then made afresh)."""
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.drop_all)
        await connection.execute(text("DROP TABLE IF EXISTS alembic_version"))


async def prepare_database(url: str) -> None:
    """Empty tables, the default policy, the reference agencies and the demo people."""
    engine = make_engine(async_url(url))
    try:
        await emptied(engine)
        await create_schema(engine)
        enforcer = await load_enforcer(engine)
        await load_demo_people(make_sessions(engine), enforcer)
    finally:
        await engine.dispose()


# --------------------------------------------------------------------------------------------------
# Careful clients


class Tokens:
    """Access tokens per user, shared by the clients; a 401 drops one and the next call logs in again."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self.locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def get(self, http: httpx.AsyncClient, user: str, deadline: float) -> str | None:
        async with self.locks[user]:
            if user in self.tokens:
                return self.tokens[user]
            delay = 0.2
            while time.monotonic() < deadline:
                try:
                    answer = await http.post("/api/v1/auth/token", data={"username": user, "password": DEMO_PASSWORD})
                    if answer.status_code == 200:
                        self.tokens[user] = answer.json()["access_token"]
                        return self.tokens[user]
                    if answer.status_code < 500 and answer.status_code != 429:
                        raise RuntimeError(f"login of {user} refused: {answer.status_code} {answer.text}")
                except httpx.TransportError:
                    pass
                await asyncio.sleep(delay)
                delay = min(delay * 1.5, 2.0)
            return None

    def drop(self, user: str, token: str) -> None:
        if self.tokens.get(user) == token:
            del self.tokens[user]


class CarefulClient:
    def __init__(self, number: int, stack: Stack, config: Config, ledger: Ledger, tokens: Tokens):
        self.number, self.stack, self.config, self.ledger, self.tokens = number, stack, config, ledger, tokens
        self.rng = random.Random(f"{config.seed}/client/{number}")
        self.current: Action | None = None

    async def run(self, codes: list[str]) -> None:
        timeout = httpx.Timeout(self.config.request_timeout, connect=3.0)
        async with httpx.AsyncClient(base_url=self.stack.base_url, timeout=timeout) as http:
            try:
                for code in codes:
                    await self.drive(http, code)
            except asyncio.CancelledError:
                if self.current is not None and self.current.status is None:
                    self.current.attempts.append("cancelled")
                raise

    async def call(self, http: httpx.AsyncClient, action: Action, method: str, path: str, *,
                   json_body: Any = None, files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
                   data: dict[str, str] | None = None) -> Action:
        """Until a definite answer (2xx or 4xx other than 401/429), the same key on every attempt."""
        self.current = action
        self.ledger.actions.append(action)
        action.started = time.monotonic()
        deadline = action.started + self.config.action_seconds
        delay = 0.2
        while True:
            token = await self.tokens.get(http, action.user, deadline)
            if token is None:
                action.attempts.append("login-failed")
                break
            headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": action.key}
            try:
                answer = await http.request(method, path, headers=headers, json=json_body, files=files, data=data)
            except httpx.TransportError as error:  # connection refused/reset, timeouts, ...
                action.attempts.append(type(error).__name__)
            else:
                status = answer.status_code
                action.attempts.append(str(status))
                if status == 401:
                    self.tokens.drop(action.user, token)
                elif status < 500 and status != 429:
                    action.status = status
                    try:
                        action.body = answer.json()
                    except ValueError:
                        action.body = answer.text
                    if action.acknowledged and isinstance(action.body, dict):
                        action.stage = action.body.get("stage")
                    break
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(delay * (0.5 + self.rng.random()))
            delay = min(delay * 1.6, 2.0)
        action.finished = time.monotonic()
        self.current = None
        return action

    def action(self, code: str, name: str, user: str) -> Action:
        key = f"{code}.{name}.{uuid.uuid4().hex[:12]}"
        return Action(client=self.number, task=code, key=key, action=name, user=user)

    async def read(self, http: httpx.AsyncClient, code: str, seconds: float = 20.0) -> dict[str, Any] | None:
        """The task as the API shows it now; None if it cannot be read (404 or no answer)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            token = await self.tokens.get(http, "office", deadline)
            if token is None:
                return None
            try:
                answer = await http.get(f"/api/v1/tasks/{code}", headers={"Authorization": f"Bearer {token}"})
                if answer.status_code == 200:
                    return answer.json()
                if answer.status_code == 401:
                    self.tokens.drop("office", token)
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.5)
        return None

    async def drive(self, http: httpx.AsyncClient, code: str) -> None:
        record: dict[str, Any] = {"client": self.number, "created": False, "outcome": "not created"}
        self.ledger.tasks[code] = record
        create = self.action(code, "create", "office")
        await self.call(http, create, "POST", "/api/v1/tasks", json_body={
            "code": code, "title": f"Nhiệm vụ thử lỗi {code}", "description": "Fault injection",
            "lead_agency": "HNI", "coordinating_agencies": ["BKHCN"], "deadline": "2030-Q4",
            "product": "Không gian làm việc số cấp xã", "kpis": KPIS, "budget_required": True, "reporting": "none"})
        if create.acknowledged:
            record["created"] = True
            state = create.body
        else:
            # A retried create refused (409: it exists), or no answer: does the task exist after all?
            state = await self.read(http, code)
            if state is None:
                record["outcome"] = f"not created ({create.status or 'no answer'})"
                return
            record["created"] = "unacknowledged"
        comment_steps = set(self.rng.sample(range(8), self.rng.choice((1, 2))))
        refusals = 0
        for step in range(20):
            if step in comment_steps:
                user = self.rng.choice(COMMENTERS)
                await self.call(http, self.action(code, "comment", user), "POST",
                                f"/api/v1/tasks/{code}/actions/comment",
                                json_body={"text": f"Ý kiến {step} về {code} ({user})"})
            if state.get("stage") in CLOSED:
                break
            action = await self.next_step(http, code, state)
            if action.acknowledged:
                state = action.body
                continue
            if action.status is None:
                record["outcome"] = f"stuck: {action.action} never answered"
                return
            refusals += 1
            if refusals > 2:
                record["outcome"] = f"stuck: {action.action} refused {action.status}"
                return
            found = await self.read(http, code)  # go on from what the API shows now
            if found is None:
                record["outcome"] = f"stuck: {action.action} refused and the task unreadable"
                return
            state = found
        record["outcome"] = state.get("stage", "?")

    async def next_step(self, http: httpx.AsyncClient, code: str, state: dict[str, Any]) -> Action:
        stage, base = state.get("stage"), f"/api/v1/tasks/{code}/actions"
        if stage == "assigned":
            return await self.call(http, self.action(code, "accept", "hni.head"), "POST", f"{base}/accept",
                                   json_body={"officer": "hni.officer"})
        if stage == "budget_registration":
            amount = self.rng.randrange(1, 1000) * 1_000_000
            return await self.call(http, self.action(code, "budget.submit", "hni.head"), "POST",
                                   f"{base}/budget.submit", json_body={
                                       "amount_vnd": amount, "source": "Ngân sách thành phố",
                                       "lines": [{"item": "Thiết bị", "amount_vnd": amount // 2},
                                                 {"item": "Đào tạo", "amount_vnd": amount - amount // 2}]})
        if stage == "budget_review":
            return await self.call(http, self.action(code, "budget.approve", "finance"), "POST",
                                   f"{base}/budget.approve", json_body={"reason": "Phù hợp"})
        if stage == "in_progress" and not (state.get("progress") or {}).get("reports"):
            user = self.rng.choice(("hni.officer", "hni.head"))
            return await self.call(http, self.action(code, "progress.report", user), "POST",
                                   f"{base}/progress.report", json_body={
                                       "percent": self.rng.randrange(10, 95),
                                       "kpi_actuals": {KPIS[0]["name"]: self.rng.randrange(0, 100)},
                                       "note": f"Báo cáo tiến độ {code}"})
        if stage == "in_progress":
            action = self.action(code, "evidence.submit", "hni.head")
            content = f"Biên bản nghiệm thu {code}\nkhóa {action.key}\n{uuid.uuid4()}\n".encode()
            action.sha256 = hashlib.sha256(content).hexdigest()
            return await self.call(http, action, "POST", f"{base}/evidence.submit",
                                   files=[("files", (f"bien-ban-{code}.txt", content, "text/plain"))],
                                   data={"summary": "Đã hoàn thành", "kpi_results": json.dumps(
                                       {kpi["name"]: kpi["target"] for kpi in KPIS}, ensure_ascii=False)})
        if stage == "cross_check" and not state.get("reviewer"):
            return await self.call(http, self.action(code, "review.assign", "office"), "POST",
                                   f"{base}/review.assign", json_body={"reviewer": "reviewer"})
        if stage == "cross_check":
            return await self.call(http, self.action(code, "review.approve", "reviewer"), "POST",
                                   f"{base}/review.approve", json_body={"reason": "Sản phẩm dùng được"})
        raise AssertionError(f"{code}: no next step from stage {stage!r}")


# --------------------------------------------------------------------------------------------------
# Chaos


async def chaos(stack: Stack, config: Config, ledger: Ledger, clients_done: asyncio.Event) -> None:
    """kill -9 at random moments; every target once first (in a random order), then at random."""
    rng = random.Random(f"{config.seed}/chaos")
    schedule = list(TARGETS)
    rng.shuffle(schedule)
    started = time.monotonic()
    kills = 0
    while kills < config.kills and time.monotonic() - started < config.chaos_seconds:
        covered = kills >= len(schedule)  # every target hit once: the clients' end may end the chaos
        gap = rng.uniform(config.min_gap, config.max_gap)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(clients_done.wait() if covered else asyncio.sleep(gap), gap)
        if covered and clients_done.is_set():
            return
        target = schedule[kills] if kills < len(schedule) else rng.choice(TARGETS)
        killed = await stack.kill(target, rng)
        kills += 1
        ledger.kills[target] += 1
        ledger.kill_log.append(f"{ledger.at().strip()} {target} [{killed}]")
        stack.log(f"kill -9 #{kills} {target} [{killed}]; "
                  f"acknowledged so far: {sum(1 for a in ledger.actions if a.acknowledged)}")
        await asyncio.sleep(rng.uniform(config.min_restart_delay, config.max_restart_delay))
        await stack.restart_all_down()


# --------------------------------------------------------------------------------------------------
# Verification


@dataclass
class Completion:
    update_id: str
    name: str  # the update's name: act (an action), snapshot (the create)
    run_id: str
    ok: bool
    stage: str | None
    seq: int | None
    failure: str | None


async def completed_updates(client: Client, code: str) -> list[Completion] | None:
    """Every completed update of the task's workflow, over all its runs (continue-as-new followed
    back to the first); None when the workflow does not exist."""
    runs: list[list[Completion]] = []
    handle = client.get_workflow_handle(workflow_id(code))
    try:
        while True:
            completions: list[Completion] = []
            names: dict[str, str] = {}
            previous_run = ""
            run_id = "latest run" if not runs else f"run -{len(runs)}"
            async for event in handle.fetch_history_events():
                if event.HasField("workflow_execution_started_event_attributes"):
                    attributes = event.workflow_execution_started_event_attributes
                    previous_run = attributes.continued_execution_run_id
                if event.HasField("workflow_execution_update_accepted_event_attributes"):
                    request = event.workflow_execution_update_accepted_event_attributes.accepted_request
                    names[request.meta.update_id] = request.input.name
                if event.HasField("workflow_execution_update_completed_event_attributes"):
                    done = event.workflow_execution_update_completed_event_attributes
                    stage = seq = failure = None
                    if done.outcome.HasField("success") and done.outcome.success.payloads:
                        with contextlib.suppress(ValueError):
                            result = json.loads(done.outcome.success.payloads[0].data)
                            if isinstance(result, dict):  # a TaskState (act, snapshot); resync: a number
                                stage, seq = result.get("stage"), result.get("seq")
                    else:
                        failure = done.outcome.failure.message
                    completions.append(Completion(done.meta.update_id, names.get(done.meta.update_id, "?"), run_id,
                                                  failure is None, stage, seq, failure))
            runs.append(completions)
            if not previous_run:
                break
            handle = client.get_workflow_handle(workflow_id(code), run_id=previous_run)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND and not runs:
            return None
        raise
    return [c for completions in reversed(runs) for c in completions]


class Verifier:
    def __init__(self, stack: Stack, config: Config, ledger: Ledger, database_url: str):
        self.stack, self.config, self.ledger = stack, config, ledger
        self.database_url = database_url
        self.tokens = Tokens()

    async def api_get(self, http: httpx.AsyncClient, path: str, user: str = "auditor") -> httpx.Response | None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            token = await self.tokens.get(http, user, deadline)
            if token is None:
                return None
            try:
                answer = await http.get(path, headers={"Authorization": f"Bearer {token}"})
                if answer.status_code == 401:
                    self.tokens.drop(user, token)
                elif answer.status_code < 500:
                    return answer
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.5)
        return None

    async def run(self) -> tuple[list[Failure], dict[str, Any] | None]:
        client = await Client.connect(self.stack.temporal_address, data_converter=pydantic_data_converter)
        engine = make_engine(async_url(self.database_url))
        acks: defaultdict[str, list[Action]] = defaultdict(list)
        for action in self.ledger.actions:
            if action.acknowledged:
                acks[action.task].append(action)
        codes = sorted(self.ledger.tasks)
        try:
            async with httpx.AsyncClient(base_url=self.stack.base_url, timeout=30) as http:
                gate = asyncio.Semaphore(6)

                async def one(code: str) -> list[Failure]:
                    async with gate:
                        try:
                            return await self.check_task(client, engine, http, code, acks[code])
                        except Exception as error:  # judged, never skipped: the run fails, saying why
                            return [Failure("mismatched", code, f"verification error {type(error).__name__}: "
                                                                f"{error}")]

                results = dict(zip(codes, await asyncio.gather(*(one(code) for code in codes)), strict=True))
                # A catch-up may still be bringing the projection up to date: give it a bounded moment.
                deadline = time.monotonic() + self.config.converge_seconds
                while any(results.values()) and time.monotonic() < deadline:
                    await asyncio.sleep(1.0)
                    for code in [code for code, found in results.items() if found]:
                        results[code] = await one(code)
                failures = [failure for code in codes for failure in results[code]]
                audit = None
                answer = await self.api_get(http, "/api/v1/audit/verify")
                if answer is None:
                    failures.append(Failure("audit", "-", "GET /api/v1/audit/verify never answered"))
                else:
                    audit = answer.json() if answer.status_code == 200 else {"status": answer.status_code,
                                                                               "body": answer.text}
                    if answer.status_code != 200 or audit.get("ok") is not True:
                        failures.append(Failure("audit", str(audit.get("first_bad_task") or "-"),
                                                f"audit verify: {_short(audit)}"))
                return failures, audit
        finally:
            await engine.dispose()

    async def check_task(self, client: Client, engine: Any, http: httpx.AsyncClient, code: str,
                         acks: list[Action]) -> list[Failure]:
        found: list[Failure] = []

        def fail(kind: str, detail: str, action: Action | None = None) -> None:
            found.append(Failure(kind, code, detail, action.key if action else None, action.action if action else None))

        created = [a for a in acks if a.action == "create"]
        updates = [a for a in acks if a.action != "create"]
        try:
            completions = await completed_updates(client, code)
        except RPCError as error:
            fail("mismatched", f"Temporal history unreadable: {error}")
            return found
        if completions is None:
            for action in created:
                fail("lost", f"create acknowledged ({action.status}) but workflow {workflow_id(code)} does not exist",
                     action)
            for action in updates:
                fail("lost", f"acknowledged {action.status} (stage {action.stage}) but the task's workflow "
                             "does not exist", action)
            return found

        # 1. Each acknowledged key: exactly once a completed update in the workflow's history.
        repeated_across_runs: set[str] = set()
        by_id: defaultdict[str, list[Completion]] = defaultdict(list)
        for completion in completions:
            by_id[completion.update_id].append(completion)
        for action in updates:
            done = by_id.get(action.key, [])
            runs = Counter(c.run_id for c in done)
            if not done:
                fail("lost", f"acknowledged {action.status} (answer stage {action.stage}) but no completed "
                             f"update with this id in the workflow's history (attempts: {', '.join(action.attempts)})",
                     action)
            elif max(runs.values()) > 1:
                fail("doubled", f"completed {len(done)} times in the workflow's history "
                                f"({', '.join(f'{n}x in {run}' for run, n in runs.items())})", action)
            elif len(done) > 1:
                # Completed again in a later run (continue-as-new): doubled only if the workflow's own
                # log holds it twice (checked below against the `recorded` query and the table).
                repeated_across_runs.add(action.key)
            if done and not done[0].ok:
                fail("mismatched", f"acknowledged {action.status} but the workflow's update failed: {done[0].failure}",
                     action)
            elif done and action.stage is not None and done[0].stage is not None and action.stage != done[0].stage:
                fail("mismatched", f"answered stage {action.stage} but the workflow's update returned stage "
                                   f"{done[0].stage} (seq {done[0].seq})", action)

        # 2. The workflow's own state.
        handle = client.get_workflow_handle_for(TaskLifecycleWorkflow.run, workflow_id(code))
        try:
            current = await handle.query(TaskLifecycleWorkflow.current, rpc_timeout=timedelta(seconds=15))
        except Exception as error:  # a query needs a worker: report, do not guess
            fail("mismatched", f"the workflow's current query failed: {type(error).__name__}: {error}")
            return found
        workflow_stage, workflow_seq = current.stage.value, current.seq
        state_text = current.model_dump_json()
        for action in updates:
            if action.action == "evidence.submit" and action.sha256 and action.sha256 not in state_text:
                fail("lost", f"evidence file {action.sha256} not in the workflow's state", action)
        # The events the workflow says it recorded, where it keeps them (a `recorded` query).
        try:
            log = await recorded_log(handle)
        except Exception as error:
            fail("mismatched", f"the workflow's recorded query failed: {type(error).__name__}: {error}")
            log = None
        if log is not None:
            log_ids = Counter(event.get("request_id") for event in log if event.get("request_id"))
            for action in updates:
                if log_ids.get(action.key, 0) > 1:
                    fail("doubled", f"the workflow's recorded log holds this key {log_ids[action.key]} times", action)
                elif log_ids.get(action.key, 0) == 0 and action.key in by_id:
                    fail("lost", "completed in the workflow's history but absent from its recorded log", action)
        else:
            for key in repeated_across_runs:
                action = next(a for a in updates if a.key == key)
                fail("doubled", f"completed in {len(by_id[key])} runs of the workflow's history", action)

        # 3. The events table: each acknowledged key exactly once, seq exactly 1..n, rows = history.
        async with engine.connect() as connection:
            rows = (await connection.execute(
                select(models.Event.seq, models.Event.type, models.Event.request_id, models.Event.data,
                       models.Event.hash)
                .where(models.Event.task_code == code).order_by(models.Event.seq, models.Event.id))).all()
            task_row = (await connection.execute(
                select(models.Task.stage, models.Task.seq).where(models.Task.code == code))).first()
        by_request: defaultdict[str, list[Any]] = defaultdict(list)
        for row in rows:
            if row.request_id is not None:
                by_request[row.request_id].append(row)
        for action in updates:
            matching = by_request.get(action.key, [])
            if not matching:
                fail("lost", f"acknowledged {action.status} (answer stage {action.stage}) but no row with this "
                             "request_id in the events table", action)
            elif len(matching) > 1:
                fail("doubled", f"{len(matching)} rows with this request_id in the events table "
                                f"(seq {', '.join(str(r.seq) for r in matching)})", action)
            if action.action == "evidence.submit" and action.sha256 and not any(
                    action.sha256 in json.dumps(row.data) for row in rows):
                fail("lost", f"evidence file {action.sha256} in no event's data", action)
        if created and not any(row.seq == 1 and row.type == "created" for row in rows):
            fail("lost", "create acknowledged but no 'created' event (seq 1) in the events table", created[0])
        seqs = [row.seq for row in rows]
        if seqs != list(range(1, workflow_seq + 1)):
            missing = sorted(set(range(1, workflow_seq + 1)) - set(seqs))
            extra = sorted({s for s in seqs if s > workflow_seq or seqs.count(s) > 1})
            fail("mismatched", f"events table holds seq {_ranges(seqs)}, the workflow is at seq {workflow_seq}"
                               + (f"; missing {missing}" if missing else "") + (f"; extra {extra}" if extra else ""))
        # Every action the workflow completed sits in the table at the seq the workflow gave it (its
        # first completion: a later run may answer the same id again with its state of then).
        at_seq = {row.seq: row for row in rows}
        first_seen: set[str] = set()
        for completion in completions:
            if completion.name != "act" or not completion.ok or completion.seq is None:
                continue
            if completion.update_id in first_seen:
                continue
            first_seen.add(completion.update_id)
            row = at_seq.get(completion.seq)
            if row is None:
                fail("mismatched", f"the workflow completed update {completion.update_id} as seq {completion.seq}; "
                                   f"the events table has no seq {completion.seq}")
            elif row.request_id != completion.update_id:
                fail("mismatched", f"the workflow completed update {completion.update_id} as seq {completion.seq}; "
                                   f"the events table's seq {completion.seq} is {row.type} with request_id "
                                   f"{row.request_id}")
        known = set(by_id)
        create_keys = {a.key for a in self.ledger.actions if a.task == code and a.action == "create"}
        for row in rows:
            if row.seq == 1 and row.type == "created":
                if row.request_id is not None and row.request_id not in create_keys:
                    fail("mismatched", f"the 'created' event carries request_id {row.request_id}, no create key "
                                       "this task was sent with")
                continue
            if row.request_id is not None and row.request_id not in known:
                fail("mismatched", f"events table seq {row.seq} ({row.type}, request_id {row.request_id}) is no "
                                   "completed update of the workflow")
        if log is not None:  # row by row, the table is the workflow's log
            logged = {event.get("seq"): event for event in log}
            if sorted(logged) != list(range(1, workflow_seq + 1)):
                fail("mismatched", f"the workflow's recorded log holds seq {_ranges(sorted(logged))} but its state "
                                   f"is at seq {workflow_seq}")
            for row in rows:
                event = logged.get(row.seq)
                if event is None:
                    continue
                differs = [f"{name} {getattr(row, name)!r} vs {event.get(name)!r}"
                           for name in ("type", "request_id", "hash") if getattr(row, name) != event.get(name)]
                if differs:
                    fail("mismatched", f"events table seq {row.seq} differs from the workflow's recorded event: "
                                       + "; ".join(differs))

        # 4. The projection: the tasks row and GET /api/v1/tasks/{code} agree with the workflow.
        if task_row is None:
            fail("mismatched", f"no tasks row; the workflow is at {workflow_stage}/seq {workflow_seq}")
        elif (task_row.stage, task_row.seq) != (workflow_stage, workflow_seq):
            fail("mismatched", f"tasks row says {task_row.stage}/seq {task_row.seq}, "
                               f"the workflow {workflow_stage}/seq {workflow_seq}")
        answer = await self.api_get(http, f"/api/v1/tasks/{code}")
        if answer is None or answer.status_code != 200:
            fail("mismatched", f"GET /api/v1/tasks/{code}: "
                               + ("no answer" if answer is None else f"{answer.status_code} {_short(answer.text)}"))
        else:
            view = answer.json()
            if view.get("stage") != workflow_stage or ("seq" in view and view["seq"] != workflow_seq):
                fail("mismatched", f"GET /api/v1/tasks/{code} says {view.get('stage')}"
                                   + (f"/seq {view['seq']}" if "seq" in view else "")
                                   + f", the workflow {workflow_stage}/seq {workflow_seq}")
        return found


async def recorded_log(handle: Any) -> list[dict[str, Any]] | None:
    """The workflow's own list of recorded events (`recorded` query), or None when the workflow has
    no such query (then the table is compared with the history and the state only)."""
    try:
        answer = await handle.query("recorded", rpc_timeout=timedelta(seconds=15))
    except Exception as error:  # an unknown query type fails the query: the workflow keeps no log
        if "recorded" in str(error) and ("unknown" in str(error).lower() or "not found" in str(error).lower()):
            return None
        raise
    events = answer.get("events") if isinstance(answer, dict) else None
    return events if isinstance(events, list) else None


def _ranges(values: list[int]) -> str:
    """[1, 2, 3, 5, 5] -> '1..3,5,5'."""
    if not values:
        return "(none)"
    parts: list[str] = []
    start = previous = values[0]
    for value in values[1:]:
        if value == previous + 1:
            previous = value
            continue
        parts.append(f"{start}" if start == previous else f"{start}..{previous}")
        start = previous = value
    parts.append(f"{start}" if start == previous else f"{start}..{previous}")
    return ",".join(parts)


# --------------------------------------------------------------------------------------------------
# The run


async def run(config: Config) -> Report:
    started = time.monotonic()
    own_dir = config.work_dir is None
    work_dir = Path(tempfile.mkdtemp(prefix="nq57-fault-")) if own_dir else config.work_dir
    assert work_dir is not None
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / "data").mkdir(exist_ok=True)
    database_url = config.database_url(work_dir)
    if config.database == "postgres":
        await ensure_postgres_database(database_url)
    await prepare_database(database_url)

    ledger = Ledger()
    stack = Stack(config, work_dir, database_url, ledger)
    run_id = f"{config.seed}{uuid.uuid4().hex[:4].upper()}"
    notes: list[str] = []
    failures: list[Failure] = []
    audit: dict[str, Any] | None = None
    try:
        await stack.start()
        stack.log(f"stack up in {time.monotonic() - started:.1f}s: temporal {stack.temporal_address}, "
                  f"api {stack.base_url}, {config.database}, dir {work_dir}")
        tokens = Tokens()
        codes = [f"FI-{run_id}-{n:04d}" for n in range(1, config.tasks + 1)]
        clients = [CarefulClient(n, stack, config, ledger, tokens) for n in range(1, config.clients + 1)]
        runs = [asyncio.create_task(c.run(codes[n::config.clients])) for n, c in enumerate(clients)]
        clients_done = asyncio.Event()
        all_runs = asyncio.gather(*runs, return_exceptions=True)
        all_runs.add_done_callback(lambda _: clients_done.set())
        await chaos(stack, config, ledger, clients_done)
        stack.log(f"chaos over after {sum(ledger.kills.values())} kill points; letting the clients finish")
        await stack.restart_all_down()
        done, pending = await asyncio.wait(runs, timeout=config.finish_seconds)
        for task in pending:
            task.cancel()
        if pending:
            notes.append(f"{len(pending)} client(s) did not finish within {config.finish_seconds:.0f}s "
                         "after the chaos: cancelled")
        outcomes = await all_runs
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, asyncio.CancelledError):
                notes.append(f"a client crashed: {type(outcome).__name__}: {outcome}")
        stack.log(f"clients done: {sum(1 for a in ledger.actions if a.acknowledged)} acknowledged; verifying")
        await stack.restart_all_down()
        failures, audit = await Verifier(stack, config, ledger, database_url).run()
    finally:
        await stack.stop()
    report = Report(config=config, work_dir=work_dir, ledger=ledger, failures=failures, audit=audit,
                    elapsed=time.monotonic() - started, notes=notes)
    if not report.ok or ledger.self_exits or notes:
        report.logs = {p.name: p.tail(25) for p in stack.processes}
    (work_dir / "report.txt").write_text(report.format() + "\n", encoding="utf-8")
    if own_dir and report.ok and not config.keep:
        shutil.rmtree(work_dir, ignore_errors=True)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fault_injection", description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1, choices=(1, 2))
    parser.add_argument("--postgres-url", default=os.environ.get("NQ57_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL,
                        help="the PostgreSQL server to use (its own database is never touched)")
    parser.add_argument("--postgres-db", default="nq57_fault", help="the dedicated database (created if missing)")
    parser.add_argument("--min-gap", type=float, default=1.0)
    parser.add_argument("--max-gap", type=float, default=4.0)
    parser.add_argument("--chaos-seconds", type=float, default=900.0)
    parser.add_argument("--finish-seconds", type=float, default=240.0)
    parser.add_argument("--request-timeout", type=float, default=20.0)
    parser.add_argument("--action-seconds", type=float, default=120.0)
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    config = Config(
        database=args.database, tasks=args.tasks, clients=args.clients, kills=args.kills, seed=args.seed,
        workers=args.workers, postgres_url=postgres_fault_url(args.postgres_url, args.postgres_db)
        if args.database == "postgres" else "", min_gap=args.min_gap, max_gap=args.max_gap,
        chaos_seconds=args.chaos_seconds, finish_seconds=args.finish_seconds, request_timeout=args.request_timeout,
        action_seconds=args.action_seconds, work_dir=args.work_dir, keep=args.keep, verbose=not args.quiet)
    report = asyncio.run(run(config))
    print(report.format(), flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
