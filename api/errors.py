"""Every error answers `{"detail": "<clear sentence>", ...}` with the status api.md gives it.

A refusal (`domain.refusals.Refusal`) names its rule by a code; the sentence comes from the message
catalogs (`messages.say`), the HTTP status from the one table below (`STATUS`)."""

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError

from api.exports import CSV_TYPE, XLSX_TYPE
from domain.refusals import Code, Refusal
from domain.stages import Stage
from messages import say
from messages.fields import field_errors

# The HTTP status of every refusal: one line per code (a test fails when a code has none).
STATUS: dict[Code, int] = {
    # who is asking
    Code.NOT_SIGNED_IN: 401, Code.BAD_TOKEN: 401, Code.LOGIN_FAILED: 401,
    Code.LOGIN_LOCKED: 429, Code.TOO_MANY_REQUESTS: 429,
    Code.ACCOUNT_DISABLED: 403, Code.FORBIDDEN: 403, Code.FORBIDDEN_ACTION: 403, Code.NOT_PERMITTED: 403,
    Code.UNPROVEN_ACTION: 403, Code.CSRF: 403,
    # what is asked about
    Code.NOT_FOUND: 404, Code.ADDRESS_NOT_FOUND: 404, Code.TASK_NOT_FOUND: 404, Code.ACTION_NOT_FOUND: 404,
    Code.USER_NOT_FOUND: 404, Code.NOTIFICATION_NOT_FOUND: 404,
    Code.EVIDENCE_NOT_FOUND: 404, Code.RANKING_NOT_PUBLISHED: 404, Code.RULE_NOT_FOUND: 404,
    Code.METHOD_NOT_ALLOWED: 405,
    # the state of things
    Code.STAGE_CONFLICT: 409, Code.TASK_CLOSED: 409, Code.TASK_EXISTS: 409, Code.NO_EXTENSION_REQUEST: 409,
    Code.EXTENSION_PENDING: 409, Code.EXTENSIONS_EXHAUSTED: 409, Code.NO_REVIEWER: 409,
    Code.USER_EXISTS: 409, Code.AGENCY_EXISTS: 409, Code.RULE_EXISTS: 409, Code.LAST_POLICY_EDITOR: 409,
    Code.ALREADY_PUBLISHED: 409, Code.EVIDENCE_CHANGED: 409,
    # what is sent: too large, of a type not taken, or wrong field by field
    Code.FILE_TOO_LARGE: 413, Code.IMPORT_TOO_LARGE: 413, Code.BODY_TOO_LARGE: 413,
    Code.FILE_TYPE: 415, Code.FILE_CONTENT_MISMATCH: 415, Code.IMPORT_FILE_TYPE: 415,
    Code.EVIDENCE_NEEDS_MULTIPART: 415,
    Code.DEADLINE_NOT_LATER: 422, Code.DECIDER_IS_ASSIGNER: 422, Code.REVIEWER_IS_ASSIGNER: 422,
    Code.REVIEWER_NOT_INDEPENDENT: 422, Code.SAME_LEAD_AGENCY: 422, Code.KPI_RESULTS_JSON: 422,
    Code.KPI_RESULTS_MISSING: 422, Code.FILES_REQUIRED: 422, Code.TOO_MANY_FILES: 422, Code.FILE_EMPTY: 422,
    Code.BULK_SELECTION: 422, Code.OWN_ACCOUNT: 409,
    Code.UNKNOWN_USER: 422, Code.UNKNOWN_AGENCY: 422, Code.UNKNOWN_AGENCIES: 422, Code.NOT_A_REVIEWER: 422,
    Code.AGENCY_OWN_PARENT: 422,
    Code.OFFICER_NOT_OF_LEAD: 422, Code.LEAD_ALSO_COORDINATES: 422, Code.IDEMPOTENCY_KEY_REUSED: 422,
    Code.REQUIRED_FIELD: 422, Code.PASSWORD_TOO_SHORT: 422, Code.PASSWORD_COMMON: 422,
    Code.PASSWORD_HAS_USERNAME: 422, Code.PERIOD_INVALID: 422, Code.DEADLINE_INVALID: 422,
    Code.INVALID_INPUT: 422, Code.UNREADABLE_BODY: 422, Code.NOT_ONE_OF: 422, Code.LINES_TOTAL_MISMATCH: 422,
    Code.IMPORT_NOT_UTF8: 422, Code.IMPORT_EMPTY: 422,
    Code.IMPORT_MISSING_COLUMNS: 422, Code.IMPORT_EXCEL_UNREADABLE: 422, Code.BUDGET_REQUIRED_YES_NO: 422,
    Code.KPI_FORMAT: 422, Code.KPI_TARGET_NOT_NUMBER: 422, Code.SOURCE_DOCUMENT_MISSING: 422,
    Code.SOURCE_DATE_INVALID: 422, Code.NOTHING_TO_CORRECT: 422, Code.DIRECTING_IS_LEAD: 422,
    Code.DEADLINE_ALREADY_EXTENDED: 409, Code.KPIS_UNDER_REVIEW: 409,
    Code.SUBTASKS_OPEN: 409, Code.SUBTASKS_OPEN_REASSIGN: 409, Code.SUBTASK_NOT_UNDER_LEAD: 422,
    Code.SUBTASK_DEADLINE_AFTER_PARENT: 422,
    Code.DEADLINE_REQUIRED: 422, Code.KIND_TAKES_NO_DEADLINE: 422, Code.RECURRING_NEEDS_REPORTING: 422,
    Code.NOT_CLOSABLE: 409, Code.STANDING_NEVER_COMPLETED: 409, Code.NO_DEADLINE_TO_EXTEND: 409,
    Code.KPI_UNKNOWN: 422, Code.KPI_RESULT_NOT_A_FIGURE: 422, Code.OUTCOME_NOT_MET_REQUIRED: 422,
    Code.OUTCOME_REASON_REQUIRED: 422, Code.DISBURSEMENT_OVER_BUDGET: 422, Code.NO_APPROVED_BUDGET: 409,
    Code.AMENDMENT_PENDING: 409, Code.NO_AMENDMENT_PENDING: 409, Code.AMENDMENT_BELOW_DISBURSED: 422,
    Code.NOT_AN_AGENCY_HEAD: 422,
    Code.REASSIGN_NOTHING: 422, Code.PUBLICATION_NOT_FOUND: 404, Code.PUBLICATION_NOT_A_QUARTER: 422,
    Code.PERIOD_NOT_ENDED: 422, Code.GROUP_NOT_FOUND: 404,
    # the system's own limits
    Code.TOO_MANY_ACTIONS: 429,
    Code.WORKFLOW_UNAVAILABLE: 503, Code.DATABASE_BUSY: 503, Code.DATABASE_LOST: 503, Code.TEMPORAL_UNAVAILABLE: 503,
}
RETRY_AFTER = 5  # seconds, when the system itself is busy (database, Temporal)


