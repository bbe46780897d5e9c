"""Reporting periods: `2026` (a year), `2026-Q1` (a quarter), `2026-03` (a month) — as the API takes
them. The pages take them as people write them too (`canonical`): "Năm 2026", "Quý II/2026" or
"quý 2/2026", "Tháng 3/2026" (any case, accents or none), and as the English pages show them:
"Q2 2026", "March 2026"."""

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from domain.deadlines import end_of_month
from domain.text import fold

FIRST_YEAR, LAST_YEAR = 1000, 9998  # the years a period may name
YEAR_PATTERN = r"(?:[1-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9])"  # the same years, for documents and forms
_YEAR = re.compile(r"^(\d{4})$")
_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4}
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december")
_SAID = (  # as written in Vietnamese, folded (domain/text.fold): the canonical form it stands for
    (re.compile(r"^nam (\d{4})$"), lambda m: m.group(1)),
    (re.compile(r"^quy (i{1,3}|iv|[1-4]) ?/ ?(\d{4})$"),
     lambda m: f"{m.group(2)}-Q{_ROMAN.get(m.group(1)) or m.group(1)}"),
    (re.compile(r"^thang (\d{1,2}) ?/ ?(\d{4})$"), lambda m: f"{m.group(2)}-{int(m.group(1)):02d}"),
    (re.compile(r"^q([1-4]) (\d{4})$"), lambda m: f"{m.group(2)}-Q{m.group(1)}"),  # as English shows them
    (re.compile(r"^(" + "|".join(_MONTHS) + r") (\d{4})$"),
     lambda m: f"{m.group(2)}-{_MONTHS.index(m.group(1)) + 1:02d}"),
)


def canonical(text: str) -> str:
    """"Quý II/2026" as `2026-Q2`, "Tháng 3/2026" as `2026-03`, "Năm 2026" as `2026`; anything else as typed."""
    folded = fold(text)
    for pattern, canon in _SAID:
        if match := pattern.match(folded):
            return canon(match)
    return text.strip()


class Period(BaseModel):
    label: str
    start: datetime  # inclusive
    end: datetime  # exclusive

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def parse_period(text: str, timezone: str) -> Period:
    tz = ZoneInfo(timezone)
    value = text.strip()
    if match := _YEAR.match(value):
        year = int(match.group(1))
        first, last = date(year, 1, 1), date(year, 12, 31)
    elif match := _QUARTER.match(value):
        year, quarter = int(match.group(1)), int(match.group(2))
        first = date(year, quarter * 3 - 2, 1)
        last = end_of_month(year, quarter * 3)
        value = f"{year}-Q{quarter}"
    elif (match := _MONTH.match(value)) and 1 <= int(match.group(2)) <= 12:
        year, month = int(match.group(1)), int(match.group(2))
        first, last = date(year, month, 1), end_of_month(year, month)
    else:
        raise ValueError(f"not a period: {text!r}")  # people read the catalog's `period_invalid`
    if not FIRST_YEAR <= year <= LAST_YEAR:  # beyond these, the period's end overflows a date or a database
        raise ValueError(f"not a period: {text!r}")
    return Period(label=value, start=datetime.combine(first, time(0), tz),
                  end=datetime.combine(last + timedelta(days=1), time(0), tz))
