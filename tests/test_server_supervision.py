"""`make run` (server.py) owns its embedded Temporal dev server and its worker processes: each is
restarted when it dies alone and dies with server.py even on kill -9, and an orphan dev server an
older run left on the same database file is cleaned up by the next start.

Each test runs a real `python server.py` on free ports and a fresh data dir; every process it
starts is killed by its pid when the test ends, and the server's log is printed when it fails."""

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parent.parent
TEMPORAL = str(Path(sys.executable).with_name("temporal"))


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def gone(pid: int) -> bool:
    """Exited: no such process any more, or a zombie nobody has reaped yet."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds:.0f} s: {what}")
        time.sleep(0.2)


def kill_pid(pid: int) -> None:
    if not gone(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Server:
    """`python server.py` as `make run` starts it, with its own data dir and ports."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.port, self.temporal_port, self.ui_port = free_port(), free_port(), free_port()
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("NQ57_")}
        self.env.update(NQ57_DATA_DIR=str(data_dir), NQ57_PORT=str(self.port),
                        NQ57_TEMPORAL_PORT=str(self.temporal_port), NQ57_TEMPORAL_UI_PORT=str(self.ui_port),
                        NQ57_DEMO="0", NQ57_ADMIN_PASSWORD="x", NQ57_WORKER_METRICS_PORT="0",
                        NQ57_DATABASE_URL=f"sqlite:///{data_dir / 'api.db'}", PYTHONUNBUFFERED="1")
        self.log_path = data_dir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.dev_server_pids: set[int] = set()

    def start(self) -> None:
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen([sys.executable, "server.py"], cwd=ROOT, env=self.env,
                                            stdout=out, stderr=subprocess.STDOUT)

    def ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"server.py exited with {self.process.returncode}")
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, seconds: float = 45) -> None:
        wait_until(self.ready, seconds, "GET /readyz answers 200")

    def dev_server_pid(self) -> int:
        pid = int((self.data_dir / "temporal.pid").read_text())
        self.dev_server_pids.add(pid)
        return pid

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def cleanup(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        for pid in self.dev_server_pids:
            kill_pid(pid)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """Kills what the test started, by pid, and prints the logs (pytest shows them when it fails)."""
    running = Server(tmp_path)
    try:
        yield running
    finally:
        running.cleanup()
        for name in ("server.log", "temporal.log"):
            path = tmp_path / name
            if path.exists():
                print(f"--- {name} ---\n{path.read_text(encoding='utf-8', errors='replace')[-6000:]}")


def worker_polls(temporal_port: int) -> bool:
    """The API process's worker polls both its workflow and activity queues on this dev server.

    Pollers live in the dev server's memory only, so on a freshly started dev server any poller
    seen is one that reconnected after the restart."""

    async def describe() -> bool:
        client = await Client.connect(f"127.0.0.1:{temporal_port}")
        for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
            answer = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
                namespace="default", task_queue=TaskQueue(name="nq57-tasks"), task_queue_type=kind))
            if not answer.pollers:
                return False
        return True

    return asyncio.run(describe())


def test_dev_server_is_restarted_and_dies_with_the_server(server: Server) -> None:
    server.start()
    server.wait_ready()
    first = server.dev_server_pid()

    os.kill(first, signal.SIGKILL)  # the dev server dies alone
    wait_until(lambda: gone(first), 5, "the killed dev server exits")
    wait_until(lambda: server.dev_server_pid() != first and server.ready(), 30,
               "a new dev server is started and /readyz answers 200 again")
    second = server.dev_server_pid()
    assert not gone(second)
    wait_until(lambda: worker_polls(server.temporal_port), 20, "the in-process worker polls the new dev server")
    assert "dừng bất ngờ" in server.log()
    # Said once the supervisor's own check of the new server returns: maybe a moment after /readyz.
    wait_until(lambda: "đã chạy lại" in server.log(), 20, "the supervisor says the dev server runs again")
    wait_until(lambda: "Đã đối chiếu dữ liệu với Temporal" in server.log(), 20, "the catch-up after the restart")

    assert server.process is not None
    server.process.kill()  # kill -9 server.py: the kernel takes its dev server down with it
    server.process.wait(timeout=10)
    wait_until(lambda: gone(second), 5, "the dev server dies with server.py (no orphan)")
    wait_until(lambda: not port_open(server.temporal_port) and not port_open(server.ui_port), 5,
               "the dev server's ports are free")

    server.start()  # same data dir, same ports
    server.wait_ready()
    assert server.dev_server_pid() not in (first, second)


