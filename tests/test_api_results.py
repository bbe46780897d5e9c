"""Results, not reports, over HTTP on SQLite and PostgreSQL (api.md v1.1, "Results"): KPIs with a
baseline and a direction, unknown KPI names refused, the reviewer's figure replacing the head's, a
shortfall refused as plain completed and accepted as "not met", the budget as the ceiling of
disbursement and its amendment, the head accountable."""

import json
from typing import Any

from tests.helpers import Stack, act, browser_at, csrf_of, get_task, ok, post_action, unique_code, web_login

TRAINED = {"name": "Kỹ sư được đào tạo", "target": 5000, "unit": "người", "baseline": 0, "direction": "higher"}
DAYS = {"name": "Thời gian xử lý hồ sơ", "target": 5, "unit": "ngày", "baseline": 20, "direction": "lower"}
BUDGET = {"amount_vnd": 5_000_000_000, "source": "Ngân sách trung ương",
          "lines": [{"item": "Đào tạo", "amount_vnd": 5_000_000_000}]}


async def executing(stack: Stack, *, budget: bool = False) -> str:
    """A task of BKHCN with two KPIs, accepted by its head (and its budget approved), in execution."""
    code = unique_code("KQ")
    ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": code, "title": "Đào tạo kỹ sư bán dẫn", "lead_agency": "BKHCN", "deadline": "2027-Q4",
        "product": "Kỹ sư được cấp chứng chỉ", "kpis": [TRAINED, DAYS], "budget_required": budget}), 201)
    await act(stack, "bkhcn.head", code, "accept", {})
    if budget:
        await act(stack, "bkhcn.head", code, "budget.submit", BUDGET)
        await act(stack, "finance", code, "budget.approve", {})
    return code


async def submit_evidence(stack: Stack, code: str, results: dict[str, Any] | None = None,
                          summary: str = "Đã đào tạo") -> None:
    """BKHCN's head submits a file as the task's evidence, stating `results` (none: no KPI figures)."""
    data = {"summary": summary} | ({"kpi_results": json.dumps(results, ensure_ascii=False)} if results else {})
    ok(await stack.http.post(f"/api/v1/tasks/{code}/actions/evidence.submit", headers=await stack.login("bkhcn.head"),
                             files=[("files", ("ket-qua.pdf", b"%PDF-1.4 ket qua", "application/pdf"))], data=data))


async def in_review(stack: Stack, results: dict[str, Any], reviewer: str = "reviewer") -> str:
    """A task whose evidence states `results`, with `reviewer` assigned to cross-check it."""
    code = await executing(stack)
    await submit_evidence(stack, code, results)
    await act(stack, "office", code, "review.assign", {"reviewer": reviewer})
    return code


SHORT = {"Kỹ sư được đào tạo": 12, "Thời gian xử lý hồ sơ": 5}
MET = {"Kỹ sư được đào tạo": 5200, "Thời gian xử lý hồ sơ": 4}


async def test_kpis_keep_their_baseline_and_direction(stack: Stack) -> None:
    task = await get_task(stack, await executing(stack))
    assert task["kpis"] == [TRAINED | {"baseline": 0.0}, DAYS | {"baseline": 20.0}]
    assert task["accountable"] == "bkhcn.head"
    assert [entry["username"] for entry in task["accountable_history"]] == ["bkhcn.head"]


async def test_a_progress_report_with_an_unknown_kpi_is_refused_naming_it(stack: Stack) -> None:
    code = await executing(stack)
    answer = await post_action(stack, "bkhcn.officer", code, "progress.report",
                               {"percent": 10, "kpi_actuals": {"Kỹ sư": 3}})
    assert answer.status_code == 422, answer.text
    assert "Kỹ sư" in answer.json()["detail"] and answer.json()["errors"][0]["field"] == "kpi_actuals"


async def test_a_shortfall_is_refused_as_plain_completed(stack: Stack) -> None:
    """The Committee's example: 12 engineers trained against a target of 5,000."""
    code = await in_review(stack, SHORT)
    answer = await post_action(stack, "reviewer", code, "review.approve", {"usable": True})
    assert answer.status_code == 422, answer.text
    assert "Kỹ sư được đào tạo" in answer.json()["detail"]
    assert (await get_task(stack, code))["stage"] == "cross_check"


async def test_a_shortfall_is_completed_as_not_met_and_told_apart_publicly(stack: Stack) -> None:
    code = await in_review(stack, SHORT)
    task = await act(stack, "reviewer", code, "review.approve",
                     {"outcome": "not_met", "reason": "Mới đào tạo lớp đầu", "usable": True})
    assert (task["stage"], task["outcome"], task["usable"]) == ("completed", "not_met", True)
    assert task["achievement"] == round((12 / 5000 + 1) / 2, 4)
    public = ok(await stack.http.get("/public/v1/tasks", params={"agency": "BKHCN", "limit": 200}))
    mine = next(item for item in public["items"] if item["code"] == code)
    assert (mine["completed"], mine["outcome"]) == (True, "not_met")


