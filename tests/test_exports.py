"""Downloads as files people open: a value that a worksheet cannot hold does not break the file."""

import io

from openpyxl import load_workbook

from api.exports import Column, table_response


def test_control_characters_are_left_out_of_a_worksheet_not_a_500() -> None:
    """A title typed with a control character (seen from the contract fuzzer) still downloads."""
    answer = table_response([Column("title", "col.title")], [{"title": "Kế\x01 hoạch\x1f số"}], "xlsx", "nhiem-vu")
    sheet = load_workbook(io.BytesIO(answer.body)).worksheets[0]
    assert [row for row in sheet.iter_rows(values_only=True)][1] == ("Kế hoạch số",)
