"""Deadlines as the Steering Committee writes them: `2026-05-01`, `2026-03` (end of month),
`2026-Q2` (end of quarter) or an ISO datetime. A date ends at 23:59:59 local time."""

import calendar
import re
from datetime import date, datetime, time
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


def parse_deadline(text: str, timezone: str = DEFAULT_TIMEZONE) -> datetime:
    """The moment a deadline lapses, timezone-aware. Raises ValueError when the text is none of the
    forms (people read the catalog's `deadline_invalid` sentence: see `DeadlineText`)."""
    value = text.strip()
    try:
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


def _zone_exists(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"Múi giờ '{name}' không tồn tại (ví dụ: {DEFAULT_TIMEZONE})") from None
    return name


# A deadline as written (kept as text, checked to parse): a task's deadline, an extension's new one.
DeadlineText = Annotated[str, AfterValidator(_deadline_parses)]
# An IANA time zone name that exists on this machine: a setting, and what each task keeps of it.
TimezoneName = Annotated[str, AfterValidator(_zone_exists)]
