"""The pages: parse the form or the query, call the application layer (services/), render. Every
decision — who may see or do what, what a task allows — is the services' answer, the same one the
JSON API gives."""

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile  # what request.form() gives

from api.deps import ContextDep
from api.errors import STATUS
from api.hardening import (
    CSRF_FIELD,
    SESSION_COOKIE,
    CsrfRejected,
    cookie_options,
    csrf_protect,
    csrf_token,
    give_csrf_cookie,
)
from api.rate_limit import client_address, public_rate_limit
from api.web.forms import ROW_PARTS, command_body, form_fields, kpi_values
from api.web.i18n import DEFAULT_LANGUAGE, LANGUAGES, jinja_templates, template_context
from domain import limits
from domain.actors import Actor
from domain.commands import COMMAND_MODELS, Action
from domain.escalation import Owner
from domain.periods import canonical
from domain.refusals import Code, Refusal
from domain.stages import Stage
from domain.status import StatusClass
from domain.task import Direction, TaskState
from messages import say
from messages.fields import field_errors
from services import authorization, directory, people, publications, reports, tasks
from services.context import Context
from services.tasks import RELATIONS
from services.views import SORTS, TaskFilter

# Every POST of a page is a form that must carry its CSRF token (checked before anything else).
router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])
templates = jinja_templates(Path(__file__).with_name("templates"))
LANGUAGE_COOKIE = "nq57_lang"


class LoginRequired(Exception):
    pass


def language(request: Request) -> str:
    chosen = request.cookies.get(LANGUAGE_COOKIE, DEFAULT_LANGUAGE)
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


async def page_user(request: Request, ctx: ContextDep) -> Actor | None:
    """The person signed in, if any, with the count of their unread alerts kept for the header."""
    user = await people.signed_in(ctx, request.cookies.get(SESSION_COOKIE))
    request.state.unread = await reports.unread_count(ctx, user) if user is not None else 0
    request.state.names = await directory.names(ctx)
    return user


async def signed_in(user: Annotated[Actor | None, Depends(page_user)]) -> Actor:
    if user is None:
        raise LoginRequired
    return user


PageUser = Annotated[Actor, Depends(signed_in)]
MaybeUser = Annotated[Actor | None, Depends(page_user)]


def form_errors_of(request: Request, error: Refusal | ValidationError) -> tuple[int, dict[str, str]]:
    """A refused form: its status and, per field ("_" for the form as a whole), the sentence to show."""
    if isinstance(error, ValidationError):
        return 422, {e["field"]: e["message"] for e in field_errors(list(error.errors()), language(request))}
    return STATUS[error.code], {error.field or "_": say(error.code, error.params, language(request))}


def render(request: Request, name: str, user: Actor | None, status: int = 200, **context: Any) -> HTMLResponse:
    ctx: Context = request.app.state.ctx
    can = {"dashboard": bool(user and authorization.may_on_any_task(ctx.enforcer, user, "task.read")),
           "admin": bool(user and authorization.may(ctx.enforcer, user, "policy.read")),
           "assign": bool(user and authorization.may(ctx.enforcer, user, "task.create"))}
    response = templates.TemplateResponse(request, name, {
        **template_context(language(request), ctx.settings.timezone), "user": user, "lang": language(request),
        "csrf": csrf_token(request), "can": can, "path": request.url.path,
        "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),  # the language switch
        "unread": getattr(request.state, "unread", 0), **_namers(request),
        **context}, status_code=status)
    give_csrf_cookie(request, response)
    return response


def _namers(request: Request) -> dict[str, Callable[..., Any]]:
    """`agency_name(code)` in the reader's language, `person(username)`; `people_in(agency)` and
    `every_agency()` (pickers' choices), for the templates."""
    names: directory.Names = getattr(request.state, "names", directory.Names({}, {}, {}))
    lang = language(request)
    return {"agency_name": lambda code: names.agency(code, lang), "person": names.person,
            "people_in": names.people_in, "every_agency": lambda: names.every_agency(lang)}


def refused(request: Request, user: Actor | None, refusal: Refusal) -> HTMLResponse:
    return render(request, "error.html", user, status=STATUS[refusal.code],
                  message=say(refusal.code, refusal.params, language(request)))


