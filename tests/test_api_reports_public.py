"""Reports and the public API against the running stack: the agency index (JSON, CSV, XLSX) for a
period of tasks made here, its immutable published snapshot, the public task list and rankings
without login (and what they must never show), the public rate limit, the task list exports.

The stack's database is shared by the whole session, so each program lives in a period no other
test uses (a random far-future year, or a random year of the last century for lapsed deadlines) and
public lists are filtered on an agency made for the test (`_own_agency`), which no other task involves."""

import asyncio
import csv
import io
import json
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from api.rate_limit import PublicRateLimit
from tests.helpers import Stack, act, ok, task_until, unique_code

BOM = b"\xef\xbb\xbf"
_TAKEN_YEARS: set[int] = set()


def _year(low: int, high: int) -> int:
    """A year no other test of this module uses, nor the years either side of it."""
    while {(year := random.randint(low, high)) - 1, year, year + 1} & _TAKEN_YEARS:
        pass
    _TAKEN_YEARS.add(year)
    return year


async def _create(stack: Stack, *, lead: str, deadline: str, coordinating: list[str] | None = None,
                  budget_required: bool = False, title: str = "Nhiệm vụ của kỳ báo cáo",
                  prefix: str = "RPT") -> str:
    code = unique_code(prefix)
    ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": code, "title": title, "lead_agency": lead, "coordinating_agencies": coordinating or [],
        "deadline": deadline, "budget_required": budget_required}), 201)
    return code


async def _evidence(stack: Stack, user: str, code: str, filename: str = "ket-qua.txt",
                    content: bytes | None = None) -> dict:
    body = content if content is not None else f"Kết quả {code} {uuid.uuid4()}".encode()
    return ok(await stack.http.post(
        f"/api/v1/tasks/{code}/actions/evidence.submit", headers=await stack.login(user),
        files=[("files", (filename, body, "text/plain"))], data={"summary": "Đã xong", "kpi_results": "{}"}))


async def _complete(stack: Stack, code: str, head: str, *, rejections: int = 0, accepted: bool = False) -> dict:
    """Accept (unless already), evidence, an independent reviewer, `rejections` rework rounds, approval."""
    if not accepted:
        await act(stack, head, code, "accept")
    await _evidence(stack, head, code)
    await act(stack, "office", code, "review.assign", {"reviewer": "reviewer"})
    for _ in range(rejections):
        await act(stack, "reviewer", code, "review.reject", {"reason": "Chưa đạt", "findings": ["Thiếu số liệu"]})
        await _evidence(stack, head, code)
    task = await act(stack, "reviewer", code, "review.approve")
    assert task["stage"] == "completed"
    return task


async def _index(stack: Stack, period: str, user: str = "hni.officer") -> list[dict[str, Any]]:
    return ok(await stack.http.get("/api/v1/reports/agencies", params={"period": period},
                                    headers=await stack.login(user)))


def _brief(rows: list[dict[str, Any]]) -> list[tuple]:
    return [(row["agency"], row["assigned"], row["due"], row["completed_on_time"], row["score"], row["rank"])
            for row in rows]


# --- the agency index of a far-future year --------------------------------------------------------

@dataclass
class Program:
    year: int
    codes: dict[str, str]


