"""The error statuses of api.md, one test (at least) each, and the special rules of design.md:
an officer cannot submit the final evidence, the reviewer must be independent of the task, and
the stage is checked before the policy. Every error body carries a `detail` sentence."""

import asyncio
import base64
import json
import uuid
from typing import Any

import httpx

from services.security import create_token
from tests.helpers import Stack, act, history_types, ok, post_action, unique_code

KPIS = [{"name": "Hồ sơ được số hóa", "target": 100, "unit": "%"}, {"name": "Đơn vị áp dụng", "target": 5, "unit": ""}]
RESULTS = {"Hồ sơ được số hóa": 100, "Đơn vị áp dụng": 5}
BUDGET = {"amount_vnd": 300, "source": "Ngân sách trung ương",
          "lines": [{"item": "Thiết bị", "amount_vnd": 200}, {"item": "Nhân công", "amount_vnd": 100}]}


def _error(answer: httpx.Response, status: int) -> dict[str, Any]:
    """The error body, after checking its status and that it says what is wrong in a sentence."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert isinstance(body.get("detail"), str) and len(body["detail"].split()) >= 2, body
    return body


def _fields(body: dict[str, Any]) -> set[str]:
    return {error["field"] for error in body.get("errors", [])}


async def _create(stack: Stack, *, lead: str = "HNI", coordinating: list[str] | None = None,
                  budget_required: bool = False, code: str | None = None) -> str:
    code = code or unique_code("ERR")
    ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": code, "title": "Số hóa hồ sơ", "lead_agency": lead,
        "coordinating_agencies": ["BKHCN"] if coordinating is None else coordinating,
        "deadline": "2027-12", "product": "Kho hồ sơ số", "kpis": KPIS, "budget_required": budget_required}), 201)
    return code


def _evidence(stack: Stack, headers: dict[str, str], code: str, files: list[tuple[str, bytes, str]],
              kpi_results: Any = None):  # noqa: ANN202
    results = RESULTS if kpi_results is None else kpi_results
    return stack.http.post(
        f"/api/v1/tasks/{code}/actions/evidence.submit", headers=headers,
        files=[("files", file) for file in files],
        data={"summary": "Kết quả", "kpi_results": results if isinstance(results, str) else json.dumps(results)})


async def _in_progress(stack: Stack, **create: Any) -> str:
    code = await _create(stack, **create)
    await act(stack, "hni.head" if create.get("lead", "HNI") == "HNI" else f"{create['lead'].lower()}.head",
               code, "accept", {})
    return code


async def _stage(stack: Stack, code: str) -> str:
    return ok(await stack.http.get(f"/api/v1/tasks/{code}", headers=await stack.login("office")))["stage"]


async def _new_user(stack: Stack, agency: str | None, roles: list[str]) -> str:
    username = f"u-{uuid.uuid4().hex[:10]}"
    ok(await stack.http.post("/api/v1/users", headers=await stack.login("admin"), json={
        "username": username, "password": "mat-khau-dai", "full_name": "Người thử", "agency": agency,
        "roles": roles}), 201)
    return username


# 401 -----------------------------------------------------------------------------------------

async def test_401_without_a_token(stack: Stack) -> None:
    code = await _create(stack)
    for answer in (await stack.http.get("/api/v1/me"), await stack.http.get("/api/v1/tasks"),
                   await stack.http.get(f"/api/v1/tasks/{code}"), await stack.http.get("/api/v1/inbox"),
                   await stack.http.post(f"/api/v1/tasks/{code}/actions/accept", json={})):
        _error(answer, 401)
        assert answer.headers["www-authenticate"] == "Bearer"
    assert await history_types(stack, code) == ["created"]


def _unsigned(payload: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


async def test_401_with_a_bad_token(stack: Stack) -> None:
    secret = stack.settings.token_secret
    bad = {
        "garbage": "not-a-token",
        "foreign signature": create_token("office", "another-secret-" + "x" * 40, 60),
        "expired": create_token("office", secret, -5),
        "unknown user": create_token("ghost", secret, 60),
        "alg none": _unsigned({"sub": "admin", "exp": 4_102_444_800}),
    }
    for why, token in bad.items():
        answer = await stack.http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401, (why, answer.text)
        _error(answer, 401)
    # The same token, rightly signed, works: the refusals above are about the token alone.
    good = await stack.http.get("/api/v1/me", headers={"Authorization": f"Bearer {create_token('office', secret, 5)}"})
    assert ok(good)["username"] == "office"


async def test_401_for_a_wrong_password(stack: Stack) -> None:
    _error(await stack.http.post("/api/v1/auth/token", data={"username": "office", "password": "wrong"}), 401)
    _error(await stack.http.post("/api/v1/auth/token", data={"username": "nobody", "password": "wrong"}), 401)


# 403 -----------------------------------------------------------------------------------------

async def test_403_head_of_another_agency_cannot_accept(stack: Stack) -> None:
    code = await _create(stack)
    body = _error(await post_action(stack, await stack.login("btc.head"), code, "accept", {}), 403)
    assert "accept" in body["detail"]
    assert await _stage(stack, code) == "assigned"
    assert await history_types(stack, code) == ["created"]
    assert code not in {item["code"] for item in ok(await stack.http.get(
        "/api/v1/inbox", headers=await stack.login("btc.head")))}


async def test_403_finance_reviewer_of_the_lead_agency_cannot_decide_its_own_budget(stack: Stack) -> None:
    code = await _create(stack, lead="BTC", budget_required=True)
    await act(stack, "btc.head", code, "accept", {})
    await act(stack, "btc.head", code, "budget.submit", BUDGET)
    finance = await stack.login("finance")  # finance_reviewer @BTC, the lead agency
    _error(await post_action(stack, finance, code, "budget.approve", {}), 403)
    _error(await post_action(stack, finance, code, "budget.reject", {"reason": "Tự thẩm định"}), 403)
    assert await _stage(stack, code) == "budget_review"
    assert await history_types(stack, code) == ["created", "accept", "budget.submit"]
    assert code not in {item["code"] for item in ok(await stack.http.get("/api/v1/inbox", headers=finance))}


async def test_403_an_officer_cannot_submit_the_final_evidence(stack: Stack) -> None:
    code = await _in_progress(stack)
    officer = await stack.login("hni.officer")
    _error(await _evidence(stack, officer, code, [("ket-qua.pdf", b"%PDF-1.4 ket qua", "application/pdf")]), 403)
    assert await _stage(stack, code) == "in_progress"
    # The officer may still report progress: the refusal is about the evidence alone.
    await act(stack, "hni.officer", code, "progress.report", {"percent": 90, "kpi_actuals": {}, "note": ""})
    assert await history_types(stack, code) == ["created", "accept", "progress.report"]


async def test_403_outside_ones_role(stack: Stack) -> None:
    head = await stack.login("hni.head")
    _error(await stack.http.post("/api/v1/tasks", headers=head, json={
        "code": unique_code(), "title": "x", "lead_agency": "HNI", "deadline": "2027-01"}), 403)
    _error(await stack.http.post("/api/v1/tasks/import", headers=head,
                                 files={"file": ("p.csv", b"code,title,lead_agency,deadline\n")}), 403)
    office = await stack.login("office")
    _error(await stack.http.post("/api/v1/agencies", headers=office, json={
        "code": "X1", "name": "X", "kind": "other"}), 403)
    _error(await stack.http.post("/api/v1/users", headers=office, json={
        "username": "someone", "password": "mat-khau-dai", "full_name": "X", "roles": ["admin"]}), 403)
    code = await _create(stack)
    # Only the Committee replaces a lead; a lead's head does not cancel its own task.
    _error(await post_action(stack, office, code, "reassign", {"lead_agency": "BCA", "reason": "x"}), 403)
    _error(await post_action(stack, head, code, "cancel", {"reason": "x"}), 403)
    _error(await stack.http.get(f"/api/v1/tasks/{code}/history", headers=await stack.login("bca.head")), 403)
    assert await history_types(stack, code) == ["created"]


# 404 -----------------------------------------------------------------------------------------

async def test_404_unknown_task(stack: Stack) -> None:
    office = await stack.login("office")
    missing = unique_code("MISSING")
    _error(await stack.http.get(f"/api/v1/tasks/{missing}", headers=office), 404)
    _error(await stack.http.get(f"/api/v1/tasks/{missing}/history", headers=office), 404)
    _error(await post_action(stack, office, missing, "cancel", {"reason": "x"}), 404)
    _error(await stack.http.get(f"/api/v1/tasks/{missing}/evidence/{'0' * 64}", headers=office), 404)


async def test_404_unknown_action(stack: Stack) -> None:
    code = await _create(stack)
    body = _error(await post_action(stack, await stack.login("hni.head"), code, "approve.everything", {}), 404)
    assert "approve.everything" in body["detail"]
    assert await history_types(stack, code) == ["created"]


async def test_404_unknown_evidence_file(stack: Stack) -> None:
    with_file = await _in_progress(stack)
    head = await stack.login("hni.head")
    task = ok(await _evidence(stack, head, with_file, [("../../etc/ket-qua.pdf", b"%PDF-1.4 " + uuid.uuid4().bytes,
                                                         "application/pdf")]))
    sha = task["evidence"][0]["files"][0]["sha256"]
    assert task["evidence"][0]["files"][0]["filename"] == "ket-qua.pdf"  # never a path
    assert (await stack.http.get(f"/api/v1/tasks/{with_file}/evidence/{sha}", headers=head)).status_code == 200

    _error(await stack.http.get(f"/api/v1/tasks/{with_file}/evidence/{'ab' * 32}", headers=head), 404)
    # A person with no relation to the task, and a finance reviewer, do not read its files.
    for user in ("btc.head", "finance"):
        _error(await stack.http.get(f"/api/v1/tasks/{with_file}/evidence/{sha}", headers=await stack.login(user)), 403)
    # A file stored for one task is not served under another one's address.
    other = await _create(stack)
    _error(await stack.http.get(f"/api/v1/tasks/{other}/evidence/{sha}", headers=head), 404)


# 409 -----------------------------------------------------------------------------------------

async def test_409_action_at_the_wrong_stage_names_the_stage(stack: Stack) -> None:
    code = await _create(stack, budget_required=True)
    head = await stack.login("hni.head")
    body = _error(await post_action(stack, head, code, "budget.submit", BUDGET), 409)
    assert body["stage"] == "assigned"
    await act(stack, "hni.head", code, "accept", {})
    body = _error(await post_action(stack, head, code, "accept", {}), 409)
    assert body["stage"] == "budget_registration"
    body = _error(await _evidence(stack, head, code, [("a.pdf", b"%PDF", "application/pdf")]), 409)
    assert body["stage"] == "budget_registration"
    # Two extension requests cannot be open at once.
    await act(stack, "hni.head", code, "extension.request", {"new_deadline": "2028-01", "reason": "Chậm"})
    body = _error(await post_action(stack, head, code, "extension.request",
                                     {"new_deadline": "2028-02", "reason": "Chậm hơn"}), 409)
    assert body["stage"] == "budget_registration"
    assert await history_types(stack, code) == ["created", "accept", "extension.request"]


async def test_409_stage_is_checked_before_the_policy(stack: Stack) -> None:
    """Someone who could never take the action, asking at the wrong stage, hears about the stage."""
    code = await _create(stack, budget_required=True)
    outsider = await stack.login("btc.head")
    body = _error(await post_action(stack, outsider, code, "budget.submit", BUDGET), 409)
    assert body["stage"] == "assigned"
    body = _error(await post_action(stack, await stack.login("reviewer"), code, "review.approve", {}), 409)
    assert body["stage"] == "assigned"
    # At the right stage the same outsider hears from the policy.
    _error(await post_action(stack, outsider, code, "accept", {}), 403)
    assert await history_types(stack, code) == ["created"]


async def test_409_duplicate_task_code(stack: Stack) -> None:
    code = await _create(stack)
    answer = await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": code, "title": "Một nhiệm vụ khác", "lead_agency": "BCA", "deadline": "2027-01"})
    assert code in _error(answer, 409)["detail"]
    task = ok(await stack.http.get(f"/api/v1/tasks/{code}", headers=await stack.login("office")))
    assert task["title"] == "Số hóa hồ sơ" and task["lead_agency"] == "HNI"
    assert await history_types(stack, code) == ["created"]


async def test_409_when_two_create_the_same_code_at_once(stack: Stack) -> None:
    code = unique_code("RACE")
    office = await stack.login("office")
    body = {"code": code, "title": "Giao cùng lúc", "lead_agency": "HNI", "deadline": "2027-01"}
    answers = await asyncio.gather(*(stack.http.post("/api/v1/tasks", headers=office, json=body) for _ in range(2)))
    assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
    _error(next(a for a in answers if a.status_code == 409), 409)
    assert await history_types(stack, code) == ["created"]


async def test_409_when_two_decisions_race(stack: Stack) -> None:
    """Both pass the API's stage check; the workflow takes one and refuses the other with 409."""
    code = await _create(stack, budget_required=True)
    await act(stack, "hni.head", code, "accept", {})
    await act(stack, "hni.head", code, "budget.submit", BUDGET)
    finance = await stack.login("finance")
    answers = await asyncio.gather(post_action(stack, finance, code, "budget.approve", {}),
                                   post_action(stack, finance, code, "budget.reject", {"reason": "Thiếu"}))
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    refused = _error(next(a for a in answers if a.status_code == 409), 409)
    assert refused["stage"] in ("in_progress", "budget_registration")
    winner = next(a for a in answers if a.status_code == 200).json()
    types = await history_types(stack, code)
    assert types[:3] == ["created", "accept", "budget.submit"] and len(types) == 4
    assert types[3] == {"in_progress": "budget.approve", "budget_registration": "budget.reject"}[winner["stage"]]
    assert await _stage(stack, code) == winner["stage"] == refused["stage"]


