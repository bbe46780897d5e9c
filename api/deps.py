"""What routes depend on: settings, a database session, the enforcer, the Temporal client, the
caller, and the one authorization check every task route goes through."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import casbin
from fastapi import Depends, Header, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.blobs import BlobStore
from api.errors import ApiError, not_found
from api.security import token_subject
from db import models
from domain.actors import Actor, Relation, relation_of
from domain.lifecycle import ACTION_STAGES, check_stage
from domain.task import TaskState
from policies.enforcer import permits
from settings import Settings

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


def get_enforcer(request: Request) -> casbin.AsyncEnforcer:
    return request.app.state.enforcer


def get_temporal(request: Request) -> Client:
    return request.app.state.temporal


def get_blobs(request: Request) -> BlobStore:
    return request.app.state.blobs


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
EnforcerDep = Annotated[casbin.AsyncEnforcer, Depends(get_enforcer)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
BlobsDep = Annotated[BlobStore, Depends(get_blobs)]


async def actor_of(session: AsyncSession, enforcer: casbin.AsyncEnforcer, username: str) -> Actor | None:
    user = await session.get(models.User, username)
    if user is None:
        return None
    return Actor(username=user.username, agency=user.agency, roles=await enforcer.get_roles_for_user(username))


async def get_current_user(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)], session: SessionDep,
    enforcer: EnforcerDep, settings: SettingsDep,
) -> Actor:
    if not token and request.method == "GET":  # the web pages' session, for downloads (reads only: no CSRF)
        token = request.cookies.get("nq57_session")
    if not token:
        raise ApiError(401, "Chưa đăng nhập: cần gửi mã truy cập (Authorization: Bearer ...)")
    username = token_subject(token, settings.token_secret)
    actor = await actor_of(session, enforcer, username) if username else None
    if actor is None:
        raise ApiError(401, "Mã truy cập không hợp lệ hoặc đã hết hạn, vui lòng đăng nhập lại")
    return actor


CurrentUser = Annotated[Actor, Depends(get_current_user)]


def require(action: str):  # noqa: ANN201 - a dependency factory
    """For actions on no task in particular (create a task, add a user)."""

    async def dependency(actor: CurrentUser, enforcer: EnforcerDep) -> Actor:
        if not permits(enforcer, actor.username, Relation.NONE, "*", action):
            raise ApiError(403, f"Tài khoản '{actor.username}' không có quyền thực hiện '{action}'")
        return actor

    return dependency


@dataclass
class TaskAccess:
    actor: Actor
    state: TaskState
    relation: Relation
    idempotency_key: str | None = None
    replay: bool = False  # the Idempotency-Key names an action already recorded


async def load_task(session: AsyncSession, code: str) -> TaskState:
    row = await session.get(models.Task, code)
    if row is None:
        raise not_found(f"nhiệm vụ '{code}'", "task_not_found", task=code)
    return TaskState.model_validate(row.state)


async def _authorize(actor: Actor, enforcer: casbin.AsyncEnforcer, state: TaskState, action: str) -> TaskAccess:
    relation = relation_of(actor, state.lead_agency, state.coordinating_agencies, state.reviewer)
    if not permits(enforcer, actor.username, relation, state.stage, action):
        raise ApiError(403, f"Tài khoản '{actor.username}' ({', '.join(actor.roles) or 'không có vai trò'}, "
                            f"quan hệ '{relation}') không được phép '{action}' với nhiệm vụ '{state.code}'",
                       code="forbidden_action", params={"action": action, "relation": relation.value})
    return TaskAccess(actor=actor, state=state, relation=relation)


def task_access(action: str):  # noqa: ANN201 - a dependency factory
    """Read access to one task (object-level authorization)."""

    async def dependency(code: str, actor: CurrentUser, session: SessionDep, enforcer: EnforcerDep) -> TaskAccess:
        return await _authorize(actor, enforcer, await load_task(session, code), action)

    return dependency


def action_access(route_action: str | None = None):  # noqa: ANN201 - a dependency factory
    """An action on a task: unknown action 404, unknown task 404, wrong stage 409, policy 403 —
    in that order. The action is the route's own, or the path's `{action}`."""

    async def dependency(
        code: str, request: Request, actor: CurrentUser, session: SessionDep, enforcer: EnforcerDep,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> TaskAccess:
        action = route_action or request.path_params["action"]
        return await authorize_action(code, action, actor, session, enforcer, idempotency_key)

    return dependency


async def authorize_action(code: str, action: str, actor: Actor, session: AsyncSession,
                         enforcer: casbin.AsyncEnforcer, idempotency_key: str | None) -> TaskAccess:
    """A retried request whose Idempotency-Key is already recorded skips the checks its first
    attempt passed, so it can get that first answer back."""
    if action not in ACTION_STAGES:
        raise not_found(f"thao tác '{action}'")
    state = await load_task(session, code)
    if idempotency_key:
        prior = await session.scalar(select(models.Event).where(
            models.Event.task_code == code, models.Event.request_id == idempotency_key))
        if prior is not None:
            if prior.actor != actor.username or prior.type != action:
                raise ApiError(422, "Idempotency-Key này đã được dùng cho một thao tác khác")
            return TaskAccess(actor=actor, state=state, relation=Relation.OTHER,
                              idempotency_key=idempotency_key, replay=True)
    check_stage(state.stage, action)
    access = await _authorize(actor, enforcer, state, action)
    access.idempotency_key = idempotency_key
    return access
