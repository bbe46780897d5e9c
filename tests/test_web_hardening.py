"""The web under attack: security headers, CSRF on the pages' forms, session cookies, the body size
limit before authentication, and the public rate limit keyed on the real client address.

Each web test has a client of its own (own cookies, own address): the session-wide `stack.http`
must never carry a session cookie, or its unauthenticated requests would stop being so."""

import re
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
from starlette.requests import Request

from api.rate_limit import PublicRateLimit, client_address
from settings import Settings
from tests.helpers import DEMO_PASSWORD, ORIGIN, Stack, app_of, browser_at, csrf_of, unique_code, web_login

ROOT = Path(__file__).resolve().parent.parent


# --- headers -------------------------------------------------------------------------------------

async def test_every_response_carries_the_security_headers(stack: Stack) -> None:
    for path in ("/healthz", "/login", "/public", "/public/v1/tasks", "/api/v1/me", "/khong-co", "/static/app.css"):
        answer = await stack.http.get(path)
        csp = answer.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp and "script-src 'self';" in csp, (path, csp)
        assert "unsafe-inline" not in csp, path
        assert answer.headers.get("x-content-type-options") == "nosniff", path
        assert answer.headers.get("x-frame-options") == "DENY", path
        assert answer.headers.get("referrer-policy") in ("same-origin", "strict-origin-when-cross-origin"), path


def test_templates_have_no_inline_script_style_or_event_handler() -> None:
    """What the Content-Security-Policy would block: all script and style come from /static."""
    for template in (ROOT / "api" / "web" / "templates").glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template.name
        assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=", text), template.name


def test_every_post_form_carries_the_csrf_field() -> None:
    for template in (ROOT / "api" / "web" / "templates").glob("*.html"):
        text = template.read_text(encoding="utf-8")
        for form in re.findall(r'<form[^>]*method="post".*?</form>', text, re.DOTALL):
            assert 'name="csrf_token" value="{{ csrf }}"' in form, (template.name, form[:200])


# --- CSRF and cookies ------------------------------------------------------------------------------

async def test_a_cross_site_form_post_is_refused_and_a_form_from_the_page_works(stack: Stack) -> None:
    code = unique_code("CSRF")
    office = await stack.login("office")
    created = await stack.http.post("/api/v1/tasks", headers=office, json={
        "code": code, "title": "Thử CSRF", "lead_agency": "HNI", "deadline": "2027-12", "product": "Báo cáo",
        "kpis": [{"name": "Báo cáo", "target": 1, "unit": ""}]})
    assert created.status_code == 201, created.text
    action = f"/tasks/{code}/actions/comment"
    async with browser_at(stack) as browser:
        await web_login(browser, "office")
        token = csrf_of(await browser.get(f"/tasks/{code}"))
        # Another site's form: the browser sends the cookies, but the site cannot know the token.
        forged = await browser.post(action, data={"text": "giả mạo"}, headers={"Origin": "https://evil.example"})
        assert forged.status_code == 403, forged.text
        no_token = await browser.post(action, data={"text": "giả mạo"}, headers={"Origin": ORIGIN})
        assert no_token.status_code == 403, no_token.text
        wrong_origin = await browser.post(action, data={"text": "giả mạo", "csrf_token": token},
                                          headers={"Origin": "https://evil.example"})
        assert wrong_origin.status_code == 403, wrong_origin.text
        wrong_referer = await browser.post(action, data={"text": "giả mạo", "csrf_token": token},
                                           headers={"Referer": "https://evil.example/trang"})
        assert wrong_referer.status_code == 403, wrong_referer.text
        history = (await stack.http.get(f"/api/v1/tasks/{code}/history", headers=office)).json()
        assert [entry["type"] for entry in history] == ["created"]
        # The page's own form.
        done = await browser.post(action, data={"text": "Ý kiến thật", "csrf_token": token},
                                  headers={"Origin": ORIGIN, "Referer": f"{ORIGIN}/tasks/{code}"})
        assert done.status_code == 303, done.text
    history = (await stack.http.get(f"/api/v1/tasks/{code}/history", headers=office)).json()
    assert [entry["type"] for entry in history] == ["created", "comment"]


