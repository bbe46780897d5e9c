"""The pages. Each calls the same functions the API routes do (authorization, lifecycle rules,
workflows), so a page never holds a second copy of a rule."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy import func, select
from starlette.datastructures import UploadFile  # what request.form() gives (FastAPI's is a subclass)

from api.deps import (
    BlobsDep,
    EnforcerDep,
    SessionDep,
    SettingsDep,
    TemporalDep,
    authorize_action,
    load_task,
    token_actor,
)
from api.errors import ApiError, field_errors
from api.hardening import SESSION_COOKIE, CsrfRejected, cookie_options, csrf_protect, csrf_token, give_csrf_cookie
from api.rate_limit import public_rate_limit
from api.routes.actions import evidence_command, perform, resolve_people
from api.routes.admin import create_agency, create_user
from api.routes.auth import authenticate, end_sessions, issue_token
from api.routes.inbox import inbox as inbox_items
from api.routes.public import public_rankings, public_tasks
from api.routes.reports import compute_index, publish_index
from api.routes.tasks import list_tasks
from api.schemas import AGENCY_KINDS, AgencyIn, HistoryEntry, TaskView, UserIn
from api.web.forms import command_body, kpi_results
from api.web.i18n import DEFAULT_LANGUAGE, LANGUAGES, catalog, date_formatter, number_formatter, translator
from db import models
from domain import limits
from domain.actors import Actor, Relation, Role, relation_of
from domain.commands import COMMAND_MODELS
from domain.lifecycle import ACTIONS, TaskRuleError
from domain.periods import parse_period
from domain.stages import OPEN_STAGES, Stage
from policies.enforcer import permits, permitted_actions
from settings import Settings

# Every POST of a page is a form that must carry its CSRF token (checked before anything else).
router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])
templates = Jinja2Templates(directory=Path(__file__).with_name("templates"))
LANGUAGE_COOKIE = "nq57_lang"
STEPPER = [Stage.ASSIGNED, Stage.BUDGET_REGISTRATION, Stage.IN_PROGRESS, Stage.CROSS_CHECK, Stage.COMPLETED]


class LoginRequired(Exception):
    pass


def language(request: Request) -> str:
    chosen = request.cookies.get(LANGUAGE_COOKIE, DEFAULT_LANGUAGE)
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


async def page_user(request: Request, session: SessionDep, enforcer: EnforcerDep,
                    settings: SettingsDep) -> Actor | None:
    token = request.cookies.get(SESSION_COOKIE)
    return await token_actor(session, enforcer, token, settings.token_secret) if token else None


async def signed_in(user: Annotated[Actor | None, Depends(page_user)]) -> Actor:
    if user is None:
        raise LoginRequired
    return user


PageUser = Annotated[Actor, Depends(signed_in)]
MaybeUser = Annotated[Actor | None, Depends(page_user)]


def say(request: Request, code: str | None, params: dict, sentence: str) -> str:
    """A sentence from the server in the reader's language: the catalog names it by its code; the
    server's own (Vietnamese) sentence stands where no translation exists."""
    lang = language(request)
    template = catalog(lang).get(f"error.{code}") if code and lang != DEFAULT_LANGUAGE else None
    return template.format(**params) if template else sentence


def form_errors_of(request: Request, error: Exception) -> tuple[int, dict[str, str]]:
    """A refused form: its status and, per field ("_" for the form as a whole), the sentence to show."""
    if isinstance(error, ValidationError):
        return 422, {e["field"]: e["message"] for e in field_errors(list(error.errors()), language(request))}
    if isinstance(error, TaskRuleError):
        return (409 if error.conflict else 422), {error.field or "_": say(request, error.code, error.params,
                                                                            str(error))}
    assert isinstance(error, ApiError)
    sentence = say(request, error.code, error.params, error.detail)
    fields = {e["field"]: sentence if error.code else e["message"] for e in error.extra.get("errors", [])}
    return error.status, fields or {"_": sentence}


def forbidden_page(request: Request, user: Actor | None) -> HTMLResponse:
    return render(request, "error.html", user, status=403, message=translator(language(request))("error.forbidden"))