async def test_409_duplicate_agency_code_and_username(stack: Stack) -> None:
    admin = await stack.login("admin")
    _error(await stack.http.post("/api/v1/agencies", headers=admin, json={
        "code": "HNI", "name": "Hà Nội lần nữa", "kind": "province"}), 409)
    agency = f"AG{uuid.uuid4().hex[:8].upper()}"
    ok(await stack.http.post("/api/v1/agencies", headers=admin, json={
        "code": agency, "name": "Cơ quan thử", "kind": "other"}), 201)
    _error(await stack.http.post("/api/v1/agencies", headers=admin, json={
        "code": agency, "name": "Cơ quan thử lần hai", "kind": "other"}), 409)
    names = [a["name"] for a in ok(await stack.http.get("/api/v1/agencies", headers=admin)) if a["code"] == agency]
    assert names == ["Cơ quan thử"]

    _error(await stack.http.post("/api/v1/users", headers=admin, json={
        "username": "office", "password": "mat-khau-moi", "full_name": "Kẻ giả mạo", "agency": "HNI",
        "roles": ["admin"]}), 409)
    me = ok(await stack.http.get("/api/v1/me", headers=await stack.login("office")))  # the demo password still works
    assert me["agency"] == "VPTW" and me["roles"] == ["steering_office"]
    username = await _new_user(stack, agency, ["agency_head"])
    _error(await stack.http.post("/api/v1/users", headers=admin, json={
        "username": username, "password": "mat-khau-moi", "full_name": "X", "roles": ["auditor"]}), 409)


