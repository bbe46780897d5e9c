"""The whole life of a task over HTTP, each step taken by the person whose job it is (design.md,
the table of actions), with the task, its history, the inboxes and the evidence file checked on
the way."""

import json
from typing import Any

import httpx

from tests.helpers import Stack, act, history, ok, unique_code

KPIS = [{"name": "Xã được trang bị thiết bị", "target": 100, "unit": "%"},
        {"name": "Cán bộ sử dụng không gian số", "target": 90, "unit": "%"}]


async def _inbox(stack: Stack, user: str) -> dict[str, list[str]]:
    """The caller's inbox as code -> actions."""
    items = ok(await stack.http.get("/api/v1/inbox", headers=await stack.login(user)))
    assert isinstance(items, list)
    return {item["code"]: item["actions"] for item in items}


async def _create(stack: Stack, code: str, *, lead: str = "HNI", coordinating: list[str] | None = None,
                  budget_required: bool = False, deadline: str = "2027-Q2") -> dict[str, Any]:
    answer = await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": code, "title": "Mô hình chuyển đổi số cấp xã", "description": "Không gian làm việc số dùng chung",
        "lead_agency": lead, "coordinating_agencies": coordinating if coordinating is not None else ["BKHCN"],
        "deadline": deadline, "product": "Không gian làm việc số cho các cơ quan cấp xã", "kpis": KPIS,
        "budget_required": budget_required, "reporting": "monthly"})
    return ok(answer, 201)


async def _evidence(stack: Stack, user: str, code: str, files: list[tuple[str, bytes, str]], summary: str,
                    kpi_results: dict[str, Any]) -> httpx.Response:
    return await stack.http.post(
        f"/api/v1/tasks/{code}/actions/evidence.submit", headers=await stack.login(user),
        files=[("files", file) for file in files],
        data={"summary": summary, "kpi_results": json.dumps(kpi_results, ensure_ascii=False)})