def refusal_body(code: Code, params: Mapping[str, Any] | None = None, field: str | None = None,
                 extra: Mapping[str, Any] | None = None, language: str = "vi") -> dict[str, Any]:
    """The JSON of a refusal: the sentence in `detail` ("field: sentence" for a field's refusal),
    the rule's `code` and `params`, what `extra` adds (`stage`, `retry_after`...), and for a field
    the pydantic-like `errors` item whose message is the sentence alone."""
    params = dict(params or {})
    sentence = say(code, params, language)
    body: dict[str, Any] = {"detail": f"{field}: {sentence}" if field else sentence, "code": code.value,
                            "params": params, **(extra or {})}
    if field is not None:
        body["errors"] = [{"field": field, "message": sentence}]
    encoded: dict[str, Any] = jsonable_encoder(body)
    return encoded


def refusal_headers(status: int, extra: Mapping[str, Any] | None = None) -> dict[str, str] | None:
    """WWW-Authenticate on 401; Retry-After whenever the answer says how long to wait."""
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if extra and "retry_after" in extra:
        headers["Retry-After"] = str(extra["retry_after"])
    return headers or None


def refusal_response(refusal: Refusal, language: str = "vi") -> JSONResponse:
    status = STATUS[refusal.code]
    return JSONResponse(status_code=status, headers=refusal_headers(status, refusal.extra),
                        content=refusal_body(refusal.code, refusal.params, refusal.field, refusal.extra, language))


