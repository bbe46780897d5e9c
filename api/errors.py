"""Every error answers `{"detail": "<clear sentence>", ...}` with the status api.md gives it."""

from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError

from api.exports import CSV_TYPE, XLSX_TYPE
from domain.lifecycle import TaskRuleError
from domain.stages import Stage


class ApiError(Exception):
    """`code` and `params` name the sentence, so the pages can say it in the reader's language;
    `extra` goes into the JSON body beside `detail`."""

    def __init__(self, status: int, detail: str, *, code: str | None = None, params: dict | None = None,
                 **extra: Any):
        super().__init__(detail)
        self.status, self.detail, self.extra = status, detail, extra
        self.code = code or extra.get("code")
        self.params = params or extra.get("params") or {}


def not_found(what: str, code: str | None = None, **params: Any) -> ApiError:
    return ApiError(404, f"Không tìm thấy {what}", code=code, params=params)


def invalid(field: str, message: str, code: str | None = None, **params: Any) -> ApiError:
    """A 422 about one named field, shaped like pydantic's own."""
    return ApiError(422, f"{field}: {message}", code=code, params=params,
                    errors=[{"field": field, "message": message}])


# Pydantic speaks English; people here read Vietnamese. Types not listed keep pydantic's sentence.
_MESSAGES_VI = {
    "missing": "bắt buộc phải có",
    "extra_forbidden": "trường này không được phép",
    "string_too_short": "cần ít nhất {min_length} ký tự",
    "string_too_long": "quá dài (tối đa {max_length} ký tự)",
    "string_pattern_mismatch": "sai định dạng",
    "too_short": "cần ít nhất {min_length} mục",
    "too_long": "nhiều nhất {max_length} mục",
    "greater_than_equal": "phải lớn hơn hoặc bằng {ge}",
    "less_than_equal": "phải nhỏ hơn hoặc bằng {le}",
    "int_parsing": "phải là số nguyên",
    "int_type": "phải là số nguyên",
    "float_parsing": "phải là số",
    "bool_parsing": "phải là true hoặc false",
    "enum": "phải là một trong: {expected}",
    "literal_error": "phải là: {expected}",
    "json_invalid": "không phải JSON hợp lệ",
    "model_attributes_type": "phải là một đối tượng JSON",
    "dict_type": "phải là một đối tượng JSON",
    "list_type": "phải là một danh sách",
    "string_type": "phải là chuỗi ký tự",
}


def _message(error: dict[str, Any], language: str = "vi") -> str:
    template = _MESSAGES_VI.get(error.get("type", "")) if language == "vi" else None
    if template is not None:
        try:
            return template.format(**error.get("ctx", {}))
        except (KeyError, IndexError):
            pass
    return str(error.get("msg", "")).removeprefix("Value error, ")


def field_errors(errors: list[Any], language: str = "vi") -> list[dict[str, str]]:
    """Pydantic's errors as {field, message}; Vietnamese unless the reader chose English."""
    result = []
    for error in errors:
        location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path", "header")]
        result.append({"field": ".".join(location) or "body", "message": _message(error, language)})
    return result


# A body the framework cannot parse is malformed input like any other: 422 (api.md), not a bare 400.
_UNREADABLE_BODY = "không đọc được nội dung gửi lên (JSON hoặc biểu mẫu không hợp lệ)"


def validation_error(errors: list[Any]) -> JSONResponse:
    fields = field_errors(errors)
    sentence = "Dữ liệu không hợp lệ: " + "; ".join(f"{e['field']}: {e['message']}" for e in fields)
    return JSONResponse(status_code=422, content={"detail": sentence, "errors": fields})


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, error: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else {}
        if "retry_after" in error.extra:
            headers["Retry-After"] = str(error.extra["retry_after"])
        return JSONResponse(status_code=error.status, content={"detail": error.detail, **error.extra},
                            headers=headers or None)

    @app.exception_handler(TaskRuleError)
    async def _rule_error(_: Request, error: TaskRuleError) -> JSONResponse:
        return JSONResponse(status_code=409 if error.conflict else 422,
                            content={"detail": str(error), **error.details()})

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return validation_error(list(error.errors()))

    @app.exception_handler(ValidationError)
    async def _model_invalid(_: Request, error: ValidationError) -> JSONResponse:
        return validation_error(list(error.errors()))

    @app.exception_handler(RPCError)
    async def _temporal_unavailable(_: Request, error: RPCError) -> JSONResponse:
        return JSONResponse(status_code=503, headers={"Retry-After": "5"}, content={
            "detail": f"Máy chủ quy trình (Temporal) chưa xử lý được yêu cầu, vui lòng thử lại: {error.message}"})

    @app.exception_handler(SQLAlchemyTimeoutError)
    async def _database_busy(_: Request, error: SQLAlchemyTimeoutError) -> JSONResponse:
        return JSONResponse(status_code=503, headers={"Retry-After": "5"}, content={
            "detail": "Cơ sở dữ liệu đang quá tải, vui lòng thử lại sau ít giây", "code": "database_busy"})

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400:  # FastAPI/Starlette could not parse the body (not UTF-8 JSON, broken multipart)
            return validation_error([{"loc": ("body",), "msg": _UNREADABLE_BODY}])
        detail = {404: "Không tìm thấy địa chỉ này", 405: "Phương thức không được hỗ trợ"}.get(
            error.status_code, str(error.detail))
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
