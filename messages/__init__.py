"""The sentences people read, per language: Babel/gettext catalogs (<lang>/LC_MESSAGES/messages.po).

Each msgid is a stable key (`nav.tasks`, `error.<refusal code>`, `pydantic.<error type>`); each msgstr
is the sentence, with `{name}` placeholders (python-brace-format). The catalogs are read and compiled
in memory at first use (`read_po` → `write_mo` → `Translations`): a fresh clone needs no build step and
no .mo file is kept. A key missing from a language falls back to Vietnamese, then to the key itself.

- `say(code, params, language)`: the sentence of a refusal (`domain.refusals.Code`); `detail(refusal)`
  the same prefixed with the field it names, as the API's `detail`.
- `gettext(language)` / `ngettext(language)`: the callables a page is rendered with (`_("nav.tasks")`).
- `frozen(keys, language)`: those keys' sentences read now, for code that may not read files when it
  speaks (a Temporal workflow: read them when its modules are imported).
- `format_datetime` / `format_number` (and `date_formatter` / `number_formatter`): Babel's formatting.
"""

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import dates, numbers
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from domain import periods

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"  # the language of record: every key has its sentence here
DOMAIN = "messages"
CATALOGS = Path(__file__).parent

# Dates as people there write them (the pages and the exports agree): dd/MM/yyyy, yyyy-MM-dd.
_DATE_PATTERNS = {"vi": "dd/MM/yyyy", "en": "yyyy-MM-dd"}
_NUMBER_PATTERN = "#,##0.##"  # grouped, at most two decimals, no trailing zeros


def language_of(language: str | None) -> str:
    """A language the catalogs speak: the one asked for, else Vietnamese."""
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def catalog_path(language: str) -> Path:
    return CATALOGS / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def catalog(language: str) -> Catalog:
    """The language's catalog as Babel reads it (keys, sentences, flags)."""
    with catalog_path(language).open("rb") as source:
        return read_po(source, locale=language, domain=DOMAIN)


@cache
def translations(language: str) -> Translations:
    """The catalog compiled in memory; any language but Vietnamese falls back to Vietnamese."""
    compiled = BytesIO()
    write_mo(compiled, catalog(language))  # untranslated (empty) entries are left out: they fall back
    compiled.seek(0)
    found = Translations(fp=compiled, domain=DOMAIN)
    if language != DEFAULT_LANGUAGE:
        found.add_fallback(translations(DEFAULT_LANGUAGE))
    return found


def lookup(key: str, language: str = DEFAULT_LANGUAGE) -> str | None:
    """The sentence for a key in this language (or Vietnamese); None when no catalog has it."""
    for name in dict.fromkeys((language_of(language), DEFAULT_LANGUAGE)):
        message = catalog(name).get(key)
        if message is not None and message.string:
            return str(message.string)
    return None


def text(key: str, language: str = DEFAULT_LANGUAGE) -> str:
    """The raw sentence (placeholders unfilled): this language, else Vietnamese, else the key."""
    return str(translations(language_of(language)).gettext(key))


def frozen(keys: Iterable[str], language: str = DEFAULT_LANGUAGE) -> dict[str, str]:
    """The raw sentences of these keys (as `text` says them), read now: whoever holds the dict says
    them later without touching a file (fill them with `fill`)."""
    return {key: text(key, language) for key in keys}


class _Keep(dict[str, Any]):
    """Fills the placeholders it knows; an unknown one stays as written, never an exception."""

    def __missing__(self, name: str) -> str:
        return "{" + name + "}"


def fill(template: str, params: Mapping[str, Any]) -> str:
    try:
        return template.format_map(_Keep(params))
    except (ValueError, IndexError, AttributeError, TypeError):  # a malformed template: say it as written
        return template


