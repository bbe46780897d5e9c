"""Retried actions (Idempotency-Key) are recorded once; program imports create each task once,
from CSV or XLSX, and report bad rows by number without stopping the good ones.

The stack is shared by the whole session and the sample program's codes are fixed, so the sample
may already have been imported by another test: the assertions hold in any order."""

import asyncio
import csv
import io
import json
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from sqlalchemy import func, select

from db import models
from domain.deadlines import parse_deadline
from tests.helpers import Stack, ok, post_action, statements, unique_code

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "reference" / "program-sample.csv"
HEADER = ["code", "title", "lead_agency", "coordinating_agencies", "deadline", "product", "kpis",
          "budget_required", "reporting"]
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def _create(stack: Stack, *, budget_required: bool = True) -> str:
    code = unique_code("IDEM")
    ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": code, "title": "Nhiệm vụ thử lặp lại", "lead_agency": "HNI", "coordinating_agencies": ["BKHCN"],
        "deadline": "2027-Q4", "kpis": [{"name": "Chỉ tiêu", "target": 1, "unit": ""}],
        "budget_required": budget_required}), 201)
    return code


async def _events(stack: Stack, code: str) -> list[models.Event]:
    async with stack.sessions() as session:
        return list(await session.scalars(
            select(models.Event).where(models.Event.task_code == code).order_by(models.Event.seq)))


async def _history_types(stack: Stack, code: str) -> list[str]:
    history = ok(await stack.http.get(f"/api/v1/tasks/{code}/history", headers=await stack.login("office")))
    assert [entry["seq"] for entry in history] == list(range(1, len(history) + 1))
    return [entry["type"] for entry in history]


# Idempotency ---------------------------------------------------------------------------------

async def test_a_retried_action_is_recorded_once_and_answers_the_same(stack: Stack) -> None:
    code = await _create(stack)
    head = await stack.login("hni.head")
    key = f"accept-{uuid.uuid4()}"
    first = await post_action(stack, head, code, "accept", {"officer": "hni.officer"}, key)
    retry = await post_action(stack, head, code, "accept", {"officer": "hni.officer"}, key)
    assert first.status_code == retry.status_code == 200, (first.text, retry.text)
    assert retry.json() == first.json()
    assert first.json()["stage"] == "budget_registration"
    assert await _history_types(stack, code) == ["created", "accept"]
    events = await _events(stack, code)
    assert [(e.type, e.request_id) for e in events] == [("created", None), ("accept", key)]

    # Without the key the same request is a new one, and the stage has moved on: 409.
    again = await post_action(stack, head, code, "accept", {"officer": "hni.officer"})
    assert again.status_code == 409 and again.json()["stage"] == "budget_registration"

    # Once the task has moved on, the retry still gets its first answer, and nothing is recorded.
    budget = {"amount_vnd": 10, "source": "Ngân sách", "lines": [{"item": "A", "amount_vnd": 10}]}
    assert ok(await post_action(stack, head, code, "budget.submit", budget))["stage"] == "budget_review"
    late_retry = await post_action(stack, head, code, "accept", {"officer": "hni.officer"}, key)
    assert late_retry.status_code == 200, late_retry.text
    assert late_retry.json() == first.json()
    assert await _history_types(stack, code) == ["created", "accept", "budget.submit"]


async def test_concurrent_retries_are_recorded_once(stack: Stack) -> None:
    code = await _create(stack)
    head = await stack.login("hni.head")
    key = f"comment-{uuid.uuid4()}"
    answers = await asyncio.gather(*(
        post_action(stack, head, code, "comment", {"text": "Gửi một lần"}, key) for _ in range(3)))
    assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]
    assert answers[0].json() == answers[1].json() == answers[2].json()
    assert await _history_types(stack, code) == ["created", "comment"]


async def test_without_a_key_a_repeated_action_is_recorded_each_time(stack: Stack) -> None:
    code = await _create(stack)
    head = await stack.login("hni.head")
    for _ in range(2):
        ok(await post_action(stack, head, code, "comment", {"text": "Hai lần"}))
    assert await _history_types(stack, code) == ["created", "comment", "comment"]


