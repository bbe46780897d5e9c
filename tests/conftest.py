"""Fixtures for the environments the suite runs in.

- `time_skipping`: Temporal's time-skipping test server, for workflows and deadlines.
- `stack`: the real thing for API tests: a Temporal dev server, the FastAPI app with its
  in-process worker, and a real database — SQLite always, PostgreSQL too when
  NQ57_TEST_POSTGRES_URL is set (the tests run once on each)."""

import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.api.workflowservice.v1 import ListOpenWorkflowExecutionsRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.bootstrap import DEMO_PASSWORD, load_demo_people
from db.models import Base
from db.session import make_engine
from domain.commands import ActionRequest
from domain.proof import derive_key
from domain.task import TaskState
from settings import Settings
from tests.fault_injection import ensure_postgres_database, postgres_fault_url
from workflows.task_lifecycle import TaskLifecycleWorkflow

POSTGRES_URL = os.environ.get("NQ57_TEST_POSTGRES_URL", "")
# The secret the test workers and the tests share: the API signs each action with the key derived
# from it, and a worker refuses an action without that proof (domain/proof.py).
TEST_SECRET = "nq57-test-secret-long-enough-for-hs256"


def proven(request: ActionRequest, code: str, update_id: str) -> ActionRequest:
    """The request with the proof the API would give it."""
    return request.signed(derive_key(TEST_SECRET), code, update_id)


async def send_act(handle: WorkflowHandle, request: ActionRequest, update_id: str | None = None) -> TaskState:
    """Send `act` straight to a task's workflow, as the API would."""
    update_id = update_id or f"test-{uuid.uuid4().hex}"
    return await handle.execute_update(TaskLifecycleWorkflow.act, proven(request, code_of(handle), update_id),
                                       id=update_id)


def _binary(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if not Path(found).exists():
        pytest.fail(f"'{name}' not installed: run the suite through `make test`")
    return found


def code_of(handle: WorkflowHandle) -> str:
    """The task code behind a workflow handle (`task-<code>`)."""
    return handle.id.removeprefix("task-")


def unique_code(prefix: str = "T") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10].upper()}"


async def close_open_workflows(env: WorkflowEnvironment) -> int:
    """Terminate the workflows left open on the session's time-skipping server.

    Their workers (module fixtures) are gone, so the next timer any of them reaches schedules a
    workflow task nobody takes, and the server will not move its clock past it: every later
    `env.sleep` would time out. Module fixtures call it when they close their worker."""
    request = ListOpenWorkflowExecutionsRequest(namespace=env.client.namespace, maximum_page_size=1000)
    terminated = 0
    while True:
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


@pytest.fixture(scope="session")
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_binary("temporal-test-server"), data_converter=pydantic_data_converter)
    yield env
    await env.shutdown()


async def fresh_database(url: str) -> AsyncEngine:
    engine = make_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.drop_all)
    return engine


async def postgres_database() -> str:
    """NQ57_TEST_POSTGRES_URL's database, or under pytest-xdist one database per test process on the
    same server (`<name>_gw0`, ...), so that processes running side by side never share tables."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return POSTGRES_URL
    url = postgres_fault_url(POSTGRES_URL, f"{make_url(POSTGRES_URL).database}_{worker}")
    await ensure_postgres_database(url)
    return url


def _database_params() -> list:
    return ["sqlite", pytest.param("postgres", marks=pytest.mark.skipif(
        not POSTGRES_URL, reason="NQ57_TEST_POSTGRES_URL is not set: the PostgreSQL run is skipped"))]


@dataclass
class Stack:
    settings: Settings
    http: httpx.AsyncClient
    temporal: Client
    temporal_env: WorkflowEnvironment
    sessions: async_sessionmaker[AsyncSession]
    database: str
    tokens: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    async def login(self, username: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
        """A bearer header for the user. A token from an earlier login is used again while it still
        works (a password check costs argon2's time; a logout or a reset ends the old token)."""
        known = self.tokens.get((username, password))
        if known is not None and (await self.http.get("/api/v1/me", headers=known)).status_code == 200:
            return dict(known)  # a copy: callers add headers to it
        answer = await self.http.post("/api/v1/auth/token", data={"username": username, "password": password})
        assert answer.status_code == 200, answer.text
        self.tokens[(username, password)] = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        return dict(self.tokens[(username, password)])


@pytest.fixture(scope="session", params=_database_params())
async def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """One Temporal dev server per database, so task codes never meet across the two runs."""
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=_binary("temporal"), data_converter=pydantic_data_converter,
    ) as dev_server:
        async for ready in _stack(request, dev_server, tmp_path_factory):
            yield ready


async def _stack(request: pytest.FixtureRequest, dev_server: WorkflowEnvironment,
                 tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    data_dir = tmp_path_factory.mktemp(f"nq57-{request.param}")
    url = await postgres_database() if request.param == "postgres" else f"sqlite+aiosqlite:///{data_dir / 'nq57.db'}"
    settings = Settings(data_dir=data_dir, database_url=url, task_queue=f"nq57-test-{uuid.uuid4().hex[:8]}",
                        secret_key=TEST_SECRET,
                        admin_password="admin-password", max_upload_mb=1, demo=False,
                        temporal_address=dev_server.client.service_client.config.target_host)
    await (await fresh_database(settings.async_database_url)).dispose()
    app = create_app(settings, temporal=dev_server.client)
    async with app.router.lifespan_context(app):
        await load_demo_people(app.state.sessions, app.state.enforcer)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://nq57.test", timeout=60) as http:
            yield Stack(settings=settings, http=http, temporal=dev_server.client, temporal_env=dev_server,
                        sessions=app.state.sessions, database=request.param)
