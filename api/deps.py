"""What routes depend on: settings, a database session, the enforcer, the Temporal client, the
caller, and the one authorization check every task route goes through."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import casbin
from fastapi import Depends, Header, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.blobs import BlobStore
from api.errors import ApiError, not_found
from api.security import read_token
from api.task_workflows import key_reused, prior_answer, workflow_state
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
    """A session for routes that read and write the database. Routes that wait on Temporal take
    the session maker instead and hold a connection only for the moments they use it."""
    async with request.app.state.sessions() as session:
        yield session


def get_sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    return request.app.state.sessions


def get_enforcer(request: Request) -> casbin.AsyncEnforcer:
    return request.app.state.enforcer


def get_temporal(request: Request) -> Client:
    return request.app.state.temporal


def get_blobs(request: Request) -> BlobStore:
    return request.app.state.blobs


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
SessionsDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessions)]
EnforcerDep = Annotated[casbin.AsyncEnforcer, Depends(get_enforcer)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
BlobsDep = Annotated[BlobStore, Depends(get_blobs)]


async def actor_of(session: AsyncSession, enforcer: casbin.AsyncEnforcer, username: str) -> Actor | None:
    user = await session.get(models.User, username)
    if user is None:
        return None
    return Actor(username=user.username, agency=user.agency, roles=await enforcer.get_roles_for_user(username))


async def token_actor(session: AsyncSession, enforcer: casbin.AsyncEnforcer, token: str, secret: str) -> Actor | None:
    """Whom a token speaks for: None unless it is validly signed and unexpired, its user exists and
    is not disabled, and it was issued under the user's current token version (no logout since)."""
    claims = read_token(token, secret)
    if claims is None:
        return None
    user = await session.get(models.User, claims.username)
    if user is None or user.disabled or user.token_version != claims.version:
        return None
    return await actor_of(session, enforcer, user.username)


async def get_current_user(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)], sessions: SessionsDep,
    enforcer: EnforcerDep, settings: SettingsDep,
) -> Actor:
    if not token and request.method == "GET":  # the web pages' session, for downloads (reads only: no CSRF)
        token = request.cookies.get("nq57_session")
    if not token:
        raise ApiError(401, "Chưa đăng nhập: cần gửi mã truy cập (Authorization: Bearer ...)")
    async with sessions() as session:
        actor = await token_actor(session, enforcer, token, settings.token_secret)
    if actor is None:
        raise ApiError(401, "Mã truy cập không hợp lệ, đã hết hạn hoặc đã đăng xuất, vui lòng đăng nhập lại")
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
    answer: TaskState | None = None  # the workflow already answered this Idempotency-Key: this, again
    answered: str = ""  # the fingerprint of the body that first answer was for ("" when unknown)

    def repeat(self, fingerprint: str) -> TaskState | None:
        """The first answer, if this request repeats the one that got it; 422 for another body."""
        if self.answer is None:
            return None
        if self.answered and self.answered != fingerprint:
            assert self.idempotency_key is not None
            raise key_reused(self.idempotency_key)
        return self.answer


async def load_task(session: AsyncSession, code: str) -> TaskState:
    """The task as the projection holds it: for reading, never as proof of what happened."""
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
        code: str, request: Request, actor: CurrentUser, enforcer: EnforcerDep, client: TemporalDep,
        settings: SettingsDep, idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> TaskAccess:
        action = route_action or request.path_params["action"]
        return await authorize_action(code, action, actor, enforcer, client, settings.action_timeout,
                                      idempotency_key)

    return dependency


async def authorize_action(code: str, action: str, actor: Actor, enforcer: casbin.AsyncEnforcer, client: Client,
                           wait: float, idempotency_key: str | None) -> TaskAccess:
    """Decided on the task's state as its workflow holds it, never on the projection. A retried
    request whose Idempotency-Key the workflow already answered gets that answer back: the checks
    were passed by its first attempt."""
    if action not in ACTION_STAGES:
        raise not_found(f"thao tác '{action}'")
    if idempotency_key:
        prior = await prior_answer(client, code, idempotency_key, actor.username, action, wait)
        if prior is not None:
            return TaskAccess(actor=actor, state=prior[0], relation=Relation.OTHER,
                              idempotency_key=idempotency_key, answer=prior[0], answered=prior[1])
    state = await workflow_state(client, code, wait)
    check_stage(state.stage, action)
    access = await _authorize(actor, enforcer, state, action)
    access.idempotency_key = idempotency_key
    return access