async def test_a_key_belongs_to_one_task(stack: Stack) -> None:
    first, second = await _create(stack), await _create(stack)
    head = await stack.login("hni.head")
    key = f"shared-{uuid.uuid4()}"
    for code in (first, second):
        ok(await post_action(stack, head, code, "comment", {"text": "Cùng một khóa"}, key))
        assert await _history_types(stack, code) == ["created", "comment"]


async def test_a_key_reused_for_another_action_or_person_is_refused(stack: Stack) -> None:
    code = await _create(stack)
    key = f"reuse-{uuid.uuid4()}"
    ok(await post_action(stack, await stack.login("hni.head"), code, "comment", {"text": "Lần đầu"}, key))
    other_action = await post_action(stack, await stack.login("hni.head"), code, "accept", {}, key)
    other_person = await post_action(stack, await stack.login("bkhcn.head"), code, "comment", {"text": "Lần đầu"}, key)
    for answer in (other_action, other_person):
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"]
    assert await _history_types(stack, code) == ["created", "comment"]


async def test_a_key_sent_again_with_another_body_is_refused(stack: Stack) -> None:
    code = await _create(stack)
    head = await stack.login("hni.head")
    key = f"body-{uuid.uuid4()}"
    first = ok(await post_action(stack, head, code, "comment", {"text": "Lần đầu"}, key))
    changed = await post_action(stack, head, code, "comment", {"text": "Nội dung khác"}, key)
    assert changed.status_code == 422, changed.text
    assert key in changed.json()["detail"]
    assert ok(await post_action(stack, head, code, "comment", {"text": "Lần đầu"}, key)) == first
    assert await _history_types(stack, code) == ["created", "comment"]


async def test_a_create_sent_again_with_its_key_but_another_body_is_refused(stack: Stack) -> None:
    office = await stack.login("office")
    key = f"create-{uuid.uuid4()}"
    code = unique_code("IDEM")
    spec = {"code": code, "title": "Nhiệm vụ thử lặp lại", "lead_agency": "HNI", "deadline": "2027-Q4"}
    ok(await stack.http.post("/api/v1/tasks", headers={**office, "Idempotency-Key": key}, json=spec), 201)
    changed = await stack.http.post("/api/v1/tasks", headers={**office, "Idempotency-Key": key},
                                    json={**spec, "title": "Tên khác"})
    assert changed.status_code == 422, changed.text


async def test_a_retried_evidence_upload_is_recorded_once(stack: Stack) -> None:
    code = await _create(stack, budget_required=False)
    head = await stack.login("hni.head")
    ok(await post_action(stack, head, code, "accept", {}))
    key = f"evidence-{uuid.uuid4()}"

    def upload() -> Any:
        return stack.http.post(f"/api/v1/tasks/{code}/actions/evidence.submit",
                               headers={**head, "Idempotency-Key": key},
                               files=[("files", ("ket-qua.pdf", b"%PDF-1.4 ket qua", "application/pdf"))],
                               data={"summary": "Xong", "kpi_results": json.dumps({"Chỉ tiêu": 1})})

    first, retry = await upload(), await upload()
    assert first.status_code == retry.status_code == 200, (first.text, retry.text)
    assert retry.json() == first.json() and first.json()["stage"] == "cross_check"
    assert len(retry.json()["evidence"]) == 1
    assert await _history_types(stack, code) == ["created", "accept", "evidence.submit"]


# Import --------------------------------------------------------------------------------------

def _sample_codes() -> list[str]:
    with SAMPLE.open(encoding="utf-8-sig") as file:
        return [row["code"] for row in csv.DictReader(file)]


async def _import(stack: Stack, filename: str, content: bytes, content_type: str = "text/csv") -> dict[str, Any]:
    answer = await stack.http.post("/api/v1/tasks/import", headers=await stack.login("office"),
                                   files={"file": (filename, content, content_type)})
    result = ok(answer)
    assert set(result) >= {"created", "skipped", "errors"}, result
    return result


