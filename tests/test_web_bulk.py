"""The Office acts on a selection of tasks (issue 13): each task is its own action, decided and
recorded by its own workflow; the page says which were done and why the others were not."""

import json
from typing import Any

import httpx

from tests.helpers import ORIGIN, Stack, browser_at, csrf_of, history, ok, unique_code, web_login
from tests.test_api_results import MET, executing


async def _assigned(stack: Stack) -> str:
    code = unique_code("BULK")
    ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": code, "title": "Nhiệm vụ chọn nhiều", "lead_agency": "BTC", "deadline": "31/12/2027"}), 201)
    return code


async def _evidence_in(stack: Stack) -> str:
    """A task of BKHCN whose evidence is in, waiting for a reviewer."""
    code = await executing(stack)
    ok(await stack.http.post(
        f"/api/v1/tasks/{code}/actions/evidence.submit", headers=await stack.login("bkhcn.head"),
        files=[("files", ("ket-qua.pdf", b"%PDF-1.4 ket qua", "application/pdf"))],
        data={"summary": "Đã xong", "kpi_results": json.dumps(MET, ensure_ascii=False)}))
    return code


async def _bulk(browser: httpx.AsyncClient, codes: list[str], **fields: Any) -> httpx.Response:
    token = csrf_of(await browser.get("/tasks"))
    return await browser.post("/tasks/bulk", headers={"Origin": ORIGIN},
                              data={"csrf_token": token, "code": codes, **fields})


async def test_a_reminder_on_a_selection_is_recorded_on_each_task_and_alerts_its_head(stack: Stack) -> None:
    codes = [await _assigned(stack), await _assigned(stack)]
    async with browser_at(stack) as browser:
        await web_login(browser, "office")
        page = await _bulk(browser, codes, action="remind", note="Đề nghị báo cáo trước thứ Sáu")
    assert page.status_code == 200 and "2/2" in page.text
    for code in codes:
        comments = [e for e in await history(stack, code) if e["type"] == "comment"]
        said = [c["data"]["text"] for c in comments]
        assert said == ["Văn phòng Thường trực nhắc việc: Đề nghị báo cáo trước thứ Sáu"]
    alerts = ok(await stack.http.get("/api/v1/notifications", params={"unread": True},
                                     headers=await stack.login("btc.head")))
    assert set(codes) <= {note["task_code"] for note in alerts if note["level"] == 0}


async def test_a_reviewer_assigned_to_a_selection_is_refused_where_the_stage_does_not_allow_it(stack: Stack) -> None:
    ready, too_early = await _evidence_in(stack), await _assigned(stack)
    async with browser_at(stack) as browser:
        await web_login(browser, "office")
        page = await _bulk(browser, [ready, too_early], action="review.assign", reviewer="reviewer")
    assert page.status_code == 200 and "1/2" in page.text
    row = page.text.split(f">{too_early}</a>", 1)[1].split("</tr>", 1)[0]
    assert "Chưa thực hiện" in row
    task = ok(await stack.http.get(f"/api/v1/tasks/{ready}", headers=await stack.login("office")))
    assert task["reviewer"] == "reviewer"


async def test_a_selection_acts_only_where_the_person_may(stack: Stack) -> None:
    code = await _assigned(stack)
    async with browser_at(stack) as browser:
        await web_login(browser, "hni.head")  # neither leads this task nor chases
        page = await _bulk(browser, [code], action="remind")
    assert page.status_code == 200 and "0/1" in page.text
    assert not [e for e in await history(stack, code) if e["type"] == "comment"]


async def test_an_empty_or_too_long_selection_is_refused_saying_how_many(stack: Stack) -> None:
    async with browser_at(stack) as browser:
        await web_login(browser, "office")
        for codes in ([], [f"X-{n}" for n in range(101)]):
            page = await _bulk(browser, codes, action="remind")
            assert page.status_code == 422 and "100" in page.text


async def test_the_chosen_tasks_download_as_a_sheet(stack: Stack) -> None:
    codes = [await _assigned(stack), await _assigned(stack)]
    answer = await stack.http.get("/api/v1/tasks", params={"format": "csv", "code": codes},
                                  headers=await stack.login("office"))
    assert answer.status_code == 200
    lines = answer.text.strip().splitlines()
    assert len(lines) == 3 and all(any(code in line for line in lines[1:]) for code in codes)
    too_many = await stack.http.get("/api/v1/tasks", params={"code": [f"X-{n}" for n in range(101)]},
                                    headers=await stack.login("office"))
    assert too_many.status_code == 422
