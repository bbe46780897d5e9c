"""Every error answers `{"detail": "<clear sentence>", ...}` with the status api.md gives it."""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError

from domain.lifecycle import TaskRuleError


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

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        detail = {404: "Không tìm thấy địa chỉ này", 405: "Phương thức không được hỗ trợ"}.get(
            error.status_code, str(error.detail))
        return JSONResponse(status_code=error.status_code, content={"detail": detail}, headers=error.headers)