@pytest.fixture(scope="module")
async def program(stack: Stack) -> AsyncIterator[Program]:
    """Year Y, far in the future (so only completed tasks are due):
    A  HNI    due Y-02-15, completed at the first pass                      (Q1)
    B  BCA    due Y-03, completed after one rejected cross-check round      (Q1)
    C  BKHCN  due Y-Q1, extended to Y-Q3, then completed                    (Q1: the ORIGINAL deadline)
    D  BTC    due Y-01-20, accepted, in progress: not due                   (Q1)
    E  HNI    due Y-04-10, completed                                        (Q2)
    F  BCA    due Y-02, cancelled                                           (Q1)"""
    year = _year(2300, 2999)
    codes = {
        "A": await _create(stack, lead="HNI", deadline=f"{year}-02-15"),
        "B": await _create(stack, lead="BCA", deadline=f"{year}-03"),
        "C": await _create(stack, lead="BKHCN", deadline=f"{year}-Q1"),
        "D": await _create(stack, lead="BTC", deadline=f"{year}-01-20"),
        "E": await _create(stack, lead="HNI", deadline=f"{year}-04-10"),
        "F": await _create(stack, lead="BCA", deadline=f"{year}-02"),
    }
    await _complete(stack, codes["A"], "hni.head")
    await _complete(stack, codes["B"], "bca.head", rejections=1)
    await act(stack, "bkhcn.head", codes["C"], "accept")
    await act(stack, "bkhcn.head", codes["C"], "extension.request",
               {"new_deadline": f"{year}-Q3", "reason": "Chờ hạ tầng"})
    extended = await act(stack, "office", codes["C"], "extension.approve")
    assert extended["deadline"].startswith(f"{year}-09-30") and extended["original_deadline"].startswith(
        f"{year}-03-31")
    await _complete(stack, codes["C"], "bkhcn.head", accepted=True)
    await act(stack, "btc.head", codes["D"], "accept")
    await _complete(stack, codes["E"], "hni.head")
    await act(stack, "office", codes["F"], "cancel", {"reason": "Không còn cần thiết"})
    yield Program(year=year, codes=codes)


async def test_the_index_of_a_quarter(stack: Stack, program: Program) -> None:
    rows = await _index(stack, f"{program.year}-Q1")
    # BKHCN and HNI: 1 due, on time both ways, first pass, no budget -> 100.0: they share rank 1, listed by
    # code. BCA: 2 assigned (B, F cancelled), 1 due, completed (achievement 1), first pass 0 (one rejection):
    # 100 × (0.3 + 0.25 + 0.15 + 0 + 0.1 + 0.1) = 90.0, rank 3. BTC: nothing due -> not ranked, last.
    assert _brief(rows) == [
        ("BKHCN", 1, 1, 1, 100.0, 1), ("HNI", 1, 1, 1, 100.0, 1), ("BCA", 2, 1, 1, 90.0, 3),
        ("BTC", 1, 0, 0, None, None)]
    by_agency = {row["agency"]: row for row in rows}
    bca, bkhcn, btc = by_agency["BCA"], by_agency["BKHCN"], by_agency["BTC"]
    assert (bca["rejection_rounds"], bca["first_pass_rate"], bca["completed_late"]) == (1, 0.0, 0)
    assert (bca["overdue_open"], bca["disbursement_rate"], bca["escalations"]) == (0, None, {"1": 0, "2": 0, "3": 0})
    # C counts in Q1, where its original deadline falls, although it is now due in Q3.
    assert (bkhcn["extensions_granted"], bkhcn["on_time_rate_original"], bkhcn["on_time_rate_revised"]) == (
        1, 1.0, 1.0)
    assert (btc["first_pass_rate"], btc["on_time_rate_original"]) == (None, None)
    assert by_agency["HNI"]["agency_name"] and by_agency["HNI"]["agency_name"] != "HNI"


async def test_the_index_of_other_periods_of_the_same_year(stack: Stack, program: Program) -> None:
    # The year: HNI has two on-time completions (A, E), BKHCN one: the same score shares rank 1.
    assert _brief(await _index(stack, str(program.year))) == [
        ("BKHCN", 1, 1, 1, 100.0, 1), ("HNI", 2, 2, 2, 100.0, 1), ("BCA", 2, 1, 1, 90.0, 3),
        ("BTC", 1, 0, 0, None, None)]
    assert _brief(await _index(stack, f"{program.year}-Q2")) == [("HNI", 1, 1, 1, 100.0, 1)]
    assert _brief(await _index(stack, f"{program.year}-04")) == [("HNI", 1, 1, 1, 100.0, 1)]
    # C's revised deadline falls in Q3; it does not count there.
    assert await _index(stack, f"{program.year}-Q3") == []
    # March: B (due Y-03-31) and C (first due at the end of Q1, 31 March).
    assert _brief(await _index(stack, f"{program.year}-03")) == [("BKHCN", 1, 1, 1, 100.0, 1),
                                                                 ("BCA", 1, 1, 1, 90.0, 2)]
    # lower case quarter is the same period
    assert await _index(stack, f"{program.year}-q1") == await _index(stack, f"{program.year}-Q1")


