"""`make migration MESSAGE="..."`: the next revision of the schema (db/migrations/versions), written
from what `db/models.py` has that a database migrated to the newest revision lacks. Read it and adjust
it before committing it with the models (README, "The schema and its migrations")."""

import asyncio
import sys
import tempfile

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from db.session import MIGRATIONS, create_schema, make_engine


async def write(message: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite+aiosqlite:///{scratch}/newest.db")
        try:
            await create_schema(engine)
            async with engine.connect() as connection:
                await connection.run_sync(_revision, message)
        finally:
            await engine.dispose()


def _revision(connection: Connection, message: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.revision(config, message=message, autogenerate=True)


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].strip():
        sys.exit('make migration MESSAGE="what changed"')
    asyncio.run(write(sys.argv[1]))
