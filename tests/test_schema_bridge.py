"""Rows an older version projected (before search text, before inbox rows) are filled in when the API
starts, from the state they hold (`fill_in`); the schema itself is the migrations' (test_migrations.py)."""

from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db import models
from db.projection import fill_in
from db.session import create_schema, make_engine, make_sessions
from domain.stages import Stage
from tests.test_domain_lifecycle import spec, state


async def test_rows_projected_before_search_text_get_it_and_their_inbox_rows_once(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    await create_schema(engine)
    old = state(Stage.ASSIGNED)
    async with engine.begin() as connection:  # a row as an older version wrote it: no search text
        await connection.execute(text(
            "INSERT INTO tasks (code, title, lead_agency, stage, deadline, original_deadline, overdue, late, "
            "escalation_level, seq, fence, created_at, updated_at, state) VALUES (:code, :title, :lead, 'assigned', "
            ":deadline, :deadline, 0, 0, 0, 1, 0, :at, :at, :state)"),
            {"code": old.code, "title": old.spec.title, "lead": old.lead_agency, "deadline": old.deadline,
             "at": old.created_at, "state": old.model_dump_json()})
    async with make_sessions(engine)() as session:
        assert await fill_in(session) == 1
        row = await session.get(models.Task, old.code)
        assert row is not None and row.search and old.code.lower() in row.search
        assert await _inbox(session, old.code) == {("accept", "HNI", "lead"), ("accept", "BKHCN", "coordinating"),
                                                   ("accept", "", "other")}
        assert await fill_in(session) == 0  # once
    await engine.dispose()


async def test_open_tasks_projected_before_inbox_rows_get_them_once(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    await create_schema(engine)
    waiting = state(Stage.ASSIGNED, task_spec=spec(code="NV-1"))
    done = state(Stage.COMPLETED, task_spec=spec(code="NV-2"))
    async with engine.begin() as connection:  # searchable rows from the version before inbox rows
        for old in (waiting, done):
            await connection.execute(text(
                "INSERT INTO tasks (code, title, lead_agency, stage, deadline, original_deadline, overdue, late, "
                "escalation_level, seq, fence, created_at, updated_at, state, search) VALUES (:code, :title, :lead, "
                ":stage, :deadline, :deadline, 0, 0, 0, 1, 0, :at, :at, :state, :code)"),
                {"code": old.code, "title": old.spec.title, "lead": old.lead_agency, "stage": old.stage.value,
                 "deadline": old.deadline, "at": old.created_at, "state": old.model_dump_json()})
    async with make_sessions(engine)() as session:
        assert await fill_in(session) == 1  # the open one; a completed task awaits nothing
        assert {action for action, _, _ in await _inbox(session, waiting.code)} == {"accept"}
        assert await _inbox(session, done.code) == set()
        assert await fill_in(session) == 0
    await engine.dispose()


async def _inbox(session: AsyncSession, code: str) -> set[tuple[str, str, str]]:
    row = models.InboxRow
    return set((await session.execute(select(row.action, row.holder, row.relation).where(row.task_code == code))).all())