def render(request: Request, name: str, user: Actor | None, status: int = 200, **context: Any) -> HTMLResponse:
    lang = language(request)
    settings = request.app.state.settings
    enforcer = request.app.state.enforcer
    can = {"dashboard": bool(user and permits(enforcer, user.username, Relation.OTHER, "*", "task.read")),
           "admin": bool(user and permits(enforcer, user.username, Relation.NONE, "*", "policy.read"))}
    response = templates.TemplateResponse(request, name, {
        "user": user, "lang": lang, "t": translator(lang), "fmt": date_formatter(lang, settings.timezone),
        "num": number_formatter(lang), "csrf": csrf_token(request),
        "can": can, "path": request.url.path, "now_ts": datetime.now(UTC).timestamp(), **context},
        status_code=status)
    give_csrf_cookie(request, response)
    return response


def install(app: Any) -> None:
    from fastapi.staticfiles import StaticFiles

    app.mount("/static", StaticFiles(directory=Path(__file__).with_name("static")), name="static")
    app.include_router(router)

    @app.exception_handler(LoginRequired)
    async def _to_login(request: Request, _: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)

    @app.exception_handler(CsrfRejected)
    async def _cross_site(request: Request, _: CsrfRejected) -> Response:
        return render(request, "error.html", None, status=403, message=translator(language(request))("error.csrf"))


@router.get("/")
async def home(user: MaybeUser) -> Response:
    return RedirectResponse("/inbox" if user else "/public", status_code=303)


@router.get("/login")
async def login_page(request: Request, user: MaybeUser, next: str = "/inbox") -> HTMLResponse:
    return render(request, "login.html", user, next=next)


@router.post("/login")
async def login(request: Request, session: SessionDep, settings: SettingsDep,
                username: Annotated[str, Form()], password: Annotated[str, Form()],
                next: Annotated[str, Form()] = "/inbox") -> Response:
    try:
        account = await authenticate(request, session, username, password)
    except ApiError as error:  # wrong pair, lockout, disabled account: said on the form
        page = render(request, "login.html", None, status=error.status, next=next, username=username,
                      error=say(request, error.code, error.params, error.detail))
        if "retry_after" in error.extra:
            page.headers["Retry-After"] = str(error.extra["retry_after"])
        return page
    target = next if next.startswith("/") and not next.startswith("//") else "/inbox"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, issue_token(account, settings), max_age=settings.token_minutes * 60,
                        **cookie_options(request))
    return response


@router.post("/logout")
async def logout(request: Request, user: MaybeUser, session: SessionDep) -> Response:
    """Ends the session's token on the server too (with every other token of the same person)."""
    if user is not None:
        await end_sessions(session, user.username)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, **cookie_options(request))
    return response


@router.get("/lang/{lang}")
async def switch_language(lang: str, next: str = "/") -> Response:
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    response = RedirectResponse(target, status_code=303)
    if lang in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, lang, max_age=365 * 24 * 3600, samesite="lax")
    return response


@router.get("/me")
async def me_page(request: Request, user: PageUser, session: SessionDep) -> HTMLResponse:
    return render(request, "me.html", user, account=await session.get(models.User, user.username))


@router.get("/inbox")
async def inbox_page(request: Request, user: PageUser, session: SessionDep, enforcer: EnforcerDep) -> HTMLResponse:
    return render(request, "inbox.html", user, items=await inbox_items(user, session, enforcer))


@router.get("/tasks")
async def tasks_page(request: Request, user: PageUser, session: SessionDep, enforcer: EnforcerDep,
                     stage: str = "", agency: str = "", overdue: str = "", q: str = "", offset: int = 0
                     ) -> HTMLResponse:
    chosen_stage = Stage(stage) if stage in {s.value for s in Stage} else None
    page = await list_tasks(user, session, enforcer, stage=chosen_stage, agency=agency or None,
                            overdue={"1": True, "0": False}.get(overdue), q=q or None, limit=100,
                            offset=min(max(offset, 0), limits.OFFSET), format="json")
    agencies = list(await session.scalars(select(models.Agency).order_by(models.Agency.code)))
    filters = {"stage": stage, "agency": agency, "overdue": overdue, "q": q}
    return render(request, "tasks.html", user, page=page, agencies=agencies, filters=filters, stages=list(Stage),
                  query="&".join(f"{k}={quote(v)}" for k, v in filters.items() if v))


async def _task_context(request: Request, user: Actor, code: str, session: SessionDep,
                        enforcer: EnforcerDep) -> dict[str, Any]:
    state = await load_task(session, code)
    relation = relation_of(user, state.lead_agency, state.coordinating_agencies, state.reviewer)
    if not permits(enforcer, user.username, relation, state.stage, "task.read"):
        raise ApiError(403, translator(language(request))("error.forbidden"))
    history = [HistoryEntry.model_validate(row) for row in await session.scalars(
        select(models.Event).where(models.Event.task_code == code).order_by(models.Event.seq))]
    reviewers = [name for name in await session.scalars(select(models.CasbinRule.v0).where(
        models.CasbinRule.ptype == "g", models.CasbinRule.v1 == Role.CROSS_CHECK_REVIEWER))]
    return {"task": TaskView.of(state), "state": state, "history": history, "stepper": STEPPER,
            "actions": permitted_actions(enforcer, user, state), "reviewers": sorted(reviewers),
            "form_errors": {}, "form_values": {}, "done": request.query_params.get("done")}