async def test_importing_the_sample_program_twice_creates_each_task_once(stack: Stack) -> None:
    codes = _sample_codes()
    assert len(codes) == len(set(codes)) == 12
    content = SAMPLE.read_bytes()

    first = await _import(stack, "program-sample.csv", content)
    assert first["errors"] == []
    assert sorted(first["created"] + first["skipped"]) == sorted(codes)  # skipped if an earlier test imported it

    second = await _import(stack, "program-sample.csv", content)
    assert second == {"created": [], "skipped": codes, "errors": []}

    async with stack.sessions() as session:
        rows = await session.scalar(select(func.count()).select_from(models.Task).where(models.Task.code.in_(codes)))
        created_events = list(await session.execute(
            select(models.Event.task_code, func.count()).where(
                models.Event.task_code.in_(codes), models.Event.type == "created").group_by(models.Event.task_code)))
    assert rows == len(codes)
    assert dict(created_events) == dict.fromkeys(codes, 1)

    office = await stack.login("office")
    task = ok(await stack.http.get("/api/v1/tasks/NQ57-2027-001", headers=office))
    assert task["lead_agency"] == "BTC" and task["coordinating_agencies"] == ["BCA", "BKHCN"]
    assert [(k["name"], k["target"], k["unit"]) for k in task["kpis"]] == [
        ("Cơ sở dữ liệu có trong danh mục", 100, "%"), ("Cơ sở dữ liệu đã làm sạch", 80, "%")]
    assert task["budget_required"] is True and task["reporting"] == "monthly"
    assert task["deadline"].startswith("2027-03-31T23:59:59")
    past = ok(await stack.http.get("/api/v1/tasks/NQ57-2026-011", headers=office))
    lapsed = parse_deadline("2026-03") < datetime.now(UTC)
    assert past["overdue"] is lapsed  # a deadline already past makes the task overdue at once
    listed = ok(await stack.http.get("/api/v1/tasks", params={"q": "NQ57-20", "limit": 500}, headers=office))
    assert set(codes) <= {item["code"] for item in listed["items"]}


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([HEADER, *rows])
    return out.getvalue().encode("utf-8")


async def test_a_bad_row_is_reported_by_number_and_the_good_rows_are_created(stack: Stack) -> None:
    good_1, good_2 = unique_code("IMP"), unique_code("IMP")
    bad = {3: unique_code("BAD"), 5: unique_code("BAD"), 6: unique_code("BAD"), 7: unique_code("BAD"),
           9: unique_code("BAD")}
    content = _csv([
        [good_1, "Nhiệm vụ tốt 1", "HNI", "BKHCN;BCA", "2027-Q3", "Sản phẩm", "A|10|%;B|2|bộ", "yes", "monthly"],
        [bad[3], "Hạn sai", "HNI", "", "cuối năm", "", "", "no", "none"],                    # row 3
        [good_2, "Nhiệm vụ tốt 2", "BCA", "", "2027-05-01", "", "", "no", "quarterly"],       # row 4
        [bad[5], "Cơ quan lạ", "KHONGCO", "", "2027-Q3", "", "", "no", "none"],              # row 5
        [bad[6], "Kinh phí lạ", "HNI", "", "2027-Q3", "", "", "có lẽ", "none"],              # row 6
        [bad[7], "Chỉ tiêu sai", "HNI", "", "2027-Q3", "", "A|mười|%", "no", "none"],         # row 7
        ["", "", "", "", "", "", "", "", ""],                                                # row 8: blank, skipped
        [bad[9], "", "HNI", "", "2027-Q3", "", "", "no", "none"],                             # row 9: no title
        [good_1, "Trùng mã trong tệp", "BTC", "", "2027-Q3", "", "", "no", "none"],           # row 10
    ])
    result = await _import(stack, "chuong-trinh.csv", content)
    assert result["created"] == [good_1, good_2]
    assert result["skipped"] == [good_1]
    assert [error["row"] for error in result["errors"]] == [3, 5, 6, 7, 9]
    details = {error["row"]: error["detail"] for error in result["errors"]}
    assert "cuối năm" in details[3] and "KHONGCO" in details[5] and "có lẽ" in details[6]
    assert "mười" in details[7] and "title" in details[9]
    assert all(details.values())

    office = await stack.login("office")
    first = ok(await stack.http.get(f"/api/v1/tasks/{good_1}", headers=office))
    assert first["title"] == "Nhiệm vụ tốt 1" and first["coordinating_agencies"] == ["BKHCN", "BCA"]
    assert [k["name"] for k in first["kpis"]] == ["A", "B"] and first["budget_required"] is True
    assert ok(await stack.http.get(f"/api/v1/tasks/{good_2}", headers=office))["reporting"] == "quarterly"
    for code in bad.values():
        assert (await stack.http.get(f"/api/v1/tasks/{code}", headers=office)).status_code == 404