# 413 / 415 -----------------------------------------------------------------------------------

async def test_413_upload_over_the_limit(stack: Stack) -> None:
    limit = stack.settings.max_upload_mb * 1024 * 1024
    code = await _in_progress(stack)
    head = await stack.login("hni.head")
    too_big = b"%PDF" + b"x" * (limit - 3)
    body = _error(await _evidence(stack, head, code, [("lon.pdf", too_big, "application/pdf")]), 413)
    assert "lon.pdf" in body["detail"]
    assert await _stage(stack, code) == "in_progress"
    assert await history_types(stack, code) == ["created", "accept"]
    # Exactly at the limit is allowed.
    task = ok(await _evidence(stack, head, code, [("vua.pdf", b"%PDF" + b"y" * (limit - 4), "application/pdf")]))
    assert task["stage"] == "cross_check" and task["evidence"][0]["files"][0]["size"] == limit


async def test_415_file_type_not_allowed(stack: Stack) -> None:
    code = await _in_progress(stack)
    head = await stack.login("hni.head")
    for name in ("cong-cu.exe", "bao-cao.pdf.exe", "khong-duoi", "trang.html"):
        body = _error(await _evidence(stack, head, code, [(name, b"MZ\x90\x00", "application/pdf")]), 415)
        assert name in body["detail"], body
    # One bad file among good ones refuses the whole submission.
    _error(await _evidence(stack, head, code, [("ok.pdf", b"%PDF", "application/pdf"),
                                               ("x.bat", b"echo", "text/plain")]), 415)
    assert await history_types(stack, code) == ["created", "accept"]
    # The extension alone does not make a PDF: the content is looked at too.
    body = _error(await _evidence(stack, head, code, [("bao-cao.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")]),
                  415)
    assert "không đúng loại tệp" in body["detail"] and "bao-cao.pdf" in body["detail"]
    office = await stack.login("office")
    _error(await stack.http.post("/api/v1/tasks/import", headers=office,
                                 files={"file": ("chuong-trinh.txt", b"code,title\n", "text/plain")}), 415)


