"""Safe actions in a real browser: a final action is said back and confirmed in a second step, and on a
phone the person's own actions come first (a refused submit landing on its field is tests/test_browser.py's).
Reuses tests/test_browser.py's live server (its own instance for this module) and helpers."""

import re

from tests import test_browser as shared
from tests.test_browser import Session, expect, field, form, open_task

# The shared fixtures, found by name (this module gets its own server: live_server is module-scoped).
live_server, browser, screenshots, people = shared.live_server, shared.browser, shared.screenshots, shared.people
pytestmark = shared.pytestmark  # skipped, saying why, without Chromium

OPEN_TASK = "NQ57-2027-003"  # a demo task nobody in this module moves on before it is cancelled


async def test_a_cancel_is_said_back_and_happens_only_once_confirmed(people: Session) -> None:
    office = await people.login("office")
    await open_task(office, OPEN_TASK)
    await field(office, "cancel", "reason").fill("Gộp vào nhiệm vụ khác")
    await form(office, "cancel").locator("button[type=submit]").click()
    warning = form(office, "cancel").locator("[role=alert]")
    await expect(warning).to_contain_text(OPEN_TASK)
    await expect(warning).to_be_focused()
    await expect(office.locator("ol.stepper li[aria-current=step]")).not_to_have_text("Đã hủy")
    await people.shot(office, "task-cancel-confirmation")
    await form(office, "cancel").locator("button[type=submit]").click()
    await expect(office).to_have_url(re.compile(rf"/tasks/{OPEN_TASK}\?done=cancel"))
    await expect(office.locator(".notice[role=status]")).to_be_focused()
    await expect(office.locator("dl").first).to_contain_text("Gộp vào nhiệm vụ khác")


async def test_on_a_phone_the_first_form_is_a_forward_action(people: Session) -> None:
    office = await people.login("office")
    await office.set_viewport_size({"width": 390, "height": 844})
    await open_task(office, "NQ57-2027-008")
    forms = office.locator("form.action")
    await expect(forms.first).not_to_have_class(re.compile(r"\bfinal\b"))
    classes = [await f.get_attribute("class") or "" for f in await forms.all()]
    finals = [i for i, c in enumerate(classes) if "final" in c.split()]
    assert finals and finals == list(range(len(classes) - len(finals), len(classes))), classes
    first, spec = await forms.first.bounding_box(), await office.locator("section.card h2").first.bounding_box()
    assert first and spec and first["y"] < spec["y"]
    await people.shot(office, "task-office-phone")
