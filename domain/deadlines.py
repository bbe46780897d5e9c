"""Deadlines as the Steering Committee writes them, read by one function (`parse_deadline`): the
Committee's phrases ("trong tháng 4/2026", "trong quý II/2026", "6 tháng đầu năm 2026", "trong năm
2026", "trước ngày 01/5/2026", "chậm nhất ngày 15/11/2025", "15/11/2025", "từ ngày 01/5/2026") and the
ISO forms (`2026-05-01`, `2026-03`, `2026-Q2`, a date and time). A day, a month, a quarter or a year
ends at 23:59:59 local time (Asia/Ho_Chi_Minh unless said otherwise); "trước ngày X" ends the day
before X; "từ ngày X" is the start of X (what is due must be in place when that day begins). The
words are kept verbatim beside the instant (a task's `deadline_text`).

Some of the Committee's deadlines set no instant yet: "cùng thời điểm thi hành của Luật", "khẩn
trương", "theo tiến độ của Luật/Nghị định ...". Those phrases are listed once here (`TO_BE_SET`):
`is_to_be_set` recognizes them and `due_of` reads a task's deadline as its instant, or None while
it is to be set (such a task is `deadline_pending`: domain/task.py)."""

import calendar
import functools
import re
import unicodedata
from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator

from domain.refusals import Code, invalid

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
_END_OF_DAY = time(23, 59, 59)
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def end_of_month(year: int, month: int) -> date:
    """The last day of a month: where a month, a quarter and a reporting period end."""
    return date(year, month, calendar.monthrange(year, month)[1])


def end_of_day(day: date, timezone: str) -> datetime:
    """The moment a day-long deadline lapses: 23:59:59 local time."""
    return datetime.combine(day, _END_OF_DAY, ZoneInfo(timezone))


def is_a_day(text: str) -> bool:
    """Whether a deadline is written as a plain date (2026-06-30), not a month, a quarter or a moment."""
    return bool(_DAY.match(text.strip()))


_DMY = r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})"
_OF_YEAR = r"(?:/|-|\s+năm\s+)(\d{4})"
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4}
# The Committee's phrases, lowercased with single spaces: how each one ends.
_STARTS = re.compile(rf"^(?:có hiệu lực )?(?:chậm nhất )?(?:kể )?từ (?:ngày )?{_DMY}$")
_BEFORE = re.compile(rf"^(?:xong |hoàn thành )?trước (?:ngày )?{_DMY}$")
_ON = re.compile(rf"^(?:(?:chậm nhất|hạn|hạn chót|không muộn hơn|hoàn thành)(?: vào)? )?(?:ngày )?{_DMY}$")
_IN_MONTH = re.compile(rf"^(?:trong |chậm nhất |hạn |cuối )?tháng (\d{{1,2}}){_OF_YEAR}$")
_IN_QUARTER = re.compile(rf"^(?:trong |chậm nhất |hạn |cuối )?qu[ýí] (iv|iii|ii|i|[1-4]){_OF_YEAR}$")
_HALF = re.compile(r"^(?:trong )?6 tháng (đầu|cuối) năm (\d{4})$")
_IN_YEAR = re.compile(r"^(?:trong |cuối |chậm nhất |hạn )?năm (\d{4})$")


def _committee_phrase(text: str, timezone: str) -> datetime | None:
    """The instant of one of the Committee's phrases; None when the text is not one of them."""
    said = re.sub(r"\s*([/-])\s*", r"\1", _said(text))  # "tháng 4 / 2026" as "tháng 4/2026"
    zone = ZoneInfo(timezone)
    if match := _STARTS.match(said):
        return datetime.combine(_day(match), time(0), zone)
    if match := _BEFORE.match(said):
        return end_of_day(_day(match) - timedelta(days=1), timezone)
    if match := _ON.match(said):
        return end_of_day(_day(match), timezone)
    if match := _IN_MONTH.match(said):
        return end_of_day(end_of_month(int(match.group(2)), int(match.group(1))), timezone)
    if match := _IN_QUARTER.match(said):
        quarter = _ROMAN.get(match.group(1)) or int(match.group(1))
        return end_of_day(end_of_month(int(match.group(2)), quarter * 3), timezone)
    if match := _HALF.match(said):
        return end_of_day(end_of_month(int(match.group(2)), 6 if match.group(1) == "đầu" else 12), timezone)
    if match := _IN_YEAR.match(said):
        return end_of_day(date(int(match.group(1)), 12, 31), timezone)
    return None


