"""The status classes report over HTTP (`GET /api/v1/reports/status`), on SQLite and PostgreSQL: a
program built here with a task in each class, counted, adding up to its total, filtered by period,
lead agency, agency group, directive and head accountable, with the tasks of each class, as CSV and
XLSX; who may read it; the same counts judged at a later moment (the service's injected clock); and
the dashboard's status classes with their drill-down.

The stack's database is shared by the session: every task made here comes from a directive of its
own (`source.document`), and every count asked for here filters on it. Deadlines are days around
today (due soon: in 3 days, within NQ57_DUE_SOON's 7) or in a year long past (overdue at once)."""

import csv
import io
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from db import models
from domain.actors import Actor
from services import status as statuses
from services.status import StatusFilter
from tests.helpers import Stack, act, app_of, browser_at, ok, unique_code, web_login

CLASSES = ("completed_on_time", "completed_late", "in_progress", "due_soon", "overdue", "deadline_pending")
OFFICE = Actor(username="office", agency="VPTW", roles=["steering_office"])


def _days_from_today(days: int) -> str:
    return (datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date() + timedelta(days=days)).isoformat()


async def _create(stack: Stack, document: str, lead: str, deadline: str, code: str | None = None) -> str:
    code = code or unique_code("STS")
    ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": code, "title": f"Nhiệm vụ {code}", "lead_agency": lead, "deadline": deadline,
        "source": {"document": document}}), 201)
    return code


async def _evidence(stack: Stack, head: str, code: str) -> None:
    ok(await stack.http.post(
        f"/api/v1/tasks/{code}/actions/evidence.submit", headers=await stack.login(head),
        files=[("files", ("ket-qua.txt", f"Kết quả {code} {uuid.uuid4()}".encode(), "text/plain"))],
        data={"summary": "Đã hoàn thành", "kpi_results": "{}"}))


async def _complete(stack: Stack, code: str, head: str) -> dict[str, Any]:
    await act(stack, head, code, "accept")
    await _evidence(stack, head, code)
    await act(stack, "office", code, "review.assign", {"reviewer": "reviewer"})
    return await act(stack, "reviewer", code, "review.approve", {})


async def _status(stack: Stack, user: str = "office", **params: Any) -> Any:
    return await stack.http.get("/api/v1/reports/status", params=params, headers=await stack.login(user))


def _counts(answer: dict[str, Any]) -> dict[str, int]:
    return {name: answer[name] for name in (*CLASSES, "total") if answer[name]}


@dataclass
class Program:
    document: str
    year: int
    codes: dict[str, str]


@pytest.fixture(scope="module")
async def program(stack: Stack) -> Program:
    """One directive; Y a year long past:
    ON_TIME   HNI    due in 60 days, completed (hni.head)                  -> completed on time
    LATE      BCA    due Y-02-15, completed (bca.head)                     -> completed late      (Y-Q1)
    RUNNING   BKHCN  due in 60 days, accepted (bkhcn.head)                 -> in progress
    AWAITING  BKHCN  due in 60 days, evidence in, no reviewer yet          -> in progress (the Office holds it)
    SOON      BTC    due in 3 days                                         -> due soon
    OVERDUE   HNI    due Y-03-20, never accepted                           -> overdue, the lead's delay (Y-Q1)
    PENDING   BCA    "khẩn trương"                                         -> deadline pending
    GONE      BTC    due Y-02-10, cancelled                                -> in no class"""
    document = f"{random.randint(1, 999)}-TB/ST-{uuid.uuid4().hex[:6].upper()}"
    year = random.randint(1900, 1979)
    later, soon = _days_from_today(60), _days_from_today(3)
    codes = {
        "ON_TIME": await _create(stack, document, "HNI", later),
        "LATE": await _create(stack, document, "BCA", f"{year}-02-15"),
        "RUNNING": await _create(stack, document, "BKHCN", later),
        "AWAITING": await _create(stack, document, "BKHCN", later),
        "SOON": await _create(stack, document, "BTC", soon),
        "OVERDUE": await _create(stack, document, "HNI", f"{year}-03-20"),
        "PENDING": await _create(stack, document, "BCA", "khẩn trương"),
        "GONE": await _create(stack, document, "BTC", f"{year}-02-10"),
    }
    assert (await _complete(stack, codes["ON_TIME"], "hni.head"))["late"] is False
    assert (await _complete(stack, codes["LATE"], "bca.head"))["late"] is True
    await act(stack, "bkhcn.head", codes["RUNNING"], "accept")
    await act(stack, "bkhcn.head", codes["AWAITING"], "accept")
    await _evidence(stack, "bkhcn.head", codes["AWAITING"])
    await act(stack, "office", codes["GONE"], "cancel", {"reason": "Không còn cần thiết"})
    return Program(document=document, year=year, codes=codes)


