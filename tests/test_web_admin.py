"""The administrator administers from the pages: accounts (roles, agency, disabling, a new password),
agencies, and the policy as a role × action matrix whose edit is previewed — who gains or loses
what, and whom it concerns — before anything is saved. The pages call the same services as the
JSON API, so what they change reads back from it. The stack is shared: every test makes its own
accounts and agencies, and puts back the policy it changed."""

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from services.policy import PolicyRule, RuleChange, diff
from tests.helpers import ORIGIN, Stack, browser_at, csrf_of, ok, unique_code, web_login

PASSWORD = "Mat-khau-kiem-thu-2026"


@asynccontextmanager
async def _admin(stack: Stack, username: str = "admin") -> AsyncIterator[httpx.AsyncClient]:
    async with browser_at(stack) as browser:
        await web_login(browser, username)
        yield browser


async def _post(browser: httpx.AsyncClient, path: str, form: dict[str, str | list[str]]) -> httpx.Response:
    """Post a form of the admin pages with the session's CSRF token, as the browser would."""
    token = csrf_of(await browser.get("/inbox"))
    return await browser.post(path, data={**form, "csrf_token": token}, headers={"Origin": ORIGIN})


async def _new_user(stack: Stack, roles: list[str], agency: str | None = "HNI") -> str:
    username = unique_code("canbo").lower()
    ok(await stack.http.post("/api/v1/users", headers=await stack.login("admin"), json={
        "username": username, "password": PASSWORD, "full_name": f"Nguyễn Thị {username}", "agency": agency,
        "roles": roles}), 201)
    return username


def test_the_diff_of_a_matrix_edit_lists_each_gain_and_loss_once_in_the_matrixs_order() -> None:
    accept = PolicyRule(role="agency_head", relation="lead", stage="assigned", action="accept")
    officer = PolicyRule(role="agency_officer", relation="lead", stage="assigned", action="accept")
    audit = PolicyRule(role="auditor", relation="none", stage="*", action="audit.verify")
    comment = PolicyRule(role="*", relation="lead", stage="*", action="comment")
    assert diff([audit, accept, comment], [comment, officer, officer, audit]) == [
        RuleChange(rule=accept, gained=False), RuleChange(rule=officer, gained=True)]
    assert diff([audit], [audit]) == []


async def test_the_administrator_edits_a_users_roles_and_agency_and_the_api_reads_them_back(stack: Stack) -> None:
    username = await _new_user(stack, ["agency_officer"])
    async with _admin(stack) as browser:
        answer = await _post(browser, f"/admin/users/{username}", {
            "full_name": "Trần Văn Sửa", "email": "sua@example.vn", "agency": "BTC",
            "roles": ["agency_head", "finance_reviewer"]})
        assert answer.status_code == 303, answer.text
        page = await browser.get(answer.headers["location"])
    assert "Đã lưu tài khoản" in page.text and '<option value="BTC" selected>' in page.text
    user = ok(await stack.http.get(f"/api/v1/users/{username}", headers=await stack.login("admin")))
    assert (user["full_name"], user["agency"], sorted(user["roles"])) == \
        ("Trần Văn Sửa", "BTC", ["agency_head", "finance_reviewer"])


async def test_a_refused_user_form_keeps_the_input_and_focuses_the_field_at_fault(stack: Stack) -> None:
    username = await _new_user(stack, ["agency_officer"])
    async with _admin(stack) as browser:
        answer = await _post(browser, f"/admin/users/{username}", {"full_name": "Tên giữ lại", "agency": "HNI"})
    assert answer.status_code == 422, answer.text
    assert 'value="Tên giữ lại"' in answer.text
    assert re.search(r'name="roles" value="admin" aria-invalid="true"[^>]*autofocus', answer.text)