def _day(match: re.Match[str]) -> date:
    day, month, year = (int(part) for part in match.groups()[-3:])
    return date(year, month, day)


def parse_day(text: str) -> date:
    """A calendar day as written in a notice (16/3/2026, 16-03-2026) or ISO (2026-03-16)."""
    value = text.strip()
    if match := re.fullmatch(_DMY, value):
        return _day(match)
    return date.fromisoformat(value)


# How a deadline that sets no instant yet begins (lowercased, single spaces): the Standing Office sets
# the instant later. "khẩn trương" (urgently) names no day either.
TO_BE_SET = ("chưa xác định", "khẩn trương", "cùng thời điểm", "đồng thời với", "theo tiến độ", "theo lộ trình")


def _said(text: str) -> str:
    """The words as the phrases are matched: NFC, lowercased, single spaces, no trailing stop."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split()).rstrip(".;,")


# Reading a deadline's words is pure and the same few texts come back with every stored state read
# (a list of 50 tasks, an inbox of 200): each reading is remembered.
@functools.lru_cache(maxsize=4096)
def is_to_be_set(text: str) -> bool:
    """Whether a deadline is written as one that sets no instant yet ("khẩn trương", "cùng thời
    điểm thi hành của Luật Dữ liệu", "theo tiến độ của Nghị định ...")."""
    said = _said(text)
    return any(said == phrase or said.startswith(phrase + " ") for phrase in TO_BE_SET)


@functools.lru_cache(maxsize=4096)
def due_of(text: str, timezone: str = DEFAULT_TIMEZONE) -> datetime | None:
    """A task's deadline as its instant; None while it sets none (empty, or a phrase `TO_BE_SET`).
    Raises ValueError as `parse_deadline` does for a text that is neither."""
    if not text.strip() or is_to_be_set(text):
        return None
    return parse_deadline(text, timezone)


def parse_deadline(text: str, timezone: str = DEFAULT_TIMEZONE) -> datetime:
    """The moment a deadline lapses, timezone-aware. Raises ValueError when the text is none of the
    forms (people read the catalog's `deadline_invalid` sentence: see `DeadlineText`)."""
    value = text.strip()
    try:
        if (said := _committee_phrase(value, timezone)) is not None:
            return said
        if match := _QUARTER.match(value):
            return end_of_day(end_of_month(int(match.group(1)), int(match.group(2)) * 3), timezone)
        if match := _MONTH.match(value):
            return end_of_day(end_of_month(int(match.group(1)), int(match.group(2))), timezone)
        if _DAY.match(value) or not any(mark in value for mark in "Tt :"):  # a date, however written
            return end_of_day(date.fromisoformat(value), timezone)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not a deadline: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(timezone))


def _deadline_parses(text: str) -> str:
    try:
        parse_deadline(text)
    except ValueError:
        raise invalid(Code.DEADLINE_INVALID, deadline=text) from None
    return text


def _assigned_deadline_reads(text: str) -> str:
    """A task's deadline as assigned: an instant, a phrase that leaves it to be set, or empty (whether
    the task's kind takes that is the task's rule: domain/task.py)."""
    try:
        due_of(text)
    except ValueError:
        raise invalid(Code.DEADLINE_INVALID, deadline=text) from None
    return text


def _zone_exists(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"Múi giờ '{name}' không tồn tại (ví dụ: {DEFAULT_TIMEZONE})") from None
    return name


# A deadline as written (kept as text, checked to parse to an instant): an extension's new one, a
# correction's, a sub-task's.
DeadlineText = Annotated[str, AfterValidator(_deadline_parses)]
# A task's deadline as assigned: as DeadlineText, or empty, or a phrase that leaves it to be set.
AssignedDeadlineText = Annotated[str, AfterValidator(_assigned_deadline_reads)]
# An IANA time zone name that exists on this machine: a setting, and what each task keeps of it.
TimezoneName = Annotated[str, AfterValidator(_zone_exists)]
