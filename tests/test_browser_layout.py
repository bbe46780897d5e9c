"""Every page, as the person who would open it, on a laptop and on two phones: no sideways scroll on a
phone, and axe-core (shipped in the axe-playwright-python wheel, injected from disk, never fetched)
finds nothing serious or critical. A full-page screenshot of each page is saved under
test-output/screenshots/<page>-<width>.png for a person to look at. axe and the screenshot run on the
laptop and on the narrower phone (AXE_WIDTHS): the wider phone lays out as the narrower one does, and
both cost most of the survey's time; every size is checked for sideways scroll.

One survey visits the pages once (a module fixture); the tests then read what it found."""

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pytest

from tests.helpers import ADMIN_PASSWORD, DEMO_PASSWORD
from tests.test_browser import CHROMIUM_ARGS, SHOTS, TIMEOUT_MS, Browser, async_playwright, live_server  # noqa: F401

pytestmark = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Chromium is not installed")
axe_package = pytest.importorskip("axe_playwright_python", reason="axe-playwright-python is not installed")
AXE_JS = (resources.files(axe_package) / "axe.min.js").read_text(encoding="utf-8")

SIZES = [(1366, 768), (390, 844), (360, 740)]
PHONE_WIDTHS = {360, 390}
AXE_WIDTHS = {1366, 360}
SERIOUS = {"serious", "critical"}
# (page, axe rule) pairs known and accepted, each with its reason: none now; every serious or critical
# violation fails the test.
KNOWN: dict[tuple[str, str], str] = {}


@dataclass
class Visit:
    page: str
    width: int
    scroll_width: int = 0
    inner_width: int = 0
    serious: list[str] = field(default_factory=list)
    minor: int = 0
    known: int = 0
    axe: bool = False  # axe ran at this width (AXE_WIDTHS)

    def columns(self) -> str:
        if not self.axe:
            return f"{'-':>16}  {'-':>13}  {'-':>20}"
        return f"{len(self.serious):16}  {self.known:13}  {self.minor:20}"


async def _pages(browser: Browser, base: str) -> AsyncIterator[tuple[str, object]]:
    """Yields (name, page) with the page loaded, as the person who would read it."""
    async def open_as(username: str | None, password: str = DEMO_PASSWORD):
        context = await browser.new_context(base_url=base, viewport={"width": 1366, "height": 768},
                                            bypass_csp=True)  # lets the test inject axe.min.js
        context.set_default_timeout(TIMEOUT_MS)
        page = await context.new_page()
        if username:
            await page.goto("/login?next=/me")
            await page.fill("#username", username)
            await page.fill("#password", password)
            await page.click("form[action='/login'] button[type=submit]")
            await page.wait_for_url("**/me")
        return context, page

    anonymous, page = await open_as(None)
    for name, path in [("login", "/login"), ("public", "/public")]:
        await page.goto(path)
        yield name, page
    hrefs = await page.eval_on_selector_all(
        "a[href^='/public/rankings/'], a[href^='/public/publications/']",
        "links => links.map(a => a.getAttribute('href'))")
    for kind in ("rankings", "publications"):
        first = next((href for href in hrefs if f"/public/{kind}/" in href), None)
        if first:
            await page.goto(first)
            yield kind.rstrip("s"), page
    await page.goto("/tasks/NO-SUCH-TASK")
    yield "error", page
    await anonymous.close()

    for username, password, paths in [
            ("office", DEMO_PASSWORD, [("inbox-office", "/inbox"), ("tasks", "/tasks"),
                                       ("tasks-searched", "/tasks?q=chuyen+doi+so&relation=lead&sort=-code"),
                                       ("task-new", "/tasks/new"), ("import", "/tasks/import"),
                                       ("dashboard", "/dashboard"), ("notifications", "/notifications"),
                                       ("me", "/me")]),
            ("hni.head", DEMO_PASSWORD, [("inbox-hni-head", "/inbox"), ("task-head", "/tasks/NQ57-2027-008")]),
            ("hni.officer", DEMO_PASSWORD, [("inbox-hni-officer", "/inbox"), ("task", "/tasks/NQ57-2027-008")]),
            ("reviewer", DEMO_PASSWORD, [("inbox-reviewer", "/inbox")]),
            ("committee", DEMO_PASSWORD, [("task-completed", "/tasks/DEMO-08"), ("task-shortfall", "/tasks/DEMO-07")]),
            ("admin", ADMIN_PASSWORD, [("admin", "/admin"), ("admin-user", "/admin/users/hni.head"),
                                       ("admin-agency", "/admin/agencies/HNI")])]:
        context, page = await open_as(username, password)
        for name, path in paths:
            await page.goto(path)
            yield name, page
            if name == "tasks":
                group = await page.eval_on_selector_all(
                    "tbody a[href^='/tasks/']", "links => links.map(a => a.getAttribute('href'))")
                codes = [href for href in group if re.fullmatch(r"/tasks/[^/?#]+", href)]
                groups = [href for href in codes if await _is_group(page, href)]
                if groups:
                    await page.goto(groups[0])
                    yield "group", page
        await context.close()


