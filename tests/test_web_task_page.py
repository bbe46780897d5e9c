"""A task's page compares (issue 13): each KPI's target, its reported figures over time and its result, in
a table and a small chart; the budget approved against the disbursed; a completed task's delivery
against its deadline, in days; the timeline with its reasons and findings. Its budget form takes lines
as rows, and its evidence form says what files it takes before one is picked (a phone's HEIC too)."""

import html
import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.helpers import ORIGIN, Stack, act, browser_at, csrf_of, get_task, ok, unique_code, web_login

TRAINED = {"name": "Kỹ sư được đào tạo", "target": 5000, "unit": "người", "baseline": 0}
DAYS = {"name": "Thời gian xử lý hồ sơ", "target": 5, "unit": "ngày", "baseline": 20, "direction": "lower"}
# A HEIF photo's first bytes, as an iPhone writes them: the `ftyp` box, major brand `heic`.
RESULTS = {"kpi_0": "100", "kpi_1": "15"}  # the evidence form's figure for each KPI, by its place
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64


async def _assigned(stack: Stack, *, deadline: str = "2027-Q4", budget: bool = False) -> str:
    """A task of BKHCN with two KPIs, accepted by its head (its budget approved, when it has one)."""
    code = unique_code("CMP")
    ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": code, "title": "Đào tạo kỹ sư bán dẫn", "lead_agency": "BKHCN", "deadline": deadline,
        "kpis": [TRAINED, DAYS], "budget_required": budget}), 201)
    await act(stack, "bkhcn.head", code, "accept", {})
    if budget:
        await act(stack, "bkhcn.head", code, "budget.submit", {
            "amount_vnd": 5_000_000_000, "source": "Ngân sách trung ương",
            "lines": [{"item": "Đào tạo", "amount_vnd": 5_000_000_000}]})
        await act(stack, "finance", code, "budget.approve", {})
    return code


async def _deliver(stack: Stack, code: str, summary: str, results: dict[str, float]) -> None:
    """The head submits the evidence (a PDF) with these results, and the Office assigns the reviewer."""
    ok(await stack.http.post(
        f"/api/v1/tasks/{code}/actions/evidence.submit", headers=await stack.login("bkhcn.head"),
        files=[("files", ("ket-qua.pdf", b"%PDF-1.4 ket qua", "application/pdf"))],
        data={"summary": summary, "kpi_results": json.dumps(results)}))
    await act(stack, "office", code, "review.assign", {"reviewer": "reviewer"})


async def _page(stack: Stack, code: str, username: str = "office") -> str:
    async with browser_at(stack) as browser:
        await web_login(browser, username)
        answer = await browser.get(f"/tasks/{code}")
        assert answer.status_code == 200, answer.text
        return answer.text


async def _post(browser: httpx.AsyncClient, code: str, action: str, data: dict[str, str],
                files: list[tuple[str, tuple[str, bytes, str]]] | None = None) -> httpx.Response:
    """Post an action's form from the task's page, as its button does."""
    token = csrf_of(await browser.get(f"/tasks/{code}"))
    return await browser.post(f"/tasks/{code}/actions/{action}", data={**data, "csrf_token": token},
                              files=files, headers={"Origin": ORIGIN})


@pytest.fixture(scope="module")
async def completed(stack: Stack) -> str:
    """A task completed late: its deadline lapsed 3 days (less an hour) before its evidence came; two
    progress reports, the evidence, and the reviewer's own figure for one KPI."""
    deadline = datetime.now(UTC) - timedelta(days=3) + timedelta(hours=1)
    code = await _assigned(stack, deadline=deadline.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).isoformat(
        timespec="seconds"))
    await act(stack, "bkhcn.head", code, "progress.report", {
        "percent": 30, "kpi_actuals": {TRAINED["name"]: 1200}, "note": "Khoá đầu"})
    await act(stack, "bkhcn.head", code, "progress.report", {
        "percent": 70, "kpi_actuals": {TRAINED["name"]: 3400, DAYS["name"]: 9}, "note": "Khoá hai"})
    await _deliver(stack, code, "Đã đào tạo", {TRAINED["name"]: 5200, DAYS["name"]: 4})
    await act(stack, "reviewer", code, "review.approve", {
        "usable": True, "reason": "Đã đối chiếu danh sách", "kpi_results": {DAYS["name"]: 5}})
    return code


def _row(page: str, kpi: str) -> str:
    """The comparison table's row of one KPI (its cells as text, tags removed)."""
    section = page[page.index('id="compare"'):]
    found = re.search(r"<tr id=\"compare-\d+\"><th scope=\"row\">" + re.escape(html.escape(kpi)) + r"</th>(.*?)</tr>",
                      section, re.S)
    assert found, section[:2000]
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