# --- the counts ----------------------------------------------------------------------------------

async def test_each_task_stands_in_its_class_and_the_classes_add_up_to_the_total(
        stack: Stack, program: Program) -> None:
    answer = ok(await _status(stack, document=program.document))
    assert _counts(answer) == {"completed_on_time": 1, "completed_late": 1, "in_progress": 2, "due_soon": 1,
                               "overdue": 1, "deadline_pending": 1, "total": 7}
    assert sum(answer[name] for name in CLASSES) == answer["total"]


async def test_the_overdue_are_counted_against_whoever_holds_them_up(stack: Stack, program: Program) -> None:
    answer = ok(await _status(stack, document=program.document))
    assert answer["overdue_by_owner"] == {"lead": 1, "finance": 0, "office": 0, "reviewer": 0}


async def test_the_answer_names_its_filters_and_lists_no_task_unless_asked(stack: Stack, program: Program) -> None:
    answer = ok(await _status(stack, document=program.document, agency="HNI"))
    assert (answer["period"], answer["agency"], answer["group"], answer["document"], answer["accountable"]) == (
        None, "HNI", None, program.document, None)
    assert answer["tasks"] is None


async def test_the_details_list_the_tasks_of_each_class(stack: Stack, program: Program) -> None:
    answer = ok(await _status(stack, document=program.document, details=1))
    codes = program.codes
    listed = {name: sorted(line["code"] for line in answer["tasks"][name]) for name in CLASSES}
    assert listed == {
        "completed_on_time": [codes["ON_TIME"]], "completed_late": [codes["LATE"]],
        "in_progress": sorted([codes["RUNNING"], codes["AWAITING"]]), "due_soon": [codes["SOON"]],
        "overdue": [codes["OVERDUE"]], "deadline_pending": [codes["PENDING"]]}
    [overdue] = answer["tasks"]["overdue"]
    assert (overdue["lead_agency"], overdue["owners"], overdue["accountable"]) == ("HNI", ["lead"], None)
    assert overdue["deadline"].startswith(f"{program.year}-03-20")
    [running] = [line for line in answer["tasks"]["in_progress"] if line["code"] == codes["RUNNING"]]
    assert (running["accountable"], running["owners"]) == ("bkhcn.head", [])
    assert answer["tasks"]["deadline_pending"][0]["deadline"] is None


# --- the filters ---------------------------------------------------------------------------------

async def test_a_period_counts_the_tasks_whose_original_deadline_falls_in_it(stack: Stack, program: Program) -> None:
    quarter = ok(await _status(stack, document=program.document, period=f"{program.year}-Q1", details=1))
    assert quarter["period"] == f"{program.year}-Q1"
    assert _counts(quarter) == {"completed_late": 1, "overdue": 1, "total": 2}  # the cancelled one is in none
    month = ok(await _status(stack, document=program.document, period=f"{program.year}-02"))
    assert _counts(month) == {"completed_late": 1, "total": 1}
    assert _counts(ok(await _status(stack, document=program.document, period=str(program.year)))) == _counts(quarter)
    assert _counts(ok(await _status(stack, document=program.document, period=f"{program.year}-Q2"))) == {}