@router.get("/tasks/{code}")
async def task_page(request: Request, code: str, user: PageUser, session: SessionDep,
                    enforcer: EnforcerDep) -> HTMLResponse:
    try:
        context = await _task_context(request, user, code, session, enforcer)
    except ApiError as error:
        return render(request, "error.html", user, status=error.status,
                      message=say(request, error.code, error.params, error.detail))
    return render(request, "task.html", user, **context)


@router.post("/tasks/{code}/actions/{action}")
async def task_action(request: Request, code: str, action: str, user: PageUser, session: SessionDep,
                      enforcer: EnforcerDep, client: TemporalDep, blobs: BlobsDep) -> Response:
    form = await request.form()
    errors: dict[str, str] = {}
    status = 200
    settings: Settings = request.app.state.settings
    await session.close()  # no connection held while the workflow is asked
    try:
        access = await authorize_action(code, action, user, enforcer, client, settings.action_timeout, None)
        if action == "evidence.submit":
            uploads = [value for value in form.getlist("files") if isinstance(value, UploadFile)]
            command = await evidence_command(blobs, uploads, str(form.get("summary", "")),
                                             json.dumps(kpi_results(form, access.state)))
        else:
            command = COMMAND_MODELS[action].model_validate(
                {**command_body(action, form, access.state), "action": action})
            command = await resolve_people(command, access, request.app.state.sessions, enforcer)
        await perform(client, access, command, settings)
        return RedirectResponse(f"/tasks/{quote(code)}?done={quote(action)}#actions", status_code=303)
    except (ValidationError, TaskRuleError, ApiError) as error:
        status, errors = form_errors_of(request, error)
    try:
        context = await _task_context(request, user, code, session, enforcer)
    except ApiError as error:
        return render(request, "error.html", user, status=error.status,
                      message=say(request, error.code, error.params, error.detail))
    context["form_errors"] = {action: errors}
    context["form_values"] = {action: {key: value for key, value in form.items() if isinstance(value, str)}}
    return render(request, "task.html", user, status=status, **context)


@router.get("/dashboard")
async def dashboard_page(request: Request, user: PageUser, session: SessionDep, enforcer: EnforcerDep,
                         settings: SettingsDep, period: str = "") -> HTMLResponse:
    if not permits(enforcer, user.username, Relation.OTHER, "*", "task.read"):
        return forbidden_page(request, user)
    by_stage = dict((await session.execute(
        select(models.Task.stage, func.count()).group_by(models.Task.stage))).all())
    overdue_rows = (await session.execute(
        select(models.Task.lead_agency, models.Task.escalation_level, func.count())
        .where(models.Task.overdue.is_(True), models.Task.stage.in_([s.value for s in OPEN_STAGES]))
        .group_by(models.Task.lead_agency, models.Task.escalation_level))).all()
    overdue: dict[str, dict[int, int]] = {}
    for agency, level, count in overdue_rows:
        overdue.setdefault(agency, {})[level] = count
    try:
        chosen = parse_period(period, settings.timezone) if period else None
    except ValueError:
        chosen = None
    if chosen is None:
        now = datetime.now(UTC)
        chosen = parse_period(f"{now.year}-Q{(now.month - 1) // 3 + 1}", settings.timezone)
    index = await compute_index(session, chosen)
    overdue_top = max((sum(levels.values()) for levels in overdue.values()), default=1)
    return render(request, "dashboard.html", user, by_stage=by_stage, stages=list(Stage), overdue=overdue,
                  overdue_top=overdue_top,
                  index=index, period=chosen.label,
                  can_publish=permits(enforcer, user.username, Relation.NONE, "*", "ranking.publish"))


@router.get("/public")
async def public_page(request: Request, user: MaybeUser, session: SessionDep, settings: SettingsDep,
                      agency: str = "", stage: str = "", overdue: str = "") -> HTMLResponse:
    await public_rate_limit(request)
    chosen_stage = Stage(stage) if stage in {s.value for s in Stage} else None
    page = await public_tasks(session, agency=agency or None, stage=chosen_stage,
                              overdue={"1": True, "0": False}.get(overdue), limit=200, offset=0)
    periods = await public_rankings(session, settings, None)
    return render(request, "public.html", user, page=page, periods=periods, stages=list(Stage),
                  filters={"agency": agency, "stage": stage, "overdue": overdue})