def install(app: Any) -> None:
    from fastapi.staticfiles import StaticFiles

    app.mount("/static", StaticFiles(directory=Path(__file__).with_name("static")), name="static")
    app.include_router(router)

    @app.exception_handler(LoginRequired)
    async def _to_login(request: Request, _: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)

    @app.exception_handler(CsrfRejected)
    async def _cross_site(request: Request, _: CsrfRejected) -> Response:
        return refused(request, None, Refusal(Code.CSRF))


def local_path(target: str, fallback: str) -> str:
    """Only a path of this site is a place to go back to."""
    return target if target.startswith("/") and not target.startswith("//") else fallback


def text_of(form: FormData) -> dict[str, str]:
    """What a person typed into the form (not its CSRF token, checked before the route runs)."""
    return {key: value for key, value in form.items() if isinstance(value, str) and key != CSRF_FIELD}


def _yes_no(text: str) -> bool | None:
    """A filter's "1"/"0"; anything else does not filter."""
    return {"1": True, "0": False}.get(text)


@router.get("/")
async def home(user: MaybeUser) -> Response:
    return RedirectResponse("/inbox" if user else "/public", status_code=303)


@router.get("/login")
async def login_page(request: Request, user: MaybeUser, next: str = "/inbox") -> HTMLResponse:
    return render(request, "login.html", user, next=next)


@router.post("/login")
async def login(request: Request, ctx: ContextDep, username: Annotated[str, Form()],
                password: Annotated[str, Form()], next: Annotated[str, Form()] = "/inbox") -> Response:
    try:
        token = await people.log_in(ctx, username, password, client_address(request))
    except Refusal as refusal:  # wrong pair, lockout, disabled account: said on the form
        page = render(request, "login.html", None, status=STATUS[refusal.code], next=next, username=username,
                      error=say(refusal.code, refusal.params, language(request)))
        if "retry_after" in refusal.extra:
            page.headers["Retry-After"] = str(refusal.extra["retry_after"])
        return page
    response = RedirectResponse(local_path(next, "/inbox"), status_code=303)
    response.set_cookie(SESSION_COOKIE, token, max_age=ctx.settings.token_minutes * 60, **cookie_options(request))
    return response


@router.post("/logout")
async def logout(request: Request, user: MaybeUser, ctx: ContextDep) -> Response:
    """Ends the session's token on the server too (with every other token of the same person)."""
    if user is not None:
        await people.log_out(ctx, user.username)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, **cookie_options(request))
    return response


@router.get("/lang/{lang}")
async def switch_language(lang: str, next: str = "/") -> Response:
    response = RedirectResponse(local_path(next, "/"), status_code=303)
    if lang in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, lang, max_age=365 * 24 * 3600, samesite="lax")
    return response


@router.get("/me")
async def me_page(request: Request, user: PageUser, ctx: ContextDep) -> HTMLResponse:
    return render(request, "me.html", user, account=await people.me(ctx, user))


@router.get("/inbox")
async def inbox_page(request: Request, user: PageUser, ctx: ContextDep) -> HTMLResponse:
    return render(request, "inbox.html", user, items=await reports.inbox(ctx, user))


@router.get("/notifications")
async def notifications_page(request: Request, user: PageUser, ctx: ContextDep) -> HTMLResponse:
    """This person's alerts, the unread first marked as such, newest first."""
    return render(request, "notifications.html", user,
                  notes=await reports.notifications(ctx, user, unread=False, limit=limits.NOTIFICATIONS))


@router.post("/notifications/{notification_id}/read")
async def mark_read_page(request: Request, notification_id: Annotated[int, PathParam(ge=1, le=limits.ROW_ID)],
                         user: PageUser, ctx: ContextDep,
                         next: Annotated[str, Form()] = "/notifications") -> Response:
    try:
        await reports.mark_read(ctx, user, notification_id)
    except Refusal as refusal:
        return refused(request, user, refusal)
    return RedirectResponse(local_path(next, "/notifications"), status_code=303)


@router.post("/notifications/read")
async def mark_all_read_page(user: PageUser, ctx: ContextDep,
                             next: Annotated[str, Form()] = "/notifications") -> Response:
    await reports.mark_all_read(ctx, user)
    return RedirectResponse(local_path(next, "/notifications"), status_code=303)


