"""People and agencies: logging in and out, whom a token speaks for, accounts, agencies."""

import math
from datetime import UTC, datetime

from casbin import AsyncEnforcer
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import models, projection
from domain.actors import Actor, Role
from domain.refusals import Code, Refusal
from policies.enforcer import give_roles, holders, roles_of, take_roles
from services import authorization, logs
from services.context import Context
from services.security import (
    check_password,
    create_token,
    hash_password,
    hash_password_async,
    read_token,
    require_strong_password,
)
from services.signed_in_cache import Standing
from services.views import (
    AGENCY_KINDS,
    AgencyGroupOut,
    AgencyIn,
    AgencyOut,
    UserDetail,
    UserIn,
    UserOut,
    UserPatch,
)

# --- logging in and out ---------------------------------------------------------------------------


async def log_in(ctx: Context, username: str, password: str, client: str) -> str:
    """An access token for these credentials, or the refusal: locked out (checked first, so a
    locked guesser costs no hashing), a wrong pair (the same answer, after the same hashing, whether
    or not the username exists), a disabled account (said only to whoever knows its password)."""
    throttle = ctx.login_throttle
    username = username.strip()
    wait = await throttle.retry_after(username, client)
    if wait:
        raise Refusal(Code.LOGIN_LOCKED, extra={"retry_after": wait}, minutes=math.ceil(wait / 60))
    async with ctx.sessions() as session:  # closed before hashing: a burst of logins must not drain the pool
        user = await session.get(models.User, username)
    right = await check_password(user.password_hash if user else None, password)
    if user is None or not right:
        await throttle.failed(username, client)
        raise Refusal(Code.LOGIN_FAILED)
    if user.disabled:
        raise Refusal(Code.ACCOUNT_DISABLED, username=user.username)
    await throttle.succeeded(username)
    return create_token(user.username, ctx.settings.token_secret, ctx.settings.token_minutes, user.token_version)


async def log_out(ctx: Context, username: str) -> None:
    """Every token issued to the user so far stops working (its version is left behind)."""
    async with ctx.sessions() as session:
        await _end_sessions(session, username)
    ctx.signed_in.forget(username)


async def _end_sessions(session: AsyncSession, username: str) -> None:
    await session.execute(update(models.User).where(models.User.username == username)
                          .values(token_version=models.User.token_version + 1))
    await session.commit()


async def signed_in(ctx: Context, token: str | None) -> Actor | None:
    """Whom a token speaks for: None unless it is validly signed and unexpired, its user exists and
    is not disabled, and it was issued under the user's current token version (no logout since)."""
    claims = read_token(token, ctx.settings.token_secret) if token else None
    if claims is None:
        return None
    user = await _standing(ctx, claims.username)
    if user is None or user.disabled or user.token_version != claims.version:
        return None
    logs.bind(actor=user.username)
    return await _actor(ctx.enforcer, user)


async def _standing(ctx: Context, username: str) -> Standing | None:
    """The account as remembered (ctx.signed_in, forgotten when it changes), else as read now; None
    when there is no such user."""
    user = ctx.signed_in.get(username)
    if user is None:
        reading = ctx.signed_in.reading()
        async with ctx.sessions() as session:
            row = await session.get(models.User, username)
        if row is None:
            return None
        user = Standing(username=row.username, agency=row.agency, disabled=row.disabled,
                        token_version=row.token_version)
        ctx.signed_in.put(user, reading)
    return user


async def _actor(enforcer: AsyncEnforcer, user: models.User | Standing) -> Actor:
    return Actor(username=user.username, agency=user.agency, roles=await roles_of(enforcer, user.username))


async def me(ctx: Context, actor: Actor) -> UserOut:
    async with ctx.sessions() as session:
        user = await _user(session, actor.username)
    return UserOut(username=user.username, full_name=user.full_name, agency=user.agency, email=user.email,
                   roles=actor.roles)


# --- agencies -------------------------------------------------------------------------------------


async def agencies(ctx: Context) -> list[AgencyOut]:
    async with ctx.sessions() as session:
        rows = await session.scalars(select(models.Agency).order_by(models.Agency.kind, models.Agency.code))
        return [AgencyOut.model_validate(row) for row in rows]


async def units(ctx: Context, agency: str) -> list[AgencyOut]:
    """The agencies directly under one (a ministry's departments, a province's communes)."""
    async with ctx.sessions() as session:
        rows = await session.scalars(select(models.Agency).where(models.Agency.parent == agency)
                                     .order_by(models.Agency.code))
        return [AgencyOut.model_validate(row) for row in rows]


