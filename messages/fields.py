"""Pydantic's errors as people read them: one {field, message} per field at fault, the message
from the catalogs (`pydantic.<error type>`, or the refusal code a validator raised)."""

from collections.abc import Mapping
from typing import Any

from domain.refusals import Code
from messages import fill, lookup, say

_CODES = frozenset(code.value for code in Code)


def _message(error: Mapping[str, Any], language: str = "vi") -> str:
    """The catalog's sentence for the error's type (a refusal code, or `pydantic.<type>`); pydantic's
    own (English) where none is written."""
    kind = str(error.get("type", ""))
    if kind in _CODES:  # a validator's PydanticCustomError named by a refusal code
        return say(kind, error.get("ctx") or {}, language)
    template = lookup(f"pydantic.{kind}", language)
    if template is not None:
        return fill(template, error.get("ctx") or {})
    return str(error.get("msg", "")).removeprefix("Value error, ")


def field_errors(errors: list[Any], language: str = "vi") -> list[dict[str, str]]:
    """Pydantic's errors as {field, message}; Vietnamese unless the reader chose English."""
    result = []
    for error in errors:
        location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path", "header")]
        result.append({"field": ".".join(location) or "body", "message": _message(error, language)})
    return result