@router.get("/tasks")
async def tasks_page(request: Request, user: PageUser, ctx: ContextDep, stage: str = "", agency: str = "",
                     relation: str = "any", mine: str = "", overdue: str = "", q: str = "", document: str = "",
                     sort: str = "deadline", offset: int = 0, groups: str = "") -> HTMLResponse:
    """Folded by group directive for whoever reads them, unless `groups=0` unfolds it. `mine=1`: the
    reader's own agency's tasks (in the relation chosen)."""
    filters = {"stage": stage if stage in set(Stage) else "", "agency": agency[:limits.AGENCY],
               "relation": relation if relation in RELATIONS else "any", "mine": "1" if mine == "1" else "",
               "overdue": overdue, "q": q[:200], "document": document[:200],
               "sort": sort if sort.lstrip("-") in SORTS else "deadline"}
    agency_code = (user.agency or "") if filters["mine"] else filters["agency"]
    chosen = TaskFilter.model_validate({
        **filters, "stage": filters["stage"] or None, "agency": agency_code or None, "overdue": _yes_no(overdue),
        "q": filters["q"] or None, "document": filters["document"] or None})
    foldable = tasks.reads_groups(ctx, user)
    folded = foldable and groups != "0"
    page = await tasks.page(ctx, user, chosen, 100, min(max(offset, 0), limits.OFFSET), grouped=folded)
    shown = {k: v for k, v in filters.items() if v and (k, v) not in {("relation", "any"), ("sort", "deadline")}}
    # The downloads select what the page shows: "my agency" said as the agency's code the API reads.
    downloads = {**{k: v for k, v in shown.items() if k != "mine"}, **({"agency": agency_code} if mine else {})}
    # The Office acts on a selection (office_pages.bulk_action): whom it may assign as reviewer.
    reviewers = await people.reviewers(ctx) if authorization.may(ctx.enforcer, user, "task.create") else None
    return render(request, "tasks.html", user, page=page, agencies=await people.agencies(ctx), filters=filters,
                  reviewers=reviewers,
                  stages=list(Stage), query=urlencode(shown), download_query=urlencode(downloads),
                  unsorted=urlencode({k: v for k, v in shown.items() if k != "sort"}), sorts=SORTS,
                  foldable=foldable, folded=folded)


FINAL = frozenset({"cancel", "close", "budget.reject", "review.reject", "review.approve", "extension.reject"})
"""Actions that end something or cannot be taken back: set apart, after the others, and confirmed in a second
step that says what will happen. The API takes them at once; only the pages ask twice."""


async def _task_page(request: Request, user: Actor, ctx: Context, code: str, status: int = 200,
                     **form: dict[str, Any]) -> HTMLResponse:
    try:
        view = await tasks.detail(ctx, user, code)
    except Refusal as refusal:
        if refusal.code == Code.TASK_NOT_FOUND and not form:  # a group directive's code, as the API reads it
            return await _group_page(request, user, ctx, code)
        return refused(request, user, refusal)
    fields = {action: form_fields(action) for action in view.actions}
    errors: dict[str, dict[str, str]] = form.get("errors", {})
    return render(request, "task.html", user, status=status, view=view, **dict(view), row_parts=ROW_PARTS,
                  directions=list(Direction),
                  done=request.query_params.get("done"), fields=fields, final=FINAL,
                  forward=[a for a in view.actions if a not in FINAL], last=[a for a in view.actions if a in FINAL],
                  form_errors=errors, form_values=form.get("values", {}), confirming=form.get("confirming", {}),
                  first_invalid=_first_invalid(fields, errors))


def _first_invalid(fields: dict[str, list[Any]], errors: dict[str, dict[str, str]]) -> tuple[str, str] | None:
    """The refused form's first field in error (or its first field, for an error of the whole form): the
    page opens with the focus there, so the person lands on what to fix rather than at the top."""
    for action, refused_fields in errors.items():
        names = [f.name for f in fields.get(action, [])]
        return next(((action, n) for n in names if n in refused_fields), (action, names[0]) if names else None)
    return None


async def _group_page(request: Request, user: Actor, ctx: Context, code: str) -> HTMLResponse:
    try:
        view = await tasks.group_detail(ctx, user, code)
    except Refusal as refusal:
        return refused(request, user, refusal)
    return render(request, "group.html", user, view=view, group=view.group)


