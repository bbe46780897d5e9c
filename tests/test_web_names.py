"""Pages name people and agencies (issue 13): an agency by its name, in English in English; a person
by their full name. Codes and logins stay in links and exports, not in what people read."""

from tests.helpers import Stack, browser_at, ok, unique_code, web_login


async def test_the_public_list_names_the_lead_and_coordinating_agencies(stack: Stack) -> None:
    code = unique_code("TEN")
    ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": code, "title": "Tên cơ quan", "lead_agency": "HNI", "coordinating_agencies": ["BCA"],
        "deadline": "31/12/2027"}), 201)
    async with browser_at(stack) as browser:
        page = (await browser.get("/public", params={"agency": "HNI"})).text
        row = page.split(f"<td>{code}</td>", 1)[1].split("</tr>", 1)[0]
        assert "Thành phố Hà Nội" in row and "Bộ Công an" in row
        await browser.get("/lang/en")
        english = (await browser.get("/public", params={"agency": "HNI"})).text
        row = english.split(f"<td>{code}</td>", 1)[1].split("</tr>", 1)[0]
        assert "Hanoi" in row and "Ministry of Public Security" in row


async def test_my_page_names_my_agency(stack: Stack) -> None:
    async with browser_at(stack) as browser:
        await web_login(browser, "hni.head")
        assert "Thành phố Hà Nội" in (await browser.get("/me")).text
