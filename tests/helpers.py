"""What the tests share, written once: the demo people and their passwords, the running stack with
its cached logins, an action over HTTP (`act`), bounded polling (`wait_until`), unique task codes,
and the few calls the workflow tests make straight to Temporal (`send_act`).

Fixtures live in conftest.py; this module has no fixtures and starts nothing."""

import asyncio
import contextlib
import inspect
import os
import random
import re
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy import event as sql_events
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from temporalio.api.workflowservice.v1 import ListOpenWorkflowExecutionsRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from db import models
from domain.commands import ActionRequest
from domain.proof import derive_key
from domain.task import TaskState
from settings import Settings
from workflows.task_lifecycle import TaskLifecycleWorkflow

T = TypeVar("T")
Figures = Callable[[str], None]  # the `figures` fixture (conftest.py): a line for the run's summary

# The secret the test workers and the tests share: the API signs each action with the key derived
# from it, and a worker refuses an action without that proof (domain/proof.py).
TEST_SECRET = "nq57-test-secret-long-enough-for-hs256"
# The ladder the stack's tasks climb (tests/test_api_escalation.py counts on it).
STACK_ESCALATION_STEPS = "0d,7d,14d"
POSTGRES_URL = os.environ.get("NQ57_TEST_POSTGRES_URL", "")  # empty: the PostgreSQL runs are skipped
DEMO_PASSWORD = "nq57-demo"  # every demo person's (api/bootstrap.py)
ADMIN_PASSWORD = "admin-password"  # the stack's NQ57_ADMIN_PASSWORD (conftest)

# The demo people (api/bootstrap.py, DEMO_USERS) and the administrator: username -> (agency, role).
PEOPLE: dict[str, tuple[str | None, str]] = {
    "admin": (None, "admin"),
    "office": ("VPTW", "steering_office"),
    "committee": (None, "steering_committee"),
    "hni.head": ("HNI", "agency_head"),
    "hni.officer": ("HNI", "agency_officer"),
    "btc.head": ("BTC", "agency_head"),
    "btc.officer": ("BTC", "agency_officer"),
    "bca.head": ("BCA", "agency_head"),
    "bca.officer": ("BCA", "agency_officer"),
    "bkhcn.head": ("BKHCN", "agency_head"),
    "bkhcn.officer": ("BKHCN", "agency_officer"),
    "finance": ("BTC", "finance_reviewer"),
    "reviewer": ("HCM", "cross_check_reviewer"),
    "auditor": ("TTCP", "auditor"),
    "cds.head": ("BKHCN-CDS", "agency_head"),
    "cds.officer": ("BKHCN-CDS", "agency_officer"),
    "dmst.head": ("BKHCN-DMST", "agency_head"),
    "hoankiem.head": ("HNI-HOANKIEM", "agency_head"),
    "hoankiem.officer": ("HNI-HOANKIEM", "agency_officer"),
    "socson.head": ("HNI-SOCSON", "agency_head"),
}


def password_of(username: str) -> str:
    return ADMIN_PASSWORD if username == "admin" else DEMO_PASSWORD


_taken_ports: set[int] = set()


def free_port() -> int:
    """A free loopback port BELOW the kernel's ephemeral range: the dev server picks its internal
    services' ports from that range (bind to port 0) when it starts, and once took the very port
    given to its frontend (it then panics: "bind: address already in use").

    Each test process (pytest-xdist worker) draws from its own slice of that range, so two processes
    never hand out the same port: a probe only sees that a port is free NOW, and a port handed out
    earlier may be bound again later (the fault-injection test restarts its API on the same port
    after each kill; another process's probe once found it free in that gap, and its server.py then
    could not bind while the other API answered its readiness check)."""
    low = 32768
    with contextlib.suppress(OSError, ValueError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    first = max(1024, low - 12000)
    workers = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0) % workers
    width = (low - first) // workers
    first += worker * width
    chooser = random.SystemRandom()
    for _ in range(200):
        port = chooser.randrange(first, first + width)
        if port in _taken_ports:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _taken_ports.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range")


