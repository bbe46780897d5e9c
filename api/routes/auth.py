"""Logging in and out. The web login (api/web/pages.py) goes through `authenticate` too."""

import math
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import CurrentUser, SessionDep, SettingsDep
from api.errors import ApiError, responses
from api.rate_limit import LoginThrottle, client_address
from api.schemas import Token, UserOut
from api.security import check_password, create_token
from db import models
from settings import Settings

router = APIRouter(prefix="/api/v1", tags=["auth"])


async def authenticate(request: Request, session: AsyncSession, username: str, password: str) -> models.User:
    """The account these credentials open, or the refusal: 429 while the username or the client is
    locked out (checked first, so a locked guesser costs no hashing), 401 for a wrong pair (the
    same answer, after the same hashing, whether or not the username exists), 403 for a disabled
    account (said only to whoever knows its password)."""
    throttle: LoginThrottle = request.app.state.login_throttle
    username, client = username.strip(), client_address(request)
    wait = await throttle.retry_after(username, client)
    if wait:
        minutes = math.ceil(wait / 60)
        raise ApiError(429, f"Đăng nhập sai quá nhiều lần nên tạm bị khóa: vui lòng thử lại sau {minutes} phút",
                       code="login_locked", params={"minutes": minutes}, retry_after=wait)
    user = await session.get(models.User, username)
    await session.close()  # no pooled connection held while hashing: a burst of logins must not drain the pool
    right = await check_password(user.password_hash if user else None, password)
    if user is None or not right:
        await throttle.failed(username, client)
        raise ApiError(401, "Sai tên đăng nhập hoặc mật khẩu", code="login_failed")
    if user.disabled:
        raise ApiError(403, f"Tài khoản '{user.username}' đã bị vô hiệu hóa; hãy liên hệ quản trị viên",
                       code="account_disabled", params={"username": user.username})
    await throttle.succeeded(username)
    return user


def issue_token(user: models.User, settings: Settings) -> str:
    return create_token(user.username, settings.token_secret, settings.token_minutes, user.token_version)


async def end_sessions(session: AsyncSession, username: str) -> None:
    """Every token issued to the user so far stops working (its version is left behind)."""
    await session.execute(update(models.User).where(models.User.username == username)
                          .values(token_version=models.User.token_version + 1))
    await session.commit()


@router.post("/auth/token", responses=responses(401, 403, 413, 422, 429, notes={
    401: "Wrong username or password.", 403: "The account is disabled.",
    429: "Too many wrong passwords for this username or from this client: locked out for a while."}))
async def login(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep,
                settings: SettingsDep) -> Token:
    user = await authenticate(request, session, form.username, form.password)
    return Token(access_token=issue_token(user, settings))


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, responses=responses(401))
async def logout(actor: CurrentUser, session: SessionDep) -> Response:
    """Ends the token — and every other token of the same user: all their sessions end together."""
    await end_sessions(session, actor.username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", responses=responses(401))
async def me(actor: CurrentUser, session: SessionDep) -> UserOut:
    user = await session.get(models.User, actor.username)
    assert user is not None  # CurrentUser found it
    return UserOut(username=user.username, full_name=user.full_name, agency=user.agency, email=user.email,
                   roles=actor.roles)