# 422 -----------------------------------------------------------------------------------------

async def test_422_task_fields_named_one_by_one(stack: Stack) -> None:
    office = await stack.login("office")
    body = _error(await stack.http.post("/api/v1/tasks", headers=office, json={
        "code": "mã có dấu cách", "title": "", "lead_agency": "HNI", "deadline": "ngày mai",
        "kpis": [{"name": "A"}], "reporting": "daily", "extra": 1}), 422)
    assert {"code", "title", "deadline", "kpis.0.target", "reporting", "extra"} <= _fields(body)
    for bad in ("2027-13", "2027-Q5", "31/13/2027", "2027-02-30", "quý V/2027"):
        body = _error(await stack.http.post("/api/v1/tasks", headers=office, json={
            "code": unique_code(), "title": "x", "lead_agency": "HNI", "deadline": bad}), 422)
        assert _fields(body) == {"deadline"}, (bad, body)
    body = _error(await stack.http.post("/api/v1/tasks", headers=office, json={
        "code": unique_code(), "title": "x", "lead_agency": "KHONGCO", "deadline": "2027-01"}), 422)
    assert _fields(body) == {"lead_agency"}
    body = _error(await stack.http.post("/api/v1/tasks", headers=office, json={
        "code": unique_code(), "title": "x", "lead_agency": "HNI", "coordinating_agencies": ["HNI"],
        "deadline": "2027-01"}), 422)
    assert _fields(body) == {"coordinating_agencies"}