def validation_error(errors: list[Any]) -> JSONResponse:
    fields = field_errors(errors)
    sentence = say(Code.INVALID_INPUT, {"errors": "; ".join(f"{e['field']}: {e['message']}" for e in fields)})
    return JSONResponse(status_code=422, content={"detail": sentence, "errors": fields})


def install(app: FastAPI) -> None:
    @app.exception_handler(Refusal)
    async def _refused(_: Request, refusal: Refusal) -> JSONResponse:
        return refusal_response(refusal)

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return validation_error(list(error.errors()))

    @app.exception_handler(ValidationError)
    async def _model_invalid(_: Request, error: ValidationError) -> JSONResponse:
        return validation_error(list(error.errors()))

    @app.exception_handler(RPCError)
    async def _temporal_unavailable(_: Request, error: RPCError) -> JSONResponse:
        return JSONResponse(status_code=STATUS[Code.TEMPORAL_UNAVAILABLE], headers={"Retry-After": str(RETRY_AFTER)},
                            content={"detail": say(Code.TEMPORAL_UNAVAILABLE, {"reason": error.message})})

    @app.exception_handler(SQLAlchemyTimeoutError)
    async def _database_busy(_: Request, error: SQLAlchemyTimeoutError) -> JSONResponse:
        return JSONResponse(status_code=STATUS[Code.DATABASE_BUSY], headers={"Retry-After": str(RETRY_AFTER)},
                            content={"detail": say(Code.DATABASE_BUSY), "code": Code.DATABASE_BUSY.value})

    @app.exception_handler(DBAPIError)
    async def _database_lost(_: Request, error: DBAPIError) -> JSONResponse:
        """A connection the database dropped (it restarted): the pool has replaced it and those made
        before it (db/session.py), so the request may be sent again. Any other database error is a fault."""
        if not error.connection_invalidated:
            raise error
        return JSONResponse(status_code=STATUS[Code.DATABASE_LOST], headers={"Retry-After": str(RETRY_AFTER)},
                            content={"detail": say(Code.DATABASE_LOST), "code": Code.DATABASE_LOST.value})

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        if isinstance(refusal := getattr(error, "refusal", None), Refusal):  # e.g. api/hardening.py's 413
            return refusal_response(refusal)
        if error.status_code == 400:  # FastAPI/Starlette could not parse the body (not UTF-8 JSON, broken multipart)
            return validation_error([{"loc": ("body",), "msg": say(Code.UNREADABLE_BODY)}])
        said = {404: Code.ADDRESS_NOT_FOUND, 405: Code.METHOD_NOT_ALLOWED}.get(error.status_code)
        detail = say(said) if said else str(error.detail)
        return JSONResponse(status_code=error.status_code, content={"detail": detail}, headers=error.headers)


# --- what the answers above look like, for the OpenAPI document ----------------------------------

def _no_default(schema: dict[str, Any]) -> None:
    """An optional field is absent, never null: its schema shows no `default: null`."""
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)


class FieldError(BaseModel):
    field: str = Field(description="the input named, dotted for nested fields (`lines.0.amount_vnd`), "
                                   "`body` for the body as a whole")
    message: str


