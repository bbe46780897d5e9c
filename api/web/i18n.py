"""Translations live in catalogs (locales/<lang>.json), never in templates. Vietnamese first."""

import json
from collections.abc import Callable
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"
_LOCALES = Path(__file__).with_name("locales")


@cache
def catalog(language: str) -> dict[str, str]:
    return json.loads((_LOCALES / f"{language}.json").read_text(encoding="utf-8"))


def translator(language: str) -> Callable[..., str]:
    def t(key: str, **values: object) -> str:
        text = catalog(language).get(key) or catalog(DEFAULT_LANGUAGE).get(key) or key
        return text.format(**values) if values else text

    return t


def date_formatter(language: str, timezone: str) -> Callable[..., str]:
    """Dates as people there write them: dd/mm/yyyy in Vietnamese, yyyy-mm-dd in English."""
    zone = ZoneInfo(timezone)

    def fmt(moment: datetime | str | None, with_time: bool = True) -> str:
        if moment is None:
            return ""
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment)
        local = moment.astimezone(zone)
        pattern = "%d/%m/%Y" if language == "vi" else "%Y-%m-%d"
        return local.strftime(pattern + (" %H:%M" if with_time else ""))

    return fmt


def number_formatter(language: str) -> Callable[[float | int], str]:
    """3.000.000,5 in Vietnamese, 3,000,000.5 in English; no trailing .0."""

    def num(value: float | int) -> str:
        text = f"{value:,.2f}".rstrip("0").rstrip(".")
        return text.translate(str.maketrans(",.", ".,")) if language == "vi" else text

    return num