async def _is_group(page, href: str) -> bool:
    return bool(await page.evaluate(
        "href => [...document.querySelectorAll(`a[href='${href}']`)].some(a => a.closest('tr.group, .group'))",
        href))


async def _measure(page, name: str, width: int, height: int) -> Visit:
    await page.set_viewport_size({"width": width, "height": height})
    visit = Visit(name, width)
    visit.scroll_width, visit.inner_width = await page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]")
    if width not in AXE_WIDTHS:
        return visit
    visit.axe = True
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(content=AXE_JS)
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    for violation in result["violations"]:
        if violation["impact"] in SERIOUS and (name, violation["id"]) not in KNOWN:
            targets = ", ".join(str(node["target"]) for node in violation["nodes"][:3])
            visit.serious.append(f"{violation['id']} ({violation['impact']}, {len(violation['nodes'])}): {targets}")
        elif violation["impact"] in SERIOUS:
            visit.known += len(violation["nodes"])
        else:
            visit.minor += len(violation["nodes"])
    await page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    return visit


@pytest.fixture(scope="module")
async def survey(live_server: str) -> list[Visit]:  # noqa: F811
    SHOTS.mkdir(parents=True, exist_ok=True)
    visits: list[Visit] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            async for name, page in _pages(browser, live_server):
                for width, height in SIZES:
                    visits.append(await _measure(page, name, width, height))
        finally:
            await browser.close()
    lines = ["page                 width  serious+critical  known (KNOWN)  minor+moderate nodes  scrollWidth"]
    lines += [f"{visit.page:20} {visit.width:5}  {visit.columns()}  {visit.scroll_width}" for visit in visits]
    print("\n" + "\n".join(lines))
    (SHOTS.parent / "axe-report.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")  # for the record
    return visits


def test_survey_reaches_every_page(survey: list[Visit]) -> None:
    pages = {visit.page for visit in survey if visit.axe}
    assert {"login", "public", "error", "inbox-office", "tasks", "dashboard", "me", "inbox-hni-head",
            "inbox-hni-officer", "task", "inbox-reviewer", "admin"} <= pages, pages


def test_no_sideways_scroll_on_a_phone(survey: list[Visit]) -> None:
    wide = [f"{visit.page} at {visit.width}px: {visit.scroll_width} > {visit.inner_width}"
            for visit in survey if visit.width in PHONE_WIDTHS and visit.scroll_width > visit.inner_width]
    assert not wide, "\n".join(wide)


def test_no_serious_or_critical_accessibility_violation(survey: list[Visit]) -> None:
    found = [f"{visit.page} at {visit.width}px: {problem}" for visit in survey for problem in visit.serious]
    assert not found, "\n".join(found)