async def test_the_reviewers_figure_replaces_the_heads(stack: Stack) -> None:
    code = await in_review(stack, MET)
    refused = await post_action(stack, "reviewer", code, "review.approve",
                                {"kpi_results": {"Kỹ sư được đào tạo": 12}})
    assert refused.status_code == 422, refused.text
    task = await act(stack, "reviewer", code, "review.approve", {
        "kpi_results": {"Kỹ sư được đào tạo": 12}, "outcome": "not_met", "reason": "Chỉ 12 người có chứng chỉ"})
    assert task["confirmed_results"] == {"Kỹ sư được đào tạo": 12.0, "Thời gian xử lý hồ sơ": 4.0}
    assert task["outcome"] == "not_met"


async def test_results_that_meet_the_targets_complete_as_met(stack: Stack) -> None:
    task = await act(stack, "reviewer", await in_review(stack, MET), "review.approve", {})
    assert (task["outcome"], task["achievement"], task["late"]) == ("met", 1.0, False)


async def test_disbursing_beyond_the_approved_budget_is_refused_until_an_amendment(stack: Stack) -> None:
    """9 bn VND disbursed against 5 bn approved: refused; amended to 9 bn and approved: recorded."""
    code = await executing(stack, budget=True)
    over = await post_action(stack, "bkhcn.head", code, "progress.report", {"percent": 50, "disbursed_vnd": 9 * 10**9})
    assert over.status_code == 422, over.text
    assert over.json()["errors"][0]["field"] == "disbursed_vnd"
    task = await act(stack, "bkhcn.head", code, "budget.amend", {
        "amount_vnd": 9 * 10**9, "reason": "Mở rộng đào tạo",
        "lines": [{"item": "Đào tạo", "amount_vnd": 9 * 10**9}]})
    assert task["budget"]["amendments"][-1]["status"] == "submitted" and task["stage"] == "in_progress"
    inbox = ok(await stack.http.get("/api/v1/inbox", headers=await stack.login("finance")))
    assert "budget.approve" in next(item["to_do"] for item in inbox if item["code"] == code)
    task = await act(stack, "finance", code, "budget.approve", {"reason": "Đủ căn cứ"})
    assert task["budget"]["amount_vnd"] == 9 * 10**9
    task = await act(stack, "bkhcn.head", code, "progress.report", {"percent": 50, "disbursed_vnd": 9 * 10**9})
    assert task["budget"]["disbursed_vnd"] == 9 * 10**9


async def test_an_accountable_person_must_be_a_head_of_the_lead(stack: Stack) -> None:
    code = unique_code("KQ")
    ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": code, "title": "Nhiệm vụ", "lead_agency": "BKHCN", "deadline": "2027-Q4"}), 201)
    for who in ("bkhcn.officer", "btc.head"):
        answer = await post_action(stack, "bkhcn.head", code, "accept", {"accountable": who})
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["field"] == "accountable"


async def test_the_committee_replaces_the_accountable_head(stack: Stack) -> None:
    code = await executing(stack)
    task = await act(stack, "committee", code, "reassign", {"lead_agency": "BTC", "reason": "Chậm tiến độ"})
    assert (task["lead_agency"], task["accountable"]) == ("BTC", "")
    task = await act(stack, "committee", code, "reassign", {"accountable": "btc.head", "reason": "Giao người"})
    assert task["accountable"] == "btc.head"
    assert [(e["username"], e["agency"]) for e in task["accountable_history"]] == [
        ("bkhcn.head", "BKHCN"), ("", "BTC"), ("btc.head", "BTC")]
    async with browser_at(stack) as browser:  # the page tells who answered when
        await web_login(browser, "office")
        page = (await browser.get(f"/tasks/{code}")).text
        # by name: the heads' full names, their agencies' names
        assert "Bộ trưởng Bộ Khoa học và Công nghệ (Bộ Khoa học và Công nghệ)" in page
        assert "Bộ trưởng Bộ Tài chính (Bộ Tài chính)" in page and "Thủ trưởng Bộ Tài chính" in page


async def test_the_reviewer_approves_a_shortfall_on_the_page_as_not_met(stack: Stack) -> None:
    """The reviewer's form offers the outcome; plain approval of a shortfall is refused on the page too."""
    code = await in_review(stack, SHORT)
    async with browser_at(stack) as browser:
        await web_login(browser, "reviewer")
        page = await browser.get(f"/tasks/{code}")
        assert 'name="outcome"' in page.text and 'value="not_met"' in page.text and 'name="usable"' in page.text
        form = {"csrf_token": csrf_of(page), "usable": "yes", "outcome": "", "confirm": "1"}
        refused = await browser.post(f"/tasks/{code}/actions/review.approve", data=form)
        assert refused.status_code == 422 and "Kỹ sư được đào tạo" in refused.text
        form |= {"outcome": "not_met", "reason": "Mới đào tạo lớp đầu", "kpi_1": "6"}
        done = await browser.post(f"/tasks/{code}/actions/review.approve", data=form, follow_redirects=True)
        assert done.status_code == 200, done.text[:300]
        assert "Hoàn thành, không đạt chỉ tiêu" in done.text
    task = await get_task(stack, code)
    assert task["outcome"] == "not_met" and task["confirmed_results"]["Thời gian xử lý hồ sơ"] == 6.0
