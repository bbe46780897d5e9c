"""The pages speak the reader's language: the server's sentences in English to an English reader,
dates and numbers as each language writes them, the ladder's words. (That the catalogs agree, key
by key and placeholder by placeholder: tests/test_messages.py.)"""

from datetime import UTC, datetime

from api.web.i18n import date_formatter, number_formatter, template_context
from domain.refusals import Code
from messages import say


def test_a_server_sentence_is_said_in_english_to_an_english_reader_and_as_today_in_vietnamese() -> None:
    sentence = "Không thể thực hiện 'accept' khi nhiệm vụ ở giai đoạn 'Đang thực hiện' (in_progress)"
    params = {"action": "accept", "stage": "in_progress"}
    assert say(Code.STAGE_CONFLICT, params, "en") == \
        "'accept' does not fit the task's current stage, 'In progress' (in_progress)"
    assert say(Code.STAGE_CONFLICT, params, "vi") == sentence
    assert say(Code.STAGE_CONFLICT, params) == sentence  # Vietnamese unless asked otherwise


def test_dates_and_numbers_are_written_as_each_language_writes_them() -> None:
    moment = datetime(2027, 6, 30, 16, 59, tzinfo=UTC)  # 23:59 in Hà Nội
    assert date_formatter("vi", "Asia/Ho_Chi_Minh")(moment) == "30/06/2027 23:59"
    assert date_formatter("en", "Asia/Ho_Chi_Minh")(moment, False) == "2027-06-30"
    assert date_formatter("vi", "Asia/Ho_Chi_Minh")(None) == ""
    assert number_formatter("vi")(3_000_000_000) == "3.000.000.000"
    assert number_formatter("vi")(3_000_000.5) == "3.000.000,5"
    assert number_formatter("en")(2500.5) == "2,500.5"
    page = template_context("en", "Asia/Ho_Chi_Minh")
    assert page["_"]("stage.cross_check") == "Cross-check" and page["fmt"](moment, False) == "2027-06-30"


def test_the_ladder_is_page_vocabulary_said_in_the_reader_language() -> None:
    from domain.escalation import LADDER

    page = template_context("en", "Asia/Ho_Chi_Minh")
    assert page["levels"] == tuple(level.number for level in LADDER)
    assert {number: page["_"]("audience." + audience) for number, audience in page["audiences"].items()} == {
        1: "the lead agency", 2: "the Standing Office", 3: "the Steering Committee"}
    assert page["_"]("level.2") == "Level 2 alert"
    assert template_context("vi", "Asia/Ho_Chi_Minh")["_"]("level.2") == "Cảnh báo cấp 2"