@asynccontextmanager
async def postgres_schema() -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """Two engines on a PostgreSQL schema of the test's own (made for it, dropped after it)."""
    from tests.fault_injection import ensure_postgres_database, postgres_fault_url  # (it imports this module)
    schema = f"nq57_migrate_{uuid.uuid4().hex[:10]}"
    await ensure_postgres_database(postgres_fault_url(POSTGRES_URL, str(make_url(POSTGRES_URL).database)))
    url = Settings(database_url=POSTGRES_URL).async_database_url
    admin = create_async_engine(url)
    async with admin.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    path = {"server_settings": {"search_path": schema}}  # pg_trgm lives in another schema, off this path
    engines = (create_async_engine(url, connect_args=path), create_async_engine(url, connect_args=path))
    try:
        yield engines
    finally:
        for engine in engines:
            await engine.dispose()
        async with admin.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


def task_row(code: str, search: str | None = None) -> models.Task:
    """A task's row written straight to the database, with no workflow behind it (an older database's,
    or one the recording step did not write)."""
    now = datetime.now(UTC)
    return models.Task(code=code, title=code, lead_agency="HNI", stage="assigned", deadline=now,
                       original_deadline=now, overdue=False, late=False, escalation_level=0, seq=1, fence=0,
                       created_at=now, updated_at=now, state={}, search=search)


def unique_code(prefix: str = "T") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10].upper()}"


# --- the running stack over HTTP ---------------------------------------------------------------

@dataclass
class Stack:
    settings: Settings
    http: httpx.AsyncClient
    temporal: Client
    temporal_env: WorkflowEnvironment
    sessions: async_sessionmaker[AsyncSession]
    database: str
    tokens: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    async def login(self, username: str, password: str | None = None) -> dict[str, str]:
        """A bearer header for the user (the demo password, or the administrator's, unless given).
        A token from an earlier login is used again while it still works (a password check costs
        argon2's time; a logout or a reset ends the old token)."""
        password = password_of(username) if password is None else password
        known = self.tokens.get((username, password))
        if known is not None and (await self.http.get("/api/v1/me", headers=known)).status_code == 200:
            return dict(known)  # a copy: callers add headers to it
        answer = await self.http.post("/api/v1/auth/token", data={"username": username, "password": password})
        assert answer.status_code == 200, answer.text
        self.tokens[(username, password)] = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        return dict(self.tokens[(username, password)])


@contextlib.contextmanager
def statements(sessions: async_sessionmaker[AsyncSession]) -> Iterator[list[str]]:
    """The SQL statements run on the sessions' engine while inside (whoever runs them), each on one line."""
    engine = sessions.kw["bind"].sync_engine
    said: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        said.append(" ".join(statement.split()))

    sql_events.listen(engine, "before_cursor_execute", seen)
    try:
        yield said
    finally:
        sql_events.remove(engine, "before_cursor_execute", seen)


ORIGIN = "http://nq57.test"  # where the stack's clients say they are


def app_of(stack: Stack) -> Any:
    """The ASGI app behind the stack's client."""
    return stack.http._transport.app  # type: ignore[attr-defined]


@asynccontextmanager
async def client_at(stack: Stack, address: str, base_url: str = ORIGIN) -> AsyncIterator[httpx.AsyncClient]:
    """Another client of the same app, seen at `address` (its own rate limits, its own cookies)."""
    transport = httpx.ASGITransport(app=app_of(stack), client=(address, 5000))
    async with httpx.AsyncClient(transport=transport, base_url=base_url, timeout=60) as client:
        yield client


def ok(answer: httpx.Response, status: int = 200) -> Any:
    """The answer's JSON body, after checking its status (the body is the message when it is not)."""
    assert answer.status_code == status, answer.text
    return answer.json()


async def post_action(stack: Stack, who: str | dict[str, str], code: str, action: str, body: Any = None,
                      key: str | None = None) -> httpx.Response:
    """POST an action as `who` (a username, or headers already got), with an Idempotency-Key if
    given, whatever the answer."""
    headers = await stack.login(who) if isinstance(who, str) else dict(who)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await stack.http.post(f"/api/v1/tasks/{code}/actions/{action}", headers=headers,
                                 json={} if body is None else body)


async def assigned(stack: Stack, prefix: str = "T", **fields: Any) -> str:
    """A new task the Standing Office assigns to Hà Nội (unless `fields` say otherwise); its code."""
    code = unique_code(prefix)
    body = {"code": code, "title": "Nhiệm vụ thử", "lead_agency": "HNI", "deadline": "2099-12-31", **fields}
    ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json=body), 201)
    return code


async def act(stack: Stack, who: str | dict[str, str], code: str, action: str, body: Any = None,
              key: str | None = None) -> dict[str, Any]:
    """POST an action as `who`; it must succeed. The task as the answer gives it."""
    return ok(await post_action(stack, who, code, action, body, key))


