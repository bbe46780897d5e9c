"""The program import format, from CSV or XLSX bytes: the columns code, title, description,
lead_agency, coordinating_agencies, directing_agency, kind (`_KINDS`), deadline (the Committee's
words or ISO; empty for a recurring, standing or pending one), product, kpis, budget_required,
reporting, and the source directive: source_document, source_date, source_section, source_text."""

import csv
import io
import unicodedata
from datetime import datetime

from openpyxl import load_workbook  # type: ignore[import-untyped]  # openpyxl ships no type hints

from domain.deadlines import parse_day
from domain.refusals import Code, Refusal
from domain.task import Direction, Kpi, Source, TaskKind, TaskSpec

_YES = {"yes", "y", "true", "1", "có", "co", "x"}
_NO = {"no", "n", "false", "0", "không", "khong", ""}
# The kind column: the API's names, or the Committee's words for them; empty is a one-off (or one
# whose deadline is pending, when the deadline is a phrase that leaves it to be set).
_KINDS: dict[str, TaskKind] = {
    **{kind.value: kind for kind in TaskKind},
    "một lần": TaskKind.ONE_OFF, "định kỳ": TaskKind.RECURRING, "thường xuyên": TaskKind.STANDING,
    "chưa xác định thời hạn": TaskKind.DEADLINE_PENDING,
}


def read_rows(content: bytes, filename: str) -> list[dict[str, str]]:
    """Rows as column -> text; row numbers are list index + 2 (the header is row 1). A file that
    cannot be read as a whole is refused."""
    if filename.lower().endswith(".xlsx"):
        rows = _xlsx_rows(content)
    elif filename.lower().endswith(".csv"):
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise Refusal(Code.IMPORT_NOT_UTF8) from None
        rows = list(csv.reader(io.StringIO(text)))
    else:
        raise Refusal(Code.IMPORT_FILE_TYPE)
    if not rows:
        raise Refusal(Code.IMPORT_EMPTY)
    header = [cell.strip() for cell in rows[0]]
    if missing := [column for column in ("code", "title", "lead_agency", "deadline") if column not in header]:
        raise Refusal(Code.IMPORT_MISSING_COLUMNS, columns=", ".join(missing))
    return [dict(zip(header, (cell.strip() for cell in row), strict=False)) for row in rows[1:]]


def _xlsx_rows(content: bytes) -> list[list[str]]:
    try:
        sheet = load_workbook(io.BytesIO(content), read_only=True, data_only=True).worksheets[0]
    except Exception as error:  # openpyxl raises many kinds for a damaged file
        raise Refusal(Code.IMPORT_EXCEL_UNREADABLE, reason=str(error)) from None
    return [["" if cell is None else _cell_text(cell) for cell in row] for row in sheet.iter_rows(values_only=True)]


def _cell_text(value: object) -> str:
    if isinstance(value, datetime):  # a date typed into Excel
        return value.date().isoformat()
    return str(value)


def spec_from_row(row: dict[str, str], model: type[TaskSpec] = TaskSpec) -> TaskSpec:
    """A TaskSpec (or the `model` given, one that reads more, such as a directive to several
    agencies), or a pydantic ValidationError / a refusal naming the field that is wrong."""
    budget = row.get("budget_required", "").lower()
    if budget not in _YES | _NO:
        raise Refusal(Code.BUDGET_REQUIRED_YES_NO, field="budget_required", value=row.get("budget_required"))
    return model(
        code=row.get("code", ""), title=row.get("title", ""), description=row.get("description", ""),
        lead_agency=row.get("lead_agency", ""),
        coordinating_agencies=[c for c in row.get("coordinating_agencies", "").split(";") if c.strip()],
        kind=_kind(row.get("kind", "")), deadline=row.get("deadline", ""), product=row.get("product", ""),
        kpis=[_kpi(item) for item in row.get("kpis", "").split(";") if item.strip()],
        budget_required=budget in _YES, reporting=row.get("reporting") or "none",
        directing_agency=row.get("directing_agency", "").strip() or None, source=_source(row),
    )


def _kind(written: str) -> TaskKind:
    said = " ".join(unicodedata.normalize("NFC", written).casefold().split())
    if not said:
        return TaskKind.ONE_OFF
    if said not in _KINDS:
        raise Refusal(Code.NOT_ONE_OF, field="kind", allowed=", ".join(_KINDS))
    return _KINDS[said]


def _source(row: dict[str, str]) -> Source | None:
    """The directive, from the columns source_document, source_date, source_section, source_text."""
    document = row.get("source_document", "").strip()
    if not document:
        if any(row.get(f"source_{part}", "").strip() for part in ("date", "section", "text")):
            raise Refusal(Code.SOURCE_DOCUMENT_MISSING, field="source_document")
        return None
    written = row.get("source_date", "").strip()
    try:
        day = parse_day(written) if written else None
    except ValueError:
        raise Refusal(Code.SOURCE_DATE_INVALID, field="source_date", value=written) from None
    return Source(document=document, date=day, section=row.get("source_section", ""),
                  text=row.get("source_text", ""))


# How a program file may write a KPI's direction, beside the API's own words.
_DIRECTIONS = {"higher": Direction.HIGHER, "tăng": Direction.HIGHER, "lower": Direction.LOWER, "giảm": Direction.LOWER}


def _figure(text: str, kpi: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise Refusal(Code.KPI_TARGET_NOT_NUMBER, field="kpis", target=text, kpi=kpi) from None


def _kpi(item: str) -> Kpi:
    """`name|target|unit`, optionally followed by `|baseline` and `|direction` (higher/tăng, lower/giảm)."""
    parts = [part.strip() for part in item.split("|")]
    if not 3 <= len(parts) <= 5 or (len(parts) == 5 and parts[4].lower() not in _DIRECTIONS):
        raise Refusal(Code.KPI_FORMAT, field="kpis", item=item)
    target = _figure(parts[1], parts[0])
    baseline = _figure(parts[3], parts[0]) if len(parts) > 3 and parts[3] else None
    direction = _DIRECTIONS[parts[4].lower()] if len(parts) == 5 else Direction.HIGHER
    return Kpi(name=parts[0], target=target, unit=parts[2], baseline=baseline, direction=direction)