def derived_params(params: Mapping[str, Any] | None, language: str) -> dict[str, Any]:
    """The values a sentence may name, plus what follows from them in this language: a stage's label
    (`stage_label`), lists written out (or `<name>.none` when empty), enums by their value."""
    found: dict[str, Any] = {}
    for name, value in (params or {}).items():
        if isinstance(value, (list, tuple, set, frozenset)):
            items = [str(item.value if isinstance(item, Enum) else item) for item in value]
            none = lookup(f"{name}.none", language)
            found[name] = ", ".join(items) or (none if none is not None else "")
        elif isinstance(value, Enum):
            found[name] = value.value
        else:
            found[name] = value
    if "stage" in found and "stage_label" not in found:
        found["stage_label"] = text(f"stage.{found['stage']}", language)
    return found


def say(code: Any, params: Mapping[str, Any] | None = None, language: str = DEFAULT_LANGUAGE) -> str:
    """The sentence of a refusal (`code`: a `Code` or its value), its placeholders filled from `params`."""
    language = language_of(language)
    name = code.value if isinstance(code, Enum) else str(code)
    return fill(text(f"error.{name}", language), derived_params(params, language))


def detail(refusal: Any, language: str = DEFAULT_LANGUAGE) -> str:
    """A refusal's whole sentence, as the API's `detail` says it: "field: sentence" when it names a
    field (`refusal`: a `domain.refusals.Refusal`, or anything with `code`, `params` and `field`)."""
    sentence = say(refusal.code, refusal.params, language)
    return f"{refusal.field}: {sentence}" if getattr(refusal, "field", None) else sentence


def gettext(language: str) -> Callable[..., str]:
    """`_("nav.tasks")`, `_("tasks.total", n=3)`: a key's sentence in this language, filled."""
    language = language_of(language)

    def _(key: str, **params: Any) -> str:
        return fill(text(key, language), derived_params(params, language))

    return _


def ngettext(language: str) -> Callable[..., str]:
    """`ngettext(singular_key, plural_key, n, **params)`: the key for n (by the language's plural
    rule), its sentence filled with `n` and the params."""
    language = language_of(language)

    def ngettext_(singular: str, plural: str, n: int, **params: Any) -> str:
        chosen = str(translations(language).ngettext(singular, plural, n))
        return fill(text(chosen, language), derived_params({"n": n, **params}, language))

    return ngettext_


def format_datetime(moment: datetime | date | str | None, language: str, timezone: str, with_time: bool = True) -> str:
    """30/06/2027 23:59 in Vietnamese, 2027-06-30 23:59 in English, in the given time zone."""
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if not isinstance(moment, datetime):  # a calendar day (a directive's date): no time, no time zone
        return str(dates.format_date(moment, _DATE_PATTERNS[language_of(language)], locale=language_of(language)))
    pattern = _DATE_PATTERNS[language_of(language)] + (" HH:mm" if with_time else "")
    return str(dates.format_datetime(moment, pattern, tzinfo=ZoneInfo(timezone), locale=language_of(language)))


def format_period(text: str, language: str) -> str:
    """A period as people write it: "Quý II/2026", "Tháng 3/2026", "Năm 2026" in Vietnamese; "Q2 2026",
    "March 2026", "2026" in English (the month's name is Babel's). What is not a period is shown as is."""
    language = language_of(language)
    say = gettext(language)
    try:
        found = periods.parse_period(periods.canonical(text), "UTC")
    except ValueError:
        return text
    year, _, part = found.label.partition("-")
    if not part:
        return say("period.year", year=year)
    if part.startswith("Q"):
        return say(f"period.q{part[1]}", year=year)
    return say("period.month", month=dates.format_date(found.start.date(), "LLLL", locale=language), year=year)


def format_number(value: float | int | Decimal, language: str) -> str:
    """3.000.000,5 in Vietnamese, 3,000,000.5 in English; no trailing zeros."""
    return str(numbers.format_decimal(value, _NUMBER_PATTERN, locale=language_of(language)))


def date_formatter(language: str, timezone: str) -> Callable[..., str]:
    def fmt(moment: datetime | date | str | None, with_time: bool = True) -> str:
        return format_datetime(moment, language, timezone, with_time)

    return fmt


def number_formatter(language: str) -> Callable[[float | int | Decimal], str]:
    def num(value: float | int | Decimal) -> str:
        return format_number(value, language)

    return num