async def test_any_logged_in_user_reads_the_index_but_not_anonymous(stack: Stack, program: Program) -> None:
    expected = await _index(stack, f"{program.year}-Q1", "office")
    for user in ("auditor", "reviewer", "btc.officer", "committee", "admin"):
        assert await _index(stack, f"{program.year}-Q1", user) == expected, user
    answer = await stack.http.get("/api/v1/reports/agencies", params={"period": f"{program.year}-Q1"})
    assert answer.status_code == 401


async def test_bad_periods_and_formats_are_refused(stack: Stack) -> None:
    headers = await stack.login("office")
    for bad in ("2026-Q5", "2026-13", "26", "Q1", ""):
        answer = await stack.http.get("/api/v1/reports/agencies", params={"period": bad}, headers=headers)
        assert answer.status_code == 422, (bad, answer.text)
    missing = await stack.http.get("/api/v1/reports/agencies", headers=headers)
    assert missing.status_code == 422
    pdf = await stack.http.get("/api/v1/reports/agencies", params={"period": "2026", "format": "pdf"},
                               headers=headers)
    assert pdf.status_code == 422


async def test_the_index_as_csv(stack: Stack, program: Program) -> None:
    rows = await _index(stack, f"{program.year}-Q1")
    answer = await stack.http.get("/api/v1/reports/agencies", params={"period": f"{program.year}-Q1", "format": "csv"},
                                  headers=await stack.login("btc.officer"))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert f"{program.year}-Q1.csv" in answer.headers["content-disposition"]
    assert answer.content.startswith(BOM)
    table = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    header, lines = table[0], table[1:]
    assert header[:3] == ["Hạng", "Mã cơ quan", "Tên cơ quan"] and header[-1] == "Điểm"
    assert "Hoàn thành đúng hạn" in header and "Cảnh báo cấp 3" in header
    read = [dict(zip(header, line, strict=True)) for line in lines]
    assert [(line["Hạng"], line["Mã cơ quan"], line["Điểm"]) for line in read] == [
        ("1", "BKHCN", "100.0"), ("1", "HNI", "100.0"), ("3", "BCA", "90.0"), ("", "BTC", "")]
    assert [line["Tên cơ quan"] for line in read] == [row["agency_name"] for row in rows]
    bca = read[2]
    assert (bca["Nhiệm vụ được giao"], bca["Nhiệm vụ đến hạn"], bca["Số lần kiểm tra chéo không đạt"]) == (
        "2", "1", "1")
    assert bca["Tỷ lệ đạt kiểm tra chéo lần đầu"] == "0.0" and bca["Cảnh báo cấp 1"] == "0"


async def test_the_index_as_xlsx(stack: Stack, program: Program) -> None:
    period = f"{program.year}-Q1"
    headers = await stack.login("hni.head")
    csv_answer = await stack.http.get("/api/v1/reports/agencies", params={"period": period, "format": "csv"},
                                      headers=headers)
    csv_header = next(csv.reader(io.StringIO(csv_answer.content.decode("utf-8-sig"))))
    answer = await stack.http.get("/api/v1/reports/agencies", params={"period": period, "format": "xlsx"},
                                  headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert f"{period}.xlsx" in answer.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(answer.content)).active
    table = list(sheet.iter_rows(values_only=True))
    assert list(table[0]) == csv_header
    read = [dict(zip(table[0], line, strict=True)) for line in table[1:]]
    assert [(line["Hạng"], line["Mã cơ quan"], line["Điểm"], line["Nhiệm vụ được giao"]) for line in read] == [
        (1, "BKHCN", 100.0, 1), (1, "HNI", 100.0, 1), (3, "BCA", 90.0, 2), (None, "BTC", None, 1)]


