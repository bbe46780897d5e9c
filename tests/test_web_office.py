"""The Standing Office assigns a task from its page: the same Directive and the same service as
POST /api/v1/tasks, so what the form creates reads back from the API as given; a program file is
previewed (nothing created) before it is imported."""

import io
import re

from openpyxl import load_workbook  # type: ignore[import-untyped]  # openpyxl ships no type hints

from api.exports import XLSX_TYPE
from tests.helpers import ORIGIN, Stack, browser_at, csrf_of, get_task, statements, unique_code, web_login


async def _post_new(stack: Stack, username: str, form: dict[str, str | list[str]]) -> tuple[int, str, str]:
    """Log in, open /tasks/new, post the form: its status, the page answered, where it sends."""
    async with browser_at(stack) as browser:
        await web_login(browser, username)
        page = await browser.get("/tasks/new")
        token = csrf_of(page) if page.status_code == 200 else csrf_of(await browser.get("/inbox"))
        answer = await browser.post("/tasks/new", data={**form, "csrf_token": token}, headers={"Origin": ORIGIN})
        return answer.status_code, answer.text, answer.headers.get("location", "")


async def test_the_office_assigns_a_task_from_the_form(stack: Stack) -> None:
    code = unique_code("WEB")
    status, page, location = await _post_new(stack, "office", {
        "code": code, "title": "Số hoá hồ sơ", "lead_agency": "HNI", "coordinating_agencies": ["BTC", "BCA"],
        "deadline": "trong quý II/2027", "kind": "one_off", "reporting": "quarterly", "budget_required": "1",
        "kpi_name_0": "Hồ sơ số hoá", "kpi_target_0": "90", "kpi_unit_0": "%", "kpi_baseline_0": "20",
        "kpi_direction_0": "higher", "kpi_name_1": "Ngày xử lý", "kpi_target_1": "3", "kpi_unit_1": "ngày",
        "kpi_baseline_1": "10", "kpi_direction_1": "lower", "kpi_name_2": "", "kpi_target_2": "",
        "source_document": "20-TB/CQTTBCĐ", "source_section": "mục 3"})
    assert status == 303, page
    assert location.startswith(f"/tasks/{code}")
    task = await get_task(stack, code)
    assert (task["lead_agency"], task["deadline_text"], task["budget_required"]) == ("HNI", "trong quý II/2027", True)
    assert sorted(task["coordinating_agencies"]) == ["BCA", "BTC"]
    kpis = {k["name"]: (k["target"], k.get("baseline"), k.get("direction", "higher")) for k in task["kpis"]}
    assert kpis == {"Hồ sơ số hoá": (90, 20, "higher"), "Ngày xử lý": (3, 10, "lower")}


async def test_a_refused_task_form_keeps_the_input_and_names_the_field(stack: Stack) -> None:
    code = unique_code("WEB")
    status, page, _ = await _post_new(stack, "office", {
        "code": code, "title": "Nhiệm vụ thử", "lead_agency": "HNI", "deadline": "một ngày nào đó"})
    assert status == 422, page
    assert 'id="err-deadline"' in page and 'value="một ngày nào đó"' in page and f'value="{code}"' in page


async def test_an_agency_head_may_not_open_the_task_form(stack: Stack) -> None:
    async with browser_at(stack) as browser:
        await web_login(browser, "hni.head")
        assert (await browser.get("/tasks/new")).status_code == 403


def _program(good: str, bad: str) -> bytes:
    """A program file of two good rows around a bad one (an unknown lead agency)."""
    return ("code,title,lead_agency,deadline,kpis\n"
            f"{good}-1,Nhiệm vụ một,HNI,trong quý II/2027,Xã được trang bị|100|%|0|tăng\n"
            f"{bad},Nhiệm vụ lỗi,KHONGCO,31/12/2027,\n"
            f"{good}-2,Nhiệm vụ hai,BTC,31/12/2027,\n").encode()


async def test_a_program_preview_shows_the_bad_row_and_creates_nothing(stack: Stack) -> None:
    good, bad = unique_code("IMP"), unique_code("BAD")
    async with browser_at(stack) as browser:
        await web_login(browser, "office")
        token = csrf_of(await browser.get("/tasks/import"))
        page = await browser.post("/tasks/import/preview", data={"csrf_token": token}, headers={"Origin": ORIGIN},
                                  files={"file": ("chuong-trinh.csv", _program(good, bad), "text/csv")})
    assert page.status_code == 200, page.text
    assert 'class="import-error" data-row="3"' in page.text and "KHONGCO" in page.text
    assert "31/12/2027" in page.text and "30/06/2027" in page.text  # the deadline as written, and its day
    answer = await stack.http.get(f"/api/v1/tasks/{good}-1", headers=await stack.login("office"))
    assert answer.status_code == 404


async def test_a_program_preview_reads_what_its_checks_need_once_for_the_file(stack: Stack) -> None:
    """Ten rows, one of them to a list of agencies: the agencies, the groups, the group directives'
    codes and the tasks' are each read once, not once a row."""
    good = unique_code("IMP")
    rows = "".join(f"{good}-{n},Nhiệm vụ {n},{'HNI;BTC' if n == 3 else 'HNI'},31/12/2027,\n" for n in range(10))
    with statements(stack.sessions) as said:
        page = await _preview(stack, f"code,title,lead_agency,deadline\n{rows}".encode())
    assert page.count('data-row="') >= 10 and "import-error" not in page, page
    reads = [line.split(" WHERE ")[0] for line in said if " WHERE " in line and (
        "FROM agencies " in line or "FROM agency_groups " in line or "FROM task_groups " in line
        or "FROM tasks " in line)]
    assert sorted(reads) == sorted(["SELECT agencies.code FROM agencies",
                                    "SELECT agency_groups.code, agency_groups.name, agency_groups.members "
                                    "FROM agency_groups", "SELECT task_groups.code FROM task_groups",
                                    "SELECT tasks.code FROM tasks"]), reads


