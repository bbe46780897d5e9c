"""The program as the Committee writes it, imported whole: a notice's appendix written as a program
file (data/reference/program-notice-20.csv: every deadline phrase, the source directive of each
row, a directing agency) becomes one task per row, none refused; each task keeps its directive,
the list filters by it, the export carries it."""

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from domain.deadlines import parse_deadline
from domain.program_file import read_rows, spec_from_row
from tests.helpers import Stack, act, ok, wait_until

NOTICE = Path(__file__).resolve().parent.parent / "data" / "reference" / "program-notice-20.csv"
DOCUMENT = "20-TB/CQTTBCĐ"


def _rows() -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(NOTICE.read_text(encoding="utf-8"))))


async def _imported(stack: Stack) -> dict[str, Any]:
    return ok(await stack.http.post("/api/v1/tasks/import", headers=await stack.login("office"),
                                    files={"file": (NOTICE.name, NOTICE.read_bytes(), "text/csv")}))


async def test_every_row_of_the_notice_becomes_a_task_none_refused(stack: Stack) -> None:
    result = await _imported(stack)
    assert result["errors"] == []
    assert sorted(result["created"] + result["skipped"]) == sorted(row["code"] for row in _rows())


async def test_each_task_keeps_its_deadline_as_written_and_its_directive(stack: Stack) -> None:
    await _imported(stack)
    office = await stack.login("office")
    for row in _rows():
        task = ok(await stack.http.get(f"/api/v1/tasks/{row['code']}", headers=office))
        assert task["deadline_text"] == row["deadline"]
        assert datetime.fromisoformat(task["deadline"]) == parse_deadline(row["deadline"])
        assert task["source"] == {"document": DOCUMENT, "date": "2026-03-16", "section": row["source_section"],
                                  "text": row["source_text"]}
        assert task["directing_agency"] == (row["directing_agency"] or None)


async def test_the_list_filters_by_the_directive_and_the_export_carries_it(stack: Stack) -> None:
    await _imported(stack)
    office = await stack.login("office")
    page = ok(await stack.http.get("/api/v1/tasks", headers=office, params={"document": DOCUMENT, "limit": 100}))
    # every row of the notice, and only tasks of that directive (other tests' tasks may cite it too)
    assert {row["code"] for row in _rows()} <= {task["code"] for task in page["items"]}
    assert {task["source"]["document"] for task in page["items"]} == {DOCUMENT}
    assert ok(await stack.http.get("/api/v1/tasks", headers=office, params={"document": "99-TB/KHONGCO"}))[
        "total"] == 0
    export = await stack.http.get("/api/v1/tasks", headers=office, params={"document": DOCUMENT, "format": "csv"})
    assert export.status_code == 200
    table = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert "Văn bản chỉ đạo" in table[0] and "Mục trong văn bản" in table[0]
    code, section = table[0].index("Mã nhiệm vụ"), table[0].index("Mục trong văn bản")
    exported = {line[code]: line[section] for line in table[1:]}
    assert {row["code"]: exported.get(row["code"]) for row in _rows()} == {
        row["code"]: row["source_section"] for row in _rows()}


async def test_a_row_naming_an_unknown_agency_or_an_unreadable_date_is_refused_by_name(stack: Stack) -> None:
    header = "code,title,lead_agency,directing_agency,deadline,source_document,source_date\n"
    content = (header + "TB99-01,Thử,BTC,KHONGCO,trong năm 2027,1-TB,16/3/2026\n"
                        "TB99-02,Thử,BTC,,trong năm 2027,1-TB,ngày mười sáu\n").encode()
    result = ok(await stack.http.post("/api/v1/tasks/import", headers=await stack.login("office"),
                                      files={"file": ("loi.csv", content, "text/csv")}))
    assert result["created"] == []
    details = {error["row"]: error["detail"] for error in result["errors"]}
    assert "directing_agency" in details[2] and "KHONGCO" in details[2]
    assert "source_date" in details[3] and "ngày mười sáu" in details[3]


async def test_the_directing_agency_reads_comments_and_is_told_at_the_first_level(stack: Stack) -> None:
    """"Bộ Tài chính chỉ đạo Thành phố Hà Nội chủ trì": the directing agency's head reads the task,
    comments on it, finds it in the list, and is alerted with the lead when it climbs to level 1 —
    but does not act for the lead."""
    code = f"DIR-{uuid.uuid4().hex[:8].upper()}"
    lapsed = (datetime.now(UTC) - timedelta(days=3)).date().isoformat()
    ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": code, "title": "Nhiệm vụ có cơ quan chỉ đạo", "lead_agency": "HNI", "directing_agency": "BTC",
        "deadline": lapsed}), 201)
    head = await stack.login("btc.head")
    assert ok(await stack.http.get(f"/api/v1/tasks/{code}", headers=head))["directing_agency"] == "BTC"
    assert code in {task["code"] for task in ok(await stack.http.get(
        "/api/v1/tasks", headers=head, params={"q": code}))["items"]}
    await act(stack, "btc.head", code, "comment", {"text": "Đề nghị Thành phố báo cáo tiến độ"})
    refused = await stack.http.post(f"/api/v1/tasks/{code}/actions/accept", headers=head, json={})
    assert refused.status_code == 403, refused.text

    async def alerts() -> list[dict[str, Any]]:
        return [note for note in ok(await stack.http.get("/api/v1/notifications", headers=head))
                if note["task_code"] == code]

    told = await wait_until(alerts, lambda found: bool(found), what="the directing agency's alert")
    assert {note["level"] for note in told} == {1}