async def test_a_task_without_a_deadline_counts_in_the_period_it_runs_through(stack: Stack) -> None:
    """A standing task and one whose deadline is pending, assigned now: this quarter's, not a past one's."""
    document = f"TB/ST-{uuid.uuid4().hex[:6].upper()}"
    code = unique_code("STS")
    ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": code, "title": "Nhiệm vụ thường xuyên", "lead_agency": "HNI", "kind": "standing",
        "source": {"document": document}}), 201)
    await _create(stack, document, "BCA", "khẩn trương")
    today = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date()  # after they were assigned
    quarter = f"{today.year}-Q{(today.month - 1) // 3 + 1}"
    assert _counts(ok(await _status(stack, document=document, period=quarter))) == {
        "in_progress": 1, "deadline_pending": 1, "total": 2}
    assert _counts(ok(await _status(stack, document=document, period=str(today.year - 1)))) == {}


async def test_a_part_handed_down_is_counted_in_no_report(stack: Stack) -> None:
    """The agency leading the task it was split from answers for it, as in the index."""
    document = f"TB/ST-{uuid.uuid4().hex[:6].upper()}"
    parent = await _create(stack, document, "BKHCN", _days_from_today(60))
    await act(stack, "bkhcn.head", parent, "accept")
    ok(await stack.http.post(f"/api/v1/tasks/{parent}/subtasks", headers=await stack.login("bkhcn.head"), json={
        "code": f"{parent}-CDS", "title": "Phần việc của Cục", "lead_agency": "BKHCN-CDS",
        "deadline": _days_from_today(30)}), 201)
    listed = ok(await stack.http.get("/api/v1/tasks", params={"document": document},
                                     headers=await stack.login("office")))
    assert sorted(task["code"] for task in listed["items"]) == [parent, f"{parent}-CDS"]  # the part's directive
    assert _counts(ok(await _status(stack, document=document))) == {"in_progress": 1, "total": 1}
    assert _counts(ok(await _status(stack, document=document, agency="BKHCN-CDS"))) == {}


async def test_agency_counts_the_tasks_it_leads(stack: Stack, program: Program) -> None:
    answer = ok(await _status(stack, document=program.document, agency="HNI"))
    assert _counts(answer) == {"completed_on_time": 1, "overdue": 1, "total": 2}


async def test_a_group_counts_the_tasks_its_members_lead(stack: Stack, program: Program) -> None:
    provinces = ok(await _status(stack, document=program.document, group="CAC-TINH"))
    assert _counts(provinces) == {"completed_on_time": 1, "overdue": 1, "total": 2}  # HNI's
    ministries = ok(await _status(stack, document=program.document, group="CAC-BO"))
    assert _counts(ministries) == {"completed_late": 1, "in_progress": 2, "due_soon": 1, "deadline_pending": 1,
                                   "total": 5}  # BCA's, BKHCN's and BTC's


async def test_a_group_counts_its_directives_tasks_even_when_reassigned(stack: Stack) -> None:
    """A directive to a group of two: one member's task given to another agency stays the group's."""
    group, document = f"ST{uuid.uuid4().hex[:6].upper()}", f"TB/ST-{uuid.uuid4().hex[:6].upper()}"
    async with stack.sessions() as session:
        session.add(models.AgencyGroup(code=group, name="Nhóm thử", members=["BCA", "BTC"]))
        await session.commit()
    directive = unique_code("STG")
    ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": directive, "title": "Chỉ đạo nhóm", "lead_agency": group, "deadline": _days_from_today(60),
        "source": {"document": document}}), 201)
    moved = await act(stack, "committee", f"{directive}-BTC", "reassign", {"lead_agency": "HNI", "reason": "Chậm"})
    assert moved["lead_agency"] == "HNI"
    alone = await _create(stack, document, "BCA", _days_from_today(60))
    await _create(stack, document, "BKHCN", _days_from_today(60))  # neither a member nor the group's
    answer = ok(await _status(stack, document=document, group=group, details=1))
    assert sorted(line["code"] for line in answer["tasks"]["in_progress"]) == sorted(
        [f"{directive}-BCA", f"{directive}-BTC", alone])


async def test_accountable_counts_the_tasks_the_head_answers_for_now(stack: Stack, program: Program) -> None:
    answer = ok(await _status(stack, document=program.document, accountable="bkhcn.head", details=1))
    assert _counts(answer) == {"in_progress": 2, "total": 2}
    assert _counts(ok(await _status(stack, document=program.document, accountable="hni.head"))) == {
        "completed_on_time": 1, "total": 1}