async def get_task(stack: Stack, code: str, user: str = "office") -> dict[str, Any]:
    return ok(await stack.http.get(f"/api/v1/tasks/{code}", headers=await stack.login(user)))


async def history(stack: Stack, code: str, user: str = "office") -> list[dict[str, Any]]:
    return ok(await stack.http.get(f"/api/v1/tasks/{code}/history", headers=await stack.login(user)))


async def history_types(stack: Stack, code: str, user: str = "office") -> list[str]:
    return [entry["type"] for entry in await history(stack, code, user)]


async def wait_until(probe: Callable[[], Awaitable[T]] | Callable[[], T], check: Callable[[T], bool], *,
                     what: str, seconds: float = 60, interval: float = 0.2) -> T:
    """`probe()` again until `check` holds of its answer: at most `seconds`, and at most as many
    probes as fit in them. For what the system will reach by itself (a workflow recording, a
    projection catching up), never for time to pass: the answer does not depend on the machine's
    speed, only whether it is reached within the bound."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + seconds
    for _ in range(int(seconds / interval) + 1):
        seen = probe()
        if inspect.isawaitable(seen):
            seen = await seen
        if check(seen):
            return seen
        if loop.time() >= give_up:
            break
        await asyncio.sleep(interval)
    raise AssertionError(f"never reached in {seconds} s: {what}; last seen {seen!r}")


async def task_until(stack: Stack, code: str, check: Callable[[dict[str, Any]], bool], *, what: str = "",
                     seconds: float = 60) -> dict[str, Any]:
    """The task (as the office reads it) once `check` holds of it."""
    return await wait_until(lambda: get_task(stack, code), check, what=what or f"task {code}", seconds=seconds)


# --- straight to Temporal (workflow tests) -----------------------------------------------------

def proven(request: ActionRequest, code: str, update_id: str) -> ActionRequest:
    """The request with the proof the API would give it."""
    return request.signed(derive_key(TEST_SECRET), code, update_id)


def code_of(handle: WorkflowHandle) -> str:
    """The task code behind a workflow handle (`task-<code>`)."""
    return handle.id.removeprefix("task-")


async def send_act(handle: WorkflowHandle, request: ActionRequest, update_id: str | None = None) -> TaskState:
    """Send `act` straight to a task's workflow, as the API would."""
    update_id = update_id or f"test-{uuid.uuid4().hex}"
    return await handle.execute_update(TaskLifecycleWorkflow.act, proven(request, code_of(handle), update_id),
                                       id=update_id)


async def close_open_workflows(env: WorkflowEnvironment) -> int:
    """Terminate the workflows left open on the session's time-skipping server.

    Their workers (module fixtures) are gone, so the next timer any of them reaches schedules a
    workflow task nobody takes, and the server will not move its clock past it: every later
    `env.sleep` would time out. Module fixtures call it when they close their worker."""
    request = ListOpenWorkflowExecutionsRequest(namespace=env.client.namespace, maximum_page_size=1000)
    terminated = 0
    for _ in range(1000):  # pages of 1000: far more workflows than a session starts
        page = await env.client.workflow_service.list_open_workflow_executions(request)
        for execution in page.executions:
            handle = env.client.get_workflow_handle(execution.execution.workflow_id,
                                                    run_id=execution.execution.run_id)
            try:
                await handle.terminate(reason="left open by an earlier test module")
                terminated += 1
            except RPCError:  # closed in the meantime
                pass
        if not page.next_page_token:
            return terminated
        request.next_page_token = page.next_page_token
    raise AssertionError("more than a million open workflows on the time-skipping server")


# --- the pages, as a browser uses them -----------------------------------------------------------

def browser_at(stack: Stack, base: str = ORIGIN, address: str | None = None) -> Any:
    """A browser of its own (cookies, client address) on the stack's app."""
    return client_at(stack, address or f"192.0.2.{uuid.uuid4().int % 250 + 1}", base)


def csrf_of(page: httpx.Response) -> str:
    """The CSRF token of the page's forms."""
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


async def web_login(client: httpx.AsyncClient, username: str, password: str | None = None) -> httpx.Response:
    token = csrf_of(await client.get("/login"))
    answer = await client.post("/login", data={"username": username, "password": password or password_of(username),
                                                "csrf_token": token, "next": "/inbox"},
                               headers={"Origin": str(client.base_url)})
    assert answer.status_code == 303, answer.text
    return answer
