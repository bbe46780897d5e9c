"""The web pages in a real browser, against the real stack (`server.py`: embedded Temporal dev
server, worker and API with demo data), driven by Playwright through the system Chromium.

The suite runs pytest-asyncio in auto mode with a session loop, so Playwright's ASYNC API is used
(the sync API refuses to run inside an asyncio loop). Screenshots of the main pages are saved under
test-output/screenshots/ for a person to look at."""

import hashlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import ADMIN_PASSWORD, DEMO_PASSWORD, free_port

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Chromium is not installed (apt-get install chromium): browser tests skipped")
playwright_api = pytest.importorskip(
    "playwright.async_api", reason="the playwright package is not installed: browser tests skipped")
async_playwright = playwright_api.async_playwright
expect = playwright_api.expect
Browser, Page = playwright_api.Browser, playwright_api.Page

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "test-output" / "screenshots"
CODE = "NQ57-2027-008"  # demo task led by Hà Nội, budget required, two KPIs, deadline 30/06/2027
BUDGET_LINES = {"Thiết bị đầu cuối cho xã": 3_000_000_000, "Đào tạo cán bộ cơ sở": 2_000_000_000}
FINDINGS = ["Thiếu biên bản nghiệm thu của 12 xã", "Số liệu KPI chưa khớp báo cáo tháng"]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
TIMEOUT_MS = 20_000
FINAL = {"cancel", "close", "budget.reject", "review.reject", "review.approve", "extension.reject"}


@pytest.fixture(scope="module")
def live_server() -> Iterator[str]:
    """server.py as `make run` starts it, on free ports and a fresh data dir; yields its base URL."""
    with tempfile.TemporaryDirectory(prefix="nq57-browser-") as data_dir:
        port = free_port()
        env = {**os.environ, "NQ57_DATA_DIR": data_dir, "NQ57_DEMO": "1", "NQ57_ADMIN_PASSWORD": ADMIN_PASSWORD,
               "NQ57_PORT": str(port), "NQ57_TEMPORAL_PORT": str(free_port()),
               "NQ57_TEMPORAL_UI_PORT": str(free_port())}
        env.pop("NQ57_ESCALATION_STEPS", None)
        env.pop("NQ57_TEMPORAL_ADDRESS", None)
        env.pop("NQ57_DATABASE_URL", None)
        log_path = Path(data_dir) / "server.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen([sys.executable, "server.py"], cwd=ROOT, env=env, stdout=log_file,
                                       stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"

        def log() -> str:
            return log_path.read_text(encoding="utf-8", errors="replace")[-6000:]

        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    pytest.fail(f"server.py exited with {process.returncode} while starting:\n{log()}")
                try:
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"server.py not ready after 60 s:\n{log()}")
                time.sleep(0.25)  # polling a subprocess, not waiting on a page
            yield base
        except BaseException:
            print(f"--- server.py log ---\n{log()}")
            raise
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
            if process.returncode not in (0, -signal.SIGINT, 130):
                print(f"--- server.py exited with {process.returncode} ---\n{log()}")


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture(scope="module")
def screenshots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


