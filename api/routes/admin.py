"""Agencies and users (administration). Parse, call services/people.py."""

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from api.deps import ContextDep, CurrentUser, allowed
from api.errors import links, responses
from domain.actors import Actor
from services import people
from services.people import AgencyPatch
from services.views import AgencyGroupOut, AgencyIn, AgencyOut, PasswordReset, UserDetail, UserIn, UserOut, UserPatch

router = APIRouter(prefix="/api/v1", tags=["administration"])
# Managing accounts is for whoever may create them (the policy's `user.create`: the administrator).
UserAdmin = Annotated[Actor, Depends(allowed("user.create"))]


@router.post("/agencies", status_code=status.HTTP_201_CREATED,
             responses=responses(401, 403, 409, 413, 422, notes={
                 409: "The agency code exists.", 422: "Also: an unknown `parent`, or the agency as its own."}))
async def create_agency(body: AgencyIn, actor: Annotated[Actor, Depends(allowed("agency.create"))],
                        ctx: ContextDep) -> AgencyOut:
    return await people.create_agency(ctx, actor, body)


@router.patch("/agencies/{code}", responses=responses(401, 403, 404, 413, 422, notes={
    404: "Unknown agency.", 422: "Also: an unknown `parent`, or one that would put the agency under itself."}))
async def update_agency(code: str, body: AgencyPatch, actor: Annotated[Actor, Depends(allowed("agency.update"))],
                        ctx: ContextDep) -> AgencyOut:
    """Only the fields given change (`parent` may be null: a top-level agency); the code never does."""
    return await people.update_agency(ctx, actor, code, body)


@router.get("/agencies", responses=responses(401))
async def list_agencies(_: CurrentUser, ctx: ContextDep) -> list[AgencyOut]:
    return await people.agencies(ctx)


@router.get("/agency-groups", responses=responses(401))
async def list_agency_groups(_: CurrentUser, ctx: ContextDep) -> list[AgencyGroupOut]:
    """The groups a directive may be addressed to ("Các Bộ, cơ quan ngang bộ", "34 tỉnh, thành phố"…)."""
    return await people.agency_groups(ctx)


@router.post("/users", status_code=status.HTTP_201_CREATED, responses={**responses(
    401, 403, 409, 413, 422, notes={409: "The username exists.",
                                    422: "Also: an unknown agency, or a password that breaks a rule (README)."}),
    **links(201, **{name: (method, path, {"username": "$response.body#/username"}) for name, method, path in (
        ("read", "get", "/api/v1/users/{username}"), ("change", "patch", "/api/v1/users/{username}"),
        ("resetPassword", "post", "/api/v1/users/{username}/password"))})})
async def create_user(body: UserIn, actor: UserAdmin, ctx: ContextDep) -> UserOut:
    return await people.create_user(ctx, actor, body)


@router.get("/users/{username}", responses=responses(401, 403, 404, notes={404: "Unknown user."}))
async def get_user(username: str, actor: UserAdmin, ctx: ContextDep) -> UserDetail:
    return await people.user(ctx, actor, username)


@router.patch("/users/{username}", responses=responses(401, 403, 404, 409, 413, 422, notes={
    404: "Unknown user.", 409: "Your own account: you may not disable it or take away its admin role."}))
async def update_user(username: str, body: UserPatch, actor: UserAdmin, ctx: ContextDep) -> UserDetail:
    """Disabling an account also ends its tokens, so enabling it again does not bring them back. Nobody
    disables their own account or takes their own administrator role (409)."""
    return await people.update_user(ctx, actor, username, body)


@router.post("/users/{username}/password", status_code=status.HTTP_204_NO_CONTENT, responses=responses(
    401, 403, 404, 413, 422, notes={404: "Unknown user.", 422: "Also: a password that breaks a rule (README)."}))
async def reset_password(username: str, body: PasswordReset, actor: UserAdmin, ctx: ContextDep) -> Response:
    """An administrator sets a new password: the user's tokens end and any login lockout lifts."""
    await people.reset_password(ctx, actor, username, body.password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
