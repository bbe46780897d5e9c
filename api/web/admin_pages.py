"""The administrator's pages: accounts, agencies and the policy. Every decision is the services'
(services/people.py, services/policy.py), the same the JSON API's /api/v1 administration routes take;
here the forms are read, the services called, the answer rendered.

Disabling an account and saving the policy are confirmed in a second step that says what will happen
(for the policy: each permission gained or lost, and the people holding the role); nothing changes
until the same fields come back with `confirm=1`."""

from itertools import groupby
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from api.deps import ContextDep
from api.hardening import csrf_protect
from api.web.pages import PageUser, form_errors_of, language, refused, render, text_of
from domain import limits
from domain.actors import Actor, Relation, Role
from domain.refusals import Code, Refusal
from domain.stages import Stage
from domain.text import fold
from services import authorization, people, policy
from services.context import Context
from services.people import AgencyPatch
from services.policy import PolicyRule
from services.views import AGENCY_KINDS, AgencyIn, AgencyOut, PasswordReset, UserIn, UserPatch

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

# What a `?done=` may say happened (each has its sentence `admin.done.<what>`).
DONE = ("user", "password", "disabled", "enabled", "agency", "policy")

# Each form's fields in the order the page shows them: the first one in error takes the focus.
FIELDS: dict[str, tuple[str, ...]] = {
    "user": ("username", "password", "full_name", "agency", "email", "roles"),
    "agency": ("code", "name", "name_en", "kind", "parent"),
    "account": ("full_name", "email", "agency", "roles"),
    "password": ("password",),
}  # the policy's matrix has no field to land on: its refusal is said above it
RULE_FIELDS = ("role", "relation", "stage", "action")


def first_invalid(errors: dict[str, dict[str, str]]) -> tuple[str, str] | None:
    """The refused form's first field in error (its first field, for an error of the whole form):
    the page opens with the focus there, on what to fix."""
    for form, refused_fields in errors.items():
        names = FIELDS.get(form, ())
        return next(((form, n) for n in names if n in refused_fields), (form, names[0]) if names else None)
    return None


def rule_key(role: str, relation: str, stage: str, action: str) -> str:
    """A rule as a form value (a matrix cell's checkbox): its four names, `|` between."""
    return "|".join((role, relation, stage, action))


def rules_of(form: FormData, name: str) -> list[PolicyRule]:
    """The rules a form field lists (checked cells, or the matrix as it was shown)."""
    return [PolicyRule.model_validate(dict(zip(RULE_FIELDS, str(value).split("|"), strict=False)))
            for value in form.getlist(name)]


def new_rules(form: FormData) -> list[PolicyRule]:
    """The matrix's extra row: an action, where it applies, and the roles to give it there."""
    action = str(form.get("new_action", "")).strip()
    if not action:
        return []
    where = {"relation": str(form.get("new_relation") or "*"), "stage": str(form.get("new_stage") or "*"),
             "action": action}
    return [PolicyRule.model_validate({**where, "role": str(role)}) for role in form.getlist("new_role")]


def _shown(rules: list[PolicyRule]) -> list[str]:
    return [rule_key(*rule.line()) for rule in rules]


def _context(request: Request, agencies: list[AgencyOut]) -> dict[str, Any]:
    """What every admin page names things with: agencies by name (listed and chosen sorted by the
    name the reader reads), the roles, the vocabularies of a policy rule."""
    english = language(request) == "en"
    return {"by_code": {agency.code: agency for agency in agencies},
            "by_name": sorted(agencies, key=lambda a: fold(a.name_en if english and a.name_en else a.name)),
            "all_roles": list(Role), "columns": policy.COLUMNS, "relations": ["*", *Relation], "stages": ["*", *Stage],
            "kinds": AGENCY_KINDS, "rule_key": rule_key, "password_min": limits.PASSWORD}