async def test_period_boundaries_are_local_midnights_in_the_database(stack: Stack) -> None:
    year = _year(2300, 2999)
    # Only assigned, none due: each agency is listed unscored, by code, in the period of its deadline.
    await _create(stack, lead="BKHCN", deadline=f"{year}-01-01T00:00:00+07:00")  # Q1's first instant
    await _create(stack, lead="DNG", deadline=f"{year - 1}-12-31T17:30:00+00:00")  # 1 January 00:30 in Hanoi: Q1
    await _create(stack, lead="HNI", deadline=f"{year}-03-31T23:59:59+07:00")  # Q1's last second
    await _create(stack, lead="BCA", deadline=f"{year}-04-01T00:00:00+07:00")  # Q2's first instant
    await _create(stack, lead="BTC", deadline=f"{year}-03-31T17:30:00+00:00")  # 1 April 00:30 in Hanoi: Q2
    await _create(stack, lead="QNH", deadline=f"{year - 1}-12-31")  # 31 December 23:59:59 in Hanoi: the year before
    assert _brief(await _index(stack, f"{year}-Q1")) == [
        ("BKHCN", 1, 0, 0, None, None), ("DNG", 1, 0, 0, None, None), ("HNI", 1, 0, 0, None, None)]
    assert _brief(await _index(stack, f"{year}-Q2")) == [("BCA", 1, 0, 0, None, None), ("BTC", 1, 0, 0, None, None)]
    assert [row["agency"] for row in await _index(stack, f"{year}-03")] == ["HNI"]
    assert [row["agency"] for row in await _index(stack, f"{year}-04")] == ["BCA", "BTC"]
    assert [row["agency"] for row in await _index(stack, f"{year - 1}-12")] == ["QNH"]
    assert [row["agency"] for row in await _index(stack, str(year))] == ["BCA", "BKHCN", "BTC", "DNG", "HNI"]


async def test_a_reassigned_task_counts_for_its_new_lead(stack: Stack) -> None:
    year = _year(2300, 2999)
    code = await _create(stack, lead="HNI", deadline=f"{year}-06-30")
    moved = await act(stack, "committee", code, "reassign", {"lead_agency": "BCA", "reason": "Chậm tiến độ"})
    assert moved["lead_agency"] == "BCA"
    await _complete(stack, code, "bca.head")
    assert _brief(await _index(stack, f"{year}-Q2")) == [("BCA", 1, 1, 1, 100.0, 1)]


# --- lapsed deadlines and escalations -------------------------------------------------------------

async def test_overdue_and_escalated_tasks_in_the_index(stack: Stack) -> None:
    year = _year(1980, 1999)
    # Both deadlines lapsed decades ago: each task is overdue at once and climbs the three levels at once.
    lapsed = await _create(stack, lead="BCA", deadline=f"{year}-05-10")
    late = await _create(stack, lead="HNI", deadline=f"{year}-05-20")
    for code in (lapsed, late):
        task = await task_until(stack, code, lambda t: t["escalation_level"] == 3)
        assert task["overdue"] is True
    done = await _complete(stack, late, "hni.head")
    assert done["late"] is True
    rows = await _index(stack, f"{year}-05")
    # HNI: 1 due, completed (achievement 1) late, first pass, levels 1+2+3 of its own deadline:
    #   100 × (0.3 × 1 + 0.25 × 0 + 0.15 × 0 + 0.1 × 1 + 0.1 × 1 + 0.1 × (1 − 0)) − 5 × (1 + 2 + 3) / 1 = 60 − 30 = 30.0
    # BCA: 1 due, open and overdue, levels 1+2+3:
    #   100 × (0 + 0 + 0 + 0 + 0.1 × 1 + 0.1 × (1 − 1)) − 30 = −20 -> clamped to 0.0
    assert [(row["agency"], row["completed_late"], row["overdue_open"], row["escalations"], row["score"],
             row["rank"]) for row in rows] == [
        ("HNI", 1, 0, {"1": 1, "2": 1, "3": 1}, 30.0, 1),
        ("BCA", 0, 1, {"1": 1, "2": 1, "3": 1}, 0.0, 2)]
    assert rows[0]["on_time_rate_original"] == 0.0 and rows[0]["first_pass_rate"] == 1.0
    assert rows[1]["first_pass_rate"] is None and rows[1]["due"] == 1


# --- publishing ------------------------------------------------------------------------------------