async def test_a_program_file_reads_its_agencies_and_codes_once_not_once_a_row(stack: Stack) -> None:
    """What every row's checks need (which agencies exist, which leads are groups, which codes are
    group directives') is read once for the file: a file of 30 rows reads the agencies once."""
    leads = ["HNI", "BCA", "BTC", "BKHCN", "BYT"]
    codes = [unique_code("ONCE") for _ in range(30)]
    content = _csv([[code, "Nhiệm vụ đọc một lần", leads[n % len(leads)], leads[(n + 1) % len(leads)], "2027-Q4",
                     "", "", "no", "none"] for n, code in enumerate(codes)])
    with statements(stack.sessions) as read:
        result = await _import(stack, "chuong-trinh.csv", content)
    assert result == {"created": codes, "skipped": [], "errors": []}
    checks = [statement for statement in read if statement.startswith((
        "SELECT agencies.code FROM agencies ", "SELECT agency_groups.code, ", "SELECT task_groups.code FROM "))]
    assert len(checks) == 3, checks  # before: a read of each kind for every row (90)


async def test_an_xlsx_program_is_imported(stack: Stack) -> None:
    codes = [unique_code("XLSX") for _ in range(3)]
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    sheet.append([codes[0], "Nhiệm vụ từ Excel", "HNI", "BKHCN", date(2027, 5, 1), "Sản phẩm",
                  "Xã được trang bị|100|%", "yes", "monthly"])  # a date typed as a date
    sheet.append([codes[1], "Nhiệm vụ thứ hai", "BCA", None, "2027-Q4", None, None, "no", "none"])
    sheet.append([codes[2], "Hạn sai", "BCA", None, "không rõ", None, None, "no", "none"])  # row 4
    buffer = io.BytesIO()
    book.save(buffer)

    result = await _import(stack, "chuong-trinh.xlsx", buffer.getvalue(), XLSX_TYPE)
    assert result["created"] == codes[:2] and result["skipped"] == []
    assert [error["row"] for error in result["errors"]] == [4]

    office = await stack.login("office")
    task = ok(await stack.http.get(f"/api/v1/tasks/{codes[0]}", headers=office))
    assert task["deadline"].startswith("2027-05-01T23:59:59") and task["budget_required"] is True
    assert task["coordinating_agencies"] == ["BKHCN"] and task["kpis"][0]["target"] == 100
    assert ok(await stack.http.get(f"/api/v1/tasks/{codes[1]}", headers=office))["deadline"].startswith(
        "2027-12-31T23:59:59")
    # Imported tasks are live: the lead's head accepts one.
    accepted = await stack.http.post(f"/api/v1/tasks/{codes[1]}/actions/accept",
                                     headers=await stack.login("bca.head"), json={})
    assert ok(accepted)["stage"] == "in_progress"

    again = await _import(stack, "chuong-trinh.xlsx", buffer.getvalue(), XLSX_TYPE)
    assert again["created"] == [] and again["skipped"] == codes[:2]


async def test_an_unreadable_program_file_is_refused_whole(stack: Stack) -> None:
    office = await stack.login("office")
    damaged = await stack.http.post("/api/v1/tasks/import", headers=office,
                                    files={"file": ("hong.xlsx", b"PK\x03\x04 not really", XLSX_TYPE)})
    assert damaged.status_code == 422 and damaged.json()["detail"]
    no_columns = await stack.http.post("/api/v1/tasks/import", headers=office,
                                       files={"file": ("thieu-cot.csv", b"ma,ten\nA,B\n", "text/csv")})
    assert no_columns.status_code == 422 and "code" in no_columns.json()["detail"]