class Session:
    """One person in their own browser context (own cookies), for one test."""

    def __init__(self, browser: Browser, base: str, shots: Path) -> None:
        self.browser, self.base, self.shots = browser, base, shots
        self.contexts: list = []

    async def new_page(self) -> Page:
        context = await self.browser.new_context(base_url=self.base, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        return await context.new_page()

    async def login(self, username: str, password: str = DEMO_PASSWORD, next_path: str = "/inbox") -> Page:
        page = await self.new_page()
        await page.goto(f"/login?next={next_path}")
        await page.fill("#username", username)
        await page.fill("#password", password)
        await page.click("form[action='/login'] button[type=submit]")
        await page.wait_for_url(f"**{next_path}")
        await expect(page.locator("header.top a[href='/me']")).to_have_attribute("title", username)
        return page

    async def shot(self, page: Page, name: str) -> None:
        await page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


@pytest.fixture
async def people(browser: Browser, live_server: str, screenshots: Path) -> AsyncIterator[Session]:
    session = Session(browser, live_server, screenshots)
    try:
        yield session
    finally:
        await session.close()


def form(page: Page, action: str):
    return page.locator(f'form[id="form-{action}"]')


def field(page: Page, action: str, name: str):
    return page.locator(f'[id="{action}-{name}"]')


async def act(page: Page, action: str, code: str = CODE) -> None:
    """Submit an action's form and wait for the task page to confirm it."""
    # Mark the page, so what follows waits for the answer (a new page, or the one app.js writes
    # after an upload) rather than reading the notice the current page may already show.
    await page.evaluate("document.body.dataset.before = '1'")
    await form(page, action).locator("button[type=submit]").click()
    await expect(page.locator("body[data-before]")).to_have_count(0)
    if action in FINAL:  # a final action says what will happen and asks again
        await expect(form(page, action).locator("input[name=confirm]")).to_have_count(1)
        await page.evaluate("document.body.dataset.before = '1'")
        await form(page, action).locator("button[type=submit]").click()
        await expect(page.locator("body[data-before]")).to_have_count(0)
    outcome = page.locator(".notice[role=status], .error")
    await expect(outcome.first).to_be_visible()
    errors = await page.locator(".error").all_inner_texts()
    assert not errors, f"{action} refused: {errors}"
    await expect(page).to_have_url(re.compile(rf"/tasks/{re.escape(code)}\?done={re.escape(action)}"))


async def expect_stage(page: Page, stage_label: str) -> None:
    await expect(page.locator("ol.stepper li[aria-current=step]")).to_have_text(stage_label)


async def open_task(page: Page, code: str = CODE) -> None:
    await page.goto(f"/tasks/{code}")
    await expect(page.locator("h1 .code")).to_have_text(code)


async def inbox_offers(page: Page, action: str, code: str = CODE) -> None:
    """The person's inbox lists the task, with a link to this action's form."""
    await page.goto("/inbox")
    item = page.locator("ul.inbox li", has=page.locator(f'a.code[href="/tasks/{code}"]'))
    await expect(item).to_have_count(1)
    await expect(item.locator(f'a.tag[href="/tasks/{code}#form-{action}"]')).to_have_count(1)


async def test_task_from_assignment_to_completion_with_a_rejected_cross_check(
        people: Session, tmp_path: Path) -> None:
    # The lead agency's head: the inbox offers the acceptance; accept, naming the officer.
    head = await people.login("hni.head")
    await inbox_offers(head, "accept")
    await people.shot(head, "inbox-hni-head")
    await open_task(head)
    await expect_stage(head, "Đã giao")
    await people.shot(head, "task-1-assigned")
    await field(head, "accept", "officer").fill("hni.officer")
    await act(head, "accept")
    await expect_stage(head, "Đăng ký kinh phí")

    # Budget: two lines that add up.
    await expect(form(head, "budget.submit")).to_be_visible()
    await field(head, "budget.submit", "amount_vnd").fill(str(sum(BUDGET_LINES.values())))
    await field(head, "budget.submit", "source").fill("Ngân sách thành phố")
    for n, (item, amount) in enumerate(BUDGET_LINES.items()):  # one row per line
        await field(head, "budget.submit", f"lines.{n}.item").fill(item)
        await field(head, "budget.submit", f"lines.{n}.amount_vnd").fill(str(amount))
    await people.shot(head, "task-2-budget-registration-form")
    await act(head, "budget.submit")
    await expect_stage(head, "Đăng ký kinh phí")  # budget_review is shown on the budget step
    await expect(head.locator("p .stage")).to_have_text("Thẩm định kinh phí")
    for item in BUDGET_LINES:
        await expect(head.locator("section.card li", has_text=item)).to_have_count(1)

    # Finance (another agency) approves it.
    finance = await people.login("finance")
    await inbox_offers(finance, "budget.approve")
    await open_task(finance)
    await people.shot(finance, "task-3-budget-review-finance")
    await field(finance, "budget.approve", "reason").fill("Dự toán hợp lý")
    await act(finance, "budget.approve")
    await expect_stage(finance, "Đang thực hiện")
    await finance.goto("/inbox")  # decided: no longer waiting for finance
    await expect(finance.locator(f'ul.inbox a.code[href="/tasks/{CODE}"]')).to_have_count(0)

    # In progress the task waits for the head's evidence and, reporting monthly, for the officer's
    # progress report: it stands in both inboxes. The officer reports from the task list, per KPI.
    await inbox_offers(head, "evidence.submit")
    officer = await people.login("hni.officer")
    await inbox_offers(officer, "progress.report")
    await officer.goto("/tasks?agency=HNI")
    await officer.locator(f'tbody a[href="/tasks/{CODE}"]').click()
    await expect(officer.locator("h1 .code")).to_have_text(CODE)
    await field(officer, "progress.report", "percent").fill("60")
    await field(officer, "progress.report", "kpi_0").fill("60")
    await field(officer, "progress.report", "kpi_1").fill("55,5")
    await field(officer, "progress.report", "note").fill("Đã trang bị 60% số xã")
    await field(officer, "progress.report", "disbursed_vnd").fill("2.500.000.000")
    await act(officer, "progress.report")
    await expect(officer.locator("progress[aria-label]").first).to_have_attribute("value", "60")
    await expect(officer.locator("section.card", has_text="Đã trang bị 60% số xã").first).to_be_visible()

    # The head submits the completion evidence, with a file (uploaded through app.js's XHR).
    evidence = tmp_path / "bien-ban-nghiem-thu.txt"
    evidence.write_text("Biên bản nghiệm thu mô hình chuyển đổi số cấp xã\n", encoding="utf-8")
    await open_task(head)
    await people.shot(head, "task-4-in-progress")
    await field(head, "evidence.submit", "files").set_input_files(evidence)
    await field(head, "evidence.submit", "summary").fill("Hoàn thành mô hình tại 100% số xã")
    await field(head, "evidence.submit", "kpi_0").fill("100")
    await field(head, "evidence.submit", "kpi_1").fill("92")
    await act(head, "evidence.submit")
    await expect_stage(head, "Kiểm tra chéo")
    sha = head.locator("code.sha")
    await expect(sha).to_have_count(1)
    await expect(sha).to_have_text(re.compile(r"SHA-256 [0-9a-f]{64}"))
    link = head.locator("a", has_text="bien-ban-nghiem-thu.txt")
    await expect(link).to_have_count(1)
    # The download link works with the page's session and gives back the very bytes uploaded.
    download = await head.request.get(await link.get_attribute("href"))
    assert download.status == 200, await download.text()
    assert await download.body() == evidence.read_bytes()
    assert (await sha.inner_text()).endswith(hashlib.sha256(evidence.read_bytes()).hexdigest())

    # The Office assigns the cross-check reviewer.
    office = await people.login("office")
    await inbox_offers(office, "review.assign")
    await open_task(office)
    await field(office, "review.assign", "reviewer").fill("reviewer")
    await act(office, "review.assign")
    await expect(office.locator("dd", has_text=re.compile(r"^Chuyên gia kiểm tra chéo, TP Hồ Chí Minh$"))
                 ).to_have_count(1)  # named, not by login
    await office.goto("/inbox")  # assigned: the task now waits for the reviewer, not the Office
    await expect(office.locator(f'ul.inbox a.code[href="/tasks/{CODE}"]')).to_have_count(0)

    # The reviewer rejects, with findings: the task goes back to work and shows them.
    reviewer = await people.login("reviewer")
    await inbox_offers(reviewer, "review.reject")
    await open_task(reviewer)
    await people.shot(reviewer, "task-5-cross-check-reviewer")
    await field(reviewer, "review.reject", "reason").fill("Hồ sơ chưa đủ")
    await field(reviewer, "review.reject", "findings").fill("\n".join(FINDINGS))
    await act(reviewer, "review.reject")
    await expect_stage(reviewer, "Đang thực hiện")
    for finding in FINDINGS:
        await expect(reviewer.locator("section.card li", has_text=finding).first).to_be_visible()

    # The head sees the findings and a rework deadline, and resubmits.
    await inbox_offers(head, "evidence.submit")
    await open_task(head)
    await expect_stage(head, "Đang thực hiện")
    for finding in FINDINGS:
        await expect(head.locator("section.card li", has_text=finding).first).to_be_visible()
    await people.shot(head, "task-6-rejected-rework")
    await field(head, "evidence.submit", "files").set_input_files(evidence)
    await field(head, "evidence.submit", "summary").fill("Đã bổ sung biên bản của 12 xã")
    await field(head, "evidence.submit", "kpi_0").fill("100")
    await field(head, "evidence.submit", "kpi_1").fill("93")
    await act(head, "evidence.submit")
    await expect_stage(head, "Kiểm tra chéo")

    # The reviewer approves: completed.
    await inbox_offers(reviewer, "review.approve")
    await open_task(reviewer)
    await field(reviewer, "review.approve", "reason").fill("Sản phẩm dùng được")
    await act(reviewer, "review.approve")
    await expect_stage(reviewer, "Hoàn thành")
    await expect(reviewer.locator("ol.stepper li.done")).to_have_count(4)
    await people.shot(reviewer, "task-7-completed")

    # Nothing waits for the head on this task any more; the list shows it completed.
    await head.goto("/inbox")
    await expect(head.locator(f'ul.inbox a.code[href="/tasks/{CODE}"]')).to_have_count(0)
    await head.goto("/tasks")
    row = head.locator("tbody tr", has=head.locator(f'a[href="/tasks/{CODE}"]'))
    await expect(row.locator(".stage")).to_have_text("Hoàn thành")
    await people.shot(head, "tasks-list-hni-head")
    # Logging out ends the session.
    await head.locator("form[action='/logout'] button").click()
    await head.wait_for_url("**/login")
    await head.goto("/inbox")
    await head.wait_for_url(re.compile(r"/login\?next=/inbox"))


async def test_a_validation_error_keeps_what_was_typed_and_focuses_the_field(people: Session) -> None:
    code = "NQ57-2027-001"  # led by the Ministry of Finance, budget required
    head = await people.login("btc.head")
    await open_task(head, code)
    await form(head, "accept").locator("button[type=submit]").click()
    await head.wait_for_url(re.compile(rf"/tasks/{code}\?done=accept"))
    lines = [("Máy chủ", "1000000"), ("Phần mềm", "500.000")]
    await field(head, "budget.submit", "amount_vnd").fill("2000000")
    await field(head, "budget.submit", "source").fill("Ngân sách trung ương")
    for n, (item, amount) in enumerate(lines):
        await field(head, "budget.submit", f"lines.{n}.item").fill(item)
        await field(head, "budget.submit", f"lines.{n}.amount_vnd").fill(amount)
    await form(head, "budget.submit").locator("button[type=submit]").click()
    error = head.locator('[id="budget.submit-lines-error"]')
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("1,500,000")
    await expect(field(head, "budget.submit", "lines.0.item")).to_have_attribute("aria-invalid", "true")
    await expect(field(head, "budget.submit", "lines.0.item")).to_be_focused()
    await expect(form(head, "budget.submit").locator("p.error[role=alert]")).to_be_visible()
    # What was typed is still there, row by row.
    await expect(field(head, "budget.submit", "amount_vnd")).to_have_value("2000000")
    await expect(field(head, "budget.submit", "source")).to_have_value("Ngân sách trung ương")
    for n, (item, amount) in enumerate(lines):
        await expect(field(head, "budget.submit", f"lines.{n}.item")).to_have_value(item)
        await expect(field(head, "budget.submit", f"lines.{n}.amount_vnd")).to_have_value(amount)
    await expect_stage(head, "Đăng ký kinh phí")
    await people.shot(head, "task-validation-error-budget-lines")


async def test_public_portal_needs_no_login_and_hides_internal_details(people: Session) -> None:
    page = await people.new_page()
    response = await page.goto("/public")
    assert response is not None and response.status == 200
    assert "/login" not in page.url
    await expect(page.locator("h1")).to_be_visible()
    await expect(page.locator("tbody tr", has_text=CODE)).to_have_count(1)
    await expect(page.locator('a[href="/login"]')).to_have_count(1)  # nobody is logged in
    body = await page.locator("body").inner_text()
    for secret in [*BUDGET_LINES, *FINDINGS, "Ngân sách thành phố", "bien-ban-nghiem-thu.txt"]:
        assert secret not in body
    assert not re.search(r"[0-9a-f]{64}", body)  # no evidence hashes either
    await people.shot(page, "public-portal")
    # The task pages themselves are not public.
    await page.goto(f"/tasks/{CODE}")
    await page.wait_for_url(re.compile(r"/login\?next="))
    await expect(page.locator("h1")).to_have_text("Đăng nhập")
    await people.shot(page, "login")
    # A wrong password says so and keeps the name typed.
    await page.fill("#username", "hni.head")
    await page.fill("#password", "not-the-password")
    await page.click("form[action='/login'] button[type=submit]")
    await expect(page.locator(".error[role=alert]")).to_be_visible()
    await expect(page.locator("#username")).to_have_value("hni.head")
    await people.shot(page, "login-failed")


async def test_language_switch_is_remembered(people: Session) -> None:
    page = await people.new_page()
    await page.goto("/login")
    await expect(page.locator("html")).to_have_attribute("lang", "vi")
    await expect(page.locator("h1")).to_have_text("Đăng nhập")
    await page.click("#lang-switch")
    await page.wait_for_url("**/login")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator("h1")).to_have_text("Log in")
    await people.shot(page, "login-english")
    # Remembered: the next page (after logging in) is in English too.
    await page.fill("#username", "hni.head")
    await page.fill("#password", DEMO_PASSWORD)
    await page.click("form[action='/login'] button[type=submit]")
    await page.wait_for_url("**/inbox")
    await expect(page.locator("h1")).to_have_text("Waiting for me")
    await page.goto(f"/tasks/{CODE}")
    await expect(page.locator("dd", has_text="2027-06-30").first).to_be_visible()
    await people.shot(page, "task-english")
    # And back to Vietnamese, again remembered.
    await page.click("#lang-switch")
    await page.wait_for_url(f"**/tasks/{CODE}")
    await expect(page.locator("html")).to_have_attribute("lang", "vi")
    await page.goto("/inbox")
    await expect(page.locator("h1")).to_have_text("Việc cần xử lý")


