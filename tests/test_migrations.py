"""The schema comes from migrations (db/migrations, issue 15): every service upgrades the database as
it starts, one at a time; the newest revision is exactly what the models say; and a database made by
the release before migrations (tests/fixtures/release-before-migrations.sql, dumped from it with
tasks in it) upgrades with every task, event and person intact."""

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Index, func, inspect, select, text
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine

from db import models
from db.projection import fill_in
from db.session import MIGRATIONS, create_schema, make_engine, make_sessions, migrated, write_ahead
from domain.stages import OPEN_STAGES
from domain.task import TaskState
from tests.helpers import POSTGRES_URL, postgres_schema, task_row

RELEASE_BEFORE = Path(__file__).with_name("fixtures") / "release-before-migrations.sql"


def _head() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def _differences(connection: Connection) -> list[Any]:
    """What the models have that the migrated database lacks, or the other way round: tables and
    columns as Alembic compares them, indexes by name (it cannot read back an index with a descending
    column, nor weigh one made for the other database only)."""
    found = [difference for difference in compare_metadata(
        MigrationContext.configure(connection, opts={"include_name": migrated}), models.Base.metadata)
        if difference[0] not in ("add_index", "remove_index")]
    inspector = inspect(connection)
    for table in models.Base.metadata.sorted_tables:
        wanted = {index.name for index in table.indexes if _made_on(index, connection.dialect)}
        present = {index["name"] for index in inspector.get_indexes(table.name)
                   if not index.get("duplicates_constraint")}  # PostgreSQL's own, behind a UNIQUE
        if wanted != present:
            found.append(("indexes", table.name, sorted(wanted ^ present)))
    return found


def _made_on(index: Index, dialect: Dialect) -> bool:
    """Whether `create` makes this index on this database (`ddl_if`)."""
    condition = index._ddl_if  # noqa: SLF001 (how SQLAlchemy keeps it)
    return condition is None or condition.dialect is None or condition.dialect == dialect.name


async def _version(engine: AsyncEngine) -> str:
    async with engine.connect() as connection:
        return str(await connection.scalar(text("SELECT version_num FROM alembic_version")))


@asynccontextmanager
async def _sqlite(path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_a_new_sqlite_database_is_migrated_to_exactly_the_models_schema(tmp_path: Path) -> None:
    async with _sqlite(tmp_path / "new.db") as engine:
        await create_schema(engine)
        assert await _version(engine) == _head()
        async with engine.connect() as connection:
            assert await connection.run_sync(_differences) == []


@pytest.mark.skipif(not POSTGRES_URL, reason="NQ57_TEST_POSTGRES_URL is not set: the PostgreSQL run is skipped")
async def test_two_services_starting_together_on_postgres_migrate_it_once_to_the_models_schema() -> None:
    async with postgres_schema() as (first, second):
        await asyncio.gather(create_schema(first), create_schema(second))
        assert await _version(first) == _head()
        async with first.connect() as connection:
            assert await connection.run_sync(_differences) == []


async def test_two_services_starting_together_on_sqlite_migrate_it_once(tmp_path: Path) -> None:
    async with _sqlite(tmp_path / "new.db") as first, _sqlite(tmp_path / "new.db") as second:
        await asyncio.gather(create_schema(first), create_schema(second))
        assert await _version(first) == _head()
        async with first.connect() as connection:
            assert await connection.scalar(text("SELECT count(*) FROM alembic_version")) == 1


def test_connections_switching_a_new_sqlite_file_to_wal_at_once_both_get_it(tmp_path: Path) -> None:
    """Two connections switching a new file at once: SQLite refuses one at once ("database is locked",
    no busy wait); `write_ahead` has it look again (two services starting together met it)."""
    def switch(path: Path, start: threading.Barrier, refused: list[str]) -> None:
        connection = sqlite3.connect(path, timeout=30, isolation_level=None)
        start.wait()
        try:
            write_ahead(connection.cursor())
        except sqlite3.OperationalError as error:
            refused.append(str(error))
        finally:
            connection.close()

    refused: list[str] = []
    for number in range(100):
        start = threading.Barrier(2)
        both = [threading.Thread(target=switch, args=(tmp_path / f"{number}.db", start, refused)) for _ in range(2)]
        for thread in both:
            thread.start()
        for thread in both:
            thread.join()
        assert sqlite3.connect(tmp_path / f"{number}.db").execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert refused == []


async def test_the_release_before_migrations_upgrades_with_every_task_event_and_person_intact(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(RELEASE_BEFORE.read_text(encoding="utf-8"))
    tables = ("tasks", "events", "task_agencies", "users", "agencies", "casbin_rule")
    # The columns each table had (later revisions add some); every name here is fixed, none is input.
    named = {table: ", ".join(column for _, column, *_ in old.execute(f"PRAGMA table_info({table})"))
             for table in tables}
    before = {table: old.execute(f"SELECT {named[table]} FROM {table} ORDER BY 1, 2").fetchall()  # noqa: S608
              for table in tables}
    old.close()
    assert len(before["tasks"]) == 4 and before["events"] and before["users"]

    async with _sqlite(path) as engine:
        await create_schema(engine)
        assert await _version(engine) == _head()
        async with engine.connect() as connection:
            for table, rows in before.items():
                after = (await connection.execute(text(f"SELECT {named[table]} FROM {table} ORDER BY 1, 2"))).all()
                assert [tuple(row) for row in after] == rows, table
            # An agency's rows keep their task's deadline (revision 0005), each its own task's.
            unlike = await connection.scalar(text("SELECT count(*) FROM task_agencies JOIN tasks "
                                                  "ON tasks.code = task_agencies.task_code "
                                                  "WHERE task_agencies.deadline IS NOT tasks.deadline"))
            assert unlike == 0 and before["task_agencies"]
            # Every task counted (revision 0006), and counted on as tasks come.
            assert await connection.scalar(select(models.TaskCount.tasks)) == len(before["tasks"])
            # Each task's state has a version (revision 0007), each its own.
            versions = set(await connection.scalars(select(models.Task.version)))
            assert len(versions) == len(before["tasks"]) and 0 not in versions
            # Each agency's tasks counted by relation (revision 0008), as its rows stand.
            counted = {(row.agency, row.relation): row.tasks
                       for row in await connection.execute(select(models.AgencyTaskCount))}
            rows = await connection.execute(text("SELECT agency, relation, count(*) FROM task_agencies "
                                                 "GROUP BY agency, relation"))
            assert counted == {(agency, relation): tasks for agency, relation, tasks in rows} and counted
            assert await connection.run_sync(_differences) == []
        async with make_sessions(engine)() as session:
            assert await fill_in(session) == 3  # the open tasks get their inbox rows
            tasks = list(await session.scalars(select(models.Task).order_by(models.Task.code)))
            states = [TaskState.model_validate(task.state) for task in tasks]
            waiting = set(await session.scalars(select(models.InboxRow.task_code)))
            # Each inbox row carries its task's version (revision 0009), whoever wrote it.
            assert waiting and not await session.scalar(select(func.count()).select_from(models.InboxRow).join(
                models.Task, models.Task.code == models.InboxRow.task_code).where(
                models.InboxRow.version != models.Task.version))
            session.add(task_row("NEW-1"))
            await session.flush()
            assert await session.scalar(select(models.TaskCount.tasks)) == len(before["tasks"]) + 1
        assert {state.code for state in states if state.stage in OPEN_STAGES} == waiting