def worker_pids(server: Server) -> list[int]:
    """server.py's `python worker.py` children."""
    return children(server, lambda argv: any(part.endswith(b"worker.py") for part in argv))


def api_pids(server: Server) -> list[int]:
    """server.py's API processes (NQ57_API_PROCESSES > 1)."""
    return children(server, lambda argv: b"--api-on-fd" in argv)


def children(server: Server, wanted: Callable[[list[bytes]], bool]) -> list[int]:
    assert server.process is not None
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and not gone(int(entry.name)):
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except (OSError, IndexError, ValueError):
                continue
            if parent == server.process.pid and wanted(argv):
                found.append(int(entry.name))
    return found


def test_the_dev_server_keeps_its_store_in_write_ahead_mode(server: Server) -> None:
    server.start()
    server.wait_ready()
    with contextlib.closing(sqlite3.connect(server.data_dir / "temporal.db", timeout=10)) as store:
        assert store.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_the_worker_runs_apart_is_started_again_and_dies_with_the_server(server: Server) -> None:
    server.start()
    server.wait_ready()
    [first] = worker_pids(server)  # NQ57_WORKER_PROCESSES defaults to one

    os.kill(first, signal.SIGKILL)  # the worker dies alone
    wait_until(lambda: gone(first), 5, "the killed worker exits")
    wait_until(lambda: len(worker_pids(server)) == 1 and first not in worker_pids(server), 20,
               "a new worker is started")
    [second] = worker_pids(server)
    assert "Worker (pid" in server.log() and "dừng bất ngờ" in server.log()
    wait_until(server.ready, 30, "/readyz answers 200 with the new worker polling")

    assert server.process is not None
    server.process.kill()  # kill -9 server.py: the kernel takes its worker down with it
    server.process.wait(timeout=10)
    wait_until(lambda: gone(second), 5, "the worker dies with server.py (no orphan)")


def test_ctrl_c_stops_the_worker_in_order(server: Server) -> None:
    server.start()
    server.wait_ready()
    [worker] = worker_pids(server)
    assert server.process is not None
    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(timeout=60) == 0
    assert gone(worker)
    assert "Beginning worker shutdown" in server.log()  # it stopped polling when asked, not killed
    assert "NQ57 đã dừng." in server.log()


def test_the_worker_runs_inside_the_api_when_asked(server: Server) -> None:
    server.env["NQ57_WORKER_PROCESSES"] = "0"
    server.start()
    server.wait_ready()
    assert worker_pids(server) == []
    assert worker_polls(server.temporal_port)


def test_several_api_processes_serve_one_port_and_answer_metrics_for_all(server: Server) -> None:
    server.env["NQ57_API_PROCESSES"] = "2"
    server.start()
    server.wait_ready()  # the first answers; server.py starts the second only then
    wait_until(lambda: len(api_pids(server)) == 2, 30, "server.py starts the second API process")
    first, second = api_pids(server)
    base = f"http://127.0.0.1:{server.port}"
    os.kill(second, signal.SIGSTOP)  # the first alone accepts
    try:
        for _ in range(25):
            assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
    finally:
        os.kill(second, signal.SIGCONT)
    os.kill(first, signal.SIGSTOP)  # the second alone answers, with what the first counted
    try:
        metrics = httpx.get(f"{base}/metrics", timeout=10).text
    finally:
        os.kill(first, signal.SIGCONT)
    counted = [line for line in metrics.splitlines()
               if line.startswith('nq57_http_request_duration_seconds_count{') and 'route="/healthz"' in line]
    assert counted and sum(float(line.rsplit(" ", 1)[1]) for line in counted) >= 25, counted
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)  # as a container is stopped
    assert server.process.wait(timeout=60) == 0
    assert gone(first) and gone(second)
    assert "NQ57 đã dừng." in server.log()