async def _admin_page(request: Request, user: Actor, ctx: Context, status: int = 200,
                      errors: dict[str, dict[str, str]] | None = None, values: dict[str, dict[str, Any]] | None = None,
                      edited: FormData | None = None) -> HTMLResponse:
    """The overview; `edited`: a matrix sent back (refused, or to edit further), shown as it was sent."""
    try:
        current = policy.rules(ctx, user)
        accounts = await people.users(ctx, user)
    except Refusal as refusal:
        return refused(request, user, refusal)
    was, checked = _shown(current), set(_shown(current))
    shown = current
    if edited is not None:
        was, checked = [str(v) for v in edited.getlist("was")], {str(v) for v in edited.getlist("rule")}
        try:
            now = rules_of(edited, "rule") + new_rules(edited)  # the extra row becomes rows of ticked cells
            shown, checked = current + now, set(_shown(now))
        except ValidationError:
            pass  # a cell no rule can be (not one the page drew): the rows as they are
    rows = policy.rows(shown)
    errors = errors or {}
    done = request.query_params.get("done", "")
    return render(request, "admin.html", user, status=status, users=accounts,
                  groups=[(action, list(group)) for action, group in groupby(rows, key=lambda row: row.action)],
                  actions=policy.POLICY_ACTIONS, was=was, checked=checked,
                  done=done if done in DONE else "", form_errors=errors, form_values=values or {},
                  first_invalid=first_invalid(errors), **_context(request, await people.agencies(ctx)))


@router.get("/admin")
async def admin_page(request: Request, user: PageUser, ctx: ContextDep) -> HTMLResponse:
    return await _admin_page(request, user, ctx)


@router.post("/admin/agencies")
async def admin_add_agency(request: Request, user: PageUser, ctx: ContextDep) -> Response:
    form = await request.form()
    try:
        authorization.require(ctx.enforcer, user, "agency.create")  # 403 before the form is read
        await people.create_agency(ctx, user, AgencyIn.model_validate(text_of(form)))
    except (Refusal, ValidationError) as error:
        status, errors = form_errors_of(request, error)
        return await _admin_page(request, user, ctx, status, errors={"agency": errors},
                                 values={"agency": text_of(form)})
    return RedirectResponse("/admin?done=agency#agencies", status_code=303)


@router.post("/admin/users")
async def admin_add_user(request: Request, user: PageUser, ctx: ContextDep) -> Response:
    form = await request.form()
    try:
        authorization.require(ctx.enforcer, user, "user.create")  # 403 before the form is read
        body = {key: value for key, value in text_of(form).items() if key != "roles" and value}
        await people.create_user(ctx, user, UserIn.model_validate({**body, "roles": form.getlist("roles")}))
    except (Refusal, ValidationError) as error:
        status, errors = form_errors_of(request, error)
        return await _admin_page(request, user, ctx, status, errors={"user": errors},
                                 values={"user": {**text_of(form), "roles": form.getlist("roles")}})
    return RedirectResponse("/admin?done=user#users", status_code=303)


# --- one account ----------------------------------------------------------------------------------


async def _user_page(request: Request, user: Actor, ctx: Context, username: str, status: int = 200,
                     errors: dict[str, dict[str, str]] | None = None, form: FormData | None = None,
                     confirming: bool = False) -> HTMLResponse:
    try:
        account = await people.user(ctx, user, username)
    except Refusal as refusal:
        return refused(request, user, refusal)
    errors = errors or {}
    values = {**account.model_dump(), **(text_of(form) if form is not None else {})}
    chosen = [str(role) for role in form.getlist("roles")] if form is not None and "full_name" in form \
        else account.roles
    done = request.query_params.get("done", "")
    return render(request, "admin_user.html", user, status=status, account=account, values=values, chosen=chosen,
                  confirming=confirming, done=done if done in DONE else "", form_errors=errors,
                  first_invalid=first_invalid(errors), **_context(request, await people.agencies(ctx)))


def _done(username: str, what: str) -> RedirectResponse:
    return RedirectResponse(f"/admin/users/{quote(username)}?done={what}", status_code=303)


@router.get("/admin/users/{username}")
async def admin_user_page(request: Request, username: str, user: PageUser, ctx: ContextDep) -> HTMLResponse:
    return await _user_page(request, user, ctx, username)


@router.post("/admin/users/{username}")
async def admin_change_user(request: Request, username: str, user: PageUser, ctx: ContextDep) -> Response:
    """The whole form is the change: name, email, agency (empty: none) and roles."""
    form = await request.form()
    text = text_of(form)
    try:
        authorization.require(ctx.enforcer, user, "user.create")  # 403 before the form is read
        await people.update_user(ctx, user, username, UserPatch.model_validate({
            "full_name": text.get("full_name", ""), "email": text.get("email") or None,
            "agency": text.get("agency") or None, "roles": form.getlist("roles")}))
    except (Refusal, ValidationError) as error:
        status, errors = form_errors_of(request, error)
        return await _user_page(request, user, ctx, username, status, {"account": errors}, form)
    return _done(username, "user")