async def test_a_task_goes_from_assignment_to_completion(stack: Stack) -> None:
    code = unique_code("LIFE")
    results = {"Xã được trang bị thiết bị": 100, "Cán bộ sử dụng không gian số": 92.5}

    # The Standing Office assigns it.
    task = await _create(stack, code, budget_required=True)
    assert task["stage"] == "assigned"
    assert task["lead_agency"] == "HNI" and task["coordinating_agencies"] == ["BKHCN"]
    assert task["budget_required"] is True and [k["name"] for k in task["kpis"]] == [k["name"] for k in KPIS]
    assert task["deadline"].startswith("2027-06-30T23:59:59") and task["overdue"] is False
    assert (await _inbox(stack, "hni.head"))[code] == ["accept", "comment"]
    assert code not in await _inbox(stack, "hni.officer")  # an officer does not accept
    assert code not in await _inbox(stack, "btc.head")  # another agency's task

    # The lead's head accepts it and names the officer in charge.
    task = await act(stack, "hni.head", code, "accept", {"officer": "hni.officer"})
    assert task["stage"] == "budget_registration" and task["officer"] == "hni.officer"
    assert (await _inbox(stack, "hni.head"))[code] == ["budget.submit", "extension.request", "comment"]

    # Budget: submitted, rejected by finance, submitted again, approved.
    budget = {"amount_vnd": 1_500_000_000, "source": "Ngân sách thành phố",
              "lines": [{"item": "Thiết bị", "amount_vnd": 1_000_000_000},
                        {"item": "Đào tạo", "amount_vnd": 500_000_000}]}
    task = await act(stack, "hni.head", code, "budget.submit", budget)
    assert task["stage"] == "budget_review" and task["budget"]["status"] == "submitted"
    assert task["budget"]["amount_vnd"] == 1_500_000_000
    assert (await _inbox(stack, "finance"))[code] == ["budget.approve", "budget.reject"]
    assert code not in await _inbox(stack, "hni.head")  # waiting for finance, not for the lead

    task = await act(stack, "finance", code, "budget.reject", {"reason": "Thiếu dự toán chi tiết đào tạo"})
    assert task["stage"] == "budget_registration"
    assert task["budget"]["status"] == "rejected" and task["budget"]["reason"] == "Thiếu dự toán chi tiết đào tạo"
    assert code not in await _inbox(stack, "finance")
    assert "budget.submit" in (await _inbox(stack, "hni.head"))[code]

    budget["lines"][1] = {"item": "Đào tạo 500 cán bộ xã", "amount_vnd": 500_000_000}
    task = await act(stack, "hni.head", code, "budget.submit", budget)
    assert task["stage"] == "budget_review"
    task = await act(stack, "finance", code, "budget.approve", {"reason": "Phù hợp"})
    assert task["stage"] == "in_progress" and task["budget"]["status"] == "approved"
    assert (await _inbox(stack, "hni.head"))[code] == [
        "budget.amend", "progress.report", "extension.request", "evidence.submit", "comment", "subtask.create"]

    # Progress: the lead's officer reports; a coordinating officer adds a contribution.
    task = await act(stack, "hni.officer", code, "progress.report", {
        "percent": 40, "kpi_actuals": {"Xã được trang bị thiết bị": 45}, "note": "Đã trang bị 45% số xã",
        "disbursed_vnd": 600_000_000})
    assert task["progress"]["percent"] == 40 and task["budget"]["disbursed_vnd"] == 600_000_000
    task = await act(stack, "bkhcn.officer", code, "progress.report", {
        "percent": 100, "kpi_actuals": {}, "note": "Đã bàn giao nền tảng dùng chung"})
    reports = task["progress"]["reports"]
    assert [(r["by"], r["agency"], r["contribution"]) for r in reports] == [
        ("hni.officer", "HNI", False), ("bkhcn.officer", "BKHCN", True)]
    assert task["progress"]["percent"] == 40  # a contribution is not the lead's own figure

    # An extension: asked by the lead's head, approved by the Office; the deadline moves.
    task = await act(stack, "hni.head", code, "extension.request",
                      {"new_deadline": "2027-09-30", "reason": "Chờ thiết bị nhập khẩu"})
    assert task["extension_request"]["new_deadline_text"] == "2027-09-30"
    assert task["deadline"].startswith("2027-06-30")
    assert (await _inbox(stack, "office"))[code] == ["extension.approve", "extension.reject", "cancel", "comment",
                                                     "correct"]
    task = await act(stack, "office", code, "extension.approve", {"reason": "Lý do chính đáng"})
    assert task["deadline"].startswith("2027-09-30T23:59:59") and task["deadline_text"] == "2027-09-30"
    assert task["original_deadline"].startswith("2027-06-30") and task["extensions_granted"] == 1
    assert task["extension_request"] is None
    assert code not in await _inbox(stack, "office")

    # A comment from the coordinating agency.
    task = await act(stack, "bkhcn.officer", code, "comment", {"text": "Đề nghị bổ sung hướng dẫn sử dụng"})
    assert task["stage"] == "in_progress"

    # Evidence of the result, by the lead's head.
    content = b"%PDF-1.4\n" + "Biên bản nghiệm thu không gian làm việc số\n".encode() * 50
    task = ok(await _evidence(stack, "hni.head", code, [
        ("bien-ban-nghiem-thu.pdf", content, "application/pdf"),
        ("so-lieu.csv", b"xa,trang_bi\nA,1\n", "text/csv")], "Đã hoàn thành", results))
    assert task["stage"] == "cross_check"
    assert [(f["filename"], f["size"]) for f in task["evidence"][0]["files"]] == [
        ("bien-ban-nghiem-thu.pdf", len(content)), ("so-lieu.csv", 16)]
    assert task["evidence"][0]["kpi_results"] == results and task["evidence"][0]["summary"] == "Đã hoàn thành"
    sha = task["evidence"][0]["files"][0]["sha256"]
    download = await stack.http.get(f"/api/v1/tasks/{code}/evidence/{sha}", headers=await stack.login("auditor"))
    assert download.status_code == 200, download.text
    assert download.content == content and download.headers["content-type"].startswith("application/pdf")
    assert "bien-ban-nghiem-thu.pdf" in download.headers["content-disposition"]
    for user in ("bkhcn.officer", "hni.officer"):  # the coordinating agency and the lead read it too
        again = await stack.http.get(f"/api/v1/tasks/{code}/evidence/{sha}", headers=await stack.login(user))
        assert again.status_code == 200 and again.content == content

    # The Office assigns an independent reviewer; the reviewer sends it back for rework.
    assert (await _inbox(stack, "office"))[code] == ["review.assign", "cancel", "comment", "correct"]
    assert code not in await _inbox(stack, "reviewer")
    task = await act(stack, "office", code, "review.assign", {"reviewer": "reviewer"})
    assert task["reviewer"] == "reviewer" and task["stage"] == "cross_check"
    assert (await _inbox(stack, "reviewer"))[code] == ["review.approve", "review.reject", "comment"]
    findings = ["Biên bản thiếu chữ ký", "Số liệu xã chưa khớp"]
    task = await act(stack, "reviewer", code, "review.reject", {"reason": "Chưa đạt", "findings": findings})
    assert task["stage"] == "in_progress" and task["rework_deadline"] is not None
    assert task["reviews"][0]["decision"] == "rejected" and task["reviews"][0]["findings"] == findings
    assert code not in await _inbox(stack, "reviewer")
    assert "evidence.submit" in (await _inbox(stack, "hni.head"))[code]

    # Rework, resubmission, approval.
    signed = content + b"\nchu ky\n"
    task = ok(await _evidence(stack, "hni.head", code, [("bien-ban-da-ky.pdf", signed, "application/pdf")],
                                     "Đã bổ sung chữ ký", results))
    assert task["stage"] == "cross_check" and len(task["evidence"]) == 2 and task["rework_deadline"] is None
    assert "review.approve" in (await _inbox(stack, "reviewer"))[code]
    task = await act(stack, "reviewer", code, "review.approve", {"reason": "Sản phẩm dùng được"})
    assert task["stage"] == "completed" and task["late"] is False
    assert [r["decision"] for r in task["reviews"]] == ["rejected", "approved"]
    assert task["progress"]["percent"] == 100  # completed is 100%, whatever was last reported
    for user in ("office", "hni.head", "finance", "reviewer", "committee"):
        assert code not in await _inbox(stack, user), user

    # What the lead's head reads is what the last action answered.
    read = ok(await stack.http.get(f"/api/v1/tasks/{code}", headers=await stack.login("hni.head")))
    assert read["stage"] == "completed" and read["reviewer"] == "reviewer" and read["officer"] == "hni.officer"
    assert read["evidence"] == task["evidence"] and read["budget"] == task["budget"]

    events = await history(stack, code)
    assert [entry["type"] for entry in events] == [
        "created", "accept", "budget.submit", "budget.reject", "budget.submit", "budget.approve",
        "progress.report", "progress.report", "extension.request", "extension.approve", "comment",
        "evidence.submit", "review.assign", "review.reject", "evidence.submit", "review.approve"]
    assert [entry["seq"] for entry in events] == list(range(1, len(events) + 1))
    assert [entry["actor"] for entry in events] == [
        "office", "hni.head", "hni.head", "finance", "hni.head", "finance", "hni.officer", "bkhcn.officer",
        "hni.head", "office", "bkhcn.officer", "hni.head", "office", "reviewer", "hni.head", "reviewer"]
    assert len({entry["hash"] for entry in events}) == len(events)
    assert events[3]["data"]["reason"] == "Thiếu dự toán chi tiết đào tạo"
    assert events[9]["data"]["new_deadline"].startswith("2027-09-30")
    assert events[13]["data"]["findings"] == findings

    # A closed task takes no further step.
    late = await _evidence(stack, "hni.head", code, [("x.pdf", b"x", "application/pdf")], "", results)
    assert late.status_code == 409 and late.json()["stage"] == "completed"


