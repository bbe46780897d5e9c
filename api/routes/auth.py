from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import CurrentUser, SessionDep, SettingsDep
from api.errors import ApiError
from api.schemas import Token, UserOut
from api.security import create_token, verify_password
from db import models

router = APIRouter(prefix="/api/v1", tags=["auth"])


@router.post("/auth/token")
async def login(form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep,
                settings: SettingsDep) -> Token:
    user = await session.get(models.User, form.username)
    if user is None or not verify_password(user.password_hash, form.password):
        raise ApiError(401, "Sai tên đăng nhập hoặc mật khẩu")
    return Token(access_token=create_token(user.username, settings.token_secret, settings.token_minutes))


@router.get("/me")
async def me(actor: CurrentUser, session: SessionDep) -> UserOut:
    user = await session.get(models.User, actor.username)
    assert user is not None  # CurrentUser found it
    return UserOut(username=user.username, full_name=user.full_name, agency=user.agency, email=user.email,
                   roles=actor.roles)