async def test_422_budget_lines_must_add_up(stack: Stack) -> None:
    code = await _create(stack, budget_required=True)
    await act(stack, "hni.head", code, "accept", {})
    head = await stack.login("hni.head")
    wrong = {**BUDGET, "amount_vnd": 301}
    body = _error(await post_action(stack, head, code, "budget.submit", wrong), 422)
    assert "300" in body["detail"] and "301" in body["detail"]
    body = _error(await post_action(stack, head, code, "budget.submit", {**BUDGET, "amount_vnd": -1}), 422)
    assert "amount_vnd" in _fields(body)
    body = _error(await post_action(stack, head, code, "budget.submit", {**BUDGET, "source": "", "lines": []}), 422)
    assert {"source", "lines"} <= _fields(body)
    assert await _stage(stack, code) == "budget_registration"
    assert await history_types(stack, code) == ["created", "accept"]


async def test_422_budget_lines_not_adding_up_names_the_lines(stack: Stack) -> None:
    code = await _create(stack, budget_required=True)
    await act(stack, "hni.head", code, "accept", {})
    body = _error(await post_action(stack, await stack.login("hni.head"), code, "budget.submit",
                                     {**BUDGET, "amount_vnd": 301}), 422)
    assert _fields(body) == {"lines"}, body


