"""Periods as people write them (issue 13): "Quý II/2026" in, "Quý II/2026" out, in Vietnamese; the
English pages' "Q2 2026" read back as well; and a search that folds case and accents."""

import pytest

from domain.periods import canonical, parse_period
from domain.text import fold
from messages import format_period

TZ = "Asia/Ho_Chi_Minh"


@pytest.mark.parametrize(("typed", "period"), [
    ("Quý II/2026", "2026-Q2"), ("quý 2/2026", "2026-Q2"), ("QUY IV / 2026", "2026-Q4"), ("2026-q3", "2026-Q3"),
    ("Tháng 3/2026", "2026-03"), ("thang 12/2026", "2026-12"), ("Năm 2027", "2027"), ("2027", "2027"),
    ("Q2 2026", "2026-Q2"), ("March 2026", "2026-03")])
def test_a_period_is_read_as_people_write_it(typed: str, period: str) -> None:
    assert parse_period(canonical(typed), TZ).label == period


def test_the_api_takes_only_the_canonical_form() -> None:
    with pytest.raises(ValueError):
        parse_period("Quý II/2026", TZ)


@pytest.mark.parametrize("typed", ["Quý V/2026", "Tháng 13/2026", "Năm 99999", "quý", "2026-Q5"])
def test_what_is_not_a_period_is_refused(typed: str) -> None:
    with pytest.raises(ValueError):
        parse_period(canonical(typed), TZ)


@pytest.mark.parametrize(("period", "vi", "en"), [
    ("2026-Q2", "Quý II/2026", "Q2 2026"), ("2026-Q4", "Quý IV/2026", "Q4 2026"),
    ("2026-03", "Tháng 3/2026", "March 2026"), ("2026", "Năm 2026", "2026")])
def test_a_period_is_shown_as_people_write_it_and_reads_back(period: str, vi: str, en: str) -> None:
    assert (format_period(period, "vi"), format_period(period, "en")) == (vi, en)
    assert canonical(vi) == canonical(en) == period


@pytest.mark.parametrize("typed", ["CHUYỂN ĐỔI SỐ", "chuyen doi so", "Chuyển  đổi số", "chuyển đổi số"])
def test_search_folds_case_accents_and_spaces(typed: str) -> None:
    assert fold(typed) == "chuyen doi so"


def test_the_letter_d_with_a_stroke_folds_to_d() -> None:
    assert fold("Đà Nẵng, Điện Biên") == "da nang, dien bien"
