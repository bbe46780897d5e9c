"""The pages' action forms, read off the action's command model (domain/commands.py): its fields,
their types and whether they are required are said there once; here only how each type is typed
in a browser, and how what a person typed becomes the body the model parses."""

import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cache
from typing import Any, Literal

import annotated_types
from babel.dates import parse_date
from babel.numbers import NumberFormatError, parse_decimal
from pydantic.fields import FieldInfo
from pydantic.json_schema import SkipJsonSchema
from starlette.datastructures import FormData

from domain.commands import COMMAND_MODELS, Action
from domain.task import BudgetLine, Direction, EvidenceFile, Kpi, Outcome, Reporting, TaskKind, TaskState

Kind = Literal["text", "textarea", "number", "money", "lines", "budget_lines", "kpi_lines", "kpis", "files", "choice",
               "yes_no"]
# The catalogs' key prefix of each vocabulary a form offers as a choice (`task_kind.standing`, …).
CHOICE_KEYS: dict[type[StrEnum], str] = {TaskKind: "task_kind.", Reporting: "reporting.", Outcome: "outcome."}
# Free text that runs to paragraphs; any other text is one line.
PARAGRAPHS = frozenset({"note", "summary", "text", "description"})


@dataclass(frozen=True)
class FormField:
    name: str
    kind: Kind
    required: bool
    minimum: float | None = None  # the model's bounds, where it sets them
    maximum: float | None = None
    choices: tuple[tuple[str, str], ...] = ()  # a choice's values, each with its catalog key


@cache
def form_fields(action: str) -> tuple[FormField, ...]:
    """The fields of the action's form, in the model's order; those the server fills are left out."""
    model = COMMAND_MODELS[Action(action)]
    return tuple(FormField(name, _kind(name, info), info.is_required(), *_bounds(info), _choices(info))
                 for name, info in model.model_fields.items()
                 if name != "action" and not any(isinstance(item, SkipJsonSchema) for item in info.metadata))


def _bounds(info: FieldInfo) -> tuple[float | None, float | None]:
    low = next((float(item.ge) for item in info.metadata if isinstance(item, annotated_types.Ge)), None)
    high = next((float(item.le) for item in info.metadata if isinstance(item, annotated_types.Le)), None)
    return low, high


def _choices(info: FieldInfo) -> tuple[tuple[str, str], ...]:
    vocabulary = _enum(info)
    return tuple((item.value, CHOICE_KEYS[vocabulary] + item.value) for item in vocabulary) if vocabulary else ()


def _enum(info: FieldInfo) -> type[StrEnum] | None:
    found = [arg for arg in (info.annotation, *typing.get_args(info.annotation)) if arg in CHOICE_KEYS]
    return found[0] if found else None


def _kind(name: str, info: FieldInfo) -> Kind:
    if _enum(info) is not None:
        return "choice"
    if info.annotation is bool:
        return "yes_no"
    annotation = info.annotation
    arguments = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        annotation = arguments[0]  # optional: the type it has when given
        arguments = list(typing.get_args(annotation))
    origin = typing.get_origin(annotation)
    if origin is dict:
        return "kpis"
    if origin is list:
        item = arguments[0] if arguments else str
        return {EvidenceFile: "files", BudgetLine: "budget_lines", Kpi: "kpi_lines"}.get(item, "lines")
    if annotation is int:
        return "money" if name.endswith("_vnd") else "number"
    return "textarea" if name in PARAGRAPHS else "text"


def command_body(action: str, form: FormData, state: TaskState, language: str) -> dict[str, Any]:
    """What a person typed into the action's form, as the body its command model parses. A value
    that does not parse is passed on as typed, so the model names the field at fault."""
    text = {key: str(value).strip() for key, value in form.items() if isinstance(value, str)}
    body: dict[str, Any] = {}
    for field in form_fields(action):
        raw = text.get(field.name, "")
        if field.kind == "kpis":
            body[field.name] = kpi_values(form, state, language)
        elif field.kind in ROW_PARTS:
            typed = [row for row in rows(form, field.name, tuple(part.name for part in ROW_PARTS[field.kind]))
                     if any(row[part.name] for part in ROW_PARTS[field.kind] if part.typed)]
            if typed or field.required:
                body[field.name] = [{part.name: part.read(row[part.name], language) for part in ROW_PARTS[field.kind]}
                                    for row in typed]
        elif field.kind == "lines":  # a textarea's lines, or the options chosen in a list (agencies)
            chosen = [line for value in form.getlist(field.name) if isinstance(value, str) for line in _lines(value)]
            if chosen or field.required:
                body[field.name] = chosen
        elif field.kind == "money" and (raw or field.required):
            body[field.name] = _money(raw, language)
        elif field.kind == "number" and (raw or field.required):
            body[field.name] = number(raw, language)
        elif field.kind in ("text", "textarea", "choice") and raw:
            body[field.name] = raw
        elif field.kind == "yes_no" and raw:
            body[field.name] = {"yes": True, "no": False}.get(raw, raw)
    return body