async def test_a_directive_to_a_group_creates_one_task_per_member_and_rolls_them_up(stack: Stack) -> None:
    office = await stack.login("office")
    groups = {group["code"]: group for group in ok(await stack.http.get("/api/v1/agency-groups", headers=office))}
    ministries = groups["CAC-BO"]["members"]
    assert groups["CAC-BO"]["name"] == "Các Bộ, cơ quan ngang bộ" and "BTC" in ministries
    assert len(groups["CAC-TINH"]["members"]) == 34
    code = f"GRP-{uuid.uuid4().hex[:6].upper()}"
    item = ok(await stack.http.post("/api/v1/tasks", headers=office, json={
        "code": code, "title": "Các Bộ rà soát cơ sở dữ liệu chuyên ngành", "lead_agency": "CAC-BO",
        "deadline": "trong quý IV/2027", "source": {"document": DOCUMENT, "section": "Phụ lục, mục 6"}}), 201)
    assert item["children"] == [f"{code}-{member}" for member in ministries]
    assert item["stages"] == {"assigned": len(ministries)} and item["progress"] == 0 and not item["completed"]
    child = ok(await stack.http.get(f"/api/v1/tasks/{code}-BTC", headers=office))
    assert child["lead_agency"] == "BTC" and child["deadline_text"] == "trong quý IV/2027"
    assert child["source"]["document"] == DOCUMENT
    # The members' work adds up on the group's item.
    await act(stack, "btc.head", f"{code}-BTC", "accept", {"officer": "btc.officer"})
    await act(stack, "btc.officer", f"{code}-BTC", "progress.report", {"percent": 80})
    rolled = await wait_until(lambda: _get(stack, code), lambda found: found["progress"] > 0, what="the roll-up")
    assert rolled["progress"] == round(80 / len(ministries))
    assert rolled["stages"] == {"assigned": len(ministries) - 1, "in_progress": 1}
    # The group's code is taken: neither a task nor another group gets it.
    taken = await stack.http.post("/api/v1/tasks", headers=office, json={
        "code": code, "title": "Trùng mã", "lead_agency": "HNI", "deadline": "2027-12"})
    assert taken.status_code == 409, taken.text
    # A member reads its own task, not the group's item.
    btc = await stack.login("btc.head")
    assert (await stack.http.get(f"/api/v1/tasks/{code}", headers=btc)).status_code == 403


async def _get(stack: Stack, code: str) -> dict[str, Any]:
    return ok(await stack.http.get(f"/api/v1/tasks/{code}", headers=await stack.login("office")))


async def test_an_import_row_addressed_to_a_group_creates_the_members_tasks(stack: Stack) -> None:
    code = f"GRI-{uuid.uuid4().hex[:6].upper()}"
    content = (f"code,title,lead_agency,deadline\n{code},Các tỉnh báo cáo sơ kết,CAC-TINH,6 tháng đầu năm 2027\n"
               ).encode()
    result = ok(await stack.http.post("/api/v1/tasks/import", headers=await stack.login("office"),
                                      files={"file": ("nhom.csv", content, "text/csv")}))
    assert result["errors"] == [] and len(result["created"]) == 34
    assert f"{code}-HNI" in result["created"]


DEMO = Path(__file__).resolve().parent.parent / "data" / "reference" / "program-demo.csv"


async def test_the_demo_program_imports_whole_with_each_kind_and_a_directive_to_a_list(stack: Stack) -> None:
    """data/reference/program-demo.csv (what NQ57_DEMO loads beside the notice): one task of each
    kind, a deadline left to be set by the Committee's words, and one directive to three cities."""
    office = await stack.login("office")
    result = ok(await stack.http.post("/api/v1/tasks/import", headers=office,
                                      files={"file": (DEMO.name, DEMO.read_bytes(), "text/csv")}))
    assert result["errors"] == []
    tasks = {code: ok(await stack.http.get(f"/api/v1/tasks/{code}", headers=office))
             for code in ("DEMO-01", "DEMO-02", "DEMO-03", "DEMO-04", "DEMO-06")}
    assert {code: task["kind"] for code, task in tasks.items()} == {
        "DEMO-01": "one_off", "DEMO-02": "recurring", "DEMO-03": "standing", "DEMO-04": "deadline_pending",
        "DEMO-06": "one_off"}
    assert tasks["DEMO-01"]["deadline_text"] == "trước ngày 01/7/2027"
    assert datetime.fromisoformat(tasks["DEMO-01"]["deadline"]) == parse_deadline("2027-06-30")
    assert tasks["DEMO-02"]["deadline"] is None and tasks["DEMO-02"]["reporting"] == "monthly"
    assert tasks["DEMO-03"]["deadline"] is None and tasks["DEMO-03"]["reporting"] == "quarterly"
    assert tasks["DEMO-04"]["deadline"] is None
    assert tasks["DEMO-04"]["deadline_text"] == "cùng thời điểm thi hành của Luật"
    group = ok(await stack.http.get("/api/v1/tasks/DEMO-05", headers=office))
    assert group["children"] == ["DEMO-05-HNI", "DEMO-05-HCM", "DEMO-05-DNG"]
    assert sorted(result["created"] + result["skipped"]) == sorted(
        ["DEMO-01", "DEMO-02", "DEMO-03", "DEMO-04", "DEMO-06", "DEMO-07", "DEMO-08", *group["children"]])
    measured = next(spec_from_row(row) for row in read_rows(DEMO.read_bytes(), DEMO.name) if row["code"] == "DEMO-08")
    assert [(k.name, k.baseline, k.target, k.direction) for k in measured.kpis] == [
        ("Thời gian cấp", 15, 3, "lower"), ("Hồ sơ được cấp trực tuyến", 20, 80, "higher")]
