"""`nq57` on the command line (or `python cli.py`): what an operator or auditor runs by hand.

    nq57 audit verify     recompute every task's event chain and every evidence file's SHA-256;
                          prints the result as JSON, exits 1 when something does not hold."""

import argparse
import asyncio
import sys

from api.blobs import BlobStore
from db.audit import verify
from db.session import make_engine, make_sessions
from settings import Settings


async def audit_verify(settings: Settings) -> int:
    engine = make_engine(settings.async_database_url)
    try:
        async with make_sessions(engine)() as session:
            result = await verify(session, BlobStore(settings.blob_dir, 0).path)
    finally:
        await engine.dispose()
    print(result.model_dump_json(indent=2))
    return 0 if result.ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nq57", description="NQ57 — công cụ dòng lệnh")
    commands = parser.add_subparsers(dest="command", required=True)
    audit = commands.add_parser("audit", help="kiểm tra toàn vẹn").add_subparsers(dest="audit", required=True)
    audit.add_parser("verify", help="tính lại chuỗi băm sự kiện và mã SHA-256 của tệp minh chứng")
    parser.parse_args(argv)
    return asyncio.run(audit_verify(Settings()))


if __name__ == "__main__":
    sys.exit(main())