async def test_a_published_index_is_frozen(stack: Stack) -> None:
    year = _year(2300, 2999)
    period = f"{year}-Q1"
    done = await _create(stack, lead="HNI", deadline=f"{year}-02-01")
    open_ = await _create(stack, lead="BTC", deadline=f"{year}-03-01")
    await _complete(stack, done, "hni.head")
    await act(stack, "btc.head", open_, "accept")
    live = await _index(stack, period)
    assert _brief(live) == [("HNI", 1, 1, 1, 100.0, 1), ("BTC", 1, 0, 0, None, None)]

    # Nobody but the Standing Office publishes.
    for user in ("hni.head", "committee", "auditor", "admin", "finance"):
        answer = await stack.http.post("/api/v1/reports/agencies/publish", params={"period": period},
                                       headers=await stack.login(user))
        assert answer.status_code == 403, (user, answer.text)
    assert (await stack.http.post("/api/v1/reports/agencies/publish", params={"period": period})).status_code == 401
    assert (await stack.http.get("/public/v1/rankings", params={"period": period})).status_code == 404

    office = await stack.login("office")
    snapshot = ok(await stack.http.post("/api/v1/reports/agencies/publish", params={"period": period},
                                         headers=office), 201)
    assert snapshot["period"] == period and snapshot["published_by"] == "office"
    assert snapshot["rows"] == live

    # Anyone reads it without logging in.
    public = ok(await stack.http.get("/public/v1/rankings", params={"period": period}))
    assert public["period"] == period and public["published_at"] == snapshot["published_at"]
    assert public["rows"] == live
    assert "published_by" not in public and '"office"' not in json.dumps(public)
    periods = ok(await stack.http.get("/public/v1/rankings"))
    assert {"period": period, "published_at": snapshot["published_at"]} in periods
    assert [p["period"] for p in periods] == sorted((p["period"] for p in periods), reverse=True)

    # A later completion changes the live index, never the published one.
    await _complete(stack, open_, "btc.head", accepted=True)
    assert _brief(await _index(stack, period)) == [("BTC", 1, 1, 1, 100.0, 1), ("HNI", 1, 1, 1, 100.0, 1)]
    again = ok(await stack.http.get("/public/v1/rankings", params={"period": period}))
    assert again == public

    # Publishing the same period again is refused, however it is written.
    for text in (period, f"{year}-q1"):
        answer = await stack.http.post("/api/v1/reports/agencies/publish", params={"period": text}, headers=office)
        assert answer.status_code == 409, answer.text
        assert period in answer.json()["detail"]
    assert ok(await stack.http.get("/public/v1/rankings", params={"period": period})) == public
    bad = await stack.http.post("/api/v1/reports/agencies/publish", params={"period": "2026-Q9"}, headers=office)
    assert bad.status_code == 422


async def test_publishing_the_same_period_twice_at_once_answers_409_to_the_second(stack: Stack) -> None:
    period = f"{_year(2300, 2999)}-Q4"
    office = await stack.login("office")
    answers = await asyncio.gather(*[
        stack.http.post("/api/v1/reports/agencies/publish", params={"period": period}, headers=office)
        for _ in range(3)], return_exceptions=True)
    statuses = sorted(getattr(answer, "status_code", type(answer).__name__) for answer in answers)
    assert statuses == [201, 409, 409], statuses


async def test_public_rankings_of_an_unpublished_or_bad_period(stack: Stack) -> None:
    year = _year(2300, 2999)
    assert (await stack.http.get("/public/v1/rankings", params={"period": f"{year}-Q2"})).status_code == 404
    assert (await stack.http.get("/public/v1/rankings", params={"period": "năm nay"})).status_code == 422
    assert isinstance(ok(await stack.http.get("/public/v1/rankings")), list)


# --- public tasks ----------------------------------------------------------------------------------

PUBLIC_KEYS = {"code", "title", "lead_agency", "coordinating_agencies", "stage", "kind", "deadline", "overdue",
               "completed", "late", "percent", "outcome", "usable", "achievement"}


@dataclass
class PublicProgram:
    agency: str
    in_progress: str
    overdue: str
    assigned: str
    completed: str


async def _own_agency(stack: Stack) -> str:
    """A commune of Lào Cai made for one test: whatever else the session assigns (a directive to every
    province, say), no other task involves it."""
    code = f"LCU-X{uuid.uuid4().hex[:6].upper()}"
    ok(await stack.http.post("/api/v1/agencies", headers=await stack.login("admin"), json={
        "code": code, "name": "Xã thử công khai", "kind": "commune", "parent": "LCU"}), 201)
    return code