async def test_422_extension_deadlines(stack: Stack) -> None:
    code = await _in_progress(stack)
    head = await stack.login("hni.head")
    body = _error(await post_action(stack, head, code, "extension.request",
                                     {"new_deadline": "sớm nhất có thể", "reason": "x"}), 422)
    assert "sớm nhất có thể" in body["detail"]
    body = _error(await post_action(stack, head, code, "extension.request",
                                     {"new_deadline": "2027-06", "reason": "x"}), 422)  # before 2027-12
    assert body["stage"] == "in_progress"
    body = _error(await post_action(stack, head, code, "extension.request", {"new_deadline": "2028-01"}), 422)
    assert _fields(body) == {"reason"}
    assert await history_types(stack, code) == ["created", "accept"]


async def test_422_bad_extension_deadline_names_the_field(stack: Stack) -> None:
    code = await _in_progress(stack)
    body = _error(await post_action(stack, await stack.login("hni.head"), code, "extension.request",
                                     {"new_deadline": "sớm nhất có thể", "reason": "x"}), 422)
    assert _fields(body) == {"new_deadline"}, body


async def test_422_action_bodies(stack: Stack) -> None:
    code = await _in_progress(stack)
    head = await stack.login("hni.head")
    body = _error(await post_action(stack, head, code, "progress.report",
                                     {"percent": 150, "kpi_actuals": {"Hồ sơ được số hóa": "nhiều"}}), 422)
    assert {"percent", "kpi_actuals.Hồ sơ được số hóa"} <= _fields(body)
    body = _error(await post_action(stack, head, code, "comment", {"text": "", "ghost": True}), 422)
    assert _fields(body) == {"text", "ghost"}
    body = _error(await post_action(stack, head, code, "comment", ["không", "phải", "đối tượng"]), 422)
    assert _fields(body) == {"body"}
    assert await history_types(stack, code) == ["created", "accept"]

    fresh = await _create(stack)
    body = _error(await post_action(stack, head, fresh, "accept", {"officer": "btc.officer"}), 422)
    assert _fields(body) == {"officer"}  # the officer must belong to the lead agency
    body = _error(await post_action(stack, await stack.login("committee"), fresh, "reassign",
                                     {"lead_agency": "KHONGCO", "reason": "x"}), 422)
    assert _fields(body) == {"lead_agency"}
    assert await history_types(stack, fresh) == ["created"]


async def test_422_evidence_needs_a_result_for_every_kpi_and_a_file(stack: Stack) -> None:
    code = await _in_progress(stack)
    head = await stack.login("hni.head")
    pdf = [("ket-qua.pdf", b"%PDF-1.4", "application/pdf")]
    body = _error(await _evidence(stack, head, code, pdf, {"Hồ sơ được số hóa": 100}), 422)
    assert "Đơn vị áp dụng" in body["detail"] and "Hồ sơ được số hóa" not in body["detail"]
    body = _error(await _evidence(stack, head, code, pdf, "{không phải json"), 422)
    assert _fields(body) == {"kpi_results"}
    body = _error(await _evidence(stack, head, code, pdf, "[1, 2]"), 422)
    assert _fields(body) == {"kpi_results"}
    no_file = await stack.http.post(f"/api/v1/tasks/{code}/actions/evidence.submit", headers=head,
                                    data={"summary": "x", "kpi_results": json.dumps(RESULTS)})
    assert "files" in _fields(_error(no_file, 422))
    assert await _stage(stack, code) == "in_progress"
    assert await history_types(stack, code) == ["created", "accept"]