async def test_someone_not_an_administrator_gets_403_on_every_admin_route(stack: Stack) -> None:
    target = await _new_user(stack, ["agency_officer"])
    async with _admin(stack, "hni.head") as browser:
        reads = [(await browser.get(path)).status_code
                 for path in ("/admin", f"/admin/users/{target}", "/admin/agencies/HNI")]
        posts = [(await _post(browser, path, form)).status_code for path, form in (
            ("/admin/users", {"username": unique_code("x").lower(), "password": PASSWORD, "full_name": "X"}),
            (f"/admin/users/{target}", {"full_name": "X", "roles": ["admin"]}),
            (f"/admin/users/{target}/password", {"password": PASSWORD}),
            (f"/admin/users/{target}/disable", {}), (f"/admin/users/{target}/disable", {"confirm": "1"}),
            (f"/admin/users/{target}/enable", {}),
            ("/admin/agencies", {"code": unique_code("A"), "name": "X", "kind": "other"}),
            ("/admin/agencies/HNI", {"name": "Bị đổi", "kind": "province"}),
            ("/admin/policy", {"rule": "admin|none|*|accept"}),
            ("/admin/policy", {"rule": "agency_head|none|*|policy.change", "confirm": "1"}))]
    assert reads + posts == [403] * (len(reads) + len(posts))
    user = ok(await stack.http.get(f"/api/v1/users/{target}", headers=await stack.login("admin")))
    assert user["disabled"] is False and user["full_name"] != "X"


async def test_disabling_a_user_asks_first_and_then_the_user_cannot_log_in(stack: Stack) -> None:
    username = await _new_user(stack, ["agency_officer"])
    async with _admin(stack) as browser:
        asked = await _post(browser, f"/admin/users/{username}/disable", {})
        assert asked.status_code == 200
        assert 'id="confirm-disable"' in asked.text and 'name="confirm" value="1"' in asked.text
        assert (await stack.http.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
                ).status_code == 200  # not yet
        done = await _post(browser, f"/admin/users/{username}/disable", {"confirm": "1"})
        assert done.status_code == 303, done.text
    login = await stack.http.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert login.status_code == 403, login.text


async def test_a_password_reset_from_the_page_is_the_one_that_logs_in(stack: Stack) -> None:
    username = await _new_user(stack, ["agency_officer"])
    new = "Mat-khau-moi-dat-lai-57"
    async with _admin(stack) as browser:
        short = await _post(browser, f"/admin/users/{username}/password", {"password": "ngan"})
        assert short.status_code == 422 and 'id="password-password-error"' in short.text
        answer = await _post(browser, f"/admin/users/{username}/password", {"password": new})
        assert answer.status_code == 303, answer.text
    for password, status in ((PASSWORD, 401), (new, 200)):
        login = await stack.http.post("/api/v1/auth/token", data={"username": username, "password": password})
        assert login.status_code == status, login.text


async def test_a_renamed_agency_shows_by_its_new_name(stack: Stack) -> None:
    code = unique_code("AG")
    ok(await stack.http.post("/api/v1/agencies", headers=await stack.login("admin"), json={
        "code": code, "name": "Sở Thử nghiệm", "kind": "unit", "parent": "HNI"}), 201)
    async with _admin(stack) as browser:
        answer = await _post(browser, f"/admin/agencies/{code}", {
            "name": "Sở Khoa học và Công nghệ Hà Nội (thử)", "name_en": "", "kind": "unit", "parent": "HNI"})
        assert answer.status_code == 303, answer.text
        page = await browser.get("/admin")
    assert f'href="/admin/agencies/{code}">Sở Khoa học và Công nghệ Hà Nội (thử)</a>' in page.text
    agencies = ok(await stack.http.get("/api/v1/agencies", headers=await stack.login("office")))
    assert {a["code"]: a["name"] for a in agencies}[code] == "Sở Khoa học và Công nghệ Hà Nội (thử)"


async def test_an_agency_cannot_be_put_under_one_of_its_own_units(stack: Stack) -> None:
    top, unit = unique_code("AG"), unique_code("AG")
    admin = await stack.login("admin")
    ok(await stack.http.post("/api/v1/agencies", headers=admin, json={
        "code": top, "name": "Trên", "kind": "other"}), 201)
    ok(await stack.http.post("/api/v1/agencies", headers=admin, json={
        "code": unit, "name": "Dưới", "kind": "unit", "parent": top}), 201)
    answer = await stack.http.patch(f"/api/v1/agencies/{top}", headers=admin, json={"parent": unit})
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "parent", answer.text
    assert (await stack.http.patch(f"/api/v1/agencies/{top}", headers=await stack.login("office"),
                                   json={"name": "X"})).status_code == 403