def test_a_stale_orphan_is_cleaned_up_on_start(server: Server) -> None:
    """An older build left its dev server running on our database file after a kill -9."""
    server.data_dir.mkdir(parents=True, exist_ok=True)
    db_file = str((server.data_dir / "temporal.db").resolve())
    with (server.data_dir / "orphan.log").open("ab") as out:
        orphan = subprocess.Popen([TEMPORAL, "server", "start-dev", "--db-filename", db_file, "--ip", "127.0.0.1",
                                   "--port", str(server.temporal_port), "--ui-port", str(server.ui_port),
                                   "--namespace", "default", "--log-level", "error"],
                                  stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server.dev_server_pids.add(orphan.pid)
    try:
        wait_until(lambda: port_open(server.temporal_port), 30, "the orphan opens its port")
        (server.data_dir / "temporal.pid").write_text(f"{orphan.pid}\n")

        server.start()
        assert orphan.wait(timeout=30) == -signal.SIGKILL
        server.wait_ready()
        assert server.dev_server_pid() != orphan.pid
        assert f"mồ côi của lần chạy trước (pid {orphan.pid})" in server.log()
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait(timeout=10)


def test_a_port_held_by_something_else_is_refused(server: Server) -> None:
    with socket.socket() as stranger:
        stranger.bind(("127.0.0.1", server.temporal_port))
        stranger.listen()
        server.start()
        assert server.process is not None
        assert server.process.wait(timeout=30) != 0
    assert f"Cổng {server.temporal_port} đang được dùng" in server.log()
    assert not (server.data_dir / "temporal.pid").exists()


async def test_a_frontend_not_healthy_yet_is_waited_for_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The dev server's port opens before its frontend answers: server.py connects again (it crashed
    on "Frontend is not healthy yet" once, in a suite run)."""
    import server
    from settings import Settings

    attempts: list[int] = []

    class Handle:
        async def describe(self) -> None:
            raise server.RPCError("not found", server.RPCStatusCode.NOT_FOUND, b"")

    class Probe:
        def get_workflow_handle(self, _: str) -> Handle:
            return Handle()

    async def connect(_: Settings) -> Probe:
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeError("Failed client connect: Frontend is not healthy yet")
        return Probe()

    monkeypatch.setattr(server, "connect", connect)
    pause = asyncio.sleep
    monkeypatch.setattr(server.asyncio, "sleep", lambda _: pause(0))  # no wall-clock wait between tries
    await server.wait_for_temporal(Settings(), seconds=60)
    assert len(attempts) == 3


@pytest.mark.parametrize("process", ["first", "other"])
async def test_the_api_socket_sends_small_answers_at_once(process: str) -> None:
    """Every API process's connections have TCP_NODELAY (asyncio sets it on sockets that say they are
    TCP): without it each small answer waited for the client's delayed ACK, 40 ms."""
    from server import listen
    from settings import Settings

    listening = listen(Settings(host="127.0.0.1", port=free_port()))
    if process == "other":  # as an API process started by server.py takes it: by its descriptor
        listening = socket.socket(fileno=os.dup(listening.fileno()))
    nodelay: list[int] = []

    async def answer(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nodelay.append(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    serving = await asyncio.start_server(answer, sock=listening)
    try:
        _, writer = await asyncio.open_connection(*listening.getsockname())
        for _ in range(100):
            if nodelay:
                break
            await asyncio.sleep(0.05)
        writer.close()
    finally:
        serving.close()
    assert nodelay == [1]
