"""The Standing Office's pages: assigning a task from a form, importing a program file. The form is
read into the same Directive POST /api/v1/tasks takes and handed to the same service
(services/tasks.create); a program file is read by the same parser as POST /api/v1/tasks/import,
shown first (services/tasks.preview_program) and imported only once the Office confirms."""

import hashlib
import io
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from openpyxl import Workbook  # type: ignore[import-untyped]  # openpyxl ships no type hints
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from api.deps import ContextDep
from api.exports import XLSX_TYPE
from api.hardening import csrf_protect
from api.web.forms import day, number
from api.web.pages import PageUser, form_errors_of, language, local_path, refused, render
from domain import limits
from domain.actors import Actor
from domain.refusals import Code, Refusal
from domain.task import Direction, Reporting, TaskKind
from services import authorization, bulk, people, tasks
from services.context import Context
from services.views import Directive

# Routes here must be included before pages.py's, whose GET /tasks/{code} would read "new" as a code.
router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])
KPI_ROWS = 3  # empty KPI rows the form offers (more are added by app.js, or after a refusal)
KPI_PARTS = ("name", "target", "unit", "baseline", "direction")


def kpi_rows(form: FormData | dict[str, str]) -> list[dict[str, str]]:
    """The KPI rows typed into the form (`kpi_<part>_<n>`), in order, the wholly empty ones dropped."""
    numbers = sorted({int(key.rsplit("_", 1)[1]) for key in form if key.startswith("kpi_name_")
                      and key.rsplit("_", 1)[1].isdigit()})
    rows = [{part: str(form.get(f"kpi_{part}_{n}", "")).strip() for part in KPI_PARTS} for n in numbers]
    return [row for row in rows if any(row[part] for part in ("name", "target", "unit", "baseline"))]


def directive_of(form: FormData, lang: str) -> Directive:
    """What the form says, as the API's body: empty optional fields are left out, not sent empty;
    figures and the directive's date read as people write them in `lang` (1.200; 16/03/2026)."""
    text = {key: str(value).strip() for key, value in form.items() if isinstance(value, str)}
    body: dict[str, Any] = {key: text.get(key, "") for key in ("code", "title", "description", "lead_agency",
                                                              "deadline", "product")}
    body["kind"] = text.get("kind") or TaskKind.ONE_OFF.value
    body["reporting"] = text.get("reporting") or Reporting.NONE.value
    body["budget_required"] = text.get("budget_required") == "1"
    body["coordinating_agencies"] = [str(c) for c in form.getlist("coordinating_agencies") if str(c).strip()]
    if text.get("directing_agency"):
        body["directing_agency"] = text["directing_agency"]
    body["kpis"] = [{"name": row["name"], "target": number(row["target"], lang) if row["target"] else None,
                     "unit": row["unit"], **({"baseline": number(row["baseline"], lang)} if row["baseline"] else {}),
                     "direction": row["direction"] or Direction.HIGHER.value} for row in kpi_rows(form)]
    if any(text.get(f"source_{part}") for part in ("document", "date", "section", "text")):
        body["source"] = {"document": text.get("source_document", ""), "section": text.get("source_section", ""),
                          "text": text.get("source_text", ""), **({"date": day(text["source_date"], lang)}
                                                                  if text.get("source_date") else {})}
    return Directive.model_validate(body)


async def _new_page(request: Request, user: Actor, ctx: Context, status: int = 200,
                    errors: dict[str, str] | None = None, form: FormData | None = None) -> HTMLResponse:
    values = {key: str(value) for key, value in form.items()} if form is not None else {}
    kpis = kpi_rows(form) if form is not None else []
    return render(request, "task_new.html", user, status=status, agencies=await people.agencies(ctx),
                  groups=await people.agency_groups(ctx), kinds=list(TaskKind), reportings=list(Reporting),
                  directions=list(Direction), form_errors=errors or {}, form_values=values,
                  chosen_coordinating=[str(c) for c in form.getlist("coordinating_agencies")] if form else [],
                  kpis=kpis + [dict.fromkeys(KPI_PARTS, "")] * max(KPI_ROWS - len(kpis), 1))


@router.get("/tasks/new")
async def new_task_page(request: Request, user: PageUser, ctx: ContextDep) -> HTMLResponse:
    try:
        authorization.require(ctx.enforcer, user, "task.create")
    except Refusal as refusal:
        return refused(request, user, refusal)
    return await _new_page(request, user, ctx)


@router.post("/tasks/new")
async def new_task(request: Request, user: PageUser, ctx: ContextDep) -> Response:
    form = await request.form()
    try:
        authorization.require(ctx.enforcer, user, "task.create")  # 403 before the form is read
    except Refusal as refusal:
        return refused(request, user, refusal)
    try:
        made = await tasks.create(ctx, user, directive_of(form, language(request)))
    except (Refusal, ValidationError) as error:
        status, errors = form_errors_of(request, error)
        return await _new_page(request, user, ctx, status, errors, form)
    return RedirectResponse(f"/tasks/{quote(made.code)}?done=task.create", status_code=303)


# --- importing a program -------------------------------------------------------------------------

PROGRAM_COLUMNS = ["code", "title", "description", "lead_agency", "coordinating_agencies", "directing_agency",
                   "kind", "deadline", "product", "kpis", "budget_required", "reporting", "source_document",
                   "source_date", "source_section", "source_text"]
EXAMPLE_ROW = ["NQ57-2027-101", "Số hoá hồ sơ thủ tục hành chính cấp xã", "", "HNI", "BCA;BTC", "", "một lần",
               "trong quý II/2027", "Hồ sơ được số hoá và dùng lại", "Hồ sơ được số hoá|90|%|20|tăng", "có",
               "quarterly", "20-TB/CQTTBCĐ", "15/01/2026", "Phụ lục, mục 3", ""]