async def test_a_task_without_budget_goes_straight_to_work(stack: Stack) -> None:
    code = unique_code("NOBUD")
    await _create(stack, code, budget_required=False)
    task = await act(stack, "hni.head", code, "accept", {})
    assert task["stage"] == "in_progress" and task["budget"] is None and task["officer"] is None
    assert [entry["type"] for entry in await history(stack, code)] == ["created", "accept"]


async def test_extension_rejected_keeps_the_deadline(stack: Stack) -> None:
    code = unique_code("EXT")
    await _create(stack, code, budget_required=True)
    await act(stack, "hni.head", code, "accept", {})
    task = await act(stack, "hni.head", code, "extension.request", {"new_deadline": "2027-Q3", "reason": "Chậm"})
    assert task["stage"] == "budget_registration" and task["extension_request"] is not None
    task = await act(stack, "committee", code, "extension.reject", {"reason": "Không có căn cứ"})
    assert task["extension_request"] is None and task["deadline"].startswith("2027-06-30")
    assert task["extensions_granted"] == 0
    assert [entry["type"] for entry in await history(stack, code)][-2:] == ["extension.request", "extension.reject"]


async def test_committee_reassigns_the_lead(stack: Stack) -> None:
    code = unique_code("REASSIGN")
    await _create(stack, code, coordinating=["BKHCN", "BCA"])
    assert code in await _inbox(stack, "hni.head")
    task = await act(stack, "committee", code, "reassign", {"lead_agency": "BCA", "reason": "Hà Nội chậm tiếp nhận"})
    assert task["lead_agency"] == "BCA" and task["coordinating_agencies"] == ["BKHCN"]
    assert task["stage"] == "assigned"
    assert code not in await _inbox(stack, "hni.head")
    assert (await _inbox(stack, "bca.head"))[code] == ["accept", "comment"]

    refused = await stack.http.post(f"/api/v1/tasks/{code}/actions/accept", headers=await stack.login("hni.head"),
                                    json={})
    assert refused.status_code == 403, refused.text  # HNI no longer has anything to do with it
    task = await act(stack, "bca.head", code, "accept", {"officer": "bca.officer"})
    assert task["stage"] == "in_progress" and task["officer"] == "bca.officer"

    events = await history(stack, code)
    assert [entry["type"] for entry in events] == ["created", "reassign", "accept"]
    assert events[1]["actor"] == "committee"
    assert events[1]["data"] == {"from": "HNI", "to": "BCA", "reason": "Hà Nội chậm tiếp nhận"}


