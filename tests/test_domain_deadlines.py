"""Deadlines as the Steering Committee writes them, and durations as settings write them
(design.md, "Deadlines and escalation" and "Settings"). Pure functions: no server, no database."""

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from domain.commands import ExtensionRequestCommand
from domain.deadlines import DEFAULT_TIMEZONE, end_of_day, end_of_month, parse_deadline
from domain.durations import parse_duration, parse_durations
from domain.refusals import Code
from domain.task import TaskSpec
from messages.fields import field_errors

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def end_of(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 23, 59, 59, tzinfo=HCM)


def test_default_timezone_is_ho_chi_minh() -> None:
    assert DEFAULT_TIMEZONE == "Asia/Ho_Chi_Minh"


# --- YYYY-MM-DD -------------------------------------------------------------------------------

def test_day_ends_at_235959_ho_chi_minh() -> None:
    moment = parse_deadline("2026-05-01")
    assert moment == end_of(2026, 5, 1)
    assert moment.utcoffset() == timedelta(hours=7)
    # 23:59:59 in Hanoi is 16:59:59 UTC the same day.
    assert moment.astimezone(UTC) == datetime(2026, 5, 1, 16, 59, 59, tzinfo=UTC)


def test_day_surrounding_whitespace_is_ignored() -> None:
    assert parse_deadline("  2026-05-01\n") == end_of(2026, 5, 1)


def test_day_in_another_timezone_ends_at_235959_there() -> None:
    moment = parse_deadline("2026-05-01", "Europe/Paris")
    assert (moment.hour, moment.minute, moment.second) == (23, 59, 59)
    assert moment.utcoffset() == timedelta(hours=2)  # CEST in May


def test_leap_day_is_a_valid_day() -> None:
    assert parse_deadline("2028-02-29") == end_of(2028, 2, 29)


# --- YYYY-MM: end of month ----------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("2026-03", end_of(2026, 3, 31)),
    ("2026-04", end_of(2026, 4, 30)),
    ("2026-12", end_of(2026, 12, 31)),
    ("2026-01", end_of(2026, 1, 31)),
    ("2026-3", end_of(2026, 3, 31)),  # a one-digit month, as people type it
])
def test_month_ends_on_its_last_day(text: str, expected: datetime) -> None:
    assert parse_deadline(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-02", end_of(2026, 2, 28)),
    ("2027-02", end_of(2027, 2, 28)),
    ("2028-02", end_of(2028, 2, 29)),  # leap year
    ("2000-02", end_of(2000, 2, 29)),  # divisible by 400: leap
    ("2100-02", end_of(2100, 2, 28)),  # divisible by 100, not 400: not leap
])
def test_february_ends_on_28th_or_29th_in_a_leap_year(text: str, expected: datetime) -> None:
    assert parse_deadline(text) == expected


# --- YYYY-Qn: end of quarter --------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("2026-Q1", end_of(2026, 3, 31)),
    ("2026-Q2", end_of(2026, 6, 30)),
    ("2026-Q3", end_of(2026, 9, 30)),
    ("2026-Q4", end_of(2026, 12, 31)),
    ("2026-q2", end_of(2026, 6, 30)),  # lower-case q
])
def test_quarter_ends_on_the_last_day_of_its_last_month(text: str, expected: datetime) -> None:
    assert parse_deadline(text) == expected


# --- ISO datetimes ------------------------------------------------------------------------------

def test_iso_datetime_without_offset_is_local_time() -> None:
    moment = parse_deadline("2026-05-01T10:30:00")
    assert moment == datetime(2026, 5, 1, 10, 30, tzinfo=HCM)
    assert moment.tzinfo is not None
    assert moment.astimezone(UTC) == datetime(2026, 5, 1, 3, 30, tzinfo=UTC)


def test_iso_datetime_without_offset_uses_the_given_timezone() -> None:
    moment = parse_deadline("2026-05-01T10:30:00", "UTC")
    assert moment.astimezone(UTC) == datetime(2026, 5, 1, 10, 30, tzinfo=UTC)


def test_iso_datetime_with_offset_keeps_its_offset() -> None:
    moment = parse_deadline("2026-05-01T10:30:00+02:00")
    assert moment.utcoffset() == timedelta(hours=2)
    assert moment == datetime(2026, 5, 1, 8, 30, tzinfo=UTC)


def test_iso_datetime_with_z_is_utc() -> None:
    moment = parse_deadline("2026-05-01T10:30:00Z")
    assert moment == datetime(2026, 5, 1, 10, 30, tzinfo=UTC)
    assert moment.utcoffset() == timedelta(0)


def test_iso_datetime_with_a_space_separator() -> None:
    assert parse_deadline("2026-05-01 08:00") == datetime(2026, 5, 1, 8, 0, tzinfo=HCM)