async def test_vietnamese_dates_are_day_month_year(people: Session) -> None:
    page = await people.login("auditor")
    await open_task(page)
    deadlines = page.locator("section.card", has=page.locator("h2", has_text="Thời hạn"))
    await expect(deadlines.locator("dd").first).to_contain_text("30/06/2027")
    # Every date on the page reads dd/mm/yyyy, except the deadline as it was assigned ("2027-06-30",
    # "2027-Q2"...), echoed in parentheses after the computed one.
    text = (await page.locator("main").inner_text()).replace("(2027-06-30)", "")
    assert not re.search(r"\b\d{4}-\d{2}-\d{2}\b", text), re.findall(r".*\d{4}-\d{2}-\d{2}.*", text)
    timeline = page.locator("ol.timeline .when")
    assert await timeline.count() > 0
    for when in await timeline.all_inner_texts():
        assert re.fullmatch(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}", when), when


async def test_dashboard_and_admin_pages(people: Session) -> None:
    office = await people.login("office", next_path="/dashboard")
    await expect(office.locator("h1")).to_be_visible()
    await expect(office.locator('nav a[href="/dashboard"][aria-current=page]')).to_have_count(1)
    await people.shot(office, "dashboard-office")
    await office.goto("/tasks?agency=HNI")
    await expect(office.locator("#f-agency")).to_have_value("HNI")
    await expect(office.locator("tbody tr", has_text=CODE)).to_have_count(1)
    await people.shot(office, "tasks-list-office-hni")
    # The CSV / Excel links download with the page's session, filtered like the page.
    for label, kind in (("csv", "text/csv"), ("xlsx", "spreadsheetml")):
        href = await office.locator(f'a[href*="format={label}"]').get_attribute("href")
        assert href is not None and "agency=HNI" in href
        download = await office.request.get(href)
        assert download.status == 200, await download.text()
        assert kind in download.headers["content-type"]
    csv_href = await office.locator('a[href*="format=csv"]').get_attribute("href")
    assert CODE in (await (await office.request.get(csv_href)).body()).decode("utf-8-sig")

    admin = await people.login("admin", ADMIN_PASSWORD, next_path="/admin")
    await expect(admin.locator('nav a[href="/admin"][aria-current=page]')).to_have_count(1)
    await expect(admin.locator("main")).to_contain_text("hni.officer")
    await expect(admin.locator("main")).to_contain_text("Kiểm tra chéo: đạt")
    await people.shot(admin, "admin")

    # People without the right see a refusal, not the page.
    officer = await people.login("hni.officer")
    await expect(officer.locator('nav a[href="/admin"]')).to_have_count(0)
    response = await officer.goto("/admin")
    assert response is not None and response.status == 403


