"""What people type into the action forms becomes the body the command model parses (api/web/forms.py):
sums of money as Vietnamese write them, figures in the reader's language. Pure."""

from typing import Any

import pytest
from starlette.datastructures import FormData

from api.web.forms import command_body, form_fields
from domain.commands import BudgetSubmit
from tests.test_domain_lifecycle import state


def typed(action: str, language: str = "vi", **fields: str) -> dict[str, Any]:
    return command_body(action, FormData(fields), state(), language)


@pytest.mark.parametrize(("written", "amount"), [
    ("5.000.000.000", 5_000_000_000), ("5000000000", 5_000_000_000), ("5 tỷ", 5_000_000_000),
    ("2,5 tỷ", 2_500_000_000), ("500 triệu", 500_000_000), ("1,5 triệu đồng", 1_500_000),
    ("12 tỷ ₫", 12_000_000_000), ("5 000 000", 5_000_000)])
def test_a_sum_is_read_as_vietnamese_write_it(written: str, amount: int) -> None:
    body = typed("budget.submit", amount_vnd=written, source="NSNN", **{"lines.0.item": "Thiết bị",
                                                                       "lines.0.amount_vnd": written})
    assert body["amount_vnd"] == amount and body["lines"] == [{"item": "Thiết bị", "amount_vnd": amount}]
    assert BudgetSubmit.model_validate(body).amount_vnd == amount


@pytest.mark.parametrize(("written", "amount"), [("3 billion", 3_000_000_000), ("5,000,000", 5_000_000),
                                                 ("2.5 million", 2_500_000)])
def test_in_english_the_english_way(written: str, amount: int) -> None:
    assert typed("budget.submit", "en", amount_vnd=written)["amount_vnd"] == amount


def test_a_sum_that_does_not_read_is_passed_on_for_the_model_to_name() -> None:
    assert typed("budget.submit", amount_vnd="năm tỷ")["amount_vnd"] == "năm tỷ"


def test_budget_lines_are_rows_read_in_their_numbers_order_the_empty_ones_left_out() -> None:
    body = typed("budget.amend", amount_vnd="6 tỷ", reason="Thêm máy chủ", **{
        "lines.10.item": "Đào tạo", "lines.10.amount_vnd": "500 triệu",
        "lines.0.item": "", "lines.0.amount_vnd": "",
        "lines.2.item": "Máy chủ", "lines.2.amount_vnd": "5.500.000.000",
        "other.1.item": "không phải dòng kinh phí"})
    assert body["lines"] == [{"item": "Máy chủ", "amount_vnd": 5_500_000_000},
                             {"item": "Đào tạo", "amount_vnd": 500_000_000}]


def test_a_row_with_a_sum_that_does_not_read_is_passed_on_for_the_model_to_name_its_row() -> None:
    body = typed("budget.submit", amount_vnd="1 tỷ", source="NSNN",
                 **{"lines.0.item": "Thiết bị", "lines.0.amount_vnd": "một tỷ"})
    assert body["lines"] == [{"item": "Thiết bị", "amount_vnd": "một tỷ"}]


def test_no_rows_typed_is_no_lines_which_the_model_refuses_as_missing() -> None:
    assert typed("budget.submit", amount_vnd="1 tỷ", source="NSNN")["lines"] == []
    assert [f.kind for f in form_fields("budget.submit") if f.name == "lines"] == ["budget_lines"]


def test_kpis_in_a_correction_are_rows_with_their_figures_read_in_the_language() -> None:
    body = typed("correct", **{"reason": "Sửa chỉ tiêu", "kpis.0.name": "Kỹ sư", "kpis.0.target": "1.200",
                             "kpis.0.unit": "người", "kpis.0.baseline": "", "kpis.0.direction": "higher",
                             "kpis.1.name": "", "kpis.1.target": "", "kpis.1.direction": "higher",
                             "kpis.2.name": "Ngày xử lý", "kpis.2.target": "3", "kpis.2.unit": "ngày",
                             "kpis.2.baseline": "15", "kpis.2.direction": "lower"})
    assert body["kpis"] == [
        {"name": "Kỹ sư", "target": 1200, "unit": "người", "baseline": None, "direction": "higher"},
        {"name": "Ngày xử lý", "target": 3, "unit": "ngày", "baseline": 15, "direction": "lower"}]


def test_kpi_rows_left_empty_but_for_their_direction_leave_the_kpis_as_they_are() -> None:
    assert "kpis" not in typed("correct", **{"reason": "Sửa tên", "kpis.0.name": "", "kpis.0.direction": "higher"})