def test_every_deadline_is_timezone_aware() -> None:
    for text in ("2026-05-01", "2026-05", "2026-Q2", "2026-05-01T08:00", "2026-05-01T08:00+09:00"):
        assert parse_deadline(text).tzinfo is not None, text


def test_forms_order_as_time_does() -> None:
    """A quarter ends after its months, a month after its days: comparisons between forms hold."""
    assert parse_deadline("2026-04-30") < parse_deadline("2026-05-01") < parse_deadline("2026-05")
    assert parse_deadline("2026-05") < parse_deadline("2026-Q2") < parse_deadline("2026-07-01")
    assert parse_deadline("2026-06-30") == parse_deadline("2026-06") == parse_deadline("2026-Q2")
    # One second after the day's end is later than the day.
    assert parse_deadline("2026-06-30T17:00:00Z") > parse_deadline("2026-Q2")


@pytest.mark.parametrize(("text", "day"), [("20260501", (2026, 5, 1)), ("2026-W18-5", (2026, 5, 1))])
def test_every_date_only_form_ends_at_235959(text: str, day: tuple[int, int, int]) -> None:
    try:
        moment = parse_deadline(text)
    except ValueError:
        return  # refusing the form is fine too; ending the day at midnight is not
    assert moment == end_of(*day)


# --- bad inputs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "2026-13",     # no 13th month
    "2026-00",     # no month 0
    "2026-Q5",     # no 5th quarter
    "2026-Q0",
    "soon",
    "",
    "   ",
    "2026-02-30",  # no such day
    "2027-02-29",  # not a leap year
    "31/02/2026",  # no such day, written the Vietnamese way
    "tháng 13/2026",
    "quý V/2026",
    "trong quý 5/2026",
    "cùng thời điểm thi hành của Luật",  # no instant: a task kind of its own, not a deadline
    "khẩn trương",
    "2026-05-01T25:00",
    "Q2/2026",
])
def test_bad_deadline_is_refused_naming_the_text_and_the_forms(text: str) -> None:
    with pytest.raises(ValueError, match="not a deadline"):
        parse_deadline(text)
    with pytest.raises(ValidationError) as caught:  # as a person meets it: a field of a command
        ExtensionRequestCommand(new_deadline=text, reason="r")
    [error] = caught.value.errors()
    assert error["type"] == Code.DEADLINE_INVALID
    message = field_errors([error])[0]["message"]
    assert f"'{text.strip()}'" in message  # commands strip the spaces around what is typed
    assert "không đọc được" in message
    for form in ("trong tháng 4/2026", "trong quý II/2026", "trước ngày 01/5/2026", "từ ngày 01/5/2026",
                 "YYYY-MM-DD", "YYYY-MM", "YYYY-Qn", "ISO"):
        assert form in message


def test_bad_deadline_error_is_not_a_chained_internal_error() -> None:
    """The readable sentence is the error, not calendar's IllegalMonthError leaking out."""
    with pytest.raises(ValueError) as caught:
        parse_deadline("2026-13")
    assert type(caught.value) is ValueError
    assert "bad month" not in str(caught.value)


def test_unknown_timezone_is_an_error() -> None:
    with pytest.raises(Exception):  # noqa: B017 - zoneinfo raises ZoneInfoNotFoundError (a KeyError)
        parse_deadline("2026-05-01", "Mars/Olympus_Mons")


# --- durations ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("30s", timedelta(seconds=30)),
    ("5m", timedelta(minutes=5)),
    ("2h", timedelta(hours=2)),
    ("7d", timedelta(days=7)),
    ("0d", timedelta(0)),
    ("10d", timedelta(days=10)),
    (" 14d ", timedelta(days=14)),
    ("3 h", timedelta(hours=3)),
])
def test_duration_units(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "7", "d", "7w", "1.5h", "-1d", "7days", "soon", "7D", "5m30s"])
def test_bad_duration_raises_value_error_with_examples(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(text)
    message = str(caught.value)
    assert f"'{text}'" in message
    assert "30s, 5m, 2h, 7d" in message


def test_escalation_steps_default_parses_in_order() -> None:
    assert parse_durations("0d,7d,14d") == [timedelta(0), timedelta(days=7), timedelta(days=14)]


def test_durations_list_ignores_blanks_and_spaces() -> None:
    assert parse_durations(" 1h , ,2d,") == [timedelta(hours=1), timedelta(days=2)]
    assert parse_durations("") == []


def test_durations_list_with_one_bad_item_raises_naming_it() -> None:
    with pytest.raises(ValueError, match="'7x'"):
        parse_durations("0d,7x,14d")


def test_fixed_offset_deadline_equals_same_instant_in_zone() -> None:
    """An ISO deadline written with +07:00 is the same instant as the local form of that day."""
    written = parse_deadline("2026-05-01T23:59:59+07:00")
    assert written == parse_deadline("2026-05-01")
    assert written.tzinfo == timezone(timedelta(hours=7))


@pytest.mark.parametrize(("year", "month", "last"), [(2026, 1, 31), (2026, 2, 28), (2028, 2, 29), (2026, 4, 30),
                                                     (2026, 12, 31)])
def test_end_of_month_is_the_last_day_of_the_month(year: int, month: int, last: int) -> None:
    assert end_of_month(year, month) == date(year, month, last)
    assert end_of_day(end_of_month(year, month), DEFAULT_TIMEZONE) == end_of(year, month, last)



# --- the Committee's phrases ----------------------------------------------------------------------
# Each phrase as the Committee writes it, and the instant it lapses (Asia/Ho_Chi_Minh): a day, a
# month, a quarter or a year ends at 23:59:59; "trước ngày X" ends the day before; "từ ngày X" is the
# start of X.

def vn(year: int, month: int, day: int, hour: int = 23, minute: int = 59, second: int = 59) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))