KEPT_UPLOADS = 20  # program files waiting for their confirmation; the oldest beyond are dropped
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _uploads(request: Request) -> Path:
    """Where a previewed file waits for its confirmation, named by its SHA-256."""
    folder: Path = request.app.state.ctx.settings.data_dir / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _kept(request: Request, content: bytes, extension: str) -> str:
    """Keep the previewed bytes (at most KEPT_UPLOADS files, each within the import limit)."""
    folder = _uploads(request)
    sha256 = hashlib.sha256(content).hexdigest()
    (folder / f"{sha256}.{extension}").write_bytes(content)
    for old in sorted(folder.iterdir(), key=lambda f: f.stat().st_mtime, reverse=True)[KEPT_UPLOADS:]:
        old.unlink(missing_ok=True)
    return sha256


def _extension(filename: str) -> str | None:
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return extension if extension in ("csv", "xlsx") else None


async def _import_page(request: Request, user: Actor, ctx: Context, status: int = 200, **context: Any) -> HTMLResponse:
    try:
        authorization.require(ctx.enforcer, user, "task.import")
    except Refusal as refusal:
        return refused(request, user, refusal)
    names = {agency.code: agency.name for agency in await people.agencies(ctx)}
    names |= {group.code: group.name for group in await people.agency_groups(ctx)}
    return render(request, "import.html", user, status=status, names=names, max_mb=tasks.MAX_IMPORT_BYTES >> 20,
                  **context)


@router.get("/tasks/import")
async def import_page(request: Request, user: PageUser, ctx: ContextDep) -> HTMLResponse:
    return await _import_page(request, user, ctx)


@router.get("/tasks/import/template.xlsx")
async def import_template(request: Request, user: PageUser, ctx: ContextDep) -> Response:
    """The program file's columns and one example row, to fill in."""
    try:
        authorization.require(ctx.enforcer, user, "task.import")
    except Refusal as refusal:
        return refused(request, user, refusal)
    book = Workbook()
    sheet = book.active
    sheet.append(PROGRAM_COLUMNS)
    sheet.append(EXAMPLE_ROW)
    buffer = io.BytesIO()
    book.save(buffer)
    return Response(buffer.getvalue(), media_type=XLSX_TYPE,
                    headers={"Content-Disposition": 'attachment; filename="chuong-trinh-mau.xlsx"'})


@router.post("/tasks/import/preview")
async def import_preview(request: Request, user: PageUser, ctx: ContextDep) -> Response:
    """Read the file and say what each row would become; nothing is created until it is confirmed."""
    form = await request.form()
    upload = form.get("file")
    try:
        authorization.require(ctx.enforcer, user, "task.import")
        if not isinstance(upload, UploadFile) or (extension := _extension(upload.filename or "")) is None:
            raise Refusal(Code.IMPORT_FILE_TYPE)
        content = await upload.read(tasks.MAX_IMPORT_BYTES + 1)
        rows = await tasks.preview_program(ctx, user, content, upload.filename or "", language(request))
    except Refusal as refusal:
        status, errors = form_errors_of(request, refusal)
        return await _import_page(request, user, ctx, status, form_errors=errors)
    return await _import_page(request, user, ctx, rows=rows, filename=upload.filename,
                              sha256=_kept(request, content, extension), extension=extension,
                              creates=sum(row.status == "new" for row in rows))


@router.post("/tasks/import/confirm")
async def import_confirm(request: Request, user: PageUser, ctx: ContextDep) -> Response:
    """Import exactly the file previewed (found again by its SHA-256), then forget it."""
    form = await request.form()
    sha256, extension = str(form.get("sha256", "")), _extension(f".{form.get('extension', '')}")
    try:
        authorization.require(ctx.enforcer, user, "task.import")
        kept = _uploads(request) / f"{sha256}.{extension}"
        content = kept.read_bytes() if _SHA256.fullmatch(sha256) and extension and kept.is_file() else b""
        if hashlib.sha256(content).hexdigest() != sha256:  # gone (confirmed twice, or dropped): upload it again
            return await _import_page(request, user, ctx, 409, expired=True)
        result = await tasks.import_program(ctx, user, content, kept.name)
    except Refusal as refusal:
        status, errors = form_errors_of(request, refusal)
        return await _import_page(request, user, ctx, status, form_errors=errors)
    kept.unlink(missing_ok=True)
    return await _import_page(request, user, ctx, result=result)


@router.post("/tasks/bulk")
async def bulk_action(request: Request, user: PageUser, ctx: ContextDep) -> Response:
    """An action on the tasks ticked in the list: the same reviewer assigned to each, or a reminder
    sent on each. Each is its own action (services/bulk.py); the page says which were done and why
    the others were not."""
    form = await request.form()
    chosen = [code for code in form.getlist("code") if isinstance(code, str)]
    action = str(form.get("action", ""))
    try:
        selection = bulk.Selection(codes=chosen)
    except ValidationError:
        return refused(request, user, Refusal(Code.BULK_SELECTION, n=limits.ITEMS))
    if action == "review.assign":
        reviewer = str(form.get("reviewer", ""))
        outcomes = await bulk.assign_reviewer(ctx, user, selection, reviewer, language(request))
    elif action == "remind":
        outcomes = await bulk.remind(ctx, user, selection, str(form.get("note", ""))[:limits.TEXT], language(request))
    else:
        return refused(request, user, Refusal(Code.ACTION_NOT_FOUND, action=action[:100]))
    return render(request, "bulk.html", user, action=action, outcomes=outcomes,
                  done=sum(outcome.done for outcome in outcomes), back=local_path(str(form.get("back", "")), "/tasks"))