@router.get("/tasks/{code}")
async def task_page(request: Request, code: str, user: PageUser, ctx: ContextDep) -> HTMLResponse:
    return await _task_page(request, user, ctx, code)


@router.post("/tasks/{code}/actions/{action}")
async def task_action(request: Request, code: str, action: str, user: PageUser, ctx: ContextDep) -> Response:
    form = await request.form()
    if action in FINAL and form.get("confirm") != "1":  # said back first; nothing happens until confirmed
        return await _task_page(request, user, ctx, code, confirming={action: text_of(form)})

    async def build(state: TaskState) -> Any:
        if action == "evidence.submit":
            uploads = [value for value in form.getlist("files") if isinstance(value, UploadFile)]
            return await tasks.evidence(ctx, uploads, str(form.get("summary", "")),
                                        kpi_values(form, state, language(request)))
        body = command_body(action, form, state, language(request))
        return COMMAND_MODELS[Action(action)].model_validate({**body, "action": action})

    try:
        await tasks.act(ctx, await tasks.permit(ctx, user, code, action), build)
    except (Refusal, ValidationError) as error:
        status, errors = form_errors_of(request, error)
        return await _task_page(request, user, ctx, code, status, errors={action: errors},
                                values={action: text_of(form)})
    # No #fragment: the notice's autofocus takes focus and scroll there (a fragment would cancel autofocus).
    return RedirectResponse(f"/tasks/{quote(code)}?done={quote(action)}", status_code=303)


@router.get("/dashboard")
async def dashboard_page(request: Request, user: PageUser, ctx: ContextDep, period: str = "",
                         status: str = "") -> HTMLResponse:
    """`status`: a status class whose tasks to list (a count's link)."""
    try:
        board = await reports.dashboard(ctx, user, canonical(period) if period else period, status)
    except Refusal as refusal:
        return refused(request, user, refusal)
    return render(request, "dashboard.html", user, stages=list(Stage), classes=list(StatusClass), owners=list(Owner),
                  **dict(board))


@router.post("/dashboard/publish")
async def publish_page(request: Request, user: PageUser, ctx: ContextDep, period: Annotated[str, Form()]) -> Response:
    try:
        snapshot = await reports.publish(ctx, user, period)
    except Refusal as refusal:
        return refused(request, user, refusal)
    return RedirectResponse(f"/public/rankings/{quote(snapshot.period)}", status_code=303)


@router.post("/dashboard/publish-quarter")
async def publish_quarter_page(request: Request, user: PageUser, ctx: ContextDep,
                               period: Annotated[str, Form()]) -> Response:
    """The Standing Office publishes the quarter shown (status classes, cross-check results, index)."""
    try:
        publication = await publications.publish(ctx, user, period)
    except Refusal as refusal:
        return refused(request, user, refusal)
    return RedirectResponse(f"/public/publications/{quote(publication.period)}", status_code=303)


@router.get("/public")
async def public_page(request: Request, user: MaybeUser, ctx: ContextDep, agency: str = "", stage: str = "",
                      overdue: str = "") -> HTMLResponse:
    await public_rate_limit(request)
    page = await reports.public_tasks(ctx, agency or None, Stage(stage) if stage in set(Stage) else None,
                                      _yes_no(overdue), 200, 0)
    return render(request, "public.html", user, page=page, periods=await reports.published_periods(ctx),
                  agencies=await people.agencies(ctx),
                  quarters=await publications.published_quarters(ctx),
                  stages=list(Stage), filters={"agency": agency, "stage": stage, "overdue": overdue})


@router.get("/public/rankings/{period}")
async def public_ranking_page(request: Request, period: str, user: MaybeUser, ctx: ContextDep) -> HTMLResponse:
    await public_rate_limit(request)
    try:
        ranking = await reports.published_ranking(ctx, period)
    except Refusal as refusal:
        return refused(request, user, refusal)
    return render(request, "ranking.html", user, ranking=ranking)


@router.get("/public/publications/{period}")
async def public_publication_page(request: Request, period: str, user: MaybeUser, ctx: ContextDep) -> HTMLResponse:
    """A published quarter: status classes per agency, the cross-check results, the index."""
    await public_rate_limit(request)
    try:
        publication = await publications.published(ctx, period)
    except Refusal as refusal:
        return refused(request, user, refusal)
    return render(request, "publication.html", user, publication=publication)