async def test_office_cancels_an_open_task(stack: Stack) -> None:
    code = unique_code("CANCEL")
    await _create(stack, code, budget_required=True)
    await act(stack, "hni.head", code, "accept", {})
    task = await act(stack, "office", code, "cancel", {"reason": "Nhiệm vụ được gộp vào nhiệm vụ khác"})
    assert task["stage"] == "cancelled" and task["cancel_reason"] == "Nhiệm vụ được gộp vào nhiệm vụ khác"
    assert code not in await _inbox(stack, "hni.head")

    listed = ok(await stack.http.get("/api/v1/tasks", params={"stage": "cancelled", "q": code},
                                            headers=await stack.login("office")))
    assert [item["code"] for item in listed["items"]] == [code] and listed["total"] == 1

    refused = await stack.http.post(f"/api/v1/tasks/{code}/actions/budget.submit",
                                    headers=await stack.login("hni.head"),
                                    json={"amount_vnd": 0, "source": "x", "lines": [{"item": "x", "amount_vnd": 0}]})
    assert refused.status_code == 409 and refused.json()["stage"] == "cancelled"
    # A closed task still takes comments.
    task = await act(stack, "hni.head", code, "comment", {"text": "Đã nhận thông báo hủy"})
    assert task["stage"] == "cancelled"
    assert [entry["type"] for entry in await history(stack, code)] == ["created", "accept", "cancel", "comment"]


async def test_committee_cancels_too(stack: Stack) -> None:
    code = unique_code("CANCEL")
    await _create(stack, code)
    task = await act(stack, "committee", code, "cancel", {"reason": "Không còn phù hợp"})
    assert task["stage"] == "cancelled"
    assert (await history(stack, code))[-1]["actor"] == "committee"


async def test_task_lists_and_reads_follow_the_relation(stack: Stack) -> None:
    code = unique_code("READ")
    await _create(stack, code)
    for user in ("office", "committee", "auditor", "finance", "hni.officer", "bkhcn.head"):
        answer = await stack.http.get(f"/api/v1/tasks/{code}", headers=await stack.login(user))
        assert answer.status_code == 200, (user, answer.text)
    outsider = await stack.http.get(f"/api/v1/tasks/{code}", headers=await stack.login("btc.head"))
    assert outsider.status_code == 403 and outsider.json()["detail"]
    mine = ok(await stack.http.get("/api/v1/tasks", params={"q": code}, headers=await stack.login("hni.head")))
    assert [item["code"] for item in mine["items"]] == [code]
    theirs = ok(await stack.http.get("/api/v1/tasks", params={"q": code},
                                            headers=await stack.login("btc.head")))
    assert theirs == {"items": [], "total": 0, "total_exact": True}


async def test_evidence_is_submitted_at_its_documented_address(stack: Stack) -> None:
    code = unique_code("EVID")
    await _create(stack, code)
    await act(stack, "hni.head", code, "accept", {})
    # No query string: the address api.md gives (it once answered 422 "action: Field required").
    answer = await stack.http.post(
        f"/api/v1/tasks/{code}/actions/evidence.submit", headers=await stack.login("hni.head"),
        files=[("files", ("bao-cao.pdf", b"%PDF-1.4 bao cao", "application/pdf"))],
        data={"summary": "Xong", "kpi_results": json.dumps({k["name"]: k["target"] for k in KPIS})})
    assert answer.status_code == 200, answer.text
    assert answer.json()["stage"] == "cross_check"


