"""The administrator's pages: accounts, agencies and the policy. Every decision is the services'
(services/people.py, services/policy.py), the same the JSON API's /api/v1/admin routes take."""

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from api.deps import ContextDep
from api.hardening import csrf_protect
from api.web.pages import PageUser, form_errors_of, refused, render, text_of
from domain import limits
from domain.actors import Actor, Role
from domain.refusals import Refusal
from services import authorization, people, policy
from services.context import Context
from services.views import AGENCY_KINDS, AgencyIn, UserIn

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])


async def _admin_page(request: Request, user: Actor, ctx: Context, status: int = 200,
                      **form: dict[str, Any]) -> HTMLResponse:
    try:
        matrix = policy.matrix(ctx, user)
        accounts = await people.users(ctx, user)
    except Refusal as refusal:
        return refused(request, user, refusal)
    return render(request, "admin.html", user, status=status, agencies=await people.agencies(ctx), users=accounts,
                  roles={account.username: account.roles for account in accounts}, matrix=matrix,
                  all_roles=[role.value for role in Role], policy_actions=sorted(matrix), kinds=AGENCY_KINDS,
                  password_min=limits.PASSWORD,
                  form_errors=form.get("errors", {}), form_values=form.get("values", {}))


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
    return RedirectResponse("/admin#agencies", status_code=303)


@router.post("/admin/users")
async def admin_add_user(request: Request, user: PageUser, ctx: ContextDep) -> Response:
    form = await request.form()
    try:
        authorization.require(ctx.enforcer, user, "user.create")  # 403 before the form is read
        body = {key: value for key, value in text_of(form).items() if key != "roles" and value}
        await people.create_user(ctx, user, UserIn.model_validate({**body, "roles": form.getlist("roles")}))
    except (Refusal, ValidationError) as error:
        status, errors = form_errors_of(request, error)
        return await _admin_page(request, user, ctx, status, errors={"user": errors}, values={"user": text_of(form)})
    return RedirectResponse("/admin#users", status_code=303)