async def test_the_filters_combine(stack: Stack, program: Program) -> None:
    answer = ok(await _status(stack, document=program.document, period=f"{program.year}-Q1", group="CAC-TINH"))
    assert _counts(answer) == {"overdue": 1, "total": 1}


# --- the clock -----------------------------------------------------------------------------------

async def test_judged_six_days_later_the_due_soon_and_the_offices_delay_are_overdue(
        stack: Stack, program: Program) -> None:
    """The due-soon task's deadline lapses; the Office has not assigned a reviewer within its 5 days."""
    later = datetime.now(UTC) + timedelta(days=6, hours=1)
    answer = await statuses.report(app_of(stack).state.ctx, OFFICE, StatusFilter(document=program.document),
                                   details=True, now=later)
    assert _counts(answer.model_dump()) == {"completed_on_time": 1, "completed_late": 1, "in_progress": 1,
                                            "overdue": 3, "deadline_pending": 1, "total": 7}
    assert answer.overdue_by_owner.model_dump() == {"lead": 2, "finance": 0, "office": 1, "reviewer": 0}
    assert answer.tasks is not None
    owners = {line.code: line.owners for line in answer.tasks.overdue}
    assert owners[program.codes["AWAITING"]] == ["office"]


# --- the files -----------------------------------------------------------------------------------

async def test_the_classes_as_csv_one_line_per_class_in_vietnamese(stack: Stack, program: Program) -> None:
    answer = await _status(stack, document=program.document, format="csv")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert 'filename="tinh-trang-nhiem-vu.csv"' in answer.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert table == [
        ["Mã tình trạng", "Tình trạng", "Số nhiệm vụ"],
        ["completed_on_time", "Hoàn thành đúng hạn", "1"], ["completed_late", "Hoàn thành quá hạn", "1"],
        ["in_progress", "Đang thực hiện trong hạn", "2"], ["due_soon", "Sắp đến hạn", "1"],
        ["overdue", "Quá hạn", "1"], ["deadline_pending", "Chưa xác định thời hạn", "1"], ["total", "Tổng số", "7"]]


async def test_the_csv_with_details_lists_the_tasks_after_the_counts(stack: Stack, program: Program) -> None:
    answer = await _status(stack, document=program.document, period=f"{program.year}-Q1", details=1, format="csv")
    assert f'filename="tinh-trang-nhiem-vu-{program.year}-Q1.csv"' in answer.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert table[0] == ["Mã tình trạng", "Tình trạng", "Số nhiệm vụ", "Mã nhiệm vụ", "Tên nhiệm vụ",
                        "Cơ quan chủ trì", "Hạn hiện tại", "Người đứng đầu chịu trách nhiệm", "Do ai chậm"]
    lines = [dict(zip(table[0], line, strict=True)) for line in table[8:]]
    assert [(line["Mã tình trạng"], line["Mã nhiệm vụ"], line["Số nhiệm vụ"]) for line in lines] == [
        ("completed_late", program.codes["LATE"], ""), ("overdue", program.codes["OVERDUE"], "")]
    late, overdue = lines
    assert (late["Người đứng đầu chịu trách nhiệm"], late["Do ai chậm"]) == ("bca.head", "")
    assert (overdue["Tình trạng"], overdue["Cơ quan chủ trì"], overdue["Do ai chậm"]) == (
        "Quá hạn", "HNI", "Đơn vị chủ trì")
    assert overdue["Hạn hiện tại"].startswith(f"{program.year}-03-20")


