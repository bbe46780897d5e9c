"""Agencies and users (administration)."""

from typing import Annotated

from fastapi import APIRouter, Depends, status
from sqlalchemy import select

from api.bootstrap import add_user
from api.deps import CurrentUser, EnforcerDep, SessionDep, require
from api.errors import ApiError, invalid
from api.schemas import AgencyIn, AgencyOut, UserIn, UserOut
from db import models
from domain.actors import Actor

router = APIRouter(prefix="/api/v1", tags=["administration"])


@router.post("/agencies", status_code=status.HTTP_201_CREATED)
async def create_agency(body: AgencyIn, session: SessionDep,
                        _: Annotated[Actor, Depends(require("agency.create"))]) -> AgencyOut:
    if await session.get(models.Agency, body.code) is not None:
        raise ApiError(409, f"Mã cơ quan '{body.code}' đã tồn tại", code="agency_exists", params={"agency": body.code})
    agency = models.Agency(**body.model_dump())
    session.add(agency)
    await session.commit()
    return AgencyOut.model_validate(agency)


@router.get("/agencies")
async def list_agencies(session: SessionDep, _: CurrentUser) -> list[AgencyOut]:
    rows = await session.scalars(select(models.Agency).order_by(models.Agency.kind, models.Agency.code))
    return [AgencyOut.model_validate(row) for row in rows]


@router.post("/users", status_code=status.HTTP_201_CREATED)
async def create_user(body: UserIn, session: SessionDep, enforcer: EnforcerDep,
                      _: Annotated[Actor, Depends(require("user.create"))]) -> UserOut:
    if await session.get(models.User, body.username) is not None:
        raise ApiError(409, f"Tên đăng nhập '{body.username}' đã tồn tại", code="user_exists",
                       params={"username": body.username})
    if body.agency is not None and await session.get(models.Agency, body.agency) is None:
        raise invalid("agency", f"không có cơ quan mã '{body.agency}'", "unknown_agency", agency=body.agency)
    roles = [role.value for role in body.roles]
    await add_user(session, enforcer, body.username, body.password, body.full_name, body.agency, roles,
                   email=body.email)
    return UserOut(username=body.username, full_name=body.full_name, agency=body.agency, email=body.email,
                   roles=roles)

