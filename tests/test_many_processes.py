"""Past one machine (issue 15): two API processes and two worker processes against one Temporal and
one PostgreSQL database, as a deployment runs them. A task is driven through both APIs, a policy
change made through one is obeyed by the other within a second, and a person created through one
logs in and acts through the other. Real processes, started and stopped here by their ids."""

import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from server import dev_server_store, temporal_cli
from tests.fault_injection import Process, drop_postgres_database, ensure_postgres_database, postgres_fault_url
from tests.helpers import free_port, wait_until

POSTGRES_URL = os.environ.get("NQ57_TEST_POSTGRES_URL", "")
ADMIN_PASSWORD = "nhieu-tien-trinh-admin"
DEMO_PASSWORD = "nq57-demo"  # api/bootstrap.py
pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="NQ57_TEST_POSTGRES_URL is not set: the PostgreSQL "
                                "run is skipped")
CREATE_RULE = {"role": "steering_office", "relation": "none", "stage": "*", "action": "task.create"}


class Deployment:
    """A Temporal dev server, APIs at `bases`, and workers, on one database."""

    def __init__(self, work_dir: Path, database_url: str) -> None:
        temporal_port = free_port()
        self.ports = [free_port(), free_port()]
        self.bases = [f"http://127.0.0.1:{port}" for port in self.ports]
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("NQ57_")} | {
            "NQ57_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}", "NQ57_RUN_WORKER": "0", "NQ57_HOST": "127.0.0.1",
            "NQ57_DATA_DIR": str(work_dir / "data"),  # shared: the evidence files every process reaches
            "NQ57_DATABASE_URL": database_url, "NQ57_TASK_QUEUE": f"nq57-many-{uuid.uuid4().hex[:8]}",
            "NQ57_SECRET_KEY": uuid.uuid4().hex * 2, "NQ57_ADMIN_PASSWORD": ADMIN_PASSWORD, "PYTHONUNBUFFERED": "1"}
        self.temporal = Process("temporal", [
            temporal_cli(), "server", "start-dev", *dev_server_store(work_dir / "temporal.db"), "--ip", "127.0.0.1",
            "--port", str(temporal_port), "--ui-port", str(free_port()), "--headless", "--log-level", "error"],
            self.env, work_dir / "temporal.log")
        # The first API loads the demo people and tasks; the second starts on what it made.
        self.apis = [Process(f"api-{n}", [sys.executable, "server.py"],
                             self.env | {"NQ57_PORT": str(port), "NQ57_DEMO": "1" if n == 0 else "0"},
                             work_dir / f"api-{n}.log") for n, port in enumerate(self.ports)]
        self.metrics_ports = [free_port(), free_port()]
        self.workers = [Process(f"worker-{n}", [sys.executable, "worker.py"], self.env | {
            "NQ57_WORKER_METRICS_PORT": str(port), "NQ57_LOG_FORMAT": "json"}, work_dir / f"worker-{n}.log")
            for n, port in enumerate(self.metrics_ports)]

    async def start(self) -> None:
        self.temporal.start()
        for worker in self.workers:
            worker.start()
        for api, base in zip(self.apis, self.bases, strict=True):
            api.start()
            await wait_until(lambda base=base: _ready(base), bool, what=f"{api.name} ready", seconds=120, interval=0.5)

    def stop(self) -> None:
        for process in [*self.apis, *self.workers, self.temporal]:
            process.kill()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}:\n{p.tail(15)}" for p in [*self.apis, *self.workers, self.temporal])


async def _ready(base: str) -> bool:
    try:
        async with httpx.AsyncClient(base_url=base, timeout=3) as http:
            return (await http.get("/readyz")).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[Deployment]:
    url = postgres_fault_url(POSTGRES_URL, f"nq57_many_{uuid.uuid4().hex[:8]}")
    await ensure_postgres_database(url)
    running = Deployment(tmp_path, url)
    try:
        await running.start()
        yield running
    except BaseException:
        print(running.logs())
        raise
    finally:
        running.stop()
        await drop_postgres_database(url)


