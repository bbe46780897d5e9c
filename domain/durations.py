"""Durations as people write them in settings: `30s`, `5m`, `2h`, `7d`."""

import re
from datetime import timedelta

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_PATTERN = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")


def parse_duration(text: str) -> timedelta:
    match = _PATTERN.match(text)
    if not match:
        raise ValueError(f"'{text}' không phải là khoảng thời gian hợp lệ (ví dụ: 30s, 5m, 2h, 7d)")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def parse_durations(text: str) -> list[timedelta]:
    """A comma-separated list, e.g. the escalation steps `0d,7d,14d`."""
    return [parse_duration(part) for part in text.split(",") if part.strip()]
