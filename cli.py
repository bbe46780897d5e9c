"""`nq57` on the command line (or `python cli.py`): what an operator or auditor runs by hand.

    nq57 audit verify          recompute every task's event chain and every evidence file's SHA-256,
                               and compare every task's projection with what its workflow recorded;
                               prints the result as JSON, exits 1 when something does not hold.
    nq57 projection rebuild    rewrite every task's projection (events and task row) from its workflow;
                               prints how many tasks it looked at and which it changed.

Temporal is NQ57_TEMPORAL_ADDRESS, or the embedded dev server of `make run` (127.0.0.1:NQ57_TEMPORAL_PORT)."""

import argparse
import asyncio
import sys

from temporalio.client import Client

from db.audit import verify
from db.reconcile import compare, rebuild
from db.session import create_schema, make_sessions
from services.blobs import open_blob_store
from settings import Settings, load_settings
from worker import connect


async def _client(settings: Settings) -> Client:
    if not settings.temporal_address:
        settings.temporal_address = f"127.0.0.1:{settings.temporal_port}"
    return await connect(settings)


async def audit_verify(settings: Settings) -> int:
    engine = settings.make_engine()
    try:
        sessions = make_sessions(engine)
        async with sessions() as session:
            result = await verify(session, open_blob_store(settings).sha256_of)
        result = result.with_drift(*await compare(await _client(settings), sessions, settings.task_queue))
    finally:
        await engine.dispose()
    print(result.model_dump_json(indent=2))
    return 0 if result.ok else 1


async def projection_rebuild(settings: Settings) -> int:
    engine = settings.make_engine()
    try:
        await create_schema(engine)
        result = await rebuild(await _client(settings), make_sessions(engine), settings.task_queue)
    finally:
        await engine.dispose()
    print(result.model_dump_json(indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nq57", description="NQ57 — công cụ dòng lệnh")
    commands = parser.add_subparsers(dest="command", required=True)
    audit = commands.add_parser("audit", help="kiểm tra toàn vẹn").add_subparsers(dest="audit", required=True)
    audit.add_parser("verify", help="tính lại chuỗi băm, mã SHA-256 của tệp minh chứng, và so dữ liệu với quy trình")
    projection = commands.add_parser("projection", help="dữ liệu chiếu từ quy trình").add_subparsers(
        dest="projection", required=True)
    projection.add_parser("rebuild", help="ghi lại dữ liệu của mọi nhiệm vụ theo quy trình (Temporal) của nó")
    args = parser.parse_args(argv)
    if args.command == "projection":
        return asyncio.run(projection_rebuild(load_settings()))
    return asyncio.run(audit_verify(load_settings()))


if __name__ == "__main__":
    sys.exit(main())
