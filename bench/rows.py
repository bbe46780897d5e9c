"""`--fill rows`: the program filled by projection rows written straight into the stack's database,
with no workflow behind them — a quick look (minutes, not an hour) at how lists and inboxes grow with
the program, on either database. Each row is a copy of a task the stack really created (imported
first), under a new code, led by the next agency and on the next theme, as `measure.program_file`
spreads them; its agency rows and inbox rows are the recording step's own (db/projection.py). The
import rate, the RSS and the dev server's figures of such a run are not the program's: the report
says so."""

import copy
from typing import Any

from sqlalchemy import insert, select

from bench.measure import THEMES
from db import models
from db.projection import agency_rows, columns, inbox_rows, search_text
from db.session import make_engine, make_sessions
from domain.task import TaskState

BATCH = 2000  # rows written per transaction


async def fill(database_url: str, template_code: str, codes: list[str], agencies: list[str]) -> None:
    """Rows for `codes`, copied from the projected task `template_code`."""
    engine = make_engine(database_url)
    sessions = make_sessions(engine)
    try:
        async with sessions() as session:
            template = await session.get(models.Task, template_code)
            assert template is not None, f"{template_code} is not projected"
            names = {agency.code: (agency.name, agency.name_en)
                     for agency in await session.scalars(select(models.Agency))}
        for first in range(0, len(codes), BATCH):
            states = [_copy(template.state, code, number, agencies)
                      for number, code in enumerate(codes[first:first + BATCH], start=first)]
            async with sessions() as session, session.begin():
                session.add_all(models.Task(code=state.code, created_at=state.created_at, fence=0,
                                            search=search_text(state, names), **columns(state)) for state in states)
                await session.flush()  # the tasks, then the rows that refer to them
                await session.execute(insert(models.TaskAgency),
                                      [row for state in states for row in agency_rows(state)])
                await session.execute(insert(models.InboxRow), [row for state in states for row in inbox_rows(state)])
    finally:
        await engine.dispose()


def _copy(state: dict[str, Any], code: str, number: int, agencies: list[str]) -> TaskState:
    lead, coordinating = agencies[number % len(agencies)], agencies[(number + 1) % len(agencies)]
    copied = copy.deepcopy(state)
    copied["spec"] |= {"code": code, "title": f"Nhiệm vụ {THEMES[number % len(THEMES)]} {code}",
                       "lead_agency": lead, "coordinating_agencies": [coordinating]}
    copied |= {"lead_agency": lead, "coordinating_agencies": [coordinating]}
    return TaskState.model_validate(copied)
