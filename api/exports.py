"""Tables people download: CSV (UTF-8 with BOM, so Excel shows Vietnamese right) or XLSX."""

import csv
import io
from collections.abc import Sequence
from typing import Any

from fastapi.responses import Response
from openpyxl import Workbook
from openpyxl.styles import Font

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def table_response(columns: Sequence[tuple[str, str]], rows: Sequence[dict[str, Any]], fmt: str,
                   filename: str) -> Response:
    """`columns`: (key in each row, header people read)."""
    headers = [label for _, label in columns]
    values = [[_cell(row.get(key)) for key, _ in columns] for row in rows]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(headers)
        writer.writerows(values)
        body, media = ("\ufeff" + out.getvalue()).encode("utf-8"), CSV_TYPE
    else:
        book = Workbook()
        sheet = book.active
        sheet.append(headers)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for line in values:
            sheet.append(line)
        buffer = io.BytesIO()
        book.save(buffer)
        body, media = buffer.getvalue(), XLSX_TYPE
    return Response(content=body, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{filename}.{fmt}"'})


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "Có" if value else "Không"
    if isinstance(value, list):
        return "; ".join(str(item) for item in value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value  # a title is text, never a formula when the file is opened in Excel
    return value