async def test_the_login_form_needs_its_token_too(stack: Stack) -> None:
    async with browser_at(stack) as browser:
        await browser.get("/login")
        answer = await browser.post("/login", data={"username": "office", "password": DEMO_PASSWORD})
        assert answer.status_code == 403, answer.text
        assert "nq57_session" not in answer.cookies


async def test_the_session_cookie_is_httponly_lax_and_secure_over_https(stack: Stack) -> None:
    async with browser_at(stack) as plain:
        cookie = (await web_login(plain, "auditor")).headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie, cookie
    async with browser_at(stack, base="https://nq57.test") as tls:
        cookie = (await web_login(tls, "auditor")).headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "secure" in cookie, cookie
        assert (await tls.get("/inbox")).status_code == 200


async def test_the_web_logout_ends_the_sessions_token(stack: Stack) -> None:
    async with browser_at(stack) as browser:
        await web_login(browser, "reviewer")
        session_token = browser.cookies["nq57_session"]
        page = await browser.get("/inbox")
        assert page.status_code == 200
        out = await browser.post("/logout", data={"csrf_token": csrf_of(page)}, headers={"Origin": ORIGIN})
        assert out.status_code == 303, out.text
    # The token the cookie held no longer opens anything, even if someone kept a copy of it.
    answer = await stack.http.get("/api/v1/me", headers={"Authorization": f"Bearer {session_token}"})
    assert answer.status_code == 401, answer.text


# --- body size ------------------------------------------------------------------------------------

async def test_an_oversized_body_is_refused_before_authentication_without_being_read(stack: Stack) -> None:
    reads = 0

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"{}", "more_body": False}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    for path in ("/api/v1/tasks", "/api/v1/tasks/X-1/actions/evidence.submit", "/login"):
        sent.clear()
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
                 "headers": [(b"host", b"nq57.test"), (b"content-type", b"application/json"),
                             (b"content-length", str(100 * 1024 * 1024).encode())],
                 "client": ("192.0.2.1", 5000), "server": ("nq57.test", 80)}
        await app_of(stack)(scope, receive, send)
        start = next(message for message in sent if message["type"] == "http.response.start")
        assert start["status"] == 413, (path, sent)
        body = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
        assert "quá lớn" in httpx.Response(413, content=body).json()["detail"]
    assert reads == 0


async def test_a_streamed_body_without_length_is_counted(stack: Stack) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"x" * (512 * 1024)

    answer = await stack.http.post("/api/v1/tasks", content=chunks(), headers={"content-type": "application/json"})
    assert answer.status_code == 413, answer.text
    assert "quá lớn" in answer.json()["detail"]


# --- the real client address -------------------------------------------------------------------

async def test_x_forwarded_for_does_not_reset_the_public_rate_limit(stack: Stack) -> None:
    state = app_of(stack).state
    kept, state.public_limiter = state.public_limiter, PublicRateLimit(state.sessions, per_minute=2)
    try:
        async with browser_at(stack) as client:
            answers = [await client.get("/public/v1/tasks", params={"limit": 1},
                                        headers={"X-Forwarded-For": f"10.9.8.{n}"}) for n in range(3)]
        assert [answer.status_code for answer in answers] == [200, 200, 429]
    finally:
        state.public_limiter = kept


def _request(peer: str, forwarded: str, trusted: str) -> Request:
    app = SimpleNamespace(state=SimpleNamespace(settings=Settings(trusted_proxies=trusted)))
    return Request({"type": "http", "client": (peer, 1), "app": app,
                    "headers": [(b"x-forwarded-for", forwarded.encode())] if forwarded else []})


def test_x_forwarded_for_counts_only_from_a_trusted_proxy() -> None:
    assert client_address(_request("203.0.113.7", "10.0.0.1", "")) == "203.0.113.7"
    assert client_address(_request("203.0.113.7", "10.0.0.1", "10.0.0.0/8")) == "203.0.113.7"
    # Behind the proxy: the right-most address the proxies did not add; what the client wrote itself
    # to the left of it does not count.
    assert client_address(_request("10.0.0.2", "1.2.3.4, 198.51.100.9", "10.0.0.0/8")) == "198.51.100.9"
    assert client_address(_request("10.0.0.2", "198.51.100.9, 10.0.0.3", "10.0.0.0/8")) == "198.51.100.9"
    assert client_address(_request("10.0.0.2", "", "10.0.0.0/8")) == "10.0.0.2"