@pytest.fixture(scope="module")
async def public_program(stack: Stack) -> AsyncIterator[PublicProgram]:
    """Four tasks that all involve an agency of their own as a coordinating agency, and nothing else does."""
    agency = await _own_agency(stack)
    in_progress = await _create(stack, lead="BCA", coordinating=[agency], deadline="2099-06")
    await act(stack, "bca.head", in_progress, "accept")
    await act(stack, "bca.officer", in_progress, "progress.report", {"percent": 30})
    overdue = await _create(stack, lead="BTC", coordinating=[agency], deadline="2001-01-15")
    await task_until(stack, overdue, lambda t: t["escalation_level"] == 3)  # lapsed long ago: all levels at once
    assigned = await _create(stack, lead="BKHCN", coordinating=[agency], deadline="2099-03")
    completed = await _create(stack, lead="HNI", coordinating=[agency], deadline="2099-09-30")
    await _complete(stack, completed, "hni.head")
    yield PublicProgram(agency, in_progress, overdue, assigned, completed)


async def _public_tasks(stack: Stack, **params: Any) -> dict[str, Any]:
    return ok(await stack.http.get("/public/v1/tasks", params=params))


async def test_public_tasks_without_login_filtered_by_agency_stage_and_overdue(
        stack: Stack, public_program: PublicProgram) -> None:
    p = public_program
    page = await _public_tasks(stack, agency=p.agency)
    # ordered by deadline: 2001-01-15, 2099-03, 2099-06, 2099-09-30
    assert [item["code"] for item in page["items"]] == [p.overdue, p.assigned, p.in_progress, p.completed]
    assert page["total"] == 4
    items = {item["code"]: item for item in page["items"]}
    assert all(set(item) == PUBLIC_KEYS for item in page["items"])
    assert (items[p.overdue]["overdue"], items[p.overdue]["stage"], items[p.overdue]["lead_agency"]) == (
        True, "assigned", "BTC")
    assert items[p.overdue]["deadline"].startswith("2001-01-15T")
    assert (items[p.in_progress]["stage"], items[p.in_progress]["percent"], items[p.in_progress]["overdue"]) == (
        "in_progress", 30, False)
    assert items[p.in_progress]["coordinating_agencies"] == [p.agency]
    assert (items[p.completed]["completed"], items[p.completed]["late"], items[p.completed]["percent"]) == (
        True, False, 100)
    assert items[p.assigned]["completed"] is False and items[p.assigned]["percent"] == 0

    def codes(page: dict[str, Any]) -> list[str]:
        return [item["code"] for item in page["items"]]

    assert codes(await _public_tasks(stack, agency=p.agency, stage="in_progress")) == [p.in_progress]
    assert codes(await _public_tasks(stack, agency=p.agency, stage="completed")) == [p.completed]
    assert codes(await _public_tasks(stack, agency=p.agency, overdue="true")) == [p.overdue]
    assert codes(await _public_tasks(stack, agency=p.agency, overdue="false")) == [
        p.assigned, p.in_progress, p.completed]
    assert await _public_tasks(stack, agency=p.agency, stage="cancelled") == {"items": [], "total": 0}
    second = await _public_tasks(stack, agency=p.agency, limit=1, offset=1)
    assert codes(second) == [p.assigned] and second["total"] == 4
    # the lead agency's own filter finds its task among others
    bca = await _public_tasks(stack, agency="BCA", stage="in_progress", limit=500)
    assert p.in_progress in codes(bca) and all(item["stage"] == "in_progress" for item in bca["items"])
    everything = await _public_tasks(stack, limit=500)
    assert everything["total"] >= 4
    for params in ({"stage": "xong"}, {"limit": 0}, {"limit": 501}, {"offset": -1}, {"overdue": "maybe"}):
        answer = await stack.http.get("/public/v1/tasks", params=params)
        assert answer.status_code == 422, (params, answer.text)


def _all_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in _all_keys(item)}
    if isinstance(value, list):
        return {key for item in value for key in _all_keys(item)}
    return set()


