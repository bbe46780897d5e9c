"""The stack as `make run` starts it: `server.py` (the embedded Temporal dev server, the API and its
worker process, with the demo data), in a fresh data directory, on free loopback ports; on SQLite or
on a PostgreSQL database of its own, created here and dropped at the end."""

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import httpx

from bench.common import children, stop_group
from tests.helpers import free_port  # the ports the tests choose, for the same dev server

ROOT = Path(__file__).resolve().parent.parent
DEMO_PASSWORD = "nq57-demo"  # api/bootstrap.py DEMO_PASSWORD
ADMIN_PASSWORD = "nq57-bench-admin"  # this run's NQ57_ADMIN_PASSWORD
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _ours(pid: int) -> bool:
    """A worker process, or one more API process (NQ57_API_PROCESSES): NQ57's, not the dev server."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(part.endswith((b"worker.py", b"server.py")) for part in argv)


class Stack:
    """`server.py` as `make run` starts it. `database_url` empty: SQLite under the data dir."""

    def __init__(self, database_url: str = "", api_processes: int = 1) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="nq57-bench-"))
        self.database_url = database_url
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "NQ57_DATA_DIR": str(self.dir), "NQ57_PORT": str(self.port), "NQ57_HOST": "127.0.0.1",
               "NQ57_DEMO": "1", "NQ57_ADMIN_PASSWORD": ADMIN_PASSWORD, "NQ57_DATABASE_URL": database_url,
               "NQ57_TEMPORAL_ADDRESS": "", "NQ57_TEMPORAL_PORT": str(free_port()),
               "NQ57_TEMPORAL_UI_PORT": str(free_port()), "NQ57_API_PROCESSES": str(api_processes),
               "NQ57_WORKER_METRICS_PORT": str(free_port())}
        with (self.dir / "server.log").open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "server.py"], cwd=ROOT, env=env, start_new_session=True,
                                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    @property
    def async_database_url(self) -> str:
        """The URL server.py's engine uses (settings.py)."""
        from settings import Settings

        return Settings(data_dir=self.dir, database_url=self.database_url).async_database_url

    @property
    def pid(self) -> int:
        return self.process.pid

    def nq57_children(self) -> list[int]:
        """The worker processes server.py starts beside the API (NQ57_WORKER_PROCESSES), and its API
        processes when there are several (NQ57_API_PROCESSES)."""
        return [pid for pid in children(self.process.pid) if _ours(pid)]

    def api_worker_pids(self) -> list[int]:
        """The API and its workers: what `make run` runs of NQ57 itself."""
        return [self.process.pid, *self.nq57_children()]

    def dev_server_pids(self) -> list[int]:
        """The embedded dev server (server.py's other child)."""
        return [pid for pid in children(self.process.pid) if not _ours(pid)]

    async def ready(self, client: httpx.AsyncClient, seconds: float = 240) -> None:
        """Until /readyz answers 200 (the API up, a worker polling), at most `seconds`."""
        for _ in range(int(seconds)):
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{self.base}/readyz")).status_code == 200:
                    return
            if self.process.poll() is not None:
                raise SystemExit(f"server.py stopped (code {self.process.returncode}): see {self.dir / 'server.log'}")
            await asyncio.sleep(1)
        raise SystemExit(f"server.py not ready in {seconds:.0f} s: see {self.dir / 'server.log'}")

    def stop(self) -> None:
        """Ctrl-C as a person would (server.py then stops its dev server), SIGKILL after 30 s; a dev
        server left behind (it dies with server.py anyway: PR_SET_PDEATHSIG) is killed by its pid."""
        dev_servers = self.dev_server_pids()
        stop_group(self.process, grace=30)
        for pid in dev_servers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)


async def login(client: httpx.AsyncClient, base: str, username: str) -> dict[str, str]:
    """A bearer header for a demo person (or `admin`)."""
    password = ADMIN_PASSWORD if username == "admin" else DEMO_PASSWORD
    answer = await client.post(f"{base}/api/v1/auth/token", data={"username": username, "password": password})
    if answer.status_code != 200:
        raise SystemExit(f"login {username}: {answer.status_code} {answer.text[:300]}")
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


# --- PostgreSQL: a database of the bench's own on the tests' server ----------------------------------

def postgres_url() -> str:
    """A new database's URL on NQ57_TEST_POSTGRES_URL's server (the tests' local PostgreSQL)."""
    from tests.fault_injection import postgres_fault_url

    base = os.environ.get("NQ57_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL
    return postgres_fault_url(base, f"nq57_bench_{uuid.uuid4().hex[:8]}")


async def analyze(async_url: str) -> bool:
    """PostgreSQL: VACUUM ANALYZE after the rows just written, as autovacuum does after a bulk insert
    (PostgreSQL 13 and later): the planner's statistics (without them it plans for empty tables: a
    head's inbox took over 10 s at 100,000 tasks on this machine's server, which runs with autovacuum
    off) and the visibility map (without it, counting a list's rows by its index reads every row
    too). Whether it ran."""
    if not async_url.startswith("postgresql"):
        return False
    from sqlalchemy import text

    from db.session import make_engine

    engine = make_engine(async_url)
    try:
        async with engine.connect() as connection:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("VACUUM ANALYZE"))
    finally:
        await engine.dispose()
    return True


async def create_database(url: str) -> None:
    from tests.fault_injection import ensure_postgres_database

    await ensure_postgres_database(url)


async def drop_database(url: str) -> None:
    """Dropped once the stack has stopped."""
    from tests.fault_injection import drop_postgres_database

    await drop_postgres_database(url)
