"""The Temporal worker: runs the task workflows and their activities. `python worker.py` runs one
on its own (as many as needed, against NQ57_TEMPORAL_ADDRESS); `server.py` also runs one inside
the API process unless NQ57_RUN_WORKER=0. A process that runs a worker answers Prometheus at
NQ57_WORKER_METRICS_PORT's /metrics: the Temporal SDK's series and the activities' own."""

import asyncio
import compileall
import gc
import logging
import signal
from functools import cache
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import TLSConfig
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.closures import closure_proven
from activities.notifications import NotificationActivities
from activities.projection import ProjectionActivities
from db.reconcile import catch_up
from db.session import create_schema, make_sessions
from services.logs import CarryLogContext, configure_logging
from settings import Settings, load_settings
from workflows import trust
from workflows.task_lifecycle import TaskLifecycleWorkflow


async def connect(settings: Settings, metrics: bool = False) -> Client:
    """A client of NQ57_TEMPORAL_ADDRESS (over TLS when a certificate or an API key is set), carrying
    the log context (services/logs.py). With `metrics`, its worker's series are answered at
    NQ57_WORKER_METRICS_PORT."""
    port = settings.worker_metrics_port if metrics else 0
    return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace,
                                data_converter=pydantic_data_converter, interceptors=[CarryLogContext()],
                                tls=_tls(settings), api_key=settings.temporal_api_key or None,
                                runtime=_runtime(settings.host, port) if port else None)


def carrying(client: Client) -> Client:
    """The client with the log context carried, for one made elsewhere (the tests' own)."""
    config = client.config()
    if any(isinstance(interceptor, CarryLogContext) for interceptor in config["interceptors"]):
        return client
    return Client(**{**config, "interceptors": [*config["interceptors"], CarryLogContext()]})


def _tls(settings: Settings) -> TLSConfig | bool:
    """mTLS with a client certificate; TLS alone with a CA of one's own, or for an API key; else none."""
    cert, key, ca = settings.temporal_tls_cert, settings.temporal_tls_key, settings.temporal_tls_ca
    if cert is not None and key is None:
        raise SystemExit("NQ57_TEMPORAL_TLS_CERT cần NQ57_TEMPORAL_TLS_KEY (khóa riêng của chứng chỉ)")
    if cert is None and ca is None:
        return bool(settings.temporal_api_key)  # Temporal Cloud's API keys go over TLS
    return TLSConfig(client_cert=cert.read_bytes() if cert else None,
                     client_private_key=key.read_bytes() if cert and key else None,
                     server_root_ca_cert=ca.read_bytes() if ca else None)


@cache
def _runtime(host: str, port: int) -> Runtime:
    """One per process (its exporter holds the port), on NQ57_HOST as the API: durations in seconds,
    counters named `_total`."""
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(
            bind_address=address, durations_as_seconds=True, counters_total_suffix=True)))
    except ValueError as error:  # the port is taken
        raise SystemExit(f"Không mở được cổng {port} cho số liệu Prometheus ({error}): đặt NQ57_WORKER_METRICS_PORT "
                         "khác (0: không mở)") from None


async def connect_when_up(settings: Settings) -> Client:
    """A worker started while Temporal is down (or restarting) waits for it instead of dying."""
    for attempt in range(1, 10_000):
        try:
            return await connect(settings, metrics=True)
        except RuntimeError as error:  # the SDK's "Failed client connect"
            logging.getLogger("nq57.worker").warning("Chưa kết nối được Temporal tại %s (%s), thử lại sau",
                                                     settings.temporal_address, error)
            await asyncio.sleep(min(attempt, 5))
    raise SystemExit("Không kết nối được Temporal")


def build_worker(client: Client, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Worker:
    notifications = NotificationActivities(sessions, settings)
    projection = ProjectionActivities(sessions)
    trust.set_key(settings.proof_key)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[TaskLifecycleWorkflow],
        workflow_runner=workflow_runner(settings),
        activities=[projection.record_event, projection.rebuild_projection, projection.chain_head,
                    notifications.notify_in_app, notifications.tell_in_app, notifications.record_and_tell,
                    notifications.send_mail,
                    notifications.post_webhook, closure_proven],
    )


def workflow_runner(settings: Settings) -> WorkflowRunner:
    """The SDK's sandbox (NQ57_WORKFLOW_SANDBOX) or none.

    The sandbox refuses a workflow's non-deterministic call (a clock, I/O) when it happens, and loads
    the workflow's module afresh for every workflow it runs. The test suite runs every workflow in it
    (tests/conftest.py), and replays recorded histories in it, so such a call fails CI. A worker
    in service runs without it, as the fault-injection test does: creating a task then cost the
    worker 16 ms of CPU instead of 24 (an import of 500 tasks went from 35 to 47 a second)."""
    if not settings.workflow_sandbox:
        return UnsandboxedWorkflowRunner()
    # Loaded from its bytecode when there is some: written here, whatever PYTHONDONTWRITEBYTECODE
    # says (containers often set it), so no workflow compiles the module's source again.
    compileall.compile_dir(Path(trust.__file__).parent, quiet=1)
    # Shared with the process: trust holds the key build_worker sets, logs the context of the log
    # lines (the request's id, carried into the activities).
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("workflows.trust", "services.logs"))


async def keep_in_step(client: Client, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> None:
    """The catch-up after a (re)start: tasks whose rows a crash left out of step with their
    workflow are brought back to it. Tried again until Temporal answers."""
    for attempt in range(1, 1000):
        try:
            await catch_up(client, sessions, settings.task_queue)
            return
        except Exception as error:  # Temporal or the database not reachable yet: try again later
            logging.getLogger("nq57.worker").warning("Chưa đồng bộ được dữ liệu với Temporal (%s), thử lại sau", error)
            await asyncio.sleep(min(2 * attempt, 30))


async def run(worker: Worker, client: Client, settings: Settings,
              sessions: async_sessionmaker[AsyncSession]) -> None:
    """Run the worker, and the catch-up beside it (it needs a running worker to answer)."""
    catching_up = asyncio.create_task(keep_in_step(client, settings, sessions))
    try:
        await worker.run()
    finally:
        catching_up.cancel()


async def main() -> None:
    settings = load_settings()
    configure_logging(settings)
    if not settings.temporal_address:
        raise SystemExit("worker.py cần NQ57_TEMPORAL_ADDRESS (địa chỉ Temporal, ví dụ 127.0.0.1:7233)")
    engine = settings.make_engine()
    await create_schema(engine)
    client, sessions = await connect_when_up(settings), make_sessions(engine)
    worker = build_worker(client, settings, sessions)
    gc.collect()
    gc.freeze()  # what start built lives as long as the process: no full collection walks it again
    logging.getLogger("nq57.worker").info("Worker đang chạy, hàng đợi '%s'", settings.task_queue)
    # Ctrl-C or a stop from its supervisor: the worker stops polling and finishes what it holds (left
    # to asyncio's default, the cancelled polls kept it waiting for their long poll to end).
    stopping: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, lambda: stopping.add(asyncio.create_task(worker.shutdown())))
    try:
        await run(worker, client, settings, sessions)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
