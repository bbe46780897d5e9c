"""Agencies and users (administration)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.bootstrap import add_user
from api.deps import CurrentUser, EnforcerDep, SessionDep, require
from api.errors import ApiError, invalid, links, not_found, responses
from api.routes.auth import end_sessions
from api.schemas import AgencyIn, AgencyOut, UserIn, UserOut
from api.security import hash_password_async, require_strong_password
from db import models
from domain.actors import Actor, Role

router = APIRouter(prefix="/api/v1", tags=["administration"])


@router.post("/agencies", status_code=status.HTTP_201_CREATED,
             responses=responses(401, 403, 409, 413, 422, notes={409: "The agency code exists."}))
async def create_agency(body: AgencyIn, session: SessionDep,
                        _: Annotated[Actor, Depends(require("agency.create"))]) -> AgencyOut:
    if await session.get(models.Agency, body.code) is not None:
        raise ApiError(409, f"Mã cơ quan '{body.code}' đã tồn tại", code="agency_exists", params={"agency": body.code})
    agency = models.Agency(**body.model_dump())
    session.add(agency)
    await session.commit()
    return AgencyOut.model_validate(agency)


@router.get("/agencies", responses=responses(401))
async def list_agencies(session: SessionDep, _: CurrentUser) -> list[AgencyOut]:
    rows = await session.scalars(select(models.Agency).order_by(models.Agency.kind, models.Agency.code))
    return [AgencyOut.model_validate(row) for row in rows]


@router.post("/users", status_code=status.HTTP_201_CREATED, responses={**responses(
    401, 403, 409, 413, 422, notes={409: "The username exists.",
                                    422: "Also: an unknown agency, or a password that breaks a rule (README)."}),
    **links(201, **{name: (method, path, {"username": "$response.body#/username"}) for name, method, path in (
        ("read", "get", "/api/v1/users/{username}"), ("change", "patch", "/api/v1/users/{username}"),
        ("resetPassword", "post", "/api/v1/users/{username}/password"))})})
async def create_user(body: UserIn, session: SessionDep, enforcer: EnforcerDep,
                      _: Annotated[Actor, Depends(require("user.create"))]) -> UserOut:
    if await session.get(models.User, body.username) is not None:
        raise ApiError(409, f"Tên đăng nhập '{body.username}' đã tồn tại", code="user_exists",
                       params={"username": body.username})
    await _check_agency(session, body.agency)
    require_strong_password(body.password, body.username)
    roles = [role.value for role in body.roles]
    await add_user(session, enforcer, body.username, body.password, body.full_name, body.agency, roles,
                   email=body.email)
    return UserOut(username=body.username, full_name=body.full_name, agency=body.agency, email=body.email,
                   roles=roles)


# Managing accounts is for whoever may create them (the policy's `user.create`: the administrator).
UserAdmin = Annotated[Actor, Depends(require("user.create"))]


class UserDetail(UserOut):
    disabled: bool


class UserPatch(BaseModel):
    """Only the fields given change; `agency` and `email` may be set to null."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    full_name: str | None = Field(default=None, min_length=1)
    agency: str | None = None
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    roles: list[Role] | None = Field(default=None, min_length=1)
    disabled: bool | None = None


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str


async def _check_agency(session: AsyncSession, agency: str | None) -> None:
    if agency is not None and await session.get(models.Agency, agency) is None:
        raise invalid("agency", f"không có cơ quan mã '{agency}'", "unknown_agency", agency=agency)


async def _user(session: AsyncSession, username: str) -> models.User:
    user = await session.get(models.User, username)
    if user is None:
        raise not_found(f"người dùng '{username}'", "user_not_found", username=username)
    return user


async def _detail(user: models.User, enforcer: EnforcerDep) -> UserDetail:
    return UserDetail(username=user.username, full_name=user.full_name, agency=user.agency, email=user.email,
                      roles=await enforcer.get_roles_for_user(user.username), disabled=user.disabled)


@router.get("/users/{username}", responses=responses(401, 403, 404, notes={404: "Unknown user."}))
async def get_user(username: str, session: SessionDep, enforcer: EnforcerDep, _: UserAdmin) -> UserDetail:
    return await _detail(await _user(session, username), enforcer)


@router.patch("/users/{username}", responses=responses(401, 403, 404, 413, 422, notes={404: "Unknown user."}))
async def update_user(username: str, body: UserPatch, session: SessionDep, enforcer: EnforcerDep,
                      _: UserAdmin) -> UserDetail:
    """Disabling an account also ends its tokens, so enabling it again does not bring them back."""
    user = await _user(session, username)
    given = body.model_fields_set
    for name in ("full_name", "roles", "disabled"):
        if name in given and getattr(body, name) is None:
            raise invalid(name, "không được để trống", "required_field", what=name)
    if "agency" in given:
        await _check_agency(session, body.agency)
        user.agency = body.agency
    if "email" in given:
        user.email = body.email
    if body.full_name is not None:
        user.full_name = body.full_name
    newly_disabled = bool(body.disabled) and not user.disabled
    if body.disabled is not None:
        user.disabled = body.disabled
    await session.commit()
    if newly_disabled:
        await end_sessions(session, username)
    if body.roles is not None:
        await enforcer.delete_roles_for_user(username)
        await enforcer.add_grouping_policies([[username, role.value] for role in body.roles])
    return await _detail(await _user(session, username), enforcer)


@router.post("/users/{username}/password", status_code=status.HTTP_204_NO_CONTENT, responses=responses(
    401, 403, 404, 413, 422, notes={404: "Unknown user.", 422: "Also: a password that breaks a rule (README)."}))
async def reset_password(username: str, body: PasswordReset, request: Request, session: SessionDep,
                         _: UserAdmin) -> Response:
    """An administrator sets a new password: the user's tokens end and any login lockout lifts."""
    require_strong_password(body.password, username)
    password_hash = await hash_password_async(body.password)  # before the session holds a connection
    user = await _user(session, username)
    user.password_hash = password_hash
    await session.commit()
    await end_sessions(session, username)
    await request.app.state.login_throttle.succeeded(username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
