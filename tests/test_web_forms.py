"""What people type into the action forms becomes the body the command model parses (api/web/forms.py):
sums of money as Vietnamese write them, figures in the reader's language. Pure."""

from typing import Any

import pytest
from starlette.datastructures import FormData

from api.web.forms import command_body
from domain.commands import BudgetSubmit
from tests.test_domain_lifecycle import state


def typed(action: str, language: str = "vi", **fields: str) -> dict[str, Any]:
    return command_body(action, FormData(fields), state(), language)


@pytest.mark.parametrize(("written", "amount"), [
    ("5.000.000.000", 5_000_000_000), ("5000000000", 5_000_000_000), ("5 tỷ", 5_000_000_000),
    ("2,5 tỷ", 2_500_000_000), ("500 triệu", 500_000_000), ("1,5 triệu đồng", 1_500_000),
    ("12 tỷ ₫", 12_000_000_000), ("5 000 000", 5_000_000)])
def test_a_sum_is_read_as_vietnamese_write_it(written: str, amount: int) -> None:
    body = typed("budget.submit", amount_vnd=written, source="NSNN", lines=f"Thiết bị | {written}")
    assert body["amount_vnd"] == amount and body["lines"] == [{"item": "Thiết bị", "amount_vnd": amount}]
    assert BudgetSubmit.model_validate(body).amount_vnd == amount


@pytest.mark.parametrize(("written", "amount"), [("3 billion", 3_000_000_000), ("5,000,000", 5_000_000),
                                                 ("2.5 million", 2_500_000)])
def test_in_english_the_english_way(written: str, amount: int) -> None:
    assert typed("budget.submit", "en", amount_vnd=written)["amount_vnd"] == amount


def test_a_sum_that_does_not_read_is_passed_on_for_the_model_to_name() -> None:
    assert typed("budget.submit", amount_vnd="năm tỷ")["amount_vnd"] == "năm tỷ"