async def test_a_task_page_shows_each_kpi_target_its_reported_actuals_in_order_and_the_result(
        stack: Stack, completed: str) -> None:
    page = await _page(stack, completed)
    trained = _row(page, TRAINED["name"])
    assert trained.startswith("5.000 người")
    assert re.search(r"1\.200 \(báo cáo\).*3\.400 \(báo cáo\).*5\.200 \(minh chứng\) 5\.200 100%", trained), trained
    days = _row(page, DAYS["name"])
    assert re.search(r"^5 ngày Mốc ban đầu: 20 .*9 \(báo cáo\).*4 \(minh chứng\) 5 100%$", days), days


async def test_each_kpi_has_a_small_chart_with_a_text_alternative(stack: Stack, completed: str) -> None:
    page = await _page(stack, completed)
    svgs = re.findall(r'<svg class="chart kpi" viewBox="0 0 320 120" width="100%" role="img" '
                      r'aria-labelledby="([^"]+)">', page)
    assert svgs == ["kpi-chart-1-title kpi-chart-1-desc", "kpi-chart-2-title kpi-chart-2-desc"]
    assert '<title id="kpi-chart-1-title">Diễn biến chỉ tiêu “Kỹ sư được đào tạo”</title>' in page
    desc = re.search(r'<desc id="kpi-chart-1-desc">(.*?)</desc>', page, re.S)
    assert desc and "Mục tiêu 5.000" in desc.group(1) and "1.200" in desc.group(1) and \
        "kết quả xác nhận: 5.200" in desc.group(1)
    assert page.count('<polyline class="reported"') == 2 and page.count('<rect class="result"') == 2


async def test_a_completed_task_says_it_was_late_and_by_how_many_days(stack: Stack, completed: str) -> None:
    page = await _page(stack, completed)
    assert "Hoàn thành trễ 3 ngày so với thời hạn" in page
    assert (await get_task(stack, completed))["late"] is True


async def test_the_timeline_shows_the_reasons_notes_and_findings_people_gave(stack: Stack, completed: str) -> None:
    page = await _page(stack, completed)
    timeline = page[page.index('class="timeline"'):]
    for said in ("Ghi chú: Khoá đầu", "Ghi chú: Khoá hai", "Tóm tắt kết quả: Đã đào tạo",
                 "Lý do: Đã đối chiếu danh sách"):
        assert said in timeline, said


async def test_a_rejection_findings_are_in_the_timeline(stack: Stack) -> None:
    code = await _assigned(stack)
    await _deliver(stack, code, "Xong", {TRAINED["name"]: 100, DAYS["name"]: 15})
    await act(stack, "reviewer", code, "review.reject", {"reason": "Thiếu danh sách học viên",
                                                         "findings": ["Không có chứng chỉ", "Số liệu lệch"]})
    timeline = (await _page(stack, code))
    timeline = timeline[timeline.index('class="timeline"'):]
    assert "Lý do: Thiếu danh sách học viên" in timeline
    assert "<li>Không có chứng chỉ</li><li>Số liệu lệch</li>" in timeline


async def test_the_budget_card_sets_the_approved_against_the_disbursed(stack: Stack) -> None:
    code = await _assigned(stack, budget=True)
    await act(stack, "bkhcn.head", code, "progress.report", {"percent": 20, "disbursed_vnd": 1_500_000_000})
    await act(stack, "bkhcn.head", code, "progress.report", {"percent": 40, "disbursed_vnd": 2_000_000_000})
    page = await _page(stack, code)
    assert "<dt>Còn lại</dt><dd>3.000.000.000 ₫</dd>" in page
    assert "Đã giải ngân 40% kinh phí được duyệt" in page
    assert '<progress max="100" value="40.0" aria-labelledby="spending">' in page
    history = page[page.index("Giải ngân lũy kế theo báo cáo"):]
    assert history.index("1.500.000.000 ₫") < history.index("2.000.000.000 ₫")


async def test_budget_lines_typed_as_rows_are_accepted_the_empty_rows_left_out(stack: Stack) -> None:
    code = unique_code("ROW")
    ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": code, "title": "Trung tâm dữ liệu", "lead_agency": "BKHCN", "deadline": "2027-Q4",
        "budget_required": True}), 201)
    await act(stack, "bkhcn.head", code, "accept", {})
    async with browser_at(stack) as browser:
        await web_login(browser, "bkhcn.head")
        answer = await _post(browser, code, "budget.submit", {
            "amount_vnd": "3,5 tỷ", "source": "Ngân sách trung ương",
            "lines.0.item": "", "lines.0.amount_vnd": "",
            "lines.1.item": "Máy chủ", "lines.1.amount_vnd": "3 tỷ",
            "lines.2.item": "Phần mềm", "lines.2.amount_vnd": "500.000.000"})
    assert answer.status_code == 303, answer.text
    budget = (await get_task(stack, code))["budget"]
    assert budget["lines"] == [{"item": "Máy chủ", "amount_vnd": 3_000_000_000},
                               {"item": "Phần mềm", "amount_vnd": 500_000_000}]