async def _preview(stack: Stack, content: bytes) -> str:
    async with browser_at(stack) as browser:
        await web_login(browser, "office")
        token = csrf_of(await browser.get("/tasks/import"))
        page = await browser.post("/tasks/import/preview", data={"csrf_token": token}, headers={"Origin": ORIGIN},
                                  files={"file": ("chuong-trinh.csv", content, "text/csv")})
    assert page.status_code == 200, page.text
    return page.text


async def test_confirming_a_preview_creates_the_good_rows_only(stack: Stack) -> None:
    good, bad = unique_code("IMP"), unique_code("BAD")
    async with browser_at(stack) as browser:
        await web_login(browser, "office")
        token = csrf_of(await browser.get("/tasks/import"))
        preview = await browser.post("/tasks/import/preview", data={"csrf_token": token}, headers={"Origin": ORIGIN},
                                     files={"file": ("chuong-trinh.csv", _program(good, bad), "text/csv")})
        hidden = dict(re.findall(r'name="(sha256|extension)" value="([^"]*)"', preview.text))
        done = await browser.post("/tasks/import/confirm", data={"csrf_token": csrf_of(preview), **hidden},
                                  headers={"Origin": ORIGIN})
    assert done.status_code == 200, done.text
    headers = await stack.login("office")
    assert [(await stack.http.get(f"/api/v1/tasks/{code}", headers=headers)).status_code
            for code in (f"{good}-1", f"{good}-2", bad)] == [200, 200, 404]


async def test_the_program_template_downloads_as_xlsx_with_the_columns(stack: Stack) -> None:
    async with browser_at(stack) as browser:
        await web_login(browser, "office")
        answer = await browser.get("/tasks/import/template.xlsx")
    assert answer.headers["content-type"].startswith(XLSX_TYPE)
    header, example = load_workbook(io.BytesIO(answer.content)).worksheets[0].iter_rows(values_only=True)
    assert {"code", "title", "lead_agency", "deadline", "kpis", "source_document"} <= set(header)
    assert example[0]


async def test_an_agency_head_may_not_open_the_import_pages(stack: Stack) -> None:
    async with browser_at(stack) as browser:
        await web_login(browser, "hni.head")
        assert [(await browser.get(path)).status_code
                for path in ("/tasks/import", "/tasks/import/template.xlsx")] == [403, 403]


async def test_the_office_finds_its_pages_in_the_menu_and_a_head_does_not(stack: Stack) -> None:
    for user, shown in (("office", True), ("hni.head", False)):
        async with browser_at(stack) as browser:
            await web_login(browser, user)
            page = await browser.get("/inbox")
            assert ('href="/tasks/new"' in page.text and 'href="/tasks/import"' in page.text) is shown, user


async def test_figures_and_the_directives_date_are_read_as_people_write_them(stack: Stack) -> None:
    code = unique_code("WEB")
    status, page, _ = await _post_new(stack, "office", {
        "code": code, "title": "Đào tạo kỹ sư", "lead_agency": "BKHCN", "deadline": "31/12/2027",
        "kpi_name_0": "Kỹ sư được đào tạo", "kpi_target_0": "1.200", "kpi_unit_0": "người",
        "kpi_baseline_0": "12,5", "kpi_direction_0": "higher",
        "source_document": "20-TB/CQTTBCĐ", "source_date": "16/03/2026"})
    assert status == 303, page
    task = await get_task(stack, code)
    assert (task["kpis"][0]["target"], task["kpis"][0]["baseline"]) == (1200, 12.5)
    assert task["source"]["date"] == "2026-03-16"


async def test_the_office_corrects_the_coordinating_agencies_and_kpis_by_choosing_and_rows(stack: Stack) -> None:
    code = unique_code("WEB")
    await _post_new(stack, "office", {"code": code, "title": "Sửa nhiệm vụ", "lead_agency": "HNI",
                                      "deadline": "31/12/2027"})
    async with browser_at(stack) as browser:
        await web_login(browser, "office")
        page = await browser.get(f"/tasks/{code}")
        assert '<select id="correct-coordinating_agencies" name="coordinating_agencies" multiple' in page.text
        answer = await browser.post(f"/tasks/{code}/actions/correct", headers={"Origin": ORIGIN}, data={
            "csrf_token": csrf_of(page), "reason": "Bổ sung cơ quan phối hợp", "coordinating_agencies": ["BTC", "BCA"],
            "kpis.0.name": "Xã có nền tảng", "kpis.0.target": "1.000", "kpis.0.unit": "xã",
            "kpis.0.direction": "higher", "kpis.1.name": "", "kpis.1.direction": "higher"})
    assert answer.status_code == 303, answer.text
    task = await get_task(stack, code)
    assert sorted(task["coordinating_agencies"]) == ["BCA", "BTC"]
    assert [(k["name"], k["target"]) for k in task["kpis"]] == [("Xã có nền tảng", 1000)]
