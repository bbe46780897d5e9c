"""Task kinds over HTTP (issue 11, "Task kinds"; api.md v1.1 `kind`, `deadline: null`): each kind
created from the API and from a program file, a standing task the Standing Office closes (never
completed), a task whose deadline is pending listed apart until the Office sets it with `correct`,
the pages and the exports saying "Chưa xác định thời hạn", and a stored policy offered `close`."""

import csv
import io
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert

from db import models
from db.session import create_schema, make_engine
from domain.deadlines import parse_deadline
from policies.enforcer import load_enforcer
from tests.helpers import Stack, act, browser_at, history, ok, post_action, unique_code, web_login


async def _create(stack: Stack, code: str, **fields: Any) -> dict[str, Any]:
    return ok(await _post(stack, code, **fields), 201)


async def _post(stack: Stack, code: str, **fields: Any) -> Any:
    return await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": code, "title": "Nhiệm vụ theo loại", "lead_agency": "HNI", **fields})


# --- creating each kind ------------------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "kind", "deadline", "reporting"), [
    ({"deadline": "trong quý II/2027"}, "one_off", parse_deadline("trong quý II/2027"), "none"),
    ({"kind": "recurring", "reporting": "monthly"}, "recurring", None, "monthly"),
    ({"kind": "recurring", "reporting": "quarterly", "deadline": "2027-12-31"}, "recurring",
     parse_deadline("2027-12-31"), "quarterly"),
    ({"kind": "standing"}, "standing", None, "quarterly"),
    ({"kind": "deadline_pending"}, "deadline_pending", None, "none"),
    ({"deadline": "cùng thời điểm thi hành của Luật Dữ liệu"}, "deadline_pending", None, "none"),
], ids=["one_off", "recurring", "recurring-with-deadline", "standing", "deadline_pending", "to-be-set-phrase"])
async def test_each_kind_is_created_and_answers_its_deadline_or_null(
        stack: Stack, fields: dict[str, Any], kind: str, deadline: datetime | None, reporting: str) -> None:
    task = await _create(stack, unique_code("KIND"), **fields)
    assert (task["kind"], task["reporting"], task["deadline_text"]) == (kind, reporting, fields.get("deadline", ""))
    assert (None if task["deadline"] is None else datetime.fromisoformat(task["deadline"])) == deadline
    assert task["stage"] == "assigned" and task["overdue"] is False


@pytest.mark.parametrize(("fields", "field", "words"), [
    ({}, "deadline", "một lần"),
    ({"kind": "recurring"}, "reporting", "hằng tháng"),
    ({"kind": "standing", "deadline": "2027-Q2"}, "deadline", "để trống thời hạn"),
], ids=["one_off-without-deadline", "recurring-without-reporting", "standing-with-deadline"])
async def test_a_kind_given_what_it_does_not_take_is_a_422_naming_the_field(
        stack: Stack, fields: dict[str, Any], field: str, words: str) -> None:
    answer = await _post(stack, unique_code("KIND"), **fields)
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["errors"]
    assert error["field"] == field and words in error["message"]


async def test_a_program_file_with_every_kind_imports_whole(stack: Stack) -> None:
    codes = [unique_code("IMP") for _ in range(7)]
    rows = [("một lần", "trong quý II/2027", ""), ("one_off", "2027-06-30", ""), ("định kỳ", "", "monthly"),
            ("recurring", "trong năm 2027", "quarterly"), ("thường xuyên", "", ""),
            ("chưa xác định thời hạn", "", ""), ("", "theo tiến độ của Luật/Nghị định hướng dẫn", "")]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["code", "title", "lead_agency", "kind", "deadline", "reporting"])
    writer.writerows([code, "Nhiệm vụ theo loại", "HNI", kind, deadline, reporting]
                     for code, (kind, deadline, reporting) in zip(codes, rows, strict=True))
    result = ok(await stack.http.post("/api/v1/tasks/import", headers=await stack.login("office"),
                                      files={"file": ("cac-loai.csv", out.getvalue().encode(), "text/csv")}))
    assert result["errors"] == [] and result["created"] == codes
    office = await stack.login("office")
    kinds = [ok(await stack.http.get(f"/api/v1/tasks/{code}", headers=office))["kind"] for code in codes]
    assert kinds == ["one_off", "one_off", "recurring", "recurring", "standing", "deadline_pending",
                     "deadline_pending"]


# --- a standing task: never completed, closed by the Office --------------------------------------------

