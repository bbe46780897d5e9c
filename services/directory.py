"""Names for codes: an agency's name (in the reader's language) for its code, a person's full name
for their login. Pages show names, never codes alone; reading every agency and person for every
page would be wasteful, so the names are kept for `FRESH_FOR` seconds (a rename shows within that,
in every process)."""

import time
from dataclasses import dataclass

from sqlalchemy import select

from db import models
from domain.text import fold
from services.context import Context

FRESH_FOR = 30.0


@dataclass(frozen=True)
class Names:
    agencies: dict[str, tuple[str, str]]  # code → (Vietnamese name, English name or "")
    people: dict[str, str]  # username → full name
    agency_of: dict[str, str]  # username → their agency's code (people of no agency left out)

    def agency(self, code: str | None, language: str = "vi") -> str:
        """The agency's name; its English name in English when it has one; the code when unknown."""
        if not code:
            return ""
        vi, en = self.agencies.get(code, (code, ""))
        return en if language == "en" and en else vi

    def every_agency(self, language: str = "vi") -> list[tuple[str, str]]:
        """(code, name) of every agency, by name in the language: a picker's choices."""
        return sorted(((code, self.agency(code, language)) for code in self.agencies), key=lambda pair: fold(pair[1]))

    def people_in(self, agency: str | None) -> list[tuple[str, str]]:
        """(username, full name) of the people of the agency, by name: a picker's choices."""
        return sorted(((user, self.people.get(user, user)) for user, code in self.agency_of.items() if code == agency),
                      key=lambda pair: fold(pair[1]))

    def person(self, username: str | None) -> str:
        """The person's full name; the login when unknown (a system actor, an account removed)."""
        return self.people.get(username, username) if username else ""


_kept: dict[int, tuple[float, Names]] = {}


async def names(ctx: Context) -> Names:
    """The names as they were at most FRESH_FOR seconds ago."""
    key = id(ctx.sessions)
    kept = _kept.get(key)
    if kept is not None and time.monotonic() - kept[0] < FRESH_FOR:
        return kept[1]
    async with ctx.sessions() as session:
        agencies = {code: (name, name_en or "") for code, name, name_en in
                    await session.execute(select(models.Agency.code, models.Agency.name, models.Agency.name_en))}
        rows = (await session.execute(select(models.User.username, models.User.full_name, models.User.agency))).all()
    fresh = Names(agencies=agencies, people={user: name for user, name, _ in rows},
                  agency_of={user: agency for user, _, agency in rows if agency})
    _kept[key] = (time.monotonic(), fresh)
    return fresh


def forget(ctx: Context) -> None:
    """Read the names again on the next page (after this process changed one)."""
    _kept.pop(id(ctx.sessions), None)