async def test_inbox_puts_the_most_urgent_first(stack: Stack) -> None:
    far, near, lapsed = unique_code("FAR"), unique_code("NEAR"), unique_code("LAPSED")
    await _create(stack, far, deadline="2031-Q4")
    await _create(stack, near, deadline="2027-01-15")
    task = await _create(stack, lapsed, deadline="2024-12")  # already past: overdue at once
    assert task["overdue"] is True
    order = list(await _inbox(stack, "hni.head"))
    assert order.index(lapsed) < order.index(near) < order.index(far)

    office = await stack.login("office")
    overdue = ok(await stack.http.get("/api/v1/tasks", params={"overdue": "true", "agency": "HNI", "limit": 500},
                                       headers=office))
    codes = {item["code"] for item in overdue["items"]}
    assert lapsed in codes and near not in codes and far not in codes
    assert all(item["overdue"] for item in overdue["items"]) and overdue["total"] == len(overdue["items"])
    bkhcn = ok(await stack.http.get("/api/v1/tasks", params={"agency": "BKHCN", "q": lapsed}, headers=office))
    assert [item["code"] for item in bkhcn["items"]] == [lapsed]  # a coordinating agency's task too
    btc = ok(await stack.http.get("/api/v1/tasks", params={"agency": "BTC", "q": lapsed}, headers=office))
    assert btc["items"] == []
    page = ok(await stack.http.get("/api/v1/tasks", params={"limit": 1, "offset": 1}, headers=office))
    assert len(page["items"]) == 1 and page["total"] >= 3


async def test_after_review_assignment_the_task_waits_for_the_reviewer_only(stack: Stack) -> None:
    code = unique_code("WAIT")
    await _create(stack, code)
    await act(stack, "hni.head", code, "accept", {})
    ok(await _evidence(stack, "hni.head", code, [("ket-qua.pdf", b"%PDF-1.4", "application/pdf")], "Xong",
                        {k["name"]: k["target"] for k in KPIS}))
    assert "review.assign" in (await _inbox(stack, "office"))[code]
    await act(stack, "office", code, "review.assign", {"reviewer": "reviewer"})
    assert "review.approve" in (await _inbox(stack, "reviewer"))[code]
    assert code not in await _inbox(stack, "office")
    assert code not in await _inbox(stack, "committee")


async def test_the_office_corrects_a_task_and_the_event_keeps_old_and_new(stack: Stack) -> None:
    office = await stack.login("office")
    code = unique_code("COR")
    ok(await stack.http.post("/api/v1/tasks", headers=office, json={
        "code": code, "title": "Tên ghi nhầm", "lead_agency": "HNI", "deadline": "trong quý II/2027"}), 201)
    refused = await stack.http.post(f"/api/v1/tasks/{code}/actions/correct", headers=await stack.login("hni.head"),
                                    json={"reason": "r", "title": "Tên khác"})
    assert refused.status_code == 403, refused.text
    task = await act(stack, "office", code, "correct", {
        "reason": "Phụ lục của thông báo ghi nhầm", "title": "Tên đúng", "deadline": "trong quý III/2027",
        "coordinating_agencies": ["BTC"]})
    assert task["title"] == "Tên đúng" and task["coordinating_agencies"] == ["BTC"]
    assert task["deadline_text"] == "trong quý III/2027" and task["stage"] == "assigned"
    [event] = [entry for entry in await history(stack, code) if entry["type"] == "correct"]
    assert event["data"]["changes"] == {
        "title": {"old": "Tên ghi nhầm", "new": "Tên đúng"},
        "coordinating_agencies": {"old": [], "new": ["BTC"]},
        "deadline": {"old": "trong quý II/2027", "new": "trong quý III/2027",
                     "old_due": "2027-06-30T23:59:59+07:00", "new_due": "2027-09-30T23:59:59+07:00"}}
    created = (await history(stack, code))[0]
    assert created["data"]["title"] == "Tên ghi nhầm"  # the original stays readable
    btc = await stack.login("btc.officer")  # the new coordinating agency reads it now
    assert (await stack.http.get(f"/api/v1/tasks/{code}", headers=btc)).status_code == 200
    unknown = await stack.http.post(f"/api/v1/tasks/{code}/actions/correct", headers=office,
                                    json={"reason": "r", "coordinating_agencies": ["KHONGCO"]})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "coordinating_agencies"
