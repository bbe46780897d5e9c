"""Reports read from the database."""

from datetime import UTC, datetime

from fastapi import APIRouter

from api.deps import CurrentUser, EnforcerDep, SessionDep
from api.routes.tasks import readable_tasks
from api.schemas import DeadlineView, OverdueItem
from db import models
from domain.escalation import open_deadlines
from domain.stages import OPEN_STAGES
from domain.task import TaskState

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


def overdue_item(state: TaskState, now: datetime) -> OverdueItem:
    lapsed = [DeadlineView(kind=d.kind, due=d.due, level=state.ladders.get(d.key, 0))
              for d in open_deadlines(state) if d.due <= now]
    earliest = min((d.due for d in lapsed), default=state.deadline)
    return OverdueItem(code=state.code, title=state.spec.title, lead_agency=state.lead_agency, stage=state.stage,
                       deadline=state.deadline, days_late=max((now - earliest).days, 0),
                       escalation_level=state.escalation_level, lapsed=lapsed)


@router.get("/overdue")
async def overdue_tasks(actor: CurrentUser, session: SessionDep, enforcer: EnforcerDep) -> list[OverdueItem]:
    """Open tasks past a deadline, most escalated first, then the longest late; the lead agency answers."""
    query = readable_tasks(actor, enforcer).where(
        models.Task.overdue.is_(True), models.Task.stage.in_([stage.value for stage in OPEN_STAGES]))
    now = datetime.now(UTC)
    items = [overdue_item(TaskState.model_validate(row.state), now) for row in await session.scalars(query)]
    return sorted(items, key=lambda item: (-item.escalation_level, -item.days_late, item.code))
