"""Fixtures for the environments the suite runs in (what the tests share besides: tests/helpers.py).

- `time_skipping`: Temporal's time-skipping test server, for workflows and deadlines.
- `stack`: the real thing for API tests: a Temporal dev server, the FastAPI app with its
  in-process worker, and a real database — SQLite always, PostgreSQL too when
  NQ57_TEST_POSTGRES_URL is set (the tests run once on each).

Under pytest-xdist (`-n 2 --dist loadfile`) each process has its own servers and databases: the
session fixtures are per process, and PostgreSQL gets one database per process. Servers listen on
ports below the kernel's ephemeral range (`free_port`): a server of the other process, binding its
internal services to port 0, can then never take the port this one was told to use."""

import ast
import os
import shutil
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.fault_injection import emptied, ensure_postgres_database, postgres_fault_url
from tests.helpers import (
    ADMIN_PASSWORD,
    STACK_ESCALATION_STEPS,
    TEST_SECRET,
    Stack,
    free_port,
)

POSTGRES_URL = os.environ.get("NQ57_TEST_POSTGRES_URL", "")

# The processes tests start (server.py, worker.py) open no Prometheus port unless a test gives one:
# two test processes side by side would both ask for the default.
os.environ.setdefault("NQ57_WORKER_METRICS_PORT", "0")
# Every workflow the suite runs, runs in the SDK's sandbox, which refuses a non-deterministic call as
# it happens (worker.workflow_runner); the fault-injection test runs the worker as it runs in service.
os.environ.setdefault("NQ57_WORKFLOW_SANDBOX", "1")


def _serialize_ast_parse() -> None:
    """CPython 3.11 (3.11.7 here) keeps the AST converter's recursion depth in one state shared by
    every thread (gh-106905): two threads in `ast.parse` at once can fail with `SystemError: AST
    constructor recursion depth mismatch`. pytest parses source to show a failure while a thread of
    the stack (the app's worker) may be formatting a traceback (3.11's carets parse too): it killed
    an xdist worker mid-run. One lock around `ast.parse` makes them take turns; it costs nothing."""
    if getattr(ast.parse, "serialized", False):
        return
    lock = threading.RLock()
    parse = ast.parse

    def serialized(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return parse(*args, **kwargs)

    serialized.serialized = True  # type: ignore[attr-defined]
    ast.parse = serialized


_serialize_ast_parse()


def _load_anyio_whole() -> None:
    """anyio imports each of its parts on first use (anyio/_lazyimport.py), and pytest rewrites each
    such import (anyio is a pytest plugin): `compile` of the rewritten tree, which the lock above does
    not cover, then ran in a request's path (`anyio.open_file`, a download) while another thread parsed,
    and failed as gh-106905 says. Every part loaded now, before any stack's thread runs."""
    import anyio

    for name in dir(anyio):
        getattr(anyio, name)


_load_anyio_whole()


# The files that take longest, longest first (seconds of setup and tests with PostgreSQL, measured
# 2026-12-07: 79, 69, 66, 57, 57, 56, 51, 41, 33, 31, 27, 27, 25, 20, 17; the whole suite 828 over two
# processes). They are handed out first (`make test` keeps this order: --no-loadscope-reorder), so the
# two processes finish together; pytest-xdist's own order, the files with most tests first, left these
# few-test files to the end, one process running them while the other had nothing left.
SLOWEST_FIRST = ("test_fault_injection.py", "test_server_supervision.py", "test_browser_layout.py",
                 "test_browser.py", "test_audit.py", "test_worker_restart.py", "test_openapi_contract.py",
                 "test_projection_follows_workflow.py", "test_concurrency.py", "test_browser_office.py",
                 "test_many_processes.py", "test_api_errors.py", "test_browser_actions.py", "test_api_status.py",
                 "test_accounts.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slowest files first (SLOWEST_FIRST), then the rest in their usual order."""
    rank = {name: place for place, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOWEST_FIRST)))


def _binary(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if not Path(found).exists():
        pytest.fail(f"'{name}' not installed: run the suite through `make test`")
    return found


@pytest.fixture(scope="session")
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_binary("temporal-test-server"), data_converter=pydantic_data_converter,
        port=free_port())
    yield env
    await env.shutdown()


async def fresh_database(url: str) -> AsyncEngine:
    from db.session import make_engine

    engine = make_engine(url)
    await emptied(engine)
    return engine