async def _restore(stack: Stack, before: list[dict[str, str]]) -> None:
    """The policy as it was (the stack is shared): what was removed back, what was added gone."""
    admin = await stack.login("admin")
    now = ok(await stack.http.get("/api/v1/policy", headers=admin))
    for rule in (rule for rule in before if rule not in now):
        ok(await stack.http.post("/api/v1/policy/rules", headers=admin, json=rule), 201)
    for rule in (rule for rule in now if rule not in before):
        assert (await stack.http.post("/api/v1/policy/rules/delete", headers=admin, json=rule)).status_code == 204


async def test_the_policy_preview_names_the_changes_and_the_people_and_saves_only_once_confirmed(
        stack: Stack) -> None:
    """The matrix as shown, with one cell ticked (auditors may comment on tasks they lead) and one
    cleared (the lead's head accepting): previewed, nothing changed; confirmed, the API shows it."""
    auditor = await _new_user(stack, ["auditor"])
    admin = await stack.login("admin")
    before = ok(await stack.http.get("/api/v1/policy", headers=admin))
    gained = {"role": "auditor", "relation": "lead", "stage": "*", "action": "comment"}
    lost = {"role": "agency_head", "relation": "lead", "stage": "assigned", "action": "accept"}

    def key(rule: dict[str, str]) -> str:
        return "|".join(rule[name] for name in ("role", "relation", "stage", "action"))

    async with _admin(stack) as browser:
        matrix = await browser.get("/admin")
        was = re.findall(r'name="was" value="([^"]+)"', matrix.text)
        checked = re.findall(r'name="rule" value="([^"]+)" checked', matrix.text)
        assert key(lost) in checked and key(gained) not in checked and f'value="{key(gained)}"' in matrix.text
        edit = {"was": was, "rule": [k for k in checked if k != key(lost)] + [key(gained)]}
        preview = await _post(browser, "/admin/policy", edit)
        assert preview.status_code == 200, preview.text
        assert ok(await stack.http.get("/api/v1/policy", headers=admin)) == before  # nothing yet
        loss, gain = re.findall(r"<li class=\"(?:loss|gain)\">(.*?)</li>", preview.text, re.DOTALL)
        assert "Bị bỏ quyền:" in loss and "Được thêm quyền:" in gain
        assert "Thủ trưởng cơ quan — Tiếp nhận nhiệm vụ (Cơ quan chủ trì · khi đã giao)" in loss
        assert "Kiểm toán — Gửi ý kiến (Cơ quan chủ trì)" in gain
        assert "Chủ tịch UBND thành phố Hà Nội" in loss and f"Nguyễn Thị {auditor}" in gain
        try:
            saved = await _post(browser, "/admin/policy", {**edit, "confirm": "1"})
            assert saved.status_code == 303, saved.text
            after = ok(await stack.http.get("/api/v1/policy", headers=admin))
            assert gained in after and lost not in after
        finally:
            await _restore(stack, before)


async def test_an_edit_that_leaves_nobody_able_to_change_the_policy_is_refused_at_the_preview(stack: Stack) -> None:
    admin = await stack.login("admin")
    before = ok(await stack.http.get("/api/v1/policy", headers=admin))
    async with _admin(stack) as browser:
        matrix = await browser.get("/admin")
        was = re.findall(r'name="was" value="([^"]+)"', matrix.text)
        checked = re.findall(r'name="rule" value="([^"]+)" checked', matrix.text)
        answer = await _post(browser, "/admin/policy", {
            "was": was, "rule": [k for k in checked if not k.endswith("|policy.change")]})
    assert answer.status_code == 409, answer.text
    assert "policy.change" in answer.text and 'role="alert"' in answer.text
    assert ok(await stack.http.get("/api/v1/policy", headers=admin)) == before



async def test_an_administrator_cannot_lock_themself_out(stack: Stack) -> None:
    admin = await stack.login("admin")
    for body in ({"disabled": True}, {"roles": ["agency_officer"]}):
        answer = await stack.http.patch("/api/v1/users/admin", json=body, headers=admin)
        assert answer.status_code == 409, answer.text
        assert "quản trị viên khác" in answer.json()["detail"]
    still = ok(await stack.http.get("/api/v1/me", headers=admin))
    assert "admin" in still["roles"]