async def test_422_reviewer_must_be_independent_of_the_task(stack: Stack) -> None:
    # reviewer@HCM coordinates this task; two more reviewers sit in the lead and the other coordinating agency.
    code = await _in_progress(stack, coordinating=["BKHCN", "HCM"])
    head = await stack.login("hni.head")
    ok(await _evidence(stack, head, code, [("ket-qua.pdf", b"%PDF-1.4", "application/pdf")]))
    office = await stack.login("office")
    in_lead = await _new_user(stack, "HNI", ["cross_check_reviewer"])
    in_coordinating = await _new_user(stack, "BKHCN", ["cross_check_reviewer"])
    for reviewer in (in_lead, in_coordinating, "reviewer"):
        body = _error(await post_action(stack, office, code, "review.assign", {"reviewer": reviewer}), 422)
        assert body["stage"] == "cross_check", body
    # Not a reviewer at all, or nobody.
    body = _error(await post_action(stack, office, code, "review.assign", {"reviewer": "btc.head"}), 422)
    assert _fields(body) == {"reviewer"}
    body = _error(await post_action(stack, office, code, "review.assign", {"reviewer": "khong-co-ai"}), 422)
    assert _fields(body) == {"reviewer"}
    task = ok(await stack.http.get(f"/api/v1/tasks/{code}", headers=office))
    assert task["reviewer"] is None and task["stage"] == "cross_check"

    independent = await _new_user(stack, "BCA", ["cross_check_reviewer"])
    task = await act(stack, "office", code, "review.assign", {"reviewer": independent})
    assert task["reviewer"] == independent
    # A rejection needs findings and a reason.
    body = _error(await post_action(stack, await stack.login(independent, "mat-khau-dai"), code, "review.reject",
                                     {"reason": "", "findings": []}), 422)
    assert {"reason", "findings"} <= _fields(body)
    # The reviewer of the coordinating agency, not assigned, may not decide.
    _error(await post_action(stack, await stack.login("reviewer"), code, "review.approve", {}), 403)
    assert await history_types(stack, code) == ["created", "accept", "evidence.submit", "review.assign"]


async def test_422_rule_violations_name_their_field(stack: Stack) -> None:
    code = await _in_progress(stack, coordinating=["BKHCN", "HCM"])
    head = await stack.login("hni.head")
    body = _error(await post_action(stack, head, code, "extension.request",
                                     {"new_deadline": "2027-06", "reason": "x"}), 422)
    assert _fields(body) == {"new_deadline"}, body
    body = _error(await _evidence(stack, head, code, [("a.pdf", b"%PDF", "application/pdf")],
                                  {"Hồ sơ được số hóa": 100}), 422)
    assert _fields(body) == {"kpi_results"}, body
    ok(await _evidence(stack, head, code, [("a.pdf", b"%PDF", "application/pdf")]))
    body = _error(await post_action(stack, await stack.login("office"), code, "review.assign",
                                     {"reviewer": "reviewer"}), 422)  # reviewer@HCM coordinates this task
    assert _fields(body) == {"reviewer"}, body


async def test_an_empty_evidence_file_is_refused(stack: Stack) -> None:
    code = await _in_progress(stack)
    head = await stack.login("hni.head")
    body = _error(await _evidence(stack, head, code, [("rong.txt", b"", "text/plain")]), 422)
    assert body["errors"][0]["field"] == "files" and "rong.txt" in body["detail"]
    assert await history_types(stack, code) == ["created", "accept"]


async def test_texts_beyond_their_limit_are_refused_before_any_work(stack: Stack) -> None:
    code = await _in_progress(stack)
    head = await stack.login("hni.head")
    answer = await stack.http.post(f"/api/v1/tasks/{code}/actions/comment", headers=head,
                                   json={"text": "x" * 10_001})
    body = _error(answer, 422)
    assert body["errors"][0]["field"] == "text" and "10000" in body["errors"][0]["message"]
    assert await history_types(stack, code) == ["created", "accept"]


async def test_integers_beyond_their_range_answer_422_not_500(stack: Stack) -> None:
    office = await stack.login("office")
    huge = str(2**70)
    assert (await stack.http.get(f"/api/v1/tasks?offset={huge}", headers=office)).status_code == 422
    assert (await stack.http.post(f"/api/v1/notifications/{huge}/read", headers=office)).status_code == 422
    assert (await stack.http.get(f"/public/v1/tasks?offset={huge}")).status_code == 422