async def postgres_database(own: str = "") -> str:
    """NQ57_TEST_POSTGRES_URL's database, or under pytest-xdist one database per test process on the
    same server (`<name>_gw0`, ...), so that processes running side by side never share tables; `own`
    names a database apart from those (`<name>_gw0_audit`). Created when missing."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    name = "_".join(part for part in (make_url(POSTGRES_URL).database, worker, own) if part)
    url = postgres_fault_url(POSTGRES_URL, name)
    await ensure_postgres_database(url)
    return url if worker or own else POSTGRES_URL


def _database_params() -> list:
    return ["sqlite", pytest.param("postgres", marks=pytest.mark.skipif(
        not POSTGRES_URL, reason="NQ57_TEST_POSTGRES_URL is not set: the PostgreSQL run is skipped"))]


@pytest.fixture(scope="session")
async def _stacks(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Callable[[str], Awaitable[Stack]]]:
    """The session's stacks, one per database, each started when first asked for and kept to the
    end of the session. Tests of one file run on SQLite, then on PostgreSQL, then the next file's
    on SQLite again: a session fixture with the database as its parameter would stop and start a
    stack (a Temporal dev server, the app, its worker: seconds each) at every such switch."""
    async with AsyncExitStack() as running:
        started: dict[str, Stack] = {}

        async def get(database: str) -> Stack:
            if database not in started:
                started[database] = await running.enter_async_context(_stack(database, tmp_path_factory))
            return started[database]

        yield get


@pytest.fixture(scope="module", params=_database_params())
async def stack(request: pytest.FixtureRequest, _stacks: Callable[[str], Awaitable[Stack]]) -> Stack:
    """The running stack on this database (the tests run once on each): one Temporal dev server per
    database, so task codes never meet across the two runs."""
    return await _stacks(request.param)


@pytest.fixture(scope="module", params=_database_params())
async def own_stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                    ) -> AsyncIterator[Stack]:
    """A stack for one test module alone, started empty: for tests that walk every task (the audit's
    verify), whose walk would otherwise grow with every test that ran before them."""
    async with _stack(request.param, tmp_path_factory, own=request.module.__name__.rpartition(".")[2]) as stack:
        yield stack


@asynccontextmanager
async def _stack(database: str, tmp_path_factory: pytest.TempPathFactory, own: str = "") -> AsyncIterator[Stack]:
    import httpx

    # The application is imported here, not at the top: the pure tests (domain, policy matrix)
    # collect and run even while the API does not import.
    from api.app import create_app
    from api.bootstrap import load_demo_people
    from settings import Settings

    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=_binary("temporal"), data_converter=pydantic_data_converter, port=free_port(),
    ) as dev_server:
        data_dir = tmp_path_factory.mktemp("-".join(part for part in ("nq57", database, own) if part))
        url = await postgres_database(own) if database == "postgres" else f"sqlite+aiosqlite:///{data_dir / 'nq57.db'}"
        settings = Settings(data_dir=data_dir, database_url=url, task_queue=f"nq57-test-{uuid.uuid4().hex[:8]}",
                            secret_key=TEST_SECRET, escalation_steps=STACK_ESCALATION_STEPS,
                            admin_password=ADMIN_PASSWORD, max_upload_mb=1, demo=False,
                            temporal_address=dev_server.client.service_client.config.target_host)
        await (await fresh_database(settings.async_database_url)).dispose()
        app = create_app(settings, temporal=dev_server.client)
        async with app.router.lifespan_context(app):
            await load_demo_people(app.state.sessions, app.state.enforcer)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://nq57.test", timeout=60) as http:
                yield Stack(settings=settings, http=http, temporal=dev_server.client, temporal_env=dev_server,
                            sessions=app.state.sessions, database=database)


# --- figures: what a test measured, printed after the run (also from pytest-xdist's processes) ----

@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """`figures("64 simultaneous actions: {...}")`: a line for the run's summary. Printed by
    `pytest_terminal_summary` below, so the figures show whichever process ran the test."""
    return lambda text: request.node.user_properties.append(("figures", f"{request.node.name}: {text}"))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    lines = [value for reports in terminalreporter.stats.values() for report in reports
             for name, value in getattr(report, "user_properties", ()) if name == "figures"]
    if lines:
        terminalreporter.section("figures")
        for line in dict.fromkeys(lines):
            terminalreporter.write_line(line)