COMMITTEE_PHRASES = [
    ("trong tháng 4/2026", vn(2026, 4, 30)),
    ("tháng 4 năm 2026", vn(2026, 4, 30)),
    ("Trong tháng 02/2028", vn(2028, 2, 29)),  # a leap year
    ("trong quý II/2026", vn(2026, 6, 30)),
    ("quý 2/2026", vn(2026, 6, 30)),
    ("Quý IV năm 2026", vn(2026, 12, 31)),
    ("trong quý I/2027", vn(2027, 3, 31)),
    ("quý III năm 2026", vn(2026, 9, 30)),
    ("6 tháng đầu năm 2026", vn(2026, 6, 30)),
    ("6 tháng cuối năm 2026", vn(2026, 12, 31)),
    ("trong năm 2026", vn(2026, 12, 31)),
    ("năm 2027", vn(2027, 12, 31)),
    ("trước ngày 01/5/2026", vn(2026, 4, 30)),
    ("trước ngày 01/01/2027", vn(2026, 12, 31)),
    ("chậm nhất ngày 15/11/2025", vn(2025, 11, 15)),
    ("hạn 15/11/2025", vn(2025, 11, 15)),
    ("15/11/2025", vn(2025, 11, 15)),
    ("15-11-2025", vn(2025, 11, 15)),
    ("ngày 5/9/2026", vn(2026, 9, 5)),
    ("từ ngày 01/5/2026", vn(2026, 5, 1, 0, 0, 0)),
    ("có hiệu lực chậm nhất từ ngày 01/3/2027", vn(2027, 3, 1, 0, 0, 0)),
    ("  Trong   tháng 4/2026. ", vn(2026, 4, 30)),  # spaces and a closing stop, as pasted
    ("tháng 4 / 2026", vn(2026, 4, 30)),
    ("quí 2/2026", vn(2026, 6, 30)),  # the older spelling
    ("xong trước ngày 15/11/2025", vn(2025, 11, 14)),  # "before the day": the day before ends it
    ("hoàn thành trước ngày 15/11/2025", vn(2025, 11, 14)),
    ("trước 01/5/2026", vn(2026, 4, 30)),
    ("kể từ ngày 01/5/2026", vn(2026, 5, 1, 0, 0, 0)),
    ("từ 01/5/2026", vn(2026, 5, 1, 0, 0, 0)),
    ("2026-05-01", vn(2026, 5, 1)),
    ("2026-03", vn(2026, 3, 31)),
    ("2026-Q2", vn(2026, 6, 30)),
]


@pytest.mark.parametrize(("phrase", "lapses"), COMMITTEE_PHRASES, ids=[phrase for phrase, _ in COMMITTEE_PHRASES])
def test_the_committees_phrase_lapses_at(phrase: str, lapses: datetime) -> None:
    assert parse_deadline(phrase) == lapses


@pytest.mark.parametrize(("phrase", "lapses"), COMMITTEE_PHRASES, ids=[phrase for phrase, _ in COMMITTEE_PHRASES])
def test_a_task_takes_the_phrase_and_keeps_it_as_written(phrase: str, lapses: datetime) -> None:
    """Accepted where a task is assigned, the words kept verbatim (they become its deadline_text)."""
    spec = TaskSpec(code="T-1", title="Thử cách viết hạn", lead_agency="HNI", deadline=phrase)
    assert spec.deadline == phrase.strip()


def test_a_phrase_in_decomposed_unicode_is_read_like_the_composed_one() -> None:
    import unicodedata

    assert parse_deadline(unicodedata.normalize("NFD", "trong quý II/2026")) == vn(2026, 6, 30)
