"""The pages speak the reader's language: catalogs agree, and the server's sentences (lifecycle
rules, refusals) have English versions named by their code."""

import re
from datetime import UTC, datetime
from pathlib import Path

from starlette.requests import Request

from api.web.i18n import catalog, date_formatter, number_formatter, translator
from api.web.pages import LANGUAGE_COOKIE, say

ROOT = Path(__file__).resolve().parent.parent


def _request(language: str) -> Request:
    return Request({"type": "http", "headers": [(b"cookie", f"{LANGUAGE_COOKIE}={language}".encode())]})


def test_vietnamese_and_english_catalogs_name_the_same_labels() -> None:
    assert set(catalog("vi")) <= set(catalog("en"))
    # English has more only where it names a server sentence that Vietnamese readers get as written.
    assert all(key.startswith("error.") for key in set(catalog("en")) - set(catalog("vi")))


def test_every_error_code_the_server_raises_has_an_english_sentence() -> None:
    sources = [*ROOT.glob("domain/*.py"), *ROOT.glob("api/*.py"), *ROOT.glob("api/routes/*.py")]
    codes = set()
    shapes = [  # code="x"; conflict("x", ...); invalid("field", "sentence", "x"[, params])
        r'code="([a-z_]+)"',
        r'conflict\("([a-z_]+)"',
        r'_?invalid\((?:state, )?"[a-z_]+", .{0,200}?, "([a-z_]+)"(?=\)|,\s*[a-z_]+=)',
    ]
    for source in sources:
        text = source.read_text(encoding="utf-8")
        for shape in shapes:
            codes |= set(re.findall(shape, text, re.DOTALL))
    codes.discard("rule")
    assert {"stage_conflict", "forbidden_action", "files_required", "kpi_results_missing", "no_reviewer",
            "officer_not_of_lead"} <= codes
    missing = sorted(code for code in codes if f"error.{code}" not in catalog("en"))
    assert not missing, f"no English sentence for: {missing}"


def test_a_server_sentence_is_said_in_english_to_an_english_reader_and_left_as_is_in_vietnamese() -> None:
    sentence = "Không thể thực hiện 'accept' khi nhiệm vụ ở giai đoạn 'Đang thực hiện' (in_progress)"
    params = {"action": "accept", "stage": "in_progress"}
    assert say(_request("en"), "stage_conflict", params, sentence) == \
        "'accept' does not fit the task's current stage (in_progress)"
    assert say(_request("vi"), "stage_conflict", params, sentence) == sentence
    assert say(_request("en"), None, {}, sentence) == sentence


def test_dates_and_numbers_are_written_as_each_language_writes_them() -> None:
    moment = datetime(2027, 6, 30, 16, 59, tzinfo=UTC)  # 23:59 in Hà Nội
    assert date_formatter("vi", "Asia/Ho_Chi_Minh")(moment) == "30/06/2027 23:59"
    assert date_formatter("en", "Asia/Ho_Chi_Minh")(moment, False) == "2027-06-30"
    assert number_formatter("vi")(3_000_000_000) == "3.000.000.000"
    assert number_formatter("en")(2500.5) == "2,500.5"
    assert translator("en")("stage.cross_check") == "Cross-check"