async def agency_groups(ctx: Context) -> list[AgencyGroupOut]:
    async with ctx.sessions() as session:
        rows = await session.scalars(select(models.AgencyGroup).order_by(models.AgencyGroup.code))
        return [AgencyGroupOut.model_validate(row) for row in rows]


async def create_agency(ctx: Context, actor: Actor, body: AgencyIn) -> AgencyOut:
    authorization.require(ctx.enforcer, actor, "agency.create")
    async with ctx.sessions() as session:
        if await session.get(models.Agency, body.code) is not None:
            raise Refusal(Code.AGENCY_EXISTS, agency=body.code)
        if body.parent == body.code:
            raise Refusal(Code.AGENCY_OWN_PARENT, field="parent", agency=body.code)
        await _check_agency(session, body.parent, "parent")
        agency = models.Agency(**body.model_dump())
        session.add(agency)
        await session.commit()
        return AgencyOut.model_validate(agency)


class AgencyPatch(BaseModel):
    """Only the fields given change; `parent` may be set to null (a top-level agency). The code
    never changes: tasks, accounts and the published index name the agency by it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str | None = Field(default=None, min_length=1, max_length=300)
    name_en: str | None = Field(default=None, max_length=300)
    kind: str | None = Field(default=None, pattern="^(" + "|".join(AGENCY_KINDS) + ")$")
    parent: str | None = Field(default=None, max_length=32, description="the agency this one is a unit of")

    @field_validator("parent", mode="before")
    @classmethod
    def _no_parent(cls, value: object) -> object:
        return None if value == "" else value  # a form's empty field: a top-level agency


async def update_agency(ctx: Context, actor: Actor, code: str, body: AgencyPatch) -> AgencyOut:
    """Renames an agency or moves it in the hierarchy; never under itself or one of its own units
    (a cycle would make `ancestors` stop short, and an agency stand above itself)."""
    authorization.require(ctx.enforcer, actor, "agency.update")
    given = body.model_fields_set
    async with ctx.sessions() as session:
        agency = await session.get(models.Agency, code)
        if agency is None:  # 404 before the body is judged
            raise Refusal(Code.NOT_FOUND)
        for name in ("name", "name_en", "kind"):
            if name in given and getattr(body, name) is None:
                raise Refusal(Code.REQUIRED_FIELD, field=name, what=name)
        if "parent" in given and body.parent is not None:
            await _check_agency(session, body.parent, "parent")
            if body.parent == code or await is_under(session, body.parent, code):
                raise Refusal(Code.AGENCY_OWN_PARENT, field="parent", agency=code)
        for name in given:
            setattr(agency, name, getattr(body, name))
        await session.commit()
        if given & {"name", "name_en"}:  # a search by its new name finds its tasks
            await projection.renamed(session, code)
        return AgencyOut.model_validate(agency)


# The deepest chain the hierarchy has room for (ministry → department → unit; province → commune):
# a walk up stops here, so a cycle in the data cannot hang it.
HIERARCHY_DEPTH = 10


async def ancestors(session: AsyncSession, code: str) -> list[str]:
    """The agencies above `code`, nearest first: its parent, the parent's parent… (none for an
    unknown code). At most HIERARCHY_DEPTH of them, each once, whatever the data says."""
    found: list[str] = []
    current = code
    for _ in range(HIERARCHY_DEPTH):
        parent = await session.scalar(select(models.Agency.parent).where(models.Agency.code == current))
        if parent is None or parent == code or parent in found:
            break
        found.append(parent)
        current = parent
    return found


async def is_under(session: AsyncSession, unit: str, above: str) -> bool:
    """Whether `above` stands above `unit` in the hierarchy (an agency is not under itself)."""
    return above in await ancestors(session, unit)


# --- accounts (managing them is for whoever may create them: the policy's `user.create`) --------


async def add_user(session: AsyncSession, enforcer: AsyncEnforcer, username: str, password: str,
                   full_name: str, agency: str | None, roles: list[str], email: str | None = None) -> None:
    """An account with its roles, as it is (the bootstrap's and the demo's too: no password rules)."""
    session.add(models.User(username=username, password_hash=hash_password(password), full_name=full_name,
                            agency=agency, email=email, created_at=datetime.now(UTC)))
    await session.commit()
    await give_roles(enforcer, username, roles)


async def create_user(ctx: Context, actor: Actor, body: UserIn) -> UserOut:
    authorization.require(ctx.enforcer, actor, "user.create")
    async with ctx.sessions() as session:
        if await session.get(models.User, body.username) is not None:
            raise Refusal(Code.USER_EXISTS, username=body.username)
        await _check_agency(session, body.agency)
    require_strong_password(body.password, body.username)
    roles = [role.value for role in body.roles]
    async with ctx.sessions() as session:
        await add_user(session, ctx.enforcer, body.username, body.password, body.full_name, body.agency, roles,
                       email=body.email)
    return UserOut(username=body.username, full_name=body.full_name, agency=body.agency, email=body.email,
                   roles=roles)


async def users(ctx: Context, actor: Actor) -> list[UserDetail]:
    authorization.require(ctx.enforcer, actor, "user.create")
    async with ctx.sessions() as session:
        rows = list(await session.scalars(select(models.User).order_by(models.User.username)))
    return [await _detail(ctx.enforcer, user) for user in rows]


async def user(ctx: Context, actor: Actor, username: str) -> UserDetail:
    authorization.require(ctx.enforcer, actor, "user.create")
    async with ctx.sessions() as session:
        return await _detail(ctx.enforcer, await _user(session, username))


async def update_user(ctx: Context, actor: Actor, username: str, body: UserPatch) -> UserDetail:
    """Only the fields given change. Disabling an account also ends its tokens, so enabling it again
    does not bring them back. Nobody disables their own account or takes their own administrator role."""
    authorization.require(ctx.enforcer, actor, "user.create")
    given = body.model_fields_set
    async with ctx.sessions() as session:
        account = await _user(session, username)  # an unknown user is 404 before the body is judged
        for name in ("full_name", "roles", "disabled"):
            if name in given and getattr(body, name) is None:
                raise Refusal(Code.REQUIRED_FIELD, field=name, what=name)
        if username == actor.username and (body.disabled or (body.roles is not None and Role.ADMIN not in body.roles)):
            raise Refusal(Code.OWN_ACCOUNT)  # an administrator never locks themself out
        if "agency" in given:
            await _check_agency(session, body.agency)
            account.agency = body.agency
        if "email" in given:
            account.email = body.email
        if body.full_name is not None:
            account.full_name = body.full_name
        newly_disabled = bool(body.disabled) and not account.disabled
        if body.disabled is not None:
            account.disabled = body.disabled
        await session.commit()
        if newly_disabled:
            await _end_sessions(session, username)
    ctx.signed_in.forget(username)
    if body.roles is not None:
        await take_roles(ctx.enforcer, username)
        await give_roles(ctx.enforcer, username, [role.value for role in body.roles])
    return await user(ctx, actor, username)


async def reset_password(ctx: Context, actor: Actor, username: str, password: str) -> None:
    """An administrator sets a new password: the user's tokens end and any login lockout lifts."""
    authorization.require(ctx.enforcer, actor, "user.create")
    require_strong_password(password, username)
    password_hash = await hash_password_async(password)  # before a session holds a connection
    async with ctx.sessions() as session:
        account = await _user(session, username)
        account.password_hash = password_hash
        await session.commit()
        await _end_sessions(session, username)
    ctx.signed_in.forget(username)
    await ctx.login_throttle.succeeded(username)