@router.get("/public/rankings/{period}")
async def public_ranking_page(request: Request, period: str, user: MaybeUser, session: SessionDep,
                              settings: SettingsDep) -> HTMLResponse:
    await public_rate_limit(request)
    try:
        ranking = await public_rankings(session, settings, period)
    except ApiError as error:
        return render(request, "error.html", user, status=error.status,
                      message=say(request, error.code, error.params, error.detail))
    return render(request, "ranking.html", user, ranking=ranking)


@router.get("/admin")
async def admin_page(request: Request, user: PageUser, session: SessionDep, enforcer: EnforcerDep) -> HTMLResponse:
    if not permits(enforcer, user.username, Relation.NONE, "*", "policy.read"):
        return forbidden_page(request, user)
    return render(request, "admin.html", user, **await _admin_context(session, enforcer))


async def _admin_context(session: SessionDep, enforcer: EnforcerDep) -> dict[str, Any]:
    agencies = list(await session.scalars(select(models.Agency).order_by(models.Agency.kind, models.Agency.code)))
    users = list(await session.scalars(select(models.User).order_by(models.User.username)))
    roles = {account.username: await enforcer.get_roles_for_user(account.username) for account in users}
    matrix: dict[str, dict[str, list[str]]] = {}
    for role, relation, stage, action in enforcer.get_policy():
        matrix.setdefault(action, {}).setdefault(role, []).append(
            relation if stage == "*" else f"{relation} @ {stage}")
    return {"agencies": agencies, "users": users, "roles": roles, "matrix": matrix,
            "all_roles": [role.value for role in Role], "actions": [*ACTIONS], "policy_actions": sorted(matrix),
            "kinds": AGENCY_KINDS, "form_errors": {}, "form_values": {}}


@router.post("/dashboard/publish")
async def publish_page(request: Request, user: PageUser, session: SessionDep, settings: SettingsDep,
                       enforcer: EnforcerDep, period: Annotated[str, Form()]) -> Response:
    if not permits(enforcer, user.username, Relation.NONE, "*", "ranking.publish"):
        return forbidden_page(request, user)
    try:
        snapshot = await publish_index(session, settings, period, user)
    except ApiError as error:
        return render(request, "error.html", user, status=error.status,
                      message=say(request, error.code, error.params, error.detail))
    return RedirectResponse(f"/public/rankings/{quote(snapshot.period)}", status_code=303)


@router.post("/admin/agencies")
async def admin_add_agency(request: Request, user: PageUser, session: SessionDep, enforcer: EnforcerDep) -> Response:
    form = await request.form()
    try:
        if not permits(enforcer, user.username, Relation.NONE, "*", "agency.create"):
            raise ApiError(403, translator(language(request))("error.forbidden"))
        await create_agency(AgencyIn.model_validate({k: v for k, v in form.items() if isinstance(v, str)}),
                            session, user)
    except (ApiError, ValidationError) as error:
        return await _admin_error(request, user, session, enforcer, error, "agency", form)
    return RedirectResponse("/admin#agencies", status_code=303)


@router.post("/admin/users")
async def admin_add_user(request: Request, user: PageUser, session: SessionDep, enforcer: EnforcerDep) -> Response:
    form = await request.form()
    try:
        if not permits(enforcer, user.username, Relation.NONE, "*", "user.create"):
            raise ApiError(403, translator(language(request))("error.forbidden"))
        body = {k: v for k, v in form.items() if isinstance(v, str) and k != "roles" and v}
        await create_user(UserIn.model_validate({**body, "roles": form.getlist("roles")}), session, enforcer, user)
    except (ApiError, ValidationError) as error:
        return await _admin_error(request, user, session, enforcer, error, "user", form)
    return RedirectResponse("/admin#users", status_code=303)


async def _admin_error(request: Request, user: Actor, session: SessionDep, enforcer: EnforcerDep,
                       error: Exception, which: str, form: Any) -> HTMLResponse:
    status, errors = form_errors_of(request, error)
    context = {**await _admin_context(session, enforcer), "form_errors": {which: errors},
               "form_values": {which: {k: v for k, v in form.items() if isinstance(v, str)}}}
    return render(request, "admin.html", user, status=status, **context)
