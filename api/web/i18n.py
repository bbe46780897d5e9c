"""The pages' side of the message catalogs (`messages/`): a Jinja2 environment with the i18n
extension, and per request the callables a page is rendered with in its reader's language.

Templates say `{{ _("nav.tasks") }}`, `{{ _("tasks.total", n=page.total) }}` (newstyle gettext:
params as keywords), `{{ fmt(moment) }}`, `{{ num(value) }}`. The gettext callables are bound per
request, never installed on the environment: two requests may be in two languages at once."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from fastapi.templating import Jinja2Templates

import messages
from domain.escalation import LADDER, DeadlineKind, level, owner_of
from messages import DEFAULT_LANGUAGE, LANGUAGES, date_formatter, number_formatter

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "date_formatter", "jinja_environment", "jinja_templates",
           "number_formatter", "template_context"]


# The ladder as the pages name it: vocabulary, like the stages (domain/escalation.py says it once).
LEVELS: tuple[int, ...] = tuple(level.number for level in LADDER)
AUDIENCES: dict[int, str] = {level.number: level.audience for level in LADDER}


def told(kind: str, number: int) -> str:
    """Who an escalation of this kind of deadline told at this level (its owner's ladder)."""
    return level(number).told(owner_of(DeadlineKind(kind)))


def jinja_environment(directory: Path) -> jinja2.Environment:
    """Autoescaped HTML, and `jinja2.ext.i18n` in its newstyle form (`{% trans %}` blocks and
    `_()` take keyword params). The callables come with each render (`template_context`)."""
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(directory),
                                     autoescape=jinja2.select_autoescape(), extensions=["jinja2.ext.i18n"])
    environment.newstyle_gettext = True  # type: ignore[attr-defined]  # set by the i18n extension
    return environment


def jinja_templates(directory: Path) -> Jinja2Templates:
    return Jinja2Templates(env=jinja_environment(directory))


def template_context(language: str, timezone: str) -> dict[str, Any]:
    """What every page render needs for its reader's language: `_`/`gettext`/`ngettext` bound to it,
    `fmt` (dates in `timezone`), `num`, `lang`, `now_ts` (the render's moment, for "n days left"), and
    `period_label` ("Quý II/2026" for `2026-Q2`), the vocabulary of the escalation ladder (`LADDER`):
    `levels`, its level numbers, lowest first, and
    `audiences`, who each level tells (`_("level." ~ n)`, `_("audience." ~ audiences[n])`)."""
    language = messages.language_of(language)
    say = messages.gettext(language)
    return {"lang": language, "_": say, "gettext": say, "ngettext": messages.ngettext(language),
            "fmt": date_formatter(language, timezone), "num": number_formatter(language),
            "now_ts": datetime.now(UTC).timestamp(), "levels": LEVELS, "audiences": AUDIENCES,
            "told": told, "period_label": lambda text: messages.format_period(str(text), language)}