@router.post("/admin/users/{username}/password")
async def admin_reset_password(request: Request, username: str, user: PageUser, ctx: ContextDep) -> Response:
    form = await request.form()
    try:
        authorization.require(ctx.enforcer, user, "user.create")  # 403 before the form is read
        reset = PasswordReset.model_validate({"password": form.get("password", "")})
        await people.reset_password(ctx, user, username, reset.password)
    except (Refusal, ValidationError) as error:
        status, errors = form_errors_of(request, error)
        return await _user_page(request, user, ctx, username, status, {"password": errors})
    return _done(username, "password")


@router.post("/admin/users/{username}/disable")
async def admin_disable_user(request: Request, username: str, user: PageUser, ctx: ContextDep) -> Response:
    """Said back first (the person is logged out and cannot log in); done once confirmed."""
    form = await request.form()
    if form.get("confirm") != "1":
        return await _user_page(request, user, ctx, username, confirming=True)
    return await _set_disabled(request, user, ctx, username, True)


@router.post("/admin/users/{username}/enable")
async def admin_enable_user(request: Request, username: str, user: PageUser, ctx: ContextDep) -> Response:
    return await _set_disabled(request, user, ctx, username, False)


async def _set_disabled(request: Request, user: Actor, ctx: Context, username: str, disabled: bool) -> Response:
    try:
        await people.update_user(ctx, user, username, UserPatch(disabled=disabled))
    except Refusal as refusal:
        return refused(request, user, refusal)
    return _done(username, "disabled" if disabled else "enabled")


# --- one agency -----------------------------------------------------------------------------------


async def _agency_page(request: Request, user: Actor, ctx: Context, code: str, status: int = 200,
                       errors: dict[str, str] | None = None, form: FormData | None = None) -> HTMLResponse:
    try:
        authorization.require(ctx.enforcer, user, "agency.update")
        agencies = await people.agencies(ctx)
        agency = next((agency for agency in agencies if agency.code == code), None)
        if agency is None:
            raise Refusal(Code.NOT_FOUND)
    except Refusal as refusal:
        return refused(request, user, refusal)
    form_errors = {"agency": errors} if errors else {}
    return render(request, "admin_agency.html", user, status=status, agency=agency,
                  values={**agency.model_dump(), **(text_of(form) if form is not None else {})},
                  form_errors=form_errors, first_invalid=first_invalid(form_errors), **_context(request, agencies))


@router.get("/admin/agencies/{code}")
async def admin_agency_page(request: Request, code: str, user: PageUser, ctx: ContextDep) -> HTMLResponse:
    return await _agency_page(request, user, ctx, code)


@router.post("/admin/agencies/{code}")
async def admin_change_agency(request: Request, code: str, user: PageUser, ctx: ContextDep) -> Response:
    form = await request.form()
    text = text_of(form)
    try:
        authorization.require(ctx.enforcer, user, "agency.update")  # 403 before the form is read
        await people.update_agency(ctx, user, code, AgencyPatch.model_validate(
            {name: text.get(name, "") for name in ("name", "name_en", "kind", "parent")}))
    except (Refusal, ValidationError) as error:
        status, errors = form_errors_of(request, error)
        return await _agency_page(request, user, ctx, code, status, errors, form)
    return RedirectResponse("/admin?done=agency#agencies", status_code=303)


# --- the policy -----------------------------------------------------------------------------------


@router.post("/admin/policy")
async def admin_change_policy(request: Request, user: PageUser, ctx: ContextDep) -> Response:
    """The edited matrix: previewed (who gains or loses what), saved once confirmed, or shown again
    to edit further (`back`). The change is the edit's own: the matrix as shown (`was`) against the
    cells checked now (`rule`, and the extra row)."""
    form = await request.form()
    try:
        authorization.require(ctx.enforcer, user, "policy.change")  # 403 before the form is read
        if form.get("back") == "1":
            return await _admin_page(request, user, ctx, edited=form)
        now = rules_of(form, "rule") + new_rules(form)
        changes = policy.diff(rules_of(form, "was"), now)
        if form.get("confirm") != "1" or not changes:
            return render(request, "admin_policy.html", user, changes=await policy.preview(ctx, user, changes),
                          was=[str(v) for v in form.getlist("was")], now=_shown(now),
                          **_context(request, await people.agencies(ctx)))
        await policy.apply(ctx, user, changes)
    except (Refusal, ValidationError) as error:
        status, errors = form_errors_of(request, error)
        return await _admin_page(request, user, ctx, status, errors={"policy": errors}, edited=form)
    return RedirectResponse("/admin?done=policy#policy", status_code=303)
