"""GET /api/v1/inbox: the tasks waiting for the caller, most urgent first."""

from fastapi import APIRouter
from sqlalchemy import or_, select

from api.deps import CurrentUser, EnforcerDep, SessionDep
from api.errors import responses
from api.schemas import InboxItem, NotificationOut, TaskView
from db import models
from domain.actors import Actor, Relation
from domain.lifecycle import ACTION_STAGES, FORWARD_ACTIONS, awaited_actions
from domain.stages import OPEN_STAGES
from domain.task import TaskState
from policies.enforcer import permits, permitted_actions

router = APIRouter(prefix="/api/v1", tags=["inbox"])


def stages_open_to_outsiders(enforcer: EnforcerDep, actor: Actor) -> set[str]:
    """Stages where this person may move a task forward without being part of it (a finance
    reviewer at budget_review, the Standing Office at cross_check...)."""
    return {
        stage.value for action in FORWARD_ACTIONS for stage in ACTION_STAGES[action] & OPEN_STAGES
        if permits(enforcer, actor.username, Relation.OTHER, stage.value, action)
    }


@router.get("/inbox", responses=responses(401))
async def inbox(actor: CurrentUser, session: SessionDep, enforcer: EnforcerDep) -> list[InboxItem]:
    """Tasks that wait for an action of mine, and open tasks I was alerted about (an escalation
    addressed to me and not yet read: chasing it is my job)."""
    unread: dict[str, list[NotificationOut]] = {}
    for note in await session.scalars(select(models.Notification).where(
            models.Notification.username == actor.username, models.Notification.read_at.is_(None))
            .order_by(models.Notification.id.desc())):
        unread.setdefault(note.task_code, []).append(NotificationOut.model_validate(note))
    involved = select(models.TaskAgency.task_code).where(models.TaskAgency.agency == actor.agency)
    candidates = select(models.Task).where(
        models.Task.stage.in_([stage.value for stage in OPEN_STAGES]),
        or_(models.Task.code.in_(involved), models.Task.reviewer == actor.username,
            models.Task.stage.in_(stages_open_to_outsiders(enforcer, actor)), models.Task.code.in_(list(unread))),
    ).order_by(models.Task.overdue.desc(), models.Task.escalation_level.desc(), models.Task.deadline)
    items = []
    for row in await session.scalars(candidates):
        state = TaskState.model_validate(row.state)
        actions = permitted_actions(enforcer, actor, state)
        if awaited_actions(state).intersection(actions) or state.code in unread:
            items.append(InboxItem(**TaskView.of(state).model_dump(), actions=actions,
                                   notifications=unread.get(state.code, [])))
    return items
