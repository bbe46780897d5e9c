"""The dashboard opens on a period with data, leads with its headline figures, and offers to publish
only a period that has something due (issue 13). On SQLite and PostgreSQL."""

from datetime import UTC, datetime

from services import people, reports
from services.views import Dashboard
from tests.helpers import Stack, app_of, browser_at, web_login


async def board(stack: Stack, text: str = "") -> Dashboard:
    """The Standing Office's dashboard of the period (none: the default), from the application layer."""
    ctx = app_of(stack).state.ctx
    office = await people.person(ctx, "office")
    assert office is not None
    return await reports.dashboard(ctx, office, text)


async def test_an_empty_period_offers_nothing_to_publish(stack: Stack) -> None:
    empty = await board(stack, "1500-Q1")
    assert (empty.period, empty.headline.tasks, empty.can_publish) == ("1500-Q1", 0, False)
    async with browser_at(stack) as browser:
        await web_login(browser, "office")
        page = await browser.get("/dashboard", params={"period": "1500-Q1"})
        assert page.status_code == 200 and 'action="/dashboard/publish"' not in page.text


async def test_without_a_period_it_opens_on_the_current_quarter_or_else_its_year(stack: Stack) -> None:
    opened = await board(stack)
    now = datetime.now(UTC)
    assert opened.period in (f"{now.year}-Q{(now.month - 1) // 3 + 1}", str(now.year))
    assert opened.headline.tasks == opened.by_status.total
    assert opened.headline.overdue == opened.by_status.overdue


async def test_the_dashboard_takes_and_shows_a_period_as_people_write_it(stack: Stack) -> None:
    async with browser_at(stack) as browser:
        await web_login(browser, "office")
        page = await browser.get("/dashboard", params={"period": "quý iv/2026"})
        assert page.status_code == 200, page.text
        assert "Quý IV/2026" in page.text and 'value="Quý IV/2026"' in page.text
        assert "period=2026-Q4" in page.text  # the links and downloads name it as the API does