async def test_a_head_hands_part_down_and_a_commune_officer_reports_on_it(people: Session, live_server: str) -> None:
    """Cascading to a commune in the browser: Hà Nội's head splits a task on its page, the commune's
    head accepts the part, its officer reports on a phone-sized screen, and the roll-up shows above."""
    code = f"CAS-{int(time.time() * 1000) % 10**9}"
    async with httpx.AsyncClient(base_url=live_server, timeout=30) as api:
        token = (await api.post("/api/v1/auth/token", data={"username": "office", "password": DEMO_PASSWORD})
                 ).json()["access_token"]
        demo = (await api.get("/api/v1/tasks/DEMO-06", headers={"Authorization": f"Bearer {token}"})).json()
        assert demo["subtasks"] == ["DEMO-06-HOANKIEM", "DEMO-06-SOCSON"]  # the demo's own cascade
        created = await api.post("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"}, json={
            "code": code, "title": "Phổ cập dịch vụ công trực tuyến đến từng hộ dân", "lead_agency": "HNI",
            "deadline": "trong quý IV/2027", "kpis": [{"name": "Hộ dân được hướng dẫn", "target": 5000, "unit": "hộ"}],
            "source": {"document": "20-TB/CQTTBCĐ", "section": "Phụ lục, mục 8"}})
        assert created.status_code == 201, created.text
    head = await people.login("hni.head")
    await open_task(head, code)
    await act(head, "accept", code)
    part = f"{code}-HOANKIEM"
    await field(head, "subtask.create", "code").fill(part)
    await field(head, "subtask.create", "title").fill("Hướng dẫn hộ dân phường Hoàn Kiếm")
    await field(head, "subtask.create", "lead_agency").fill("HNI-HOANKIEM")
    await field(head, "subtask.create", "deadline").fill("trong tháng 9/2027")
    for part_name, value in (("name", "Hộ dân được hướng dẫn"), ("target", "800"), ("unit", "hộ")):  # a row
        await field(head, "subtask.create", f"kpis.0.{part_name}").fill(value)
    await act(head, "subtask.create", code)
    await expect(head.locator("#subtasks")).to_contain_text(part)
    await people.shot(head, "cascade-1-parent-split")

    commune_head = await people.login("hoankiem.head")
    await open_task(commune_head, part)
    await expect(commune_head.locator("main")).to_contain_text(code)  # the task it is part of
    await field(commune_head, "accept", "officer").fill("hoankiem.officer")
    await act(commune_head, "accept", part)

    officer = await people.login("hoankiem.officer")
    await officer.set_viewport_size({"width": 390, "height": 844})
    await open_task(officer, part)
    await field(officer, "progress.report", "percent").fill("60")
    await field(officer, "progress.report", "kpi_0").fill("480")
    await field(officer, "progress.report", "note").fill("Đã hướng dẫn 480 hộ tại tổ dân phố 1–6")
    await act(officer, "progress.report", part)
    await people.shot(officer, "cascade-2-commune-officer-phone")

    await open_task(head, code)
    rollup = head.locator("#subtasks")
    await expect(rollup.locator("h2")).to_contain_text("60%")
    await expect(rollup).to_contain_text("480")
    await people.shot(head, "cascade-3-parent-rolled-up")
