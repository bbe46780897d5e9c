"""What routes depend on: the application layer's context, the caller, the Idempotency-Key."""

from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import OAuth2PasswordBearer

from api.hardening import SESSION_COOKIE
from domain.actors import Actor
from domain.refusals import Code, Refusal
from services import authorization, people, tasks
from services.context import Context

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def get_context(request: Request) -> Context:  # async: a plain def would run in a thread per request
    return request.app.state.ctx


ContextDep = Annotated[Context, Depends(get_context)]


async def get_current_user(request: Request, token: Annotated[str | None, Depends(oauth2_scheme)],
                           ctx: ContextDep) -> Actor:
    if not token and request.method == "GET":  # the web pages' session, for downloads (reads only: no CSRF)
        token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Refusal(Code.NOT_SIGNED_IN)
    actor = await people.signed_in(ctx, token)
    if actor is None:
        raise Refusal(Code.BAD_TOKEN)
    return actor


CurrentUser = Annotated[Actor, Depends(get_current_user)]
IdempotencyKey = Annotated[str | None, Header(max_length=200)]


def allowed(action: str):  # noqa: ANN201 - a dependency factory
    """Answers 403 before the body is read, for an action on no task in particular (the service
    checks again: it is the authority; this keeps the design's order, 403 before 422)."""

    async def dependency(actor: CurrentUser, ctx: ContextDep) -> Actor:
        authorization.require(ctx.enforcer, actor, action)
        return actor

    return dependency


def acting(route_action: str | None = None):  # noqa: ANN201 - a dependency factory
    """The checks before an action on a task (services/tasks.py: permit), before its body is read.
    The action is the route's own, or the path's `{action}`."""

    async def dependency(code: str, request: Request, actor: CurrentUser, ctx: ContextDep,
                         idempotency_key: IdempotencyKey = None) -> tasks.Permit:
        action = route_action or request.path_params["action"]
        return await tasks.permit(ctx, actor, code, action, idempotency_key)

    return dependency
