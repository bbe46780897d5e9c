"""The program import format (the columns of program-sample.csv), from CSV or XLSX bytes."""

import csv
import io

from openpyxl import load_workbook

from domain.task import Kpi, TaskSpec

COLUMNS = ("code", "title", "lead_agency", "coordinating_agencies", "deadline", "product", "kpis",
           "budget_required", "reporting")
_YES = {"yes", "y", "true", "1", "có", "co", "x"}
_NO = {"no", "n", "false", "0", "không", "khong", ""}


class ProgramFileError(ValueError):
    """The file as a whole cannot be read (not the fault of one row)."""


def read_rows(content: bytes, filename: str) -> list[dict[str, str]]:
    """Rows as column -> text; row numbers are list index + 2 (the header is row 1)."""
    if filename.lower().endswith(".xlsx"):
        rows = _xlsx_rows(content)
    elif filename.lower().endswith(".csv"):
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ProgramFileError("Tệp CSV phải được mã hóa UTF-8") from None
        rows = list(csv.reader(io.StringIO(text)))
    else:
        raise ProgramFileError("Chỉ nhận tệp .csv hoặc .xlsx")
    if not rows:
        raise ProgramFileError("Tệp trống")
    header = [cell.strip() for cell in rows[0]]
    if missing := [column for column in ("code", "title", "lead_agency", "deadline") if column not in header]:
        raise ProgramFileError("Thiếu cột: " + ", ".join(missing))
    return [dict(zip(header, (cell.strip() for cell in row), strict=False)) for row in rows[1:]]


def _xlsx_rows(content: bytes) -> list[list[str]]:
    try:
        sheet = load_workbook(io.BytesIO(content), read_only=True, data_only=True).worksheets[0]
    except Exception as error:  # openpyxl raises many kinds for a damaged file
        raise ProgramFileError(f"Không đọc được tệp Excel: {error}") from None
    return [["" if cell is None else _cell_text(cell) for cell in row] for row in sheet.iter_rows(values_only=True)]


def _cell_text(value: object) -> str:
    if hasattr(value, "date") and hasattr(value, "isoformat"):  # a date typed into Excel
        return value.isoformat()[:10]
    return str(value)


def spec_from_row(row: dict[str, str]) -> TaskSpec:
    """A TaskSpec, or a pydantic ValidationError / ValueError naming what is wrong."""
    budget = row.get("budget_required", "").lower()
    if budget not in _YES | _NO:
        raise ValueError(f"budget_required: '{row.get('budget_required')}' phải là yes hoặc no")
    return TaskSpec(
        code=row.get("code", ""), title=row.get("title", ""), lead_agency=row.get("lead_agency", ""),
        coordinating_agencies=[c for c in row.get("coordinating_agencies", "").split(";") if c.strip()],
        deadline=row.get("deadline", ""), product=row.get("product", ""),
        kpis=[_kpi(item) for item in row.get("kpis", "").split(";") if item.strip()],
        budget_required=budget in _YES, reporting=row.get("reporting") or "none",
    )


def _kpi(item: str) -> Kpi:
    parts = [part.strip() for part in item.split("|")]
    if len(parts) != 3:
        raise ValueError(f"kpis: '{item}' phải có dạng tên|chỉ tiêu|đơn vị")
    try:
        target = float(parts[1])
    except ValueError:
        raise ValueError(f"kpis: chỉ tiêu '{parts[1]}' của '{parts[0]}' phải là số") from None
    return Kpi(name=parts[0], target=target, unit=parts[2])