class ErrorBody(BaseModel):
    """Every error answer (api.md): a sentence in `detail`, and beside it, when they apply, the rule's
    name and values (`code`, `params`), the fields at fault (`errors`, on 422), the task's stage (on a
    stage conflict), the seconds to wait (`retry_after`, beside the Retry-After header) and the
    Idempotency-Key to retry with (on 503)."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_no_default)
    detail: str = Field(description="a clear sentence saying what is wrong")
    code: str | SkipJsonSchema[None] = Field(default=None, description="the rule refused, e.g. `task_not_found`")
    params: dict[str, Any] | SkipJsonSchema[None] = Field(default=None, description="the values in the sentence")
    errors: list[FieldError] | SkipJsonSchema[None] = Field(default=None, description="one item per field at fault")
    stage: Stage | SkipJsonSchema[None] = Field(default=None, description="the task's stage, on a stage conflict")
    retry_after: Annotated[int, Field(ge=1)] | SkipJsonSchema[None] = Field(
        default=None, description="seconds, as in Retry-After")
    idempotency_key: str | SkipJsonSchema[None] = Field(
        default=None, description="on 503: the key to retry with (the client's, or the one generated)")


ERROR_DESCRIPTIONS = {
    401: "No token, or a bad, expired or logged-out one.",
    403: "Authenticated, but the policy does not allow this user this action.",
    404: "Not found.",
    409: "Conflicts with the current state: the task's stage (named in `stage`; checked before the policy) "
         "or a duplicate.",
    413: "The body is too large; refused before authentication.",
    415: "The type of an uploaded file is not allowed.",
    422: "Malformed input, named field by field in `errors`.",
    429: "Too many requests: retry after the seconds in `Retry-After`.",
    503: "Busy: no database connection came free in time, or Temporal or the task's workflow did not answer "
         "in time. Retry after the seconds in `Retry-After` (an action or a create with the same Idempotency-Key).",
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "`Bearer`", "required": True, "schema": {"type": "string"}}},
    **{status: {"Retry-After": {"description": "seconds to wait before retrying", "required": True,
                                "schema": {"type": "integer", "minimum": 1}}} for status in (429, 503)},
}


def responses(*statuses: int, notes: dict[int, str] | None = None, model: type[BaseModel] = ErrorBody,
              database: bool = True) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: the error answers it can give, each with the shared body and
    the headers that go with it (WWW-Authenticate on 401, Retry-After on 429 and 503). `notes`
    says more about one status on this route (e.g. what may be unknown on a 404). A route that uses
    the database (`database`) can always answer 503: no connection came free (`_database_busy`)."""
    notes = notes or {}
    declared: dict[int | str, dict[str, Any]] = {}
    for status in sorted(set(statuses) | ({503} if database else set())):
        description = ERROR_DESCRIPTIONS[status]
        if status in notes:
            description = f"{description} {notes[status]}"
        declared[status] = {"model": model, "description": description}
        if status in _HEADERS:
            declared[status]["headers"] = _HEADERS[status]
    return declared


def links(status: int, **targets: tuple[str, str, dict[str, str]]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI links from a route's answer to the routes it opens: `name=(method, path, {parameter:
    expression})`, e.g. `read=("get", "/api/v1/tasks/{code}", {"code": "$response.body#/code"})`."""
    def ref(method: str, path: str) -> str:
        return "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method

    return {status: {"links": {name: {"operationRef": ref(method, path), "parameters": parameters}
                               for name, (method, path, parameters) in targets.items()}}}


def downloads(media_types: dict[str, dict[str, Any]], description: str) -> dict[int | str, dict[str, Any]]:
    """Adds these media types to a route's 200 answer (beside its JSON, if any)."""
    return {200: {"description": description, "content": media_types}}


def files(media_types: Any) -> dict[str, dict[str, Any]]:
    """Downloads of stored files: each media type as bytes (a JSON file is any JSON)."""
    return {media: {"schema": {} if media == "application/json" else {"type": "string", "format": "binary"}}
            for media in sorted(set(media_types))}


# `format=csv|xlsx` (api/exports.py): the file instead of the JSON.
TABLE_DOWNLOADS = {CSV_TYPE.split(";")[0]: {"schema": {"type": "string", "description": "UTF-8 with BOM"}},
                   XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}}}
