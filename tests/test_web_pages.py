"""The pages do what the JSON API does, through the same services: here the administrator's forms
(agencies, users), which no browser test fills."""

import html
import re
import uuid

from tests.helpers import ORIGIN, Stack, browser_at, csrf_of, ok, web_login


async def _post_form(stack: Stack, username: str, path: str, form: dict[str, str | list[str]]) -> tuple[int, str]:
    """Log in as this person, open the admin page's form, post it: its status and the page answered."""
    async with browser_at(stack) as browser:
        await web_login(browser, username)
        page = await browser.get("/admin")
        token = csrf_of(page) if page.status_code == 200 else csrf_of(await browser.get("/inbox"))
        answer = await browser.post(path, data={**form, "csrf_token": token}, headers={"Origin": ORIGIN})
        return answer.status_code, answer.text


async def test_the_administrator_adds_an_agency_from_the_admin_page(stack: Stack) -> None:
    code = f"A{uuid.uuid4().hex[:6].upper()}"
    status, page = await _post_form(stack, "admin", "/admin/agencies",
                                    {"code": code, "name": "Sở Khoa học và Công nghệ thử", "kind": "province"})
    assert status == 303, page
    agencies = ok(await stack.http.get("/api/v1/agencies", headers=await stack.login("office")))
    assert code in {agency["code"] for agency in agencies}


async def test_the_administrator_adds_a_user_from_the_admin_page(stack: Stack) -> None:
    username = f"canbo.{uuid.uuid4().hex[:6]}"
    status, page = await _post_form(stack, "admin", "/admin/users", {
        "username": username, "full_name": "Cán bộ thử", "agency": "HNI", "password": "Mot-mat-khau-dai-2026",
        "roles": ["agency_officer"]})
    assert status == 303, page
    user = ok(await stack.http.get(f"/api/v1/users/{username}", headers=await stack.login("admin")))
    assert user["agency"] == "HNI" and user["roles"] == ["agency_officer"]


async def test_a_bad_admin_form_is_shown_again_with_the_field_at_fault(stack: Stack) -> None:
    status, page = await _post_form(stack, "admin", "/admin/agencies",
                                    {"code": "có dấu", "name": "x", "kind": "province"})
    assert status == 422
    assert "sai định dạng" in page  # the field's sentence, in Vietnamese, on the page


async def test_someone_else_posting_an_admin_form_is_refused_before_the_form_is_read(stack: Stack) -> None:
    status, page = await _post_form(stack, "hni.officer", "/admin/agencies", {"code": "có dấu"})
    assert status == 403, page


async def test_the_language_switch_keeps_the_filters(stack: Stack) -> None:
    """Switching language comes back to the same list, filtered the same way (issue 13)."""
    async with browser_at(stack) as browser:
        await web_login(browser, "office")
        page = await browser.get("/tasks", params={"stage": "in_progress", "q": "chuyển đổi"})
        link = re.search(r'id="lang-switch" href="([^"]+)"', page.text)
        assert link is not None
        back = await browser.get(html.unescape(link.group(1)))
        assert back.status_code == 303
        assert back.headers["location"] == "/tasks?stage=in_progress&q=chuy%E1%BB%83n+%C4%91%E1%BB%95i"