def kpi_values(form: FormData, state: TaskState, language: str) -> dict[str, Any]:
    """One input per KPI of the task (`kpi_0`, `kpi_1`…), named by its place: KPI names are free text."""
    values = {}
    for index, kpi in enumerate(state.spec.kpis):
        raw = str(form.get(f"kpi_{index}", "")).strip()
        if raw:
            values[kpi.name] = number(raw, language)
    return values


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


@dataclass(frozen=True)
class RowPart:
    """One input of a row in a table of records (a budget line's item, a KPI's target): the model's
    field it fills, its label's key, and how its text is read (a sum, a figure, or as typed)."""

    name: str
    label: str
    reads: Literal["text", "money", "number", "direction"] = "text"  # direction: chosen, not typed

    def read(self, text: str, language: str) -> Any:
        if self.reads == "direction":
            return text or Direction.HIGHER.value
        if not text and self.reads != "text":  # a figure left empty: none given (the model says if it must be)
            return None
        return {"money": _money, "number": number}.get(self.reads, lambda typed, _: typed)(text, language)

    @property
    def typed(self) -> bool:
        """Typed, not chosen: a row none of whose typed inputs holds anything is an empty row."""
        return self.reads != "direction"

    @property
    def inputmode(self) -> str:
        return {"money": "numeric", "number": "decimal"}.get(self.reads, "")


# Lists of records typed as rows of inputs, one row per record: `lines.0.item`, `lines.0.amount_vnd`,
# `lines.1.item`… named as the model's fields and numbered as pydantic numbers a list's items, so the
# message of a refused row (`lines.1.amount_vnd`) is shown at its own input.
ROW_PARTS: dict[str, tuple[RowPart, ...]] = {
    "budget_lines": (RowPart("item", "field.item"), RowPart("amount_vnd", "field.lines.amount_vnd", "money")),
    "kpi_lines": (RowPart("name", "task.kpi"), RowPart("target", "task.target", "number"),
                  RowPart("unit", "task.unit"), RowPart("baseline", "task.baseline", "number"),
                  RowPart("direction", "task.direction", "direction")),
}
_ROW_KEY = re.compile(r"^(?P<name>\w+)\.(?P<n>\d{1,4})\.(?P<part>\w+)$")


def rows(form: Mapping[str, Any], name: str, parts: tuple[str, ...]) -> list[dict[str, str]]:
    """The rows typed into a form's table `name` (`<name>.<n>.<part>`), in their numbers' order, the
    wholly empty ones dropped: a page offers a few empty rows (more are added by app.js), and a row
    left empty means nothing. The page shows a refused form's rows in this order again, so the
    numbers of the body's lines are those of the rows shown (api/web/templates/_actions.html)."""
    found: dict[int, dict[str, str]] = {}
    for key, value in form.items():
        match = _ROW_KEY.match(key)
        if match and match["name"] == name and match["part"] in parts and isinstance(value, str):
            found.setdefault(int(match["n"]), dict.fromkeys(parts, ""))[match["part"]] = value.strip()
    return [row for _, row in sorted(found.items()) if any(row.values())]


# How people say a sum of money in words after the figure ("5 tỷ", "2,5 tỷ", "500 triệu", "3 billion").
_MONEY_WORDS = {"tỷ": 10**9, "tỉ": 10**9, "triệu": 10**6, "nghìn": 10**3, "ngàn": 10**3,
                "billion": 10**9, "million": 10**6, "thousand": 10**3}
_MONEY = re.compile(r"^(?P<figure>.+?)\s*(?P<word>" + "|".join(_MONEY_WORDS) + r")?\s*(?:đồng|₫|vnd|VND|đ)?$")


def _money(text: str, language: str) -> Any:
    """A sum as people write it: `5.000.000.000`, `5 tỷ`, `2,5 tỷ`, `500 triệu` (the figure read in the
    reader's language by Babel, the word multiplying it); anything else passed on as typed."""
    found = _MONEY.match(text.strip())
    if found is None:
        return text
    figure = number(found["figure"].replace(" ", ""), language)
    if isinstance(figure, str):
        return text
    value = figure * _MONEY_WORDS.get((found["word"] or "").lower(), 1)
    return round(value) if value == round(value) else value


def number(text: str, language: str) -> Any:
    """A number as people write it in their language (3.000.000 or 12,5 in Vietnamese)."""
    try:
        value = parse_decimal(text, locale=language, strict=True)
    except NumberFormatError:
        return text
    return int(value) if value == value.to_integral_value() else float(value)


def day(text: str, language: str) -> Any:
    """A calendar day as people write it: 16/03/2026 in Vietnamese (Babel's reading of the language's
    short date), or 2026-03-16; anything else passed on as typed, for the model to name the field."""
    text = text.strip()
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    try:
        return parse_date(text, locale=language).isoformat()
    except (ValueError, IndexError):
        return text
