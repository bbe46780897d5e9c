"""Cascading down the chain ("theo ngành dọc đến cấp xã"): the lead agency's head hands part of a
task down to a unit of its own (a ministry's department, a province's commune). The part is a task
of its own — its workflow, head, deadline, KPIs and evidence — started by the parent's workflow
when it records the hand-down; the parent's evidence waits until every part has closed; progress
and KPI actuals roll up. Who may act on a part follows the hierarchy: its own lead, and the
agencies above it (`above`: read, comment, close a part no longer needed), never a sibling."""

from sqlalchemy import select

from db import models
from domain.actors import Actor
from domain.commands import SubtaskCreate
from domain.stages import Stage
from domain.task import TaskState
from services import tasks
from services.context import Context
from services.views import SubtaskRollup
from services.workflows import created_state


async def create(ctx: Context, actor: Actor, code: str, command: SubtaskCreate,
                 idempotency_key: str | None = None) -> TaskState:
    """The part, once its creation is recorded: the parent's workflow decides (stage, policy, the unit
    under the lead, the deadline) and starts it. Retried with the same Idempotency-Key, the same part."""
    allowed = await tasks.permit(ctx, actor, code, "subtask.create", idempotency_key)

    async def build(_: TaskState) -> SubtaskCreate:
        return command

    await tasks.act(ctx, allowed, build)  # the agencies above the unit are filled in there (_with_people)
    return await created_state(ctx.temporal, command.code, ctx.settings.action_timeout)


async def rollup(ctx: Context, state: TaskState) -> SubtaskRollup | None:
    """The parts' progress and KPI actuals, added up (None for a task with no parts)."""
    if not state.subtasks:
        return None
    async with ctx.sessions() as session:
        rows = list(await session.scalars(select(models.Task).where(models.Task.code.in_(state.subtasks))))
    parts = [TaskState.model_validate(row.state) for row in rows]
    counted = [part for part in parts if part.stage != Stage.CANCELLED]
    actuals: dict[str, float] = {}
    for part in counted:
        for name, value in latest_actuals(part).items():
            actuals[name] = actuals.get(name, 0.0) + value
    stages: dict[Stage, int] = {}
    for part in parts:
        stages[part.stage] = stages.get(part.stage, 0) + 1
    return SubtaskRollup(percent=round(sum(part.percent for part in counted) / len(counted)) if counted else 0,
                         kpi_actuals=actuals, stages=stages, open=state.open_subtasks)


def latest_actuals(state: TaskState) -> dict[str, float]:
    """A task's latest figure for each KPI: the lead's own reports, then its evidence's results."""
    found: dict[str, float] = {}
    for report in state.progress:
        if not report.contribution:
            found.update(report.kpi_actuals)
    for evidence in state.evidence:
        found.update({name: value for name, value in evidence.kpi_results.items() if isinstance(value, float | int)})
    return found
