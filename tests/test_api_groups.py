"""Group directives beyond a named group: a directive to agencies listed by code ("BTC;BCA;BYT"),
from the API and from an import row; the task list folded one row per group for the Office
(`GET /api/v1/tasks?groups=1`, the /tasks page); the group's own page with its children."""

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.helpers import Stack, act, browser_at, ok, unique_code, wait_until, web_login

DOCUMENT = "57-TB/NHOM-THU"  # not notice 20's number: tests/test_api_program.py lists that notice's tasks exactly


async def _directive(stack: Stack, lead: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    """The Office assigns a directive to `lead` (a list of codes): its code and the answer."""
    code = unique_code("GRL")
    item = ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": code, "title": "Các cơ quan rà soát dữ liệu chuyên ngành", "lead_agency": lead,
        "deadline": "trong quý IV/2027", **fields}), 201)
    return code, item


async def _list(stack: Stack, who: str, **params: Any) -> dict[str, Any]:
    return ok(await stack.http.get("/api/v1/tasks", headers=await stack.login(who), params=params))


async def _import(stack: Stack, rows: str) -> dict[str, Any]:
    content = f"code,title,lead_agency,deadline\n{rows}".encode()
    return ok(await stack.http.post("/api/v1/tasks/import", headers=await stack.login("office"),
                                    files={"file": ("danh-sach.csv", content, "text/csv")}))


# --- a directive to an explicit list ---------------------------------------------------------------

async def test_a_directive_to_a_list_creates_one_task_per_listed_agency(stack: Stack) -> None:
    code, item = await _directive(stack, "BTC; BCA;HNI")
    assert item["children"] == [f"{code}-BTC", f"{code}-BCA", f"{code}-HNI"]
    assert item["lead_agency"] == "BTC;BCA;HNI"
    assert item["group_name"] == "Bộ Tài chính, Bộ Công an, Thành phố Hà Nội"
    assert item["stages"] == {"assigned": 3} and item["overdue"] == 0
    office = await stack.login("office")
    for agency in ("BTC", "BCA", "HNI"):
        child = ok(await stack.http.get(f"/api/v1/tasks/{code}-{agency}", headers=office))
        assert child["lead_agency"] == agency and child["deadline_text"] == "trong quý IV/2027"


async def test_a_list_of_one_is_that_agency_s_own_task(stack: Stack) -> None:
    """"BTC;" (a spreadsheet's trailing separator) assigns the task to BTC, not a group of one."""
    code, task = await _directive(stack, "BTC;")
    assert task["code"] == code and task["lead_agency"] == "BTC" and "children" not in task


async def test_only_a_list_may_be_longer_than_one_agency_code(stack: Stack) -> None:
    many = ["BTC", "BCA", "BYT", "BNV", "BTP", "BXD", "BCT", "BNG", "BKHCN"]
    assert len(";".join(many)) > 32
    code, item = await _directive(stack, ";".join(many))
    assert item["children"] == [f"{code}-{agency}" for agency in many]
    refused = await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": unique_code("GRL"), "title": "Một mã quá dài", "lead_agency": "B" * 33, "deadline": "2027-12"})
    assert refused.status_code == 422, refused.text
    assert [error["field"] for error in refused.json()["errors"]] == ["lead_agency"]


async def test_an_unknown_code_in_the_list_is_refused_by_name_and_nothing_is_created(stack: Stack) -> None:
    code = unique_code("GRL")
    office = await stack.login("office")
    refused = await stack.http.post("/api/v1/tasks", headers=office, json={
        "code": code, "title": "Danh sách có mã lạ", "lead_agency": "BTC;KHONGCO;BCA", "deadline": "2027-12"})
    assert refused.status_code == 422, refused.text
    assert "KHONGCO" in refused.json()["detail"] and refused.json()["errors"][0]["field"] == "lead_agency"
    for created in (code, f"{code}-BTC"):
        assert (await stack.http.get(f"/api/v1/tasks/{created}", headers=office)).status_code == 404


async def test_an_import_row_with_a_list_creates_the_listed_agencies_tasks(stack: Stack) -> None:
    code = unique_code("GRI")
    result = await _import(stack, f"{code},Các cơ quan báo cáo,BTC;BCA,2027-12\n")
    assert result["errors"] == [] and result["created"] == [f"{code}-BTC", f"{code}-BCA"]
    item = ok(await stack.http.get(f"/api/v1/tasks/{code}", headers=await stack.login("office")))
    assert item["lead_agency"] == "BTC;BCA" and item["children"] == result["created"]


async def test_an_import_row_with_an_unknown_code_in_its_list_is_a_row_error_naming_it(stack: Stack) -> None:
    result = await _import(stack, f"{unique_code('GRI')},Các cơ quan báo cáo,BTC;KHONGCO,2027-12\n")
    assert result["created"] == []
    [error] = result["errors"]
    assert error["row"] == 2 and "lead_agency" in error["detail"] and "KHONGCO" in error["detail"]


# --- the list, one row per group -----------------------------------------------------------------