async def test_the_classes_as_xlsx(stack: Stack, program: Program) -> None:
    answer = await _status(stack, document=program.document, details=1, format="xlsx")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    rows = list(load_workbook(io.BytesIO(answer.content)).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("Mã tình trạng", "Tình trạng", "Số nhiệm vụ")
    assert [(row[0], row[2]) for row in rows[1:8]] == [
        ("completed_on_time", 1), ("completed_late", 1), ("in_progress", 2), ("due_soon", 1), ("overdue", 1),
        ("deadline_pending", 1), ("total", 7)]
    assert sorted(row[3] for row in rows[8:]) == sorted(code for name, code in program.codes.items() if name != "GONE")


# --- who may read it, and what is refused --------------------------------------------------------

@pytest.mark.parametrize("user", ["office", "committee", "auditor", "finance", "admin"])
async def test_whoever_reads_every_task_reads_the_report(stack: Stack, program: Program, user: str) -> None:
    assert ok(await _status(stack, user, document=program.document))["total"] == 7


async def test_an_agency_reads_the_report_of_the_tasks_it_leads(stack: Stack, program: Program) -> None:
    answer = ok(await _status(stack, "hni.head", document=program.document, agency="HNI"))
    assert _counts(answer) == {"completed_on_time": 1, "overdue": 1, "total": 2}


@pytest.mark.parametrize(("user", "params"), [
    ("hni.head", {}), ("hni.officer", {"agency": "BCA"}), ("reviewer", {}), ("hni.head", {"group": "CAC-TINH"})])
async def test_anyone_else_is_refused(stack: Stack, program: Program, user: str, params: dict[str, str]) -> None:
    answer = await _status(stack, user, document=program.document, **params)
    assert answer.status_code == 403, answer.text
    assert answer.json()["code"] == "not_permitted"


async def test_nobody_signed_in_is_refused(stack: Stack) -> None:
    assert (await stack.http.get("/api/v1/reports/status")).status_code == 401


async def test_an_unknown_group_is_not_found(stack: Stack) -> None:
    answer = await _status(stack, group="KHONG-CO-NHOM")
    assert answer.status_code == 404, answer.text
    assert answer.json()["code"] == "group_not_found"


@pytest.mark.parametrize("period", ["2026-Q5", "2026-13", "quý 1", "26"])
async def test_a_bad_period_is_refused(stack: Stack, period: str) -> None:
    answer = await _status(stack, period=period)
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "period_invalid"


# --- the dashboard -------------------------------------------------------------------------------

async def test_the_dashboard_shows_the_status_classes_and_drills_down_to_the_tasks(
        stack: Stack, program: Program) -> None:
    period = f"{program.year}-Q1"
    async with browser_at(stack) as browser:
        await web_login(browser, "office")
        board = await browser.get("/dashboard", params={"period": period})
        assert board.status_code == 200, board.text[:500]
        for words in ("Tình trạng thực hiện nhiệm vụ", "Quá hạn do ai chậm", "Văn phòng Thường trực",
                      "Người kiểm tra chéo", "Sắp đến hạn"):
            assert words in board.text, words
        link = f'href="/dashboard?period={period}&status=overdue#status-tasks"'
        assert link in board.text
        assert program.codes["OVERDUE"] not in board.text  # no class listed until one is chosen
        drilled = await browser.get("/dashboard", params={"period": period, "status": "overdue"})
        assert drilled.status_code == 200
        assert f'href="/tasks/{program.codes["OVERDUE"]}"' in drilled.text
        assert program.codes["LATE"] not in drilled.text  # another class's task
        assert "Đơn vị chủ trì" in drilled.text  # whose delay
        download = await browser.get("/api/v1/reports/status", params={"period": period, "details": 1,
                                                                       "format": "csv"})
        assert download.status_code == 200 and program.codes["OVERDUE"] in download.text


async def test_the_dashboards_counts_are_the_reports(stack: Stack, program: Program) -> None:
    """Every task of the period, whatever its directive: the page's figures are the JSON's."""
    period = f"{program.year}-Q1"
    report = ok(await _status(stack, period=period))
    async with browser_at(stack) as browser:
        await web_login(browser, "office")
        page = (await browser.get("/dashboard", params={"period": period})).text
    for name in CLASSES:
        assert f'id="status-{name}" href="/dashboard?period={period}&status={name}#status-tasks">{report[name]}</a>' \
            in page, name
    for owner, count in report["overdue_by_owner"].items():
        assert f'id="owner-{owner}">{count}</td>' in page, owner