async def reviewers(ctx: Context) -> list[str]:
    """The people who may be assigned a cross-check (the role, not the policy, names them)."""
    return sorted(await holders(ctx.enforcer, Role.CROSS_CHECK_REVIEWER))


async def person(ctx: Context, username: str) -> Actor | None:
    """Someone by name, with their roles; None when there is no such user."""
    account = await _standing(ctx, username)
    return None if account is None else await _actor(ctx.enforcer, account)


async def full_names(ctx: Context, usernames: list[str]) -> dict[str, str]:
    """Each of these accounts' full name, by username (an unknown username is left out)."""
    async with ctx.sessions() as session:
        rows = await session.execute(select(models.User.username, models.User.full_name)
                                     .where(models.User.username.in_(usernames)))
        return {username: full_name for username, full_name in rows}


async def missing_agencies(ctx: Context, codes: list[str]) -> list[str]:
    async with ctx.sessions() as session:
        return await missing(session, codes)


async def missing(session: AsyncSession, codes: list[str]) -> list[str]:
    """The codes among these that name no agency, in their order."""
    known = set(await session.scalars(select(models.Agency.code).where(models.Agency.code.in_(codes))))
    return [code for code in codes if code not in known]


async def _check_agency(session: AsyncSession, agency: str | None, field: str = "agency") -> None:
    if agency is not None and await session.get(models.Agency, agency) is None:
        raise Refusal(Code.UNKNOWN_AGENCY, field=field, agency=agency)


async def _user(session: AsyncSession, username: str) -> models.User:
    account = await session.get(models.User, username)
    if account is None:
        raise Refusal(Code.USER_NOT_FOUND, username=username)
    return account


async def _detail(enforcer: AsyncEnforcer, account: models.User) -> UserDetail:
    return UserDetail(username=account.username, full_name=account.full_name, agency=account.agency,
                      email=account.email, roles=await roles_of(enforcer, account.username),
                      disabled=account.disabled)