async def test_the_list_answers_as_in_v1_without_groups(stack: Stack) -> None:
    code, _ = await _directive(stack, "BTC;BCA")
    page = await _list(stack, "office", q=code)
    assert set(page) == {"items", "total", "total_exact"}  # v1's, and whether `total` is exact (v1.1)
    assert page["total_exact"] is True
    assert sorted(task["code"] for task in page["items"]) == [f"{code}-BCA", f"{code}-BTC"] and page["total"] == 2


async def test_groups_1_folds_the_children_into_their_group_row_with_their_status(stack: Stack) -> None:
    code, _ = await _directive(stack, "BTC;BCA;HNI")
    await act(stack, "btc.head", f"{code}-BTC", "accept", {"officer": "btc.officer"})
    await act(stack, "btc.officer", f"{code}-BTC", "progress.report", {"percent": 60})
    page = await wait_until(lambda: _list(stack, "office", q=code, groups=1),
                            lambda found: found["groups"] and found["groups"][0]["progress"] > 0, what="the fold")
    assert page["items"] == [] and page["total"] == 1
    [row] = page["groups"]
    assert row["code"] == code and row["children"] == [f"{code}-BTC", f"{code}-BCA", f"{code}-HNI"]
    assert row["stages"] == {"assigned": 2, "in_progress": 1} and row["progress"] == 20 and row["overdue"] == 0


async def test_the_group_row_counts_its_overdue_children(stack: Stack) -> None:
    lapsed = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()  # the first escalation level only
    code, _ = await _directive(stack, "BTC;BCA", deadline=lapsed)
    page = await wait_until(lambda: _list(stack, "office", q=code, groups=1),
                            lambda found: found["groups"][0]["overdue"] == 2, what="both children overdue")
    assert page["total"] == 1


async def test_the_folded_list_pages_over_the_groups_then_the_tasks(stack: Stack) -> None:
    code, _ = await _directive(stack, "BTC;BCA")
    ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": f"{code}-RIENG", "title": "Một nhiệm vụ riêng", "lead_agency": "HNI", "deadline": "2027-12"}), 201)
    first = await _list(stack, "office", q=code, groups=1, limit=1)
    second = await _list(stack, "office", q=code, groups=1, limit=1, offset=1)
    assert [row["code"] for row in first["groups"]] == [code] and first["items"] == []
    assert second["groups"] == [] and [task["code"] for task in second["items"]] == [f"{code}-RIENG"]
    assert first["total"] == second["total"] == 2


async def test_a_member_asking_for_groups_sees_its_own_task_unfolded(stack: Stack) -> None:
    code, _ = await _directive(stack, "BTC;BCA")
    page = await _list(stack, "btc.head", q=code, groups=1)
    assert page["groups"] == [] and [task["code"] for task in page["items"]] == [f"{code}-BTC"]
    assert page["total"] == 1


# --- the pages -----------------------------------------------------------------------------------

async def test_the_tasks_page_shows_the_office_one_row_per_group(stack: Stack) -> None:
    code, _ = await _directive(stack, "BTC;BCA")
    async with browser_at(stack) as browser:
        await web_login(browser, "office")
        folded = await browser.get("/tasks", params={"q": code})
        unfolded = await browser.get("/tasks", params={"q": code, "groups": "0"})
    assert folded.status_code == 200, folded.text
    assert f'href="/tasks/{code}"' in folded.text and f"/tasks/{code}-BTC" not in folded.text
    assert 'id="unfold"' in folded.text
    assert f"/tasks/{code}-BTC" in unfolded.text and f'href="/tasks/{code}"' not in unfolded.text


async def test_the_group_page_shows_the_directive_and_each_child(stack: Stack) -> None:
    code, _ = await _directive(stack, "BTC;BCA", source={"document": DOCUMENT, "section": "Phụ lục, mục 6"})
    async with browser_at(stack) as browser:
        await web_login(browser, "office")
        page = await browser.get(f"/tasks/{code}")
    assert page.status_code == 200, page.text
    assert "Các cơ quan rà soát dữ liệu chuyên ngành" in page.text and "trong quý IV/2027" in page.text
    assert DOCUMENT in page.text and "Bộ Tài chính, Bộ Công an (BTC;BCA)" in page.text
    assert f'href="/tasks/{code}-BTC"' in page.text and f'href="/tasks/{code}-BCA"' in page.text


async def test_a_member_is_refused_the_group_page_as_by_the_api(stack: Stack) -> None:
    code, _ = await _directive(stack, "BTC;BCA")
    async with browser_at(stack) as browser:
        await web_login(browser, "btc.head")
        page = await browser.get(f"/tasks/{code}")
    assert page.status_code == 403


async def test_an_unknown_code_is_not_found_for_a_member_too(stack: Stack) -> None:
    unknown = unique_code("KHONGCO")
    answer = await stack.http.get(f"/api/v1/tasks/{unknown}", headers=await stack.login("btc.head"))
    assert answer.status_code == 404, answer.text
    async with browser_at(stack) as browser:
        await web_login(browser, "btc.head")
        assert (await browser.get(f"/tasks/{unknown}")).status_code == 404