async def _login(http: httpx.AsyncClient, username: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
    answer = await http.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def _assign(http: httpx.AsyncClient, office: dict[str, str]) -> str:
    code = f"NHIEU-{uuid.uuid4().hex[:6].upper()}"
    created = await http.post("/api/v1/tasks", headers=office, json={
        "code": code, "title": "Việc qua hai máy chủ", "lead_agency": "HNI", "deadline": "2027-Q4"})
    assert created.status_code == 201, created.text
    return code


async def test_two_apis_and_two_workers_share_tasks_policy_and_people(deployment: Deployment) -> None:
    async with httpx.AsyncClient(base_url=deployment.bases[0], timeout=60) as first, \
            httpx.AsyncClient(base_url=deployment.bases[1], timeout=60) as second:
        # A task created through one API is accepted through the other, and read the same in both.
        code = await _assign(first, await _login(first, "office"))
        request_id = f"nhieu-{uuid.uuid4().hex[:8]}"
        accepted = await second.post(f"/api/v1/tasks/{code}/actions/accept", json={},
                                     headers={**await _login(second, "hni.head"), "X-Request-ID": request_id})
        assert accepted.status_code == 200, accepted.text
        assert accepted.headers["x-request-id"] == request_id
        for http in (first, second):
            read = await http.get(f"/api/v1/tasks/{code}", headers=await _login(http, "office"))
            assert read.json()["stage"] == accepted.json()["stage"] != "assigned"

        # A person created through the first API logs in through the second and acts there in their role.
        newcomer = f"hni.moi{uuid.uuid4().hex[:4]}"
        made = await first.post("/api/v1/users", headers=await _login(first, "admin", ADMIN_PASSWORD), json={
            "username": newcomer, "password": "Mot-mat-khau-dai-2026", "full_name": "Trưởng mới", "agency": "HNI",
            "roles": ["agency_head"]})
        assert made.status_code == 201, made.text
        own = await _login(second, newcomer, "Mot-mat-khau-dai-2026")
        await wait_until(lambda: second.get("/api/v1/me", headers=own),
                         lambda me: me.json()["roles"] == ["agency_head"],
                         what="the newcomer's role on the second API (within a second)", seconds=10, interval=0.25)
        theirs = await _assign(first, await _login(first, "office"))
        taken = await second.post(f"/api/v1/tasks/{theirs}/actions/accept", headers=own, json={})
        assert taken.status_code == 200, taken.text

        # A rule removed through the first API is obeyed by the second within a second.
        office = await _login(second, "office")
        removed = await first.post("/api/v1/policy/rules/delete", headers=await _login(first, "admin", ADMIN_PASSWORD),
                                   json=CREATE_RULE)
        assert removed.status_code == 204, removed.text

        async def creates() -> int:
            answer = await second.post("/api/v1/tasks", headers=office, json={
                "code": f"NHIEU-{uuid.uuid4().hex[:6].upper()}", "title": "Sau khi bỏ quyền", "lead_agency": "HNI",
                "deadline": "2027-Q4"})
            return answer.status_code

        await wait_until(creates, lambda status: status == 403, what="the second API refuses what the policy "
                         "no longer allows", seconds=10, interval=0.25)

        # What the processes tell Prometheus, and the request's id in the log line of the worker that recorded it.
        api_metrics = (await second.get("/metrics")).text
        assert 'nq57_actions_total{action="accept",outcome="recorded"}' in api_metrics
        assert "nq57_open_tasks{" in api_metrics and "nq57_http_request_duration_seconds_bucket{" in api_metrics
        async with httpx.AsyncClient(timeout=10) as scrape:
            workers = [(await scrape.get(f"http://127.0.0.1:{port}/metrics")).text for port in deployment.metrics_ports]
        assert all("temporal_worker_task_slots_available{" in text for text in workers)
        assert any('temporal_local_activity_execution_latency_bucket{activity_type="record_event"' in text
                   for text in workers)  # the events recorded, timed where they were
        lines = [json.loads(line) for worker in deployment.workers for line in worker.log.read_text().splitlines()
                 if line.startswith("{")]
        recorded = [line for line in lines if line.get("request_id") == request_id]
        assert recorded and {(line["logger"], line["actor"], line["task"]) for line in recorded} == {
            ("nq57.projection", "hni.head", code)}, recorded
