"""Deadlines as the Steering Committee writes them: `2026-05-01`, `2026-03` (end of month),
`2026-Q2` (end of quarter) or an ISO datetime. A date ends at 23:59:59 local time."""

import calendar
import re
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
_END_OF_DAY = time(23, 59, 59)
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _end_of_month(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def parse_deadline(text: str, timezone: str = DEFAULT_TIMEZONE) -> datetime:
    """The moment a deadline lapses, timezone-aware. Raises ValueError with a readable sentence."""
    tz = ZoneInfo(timezone)
    value = text.strip()
    try:
        if match := _QUARTER.match(value):
            year, quarter = int(match.group(1)), int(match.group(2))
            return datetime.combine(_end_of_month(year, quarter * 3), _END_OF_DAY, tz)
        if match := _MONTH.match(value):
            return datetime.combine(_end_of_month(int(match.group(1)), int(match.group(2))), _END_OF_DAY, tz)
        if _DAY.match(value) or not any(mark in value for mark in "Tt :"):  # a date, however written
            return datetime.combine(date.fromisoformat(value), _END_OF_DAY, tz)
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None:
        raise ValueError(
            f"Hạn '{text}' không hợp lệ: dùng YYYY-MM-DD, YYYY-MM, YYYY-Qn hoặc ngày giờ ISO"
        )
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)