async def test_a_standing_task_is_never_completed_and_the_office_closes_it(stack: Stack) -> None:
    code = unique_code("STAND")
    await _create(stack, code, kind="standing")
    await act(stack, "hni.head", code, "accept", {})
    refused = await stack.http.post(
        f"/api/v1/tasks/{code}/actions/evidence.submit", headers=await stack.login("hni.head"),
        files=[("files", ("bao-cao.pdf", b"%PDF-1.4 bao cao", "application/pdf"))], data={"summary": "Xong"})
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "standing_never_completed" and "thường xuyên" in refused.json()["detail"]

    not_the_office = await post_action(stack, "hni.head", code, "close", {"reason": "Xong việc"})
    assert not_the_office.status_code == 403
    closed = await act(stack, "office", code, "close", {"reason": "Đã lồng ghép vào chương trình khác"})
    assert (closed["stage"], closed["close_reason"]) == ("closed", "Đã lồng ghép vào chương trình khác")
    assert [entry["type"] for entry in await history(stack, code)][-1] == "close"
    again = await post_action(stack, "office", code, "close", {"reason": "Lần nữa"})
    assert again.status_code == 409 and again.json()["stage"] == "closed"


async def test_a_one_off_task_is_not_closed(stack: Stack) -> None:
    code = unique_code("ONCE")
    await _create(stack, code, deadline="2027-Q2")
    answer = await post_action(stack, "office", code, "close", {"reason": "Không cần nữa"})
    assert answer.status_code == 409 and answer.json()["code"] == "not_closable"


# --- a pending deadline: apart until the Office sets it ------------------------------------------------

async def test_a_pending_deadline_is_listed_apart_until_the_office_sets_it(stack: Stack) -> None:
    code = unique_code("PEND")
    created = await _create(stack, code, deadline="khẩn trương")
    assert (created["kind"], created["deadline"], created["original_deadline"]) == ("deadline_pending", None, None)
    assert [d["kind"] for d in created["open_deadlines"]] == ["accept", "unset"]
    office = await stack.login("office")
    pending = ok(await stack.http.get("/api/v1/reports/deadline-pending", headers=office))
    assert code in [task["code"] for task in pending]
    await act(stack, "hni.head", code, "accept", {})
    refused = await post_action(stack, "hni.head", code, "extension.request",
                                {"new_deadline": "2027-Q3", "reason": "Chờ Luật"})
    assert refused.status_code == 409 and refused.json()["code"] == "no_deadline_to_extend"

    task = await act(stack, "office", code, "correct", {"reason": "Luật có hiệu lực", "deadline": "2027-Q3"})
    assert (task["kind"], task["deadline_text"]) == ("one_off", "2027-Q3")
    assert datetime.fromisoformat(task["deadline"]) == datetime.fromisoformat(task["original_deadline"]) == \
        parse_deadline("2027-Q3")
    assert [d["kind"] for d in task["open_deadlines"]] == ["deadline"]
    [event] = [entry for entry in await history(stack, code) if entry["type"] == "correct"]
    assert event["data"]["changes"]["kind"] == {"old": "deadline_pending", "new": "one_off"}
    pending = ok(await stack.http.get("/api/v1/reports/deadline-pending", headers=office))
    assert code not in [task["code"] for task in pending]


async def test_a_pending_deadline_reads_chua_xac_dinh_thoi_han_on_the_pages_and_in_the_export(stack: Stack) -> None:
    code = unique_code("SHOW")
    await _create(stack, code, deadline="theo tiến độ của Luật/Nghị định hướng dẫn")
    async with browser_at(stack) as browser:
        await web_login(browser, "office")
        page = await browser.get(f"/tasks/{code}")
        assert page.status_code == 200
        assert "Chưa xác định thời hạn" in page.text and "Loại nhiệm vụ" in page.text
        assert '<select id="correct-kind" name="kind"' in page.text  # the correction's kind, offered by name
        assert '<option value="one_off"' in page.text and "Thường xuyên" in page.text
        listed = await browser.get("/tasks", params={"q": code, "groups": "0"})
        assert "Chưa xác định thời hạn" in listed.text
    export = await stack.http.get("/api/v1/tasks", headers=await stack.login("office"),
                                  params={"q": code, "format": "csv"})
    table = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
    [line] = [line for line in table if code in line.values()]
    assert "Chưa xác định thời hạn" in line.values()


# --- a stored policy gets `close` ------------------------------------------------------------------

async def test_a_stored_policy_is_offered_the_close_line_once(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'policy.db'}")
    await create_schema(engine)
    close = ["steering_office", "*", "*", "close"]
    try:
        older = [line for line in (await load_enforcer(engine)).get_policy() if line[3] != "close"]
        async with engine.begin() as connection:  # as a release before task kinds stored it
            await connection.execute(delete(models.CasbinRule))
            await connection.execute(delete(models.PolicySeed))
            await connection.execute(insert(models.CasbinRule), [
                {"ptype": "p", "v0": r[0], "v1": r[1], "v2": r[2], "v3": r[3]} for r in older])
        upgraded = await load_enforcer(engine)
        assert close in upgraded.get_policy()
        await upgraded.remove_policy(*close)
        assert close not in (await load_enforcer(engine)).get_policy()
    finally:
        await engine.dispose()