async def test_public_tasks_never_show_files_findings_comments_budgets_or_people(stack: Stack) -> None:
    agency = await _own_agency(stack)  # only this test's task involves it
    code = await _create(stack, lead="HNI", coordinating=[agency], deadline="2099-12", budget_required=True,
                         title="Cổng dữ liệu mở của thành phố", prefix="PUB")
    line_item, source = "Máy chủ phòng dữ liệu bí mật", "Quỹ riêng không công bố"
    comment = "Ghi chú nội bộ: chưa được đưa ra ngoài"
    finding, reason = "Phát hiện lỗ hổng bảo mật nghiêm trọng ở cổng", "Lý do từ chối nội bộ"
    filename, file_content = "bao-cao-noi-bo.txt", f"Nội dung tệp {uuid.uuid4()}".encode()

    await act(stack, "hni.head", code, "accept", {"officer": "hni.officer"})
    await act(stack, "hni.head", code, "budget.submit", {
        "amount_vnd": 700_000_000, "source": source,
        "lines": [{"item": line_item, "amount_vnd": 700_000_000}]})
    await act(stack, "finance", code, "budget.approve", {"reason": "Duyệt theo đề nghị"})
    await act(stack, "hni.officer", code, "progress.report", {"percent": 60, "disbursed_vnd": 123_456_789,
                                                                "note": "Đã giải ngân một phần"})
    await act(stack, "hni.officer", code, "comment", {"text": comment})
    sent = await _evidence(stack, "hni.head", code, filename, file_content)
    sha = sent["evidence"][0]["files"][0]["sha256"]
    await act(stack, "office", code, "review.assign", {"reviewer": "reviewer"})
    task = await act(stack, "reviewer", code, "review.reject", {"reason": reason, "findings": [finding]})
    # what the agencies read has every one of these
    assert task["officer"] == "hni.officer" and task["reviewer"] == "reviewer"
    assert task["budget"]["lines"][0]["item"] == line_item and task["reviews"][0]["findings"] == [finding]

    answer = await stack.http.get("/public/v1/tasks", params={"agency": agency})
    page = ok(answer)
    assert [item["code"] for item in page["items"]] == [code]
    item = page["items"][0]
    assert set(item) == PUBLIC_KEYS
    assert item == {"code": code, "title": "Cổng dữ liệu mở của thành phố", "lead_agency": "HNI",
                    "coordinating_agencies": [agency], "stage": "in_progress", "kind": "one_off",
                    "deadline": item["deadline"], "overdue": False, "completed": False, "late": False,
                    "percent": 60, "outcome": None, "usable": None, "achievement": None}
    assert item["deadline"].startswith("2099-12-31T")
    forbidden_keys = {"evidence", "files", "findings", "reviews", "comments", "budget", "lines", "officer",
                      "reviewer", "actor", "username", "sha256", "by", "reason", "disbursed_vnd", "amount_vnd",
                      "progress", "history", "events", "filename"}
    assert not _all_keys(page) & forbidden_keys
    body = answer.text
    for secret in ("hni.head", "hni.officer", "bkhcn.officer", "reviewer", "finance", "office", comment, finding,
                   reason, line_item, source, filename, sha, "123456789", "700000000", "Đã giải ngân"):
        assert secret not in body, secret


async def test_the_public_api_is_rate_limited_per_client(stack: Stack) -> None:
    app = stack.http._transport.app  # type: ignore[attr-defined]
    kept, app.state.public_limiter = app.state.public_limiter, PublicRateLimit(app.state.sessions, per_minute=5)
    try:
        for _ in range(5):
            assert (await stack.http.get("/public/v1/tasks", params={"limit": 1})).status_code == 200
        refused = await stack.http.get("/public/v1/rankings")
        assert refused.status_code == 429, refused.text
        retry = int(refused.headers["Retry-After"])
        assert 1 <= retry <= 60
        detail = refused.json()["detail"]
        assert isinstance(detail, str) and "5" in detail and str(retry) in detail
        # another client is not held back by this one
        other = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("203.0.113.9", 4000)),
                                  base_url="http://nq57.test")
        async with other:
            assert (await other.get("/public/v1/tasks", params={"limit": 1})).status_code == 200
        # nor is the logged-in API
        headers = await stack.login("office")
        assert (await stack.http.get("/api/v1/tasks", params={"limit": 1}, headers=headers)).status_code == 200
        assert (await stack.http.get("/public/v1/tasks")).status_code == 429
    finally:
        app.state.public_limiter = kept
    assert (await stack.http.get("/public/v1/tasks", params={"limit": 1})).status_code == 200


