"""A data directory made by an older version (issue 14's columns, indexes and work items missing)
is brought up to date at start, until migrations take this over: the missing indexes are created and
the rows projected before are given their search text and work items from the state they hold."""

from pathlib import Path

from sqlalchemy import inspect, select, text

from db import models
from db.projection import fill_in
from db.session import create_schema, make_engine, make_sessions
from domain.stages import Stage
from tests.test_domain_lifecycle import state


async def test_an_older_database_gets_its_indexes_search_text_and_work_items(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    await create_schema(engine)
    old = state(Stage.ASSIGNED)
    async with engine.begin() as connection:  # as an older version left it
        await connection.execute(text("DROP INDEX ix_tasks_deadline_code"))
        await connection.execute(text(
            "INSERT INTO tasks (code, title, lead_agency, stage, deadline, original_deadline, overdue, late, "
            "escalation_level, seq, fence, created_at, updated_at, state) VALUES (:code, :title, :lead, 'assigned', "
            ":deadline, :deadline, 0, 0, 0, 1, 0, :at, :at, :state)"),
            {"code": old.code, "title": old.spec.title, "lead": old.lead_agency, "deadline": old.deadline,
             "at": old.created_at, "state": old.model_dump_json()})
    await create_schema(engine)
    async with engine.connect() as connection:
        indexes = await connection.run_sync(lambda sync: {i["name"] for i in inspect(sync).get_indexes("tasks")})
    assert "ix_tasks_deadline_code" in indexes
    async with make_sessions(engine)() as session:
        assert await fill_in(session) == 1
        row = await session.get(models.Task, old.code)
        assert row is not None and row.search and old.code.lower() in row.search
        items = list(await session.scalars(select(models.WorkItem.action).where(models.WorkItem.task_code == old.code)))
        assert items == ["accept"]
        assert await fill_in(session) == 0  # once
    await engine.dispose()
