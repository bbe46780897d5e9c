"""Logging in and out (the web login, api/web/pages.py, goes through services/people.py too)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import ContextDep, CurrentUser
from api.errors import responses
from api.rate_limit import client_address
from services import people
from services.views import Token, UserOut

router = APIRouter(prefix="/api/v1", tags=["auth"])


@router.post("/auth/token", responses=responses(401, 403, 413, 422, 429, notes={
    401: "Wrong username or password.", 403: "The account is disabled.",
    429: "Too many wrong passwords for this username or from this client: locked out for a while."}))
async def login(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()], ctx: ContextDep) -> Token:
    return Token(access_token=await people.log_in(ctx, form.username, form.password, client_address(request)))


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, responses=responses(401))
async def logout(actor: CurrentUser, ctx: ContextDep) -> Response:
    """Ends the token — and every other token of the same user: all their sessions end together."""
    await people.log_out(ctx, actor.username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", responses=responses(401))
async def me(actor: CurrentUser, ctx: ContextDep) -> UserOut:
    return await people.me(ctx, actor)