# --- task list exports ----------------------------------------------------------------------------

async def _export(stack: Stack, user: str, fmt: str, **params: Any) -> httpx.Response:
    answer = await stack.http.get("/api/v1/tasks", params={**params, "format": fmt},
                                  headers=await stack.login(user))
    assert answer.status_code == 200, answer.text
    return answer


def _csv_rows(answer: httpx.Response) -> list[dict[str, str]]:
    assert answer.headers["content-type"].startswith("text/csv") and answer.content.startswith(BOM)
    table = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    return [dict(zip(table[0], line, strict=True)) for line in table[1:]]


def _xlsx_rows(answer: httpx.Response) -> list[dict[str, Any]]:
    table = list(load_workbook(io.BytesIO(answer.content)).active.iter_rows(values_only=True))
    return [dict(zip(table[0], line, strict=True)) for line in table[1:]]


async def test_the_task_list_exports_what_the_filters_select(stack: Stack, public_program: PublicProgram) -> None:
    p = public_program
    rows = _csv_rows(await _export(stack, "office", "csv", agency=p.agency))
    assert [row["Mã nhiệm vụ"] for row in rows] == [p.overdue, p.assigned, p.in_progress, p.completed]
    by_code = {row["Mã nhiệm vụ"]: row for row in rows}
    assert by_code[p.overdue]["Quá hạn"] == "Có" and by_code[p.in_progress]["Quá hạn"] == "Không"
    assert by_code[p.overdue]["Cơ quan chủ trì"] == "BTC" and by_code[p.overdue]["Cơ quan phối hợp"] == p.agency
    assert by_code[p.in_progress]["Giai đoạn"] == "Đang thực hiện" and by_code[p.in_progress]["Tiến độ (%)"] == "30"
    assert by_code[p.completed]["Giai đoạn"] == "Hoàn thành" and by_code[p.completed]["Tiến độ (%)"] == "100"
    assert by_code[p.assigned]["Thời hạn"] == "2099-03" and by_code[p.overdue]["Thời hạn"] == "2001-01-15"

    only = _csv_rows(await _export(stack, "office", "csv", agency=p.agency, stage="in_progress"))
    assert [row["Mã nhiệm vụ"] for row in only] == [p.in_progress]
    lapsed = _csv_rows(await _export(stack, "office", "csv", agency=p.agency, overdue="true"))
    assert [row["Mã nhiệm vụ"] for row in lapsed] == [p.overdue]
    found = _csv_rows(await _export(stack, "office", "csv", agency=p.agency, q=p.assigned.lower()))
    assert [row["Mã nhiệm vụ"] for row in found] == [p.assigned]

    answer = await _export(stack, "office", "xlsx", agency=p.agency)
    assert answer.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "nhiem-vu.xlsx" in answer.headers["content-disposition"]
    sheet = _xlsx_rows(answer)
    assert [row["Mã nhiệm vụ"] for row in sheet] == [row["Mã nhiệm vụ"] for row in rows]
    assert [(row["Giai đoạn"], row["Tiến độ (%)"], row["Quá hạn"]) for row in sheet] == [
        (row["Giai đoạn"], int(row["Tiến độ (%)"]), row["Quá hạn"]) for row in rows]

    # an agency exports only what it may read: of these, BCA leads one, the others involve it not at all
    mine = _csv_rows(await _export(stack, "bca.head", "csv", agency=p.agency))
    assert [row["Mã nhiệm vụ"] for row in mine] == [p.in_progress]
    mine_xlsx = _xlsx_rows(await _export(stack, "bca.officer", "xlsx", agency=p.agency))
    assert [row["Mã nhiệm vụ"] for row in mine_xlsx] == [p.in_progress]
    assert (await stack.http.get("/api/v1/tasks", params={"format": "csv"})).status_code == 401
    bad = await stack.http.get("/api/v1/tasks", params={"format": "pdf"}, headers=await stack.login("office"))
    assert bad.status_code == 422
    # the JSON list is unchanged by the export
    page = ok(await stack.http.get("/api/v1/tasks", params={"agency": p.agency},
                                    headers=await stack.login("office")))
    assert page["total"] == 4 and [item["code"] for item in page["items"]] == [row["Mã nhiệm vụ"] for row in rows]
