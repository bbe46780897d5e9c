"""Tables people download: CSV (UTF-8 with BOM, so Excel shows Vietnamese right) or XLSX.

A table is its columns: the field each row gives, the catalog key of the header people read, and,
for a field whose values are a vocabulary (a stage), the prefix of the keys its values are said by;
for a field that may hold nothing, the key of what is said instead (a deadline not yet set).
The headers and those values are said here, from the message catalogs, in the file's language:
Vietnamese unless asked otherwise (exports are Vietnamese-first)."""

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from fastapi.responses import Response
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from messages import DEFAULT_LANGUAGE, text

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Column:
    field: str  # the key in each row
    key: str  # the catalog key of its header
    says: str | None = None  # a vocabulary: the value is said by the key `says + value` (`stage.`)
    blank: str | None = None  # the key said where the row holds no value (`deadline.pending`)


def headers(columns: Sequence[Column], language: str = DEFAULT_LANGUAGE) -> list[str]:
    return [text(column.key, language) for column in columns]


def table_response(columns: Sequence[Column], rows: Sequence[dict[str, Any]], fmt: str, filename: str,
                   language: str = DEFAULT_LANGUAGE) -> Response:
    values = [[_cell(row.get(column.field), column, language) for column in columns] for row in rows]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(headers(columns, language))
        writer.writerows(values)
        body, media = ("\ufeff" + out.getvalue()).encode("utf-8"), CSV_TYPE
    else:
        book = Workbook()
        sheet = book.active
        sheet.append(headers(columns, language))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for line in values:  # control characters cannot be written in a worksheet: they are left out
            sheet.append([ILLEGAL_CHARACTERS_RE.sub("", cell) if isinstance(cell, str) else cell for cell in line])
        buffer = io.BytesIO()
        book.save(buffer)
        body, media = buffer.getvalue(), XLSX_TYPE
    return Response(content=body, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{filename}.{fmt}"'})


def _cell(value: Any, column: Column, language: str) -> Any:
    if value is None and column.blank is not None:
        return text(column.blank, language)
    if column.says is not None and isinstance(value, list):  # each item of a vocabulary (whose delay)
        return "; ".join(_said(item, column.says, language) for item in value)
    if column.says is not None and value is not None:
        return _said(value, column.says, language)
    if isinstance(value, bool):
        return text("yes" if value else "no", language)
    if isinstance(value, list):
        return "; ".join(str(item) for item in value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value  # a title is text, never a formula when the file is opened in Excel
    return value


def _said(value: Any, says: str, language: str) -> str:
    return text(f"{says}{value.value if isinstance(value, Enum) else value}", language)