async def test_a_refused_budget_row_keeps_what_was_typed_and_names_its_row(stack: Stack) -> None:
    code = unique_code("ROW")
    ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": code, "title": "Trung tâm dữ liệu", "lead_agency": "BKHCN", "deadline": "2027-Q4",
        "budget_required": True}), 201)
    await act(stack, "bkhcn.head", code, "accept", {})
    async with browser_at(stack) as browser:
        await web_login(browser, "bkhcn.head")
        answer = await _post(browser, code, "budget.submit", {
            "amount_vnd": "3 tỷ", "source": "Ngân sách trung ương",
            "lines.0.item": "", "lines.0.amount_vnd": "",  # an empty row before: the rows shown are renumbered
            "lines.1.item": "Máy chủ", "lines.1.amount_vnd": "2 tỷ",
            "lines.2.item": "Phần mềm", "lines.2.amount_vnd": "một tỷ"})
    assert answer.status_code == 422, answer.text
    page = answer.text
    assert re.search(r'name="lines\.0\.item" value="Máy chủ"', page)
    bad = re.search(r'<input id="budget\.submit-lines\.1\.amount_vnd" name="lines\.1\.amount_vnd" value="một tỷ"[^>]*>',
                    page)
    assert bad and 'aria-invalid="true"' in bad.group(0) and "autofocus" in bad.group(0), page
    assert 'id="budget.submit-lines.1.amount_vnd-error">Dòng 2, Số tiền (đồng):' in page
    assert page.count("autofocus") == 1
    assert (await get_task(stack, code))["budget"] is None


async def test_rows_that_do_not_add_up_are_refused_at_the_first_row_with_the_total(stack: Stack) -> None:
    code = unique_code("ROW")
    ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": code, "title": "Trung tâm dữ liệu", "lead_agency": "BKHCN", "deadline": "2027-Q4",
        "budget_required": True}), 201)
    await act(stack, "bkhcn.head", code, "accept", {})
    async with browser_at(stack) as browser:
        await web_login(browser, "bkhcn.head")
        answer = await _post(browser, code, "budget.submit", {
            "amount_vnd": "2 tỷ", "source": "Ngân sách trung ương",
            "lines.0.item": "Máy chủ", "lines.0.amount_vnd": "1 tỷ",
            "lines.1.item": "Phần mềm", "lines.1.amount_vnd": "500 triệu"})
    assert answer.status_code == 422, answer.text
    first = re.search(r'<input id="budget\.submit-lines\.0\.item"[^>]*>', answer.text)
    assert first and 'aria-describedby="budget.submit-lines-error"' in first.group(0) and "autofocus" in first.group(0)
    assert 'id="budget.submit-lines-error"' in answer.text and "1,500,000,000" in answer.text
    assert 'name="lines.1.amount_vnd" value="500 triệu"' in answer.text


async def test_the_evidence_form_says_the_allowed_types_before_a_file_is_picked(stack: Stack) -> None:
    page = await _page(stack, await _assigned(stack), "bkhcn.head")
    found = re.search(r'<input id="evidence\.submit-files" name="files" type="file" multiple accept="([^"]+)"', page)
    assert found, page
    accepted = found.group(1).split(",")
    assert {".pdf", ".jpg", ".heic", ".heif", "image/heic", "image/heif", "image/jpeg"} <= set(accepted)
    hint = re.search(r'<p class="hint" id="evidence\.submit-files-hint">(.*?)</p>', page, re.S)
    assert hint and "Nhận các loại tệp: " in hint.group(1) and ".heic" in hint.group(1)
    assert "Ảnh chụp từ điện thoại (HEIC, JPG, PNG) đều được nhận." in hint.group(1)


async def test_the_evidence_form_says_the_largest_file_it_takes(stack: Stack) -> None:
    page = await _page(stack, await _assigned(stack), "bkhcn.head")
    assert f"Tối đa {stack.settings.max_upload_mb} MB mỗi tệp." in page


async def test_a_phone_heic_photo_is_accepted_as_evidence(stack: Stack) -> None:
    code = await _assigned(stack)
    async with browser_at(stack) as browser:
        await web_login(browser, "bkhcn.head")
        answer = await _post(browser, code, "evidence.submit", {"summary": "Ảnh hiện trường", **RESULTS},
                             files=[("files", ("IMG_0001.HEIC", HEIC, "image/heic"))])
    assert answer.status_code == 303, answer.text
    [stored] = (await get_task(stack, code))["evidence"][-1]["files"]
    assert (stored["filename"], stored["content_type"]) == ("IMG_0001.HEIC", "image/heic")


async def test_a_film_named_heic_is_refused_as_not_what_its_name_says(stack: Stack) -> None:
    code = await _assigned(stack)
    film = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 64
    async with browser_at(stack) as browser:
        await web_login(browser, "bkhcn.head")
        answer = await _post(browser, code, "evidence.submit", {"summary": "Video", **RESULTS},
                             files=[("files", ("clip.heic", film, "image/heic"))])
    assert answer.status_code == 415, answer.text
    assert "không đúng loại tệp mà tên của nó cho biết" in answer.text
    assert (await get_task(stack, code))["stage"] == "in_progress"
