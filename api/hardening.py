"""What every response and request goes through before any route: security headers, a body size
limit checked before authentication, and the web forms' defence against cross-site requests
(CSRF token and Origin/Referer check) with the cookie options the pages use."""

import hashlib
import hmac
import json
import secrets
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import refusal_body
from domain.refusals import Code, Refusal
from messages import say
from services.blobs import MAX_FILES
from settings import Settings

MB = 1024 * 1024
SMALL_BODY = 1 * MB  # every request but uploads: JSON bodies and forms are far smaller
SESSION_COOKIE, CSRF_COOKIE, CSRF_FIELD = "nq57_session", "nq57_csrf", "csrf_token"

# No inline script or style anywhere in the pages: everything comes from /static.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
       "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
# FastAPI's own /docs and /redoc load Swagger UI / ReDoc from their CDN with an inline start-up script.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https:; "
            "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'")
DOCS_PATHS = ("/docs", "/redoc")


def install(app: FastAPI, settings: Settings) -> None:
    """The middleware (the last added runs first: headers go on every answer, the 413 included)."""
    upload = settings.max_upload_mb * MB * MAX_FILES + MB  # the files and the form fields around them
    app.add_middleware(BodySizeLimit, upload_bytes=upload, other_bytes=SMALL_BODY)
    app.add_middleware(SecurityHeaders)


def is_upload(path: str) -> bool:
    return path.endswith("/actions/evidence.submit") or path == "/api/v1/tasks/import"


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = DOCS_CSP if scope["path"].startswith(DOCS_PATHS) else CSP
        extra = [(b"content-security-policy", csp.encode()), (b"x-frame-options", b"DENY"),
                 (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"),
                 (b"cross-origin-opener-policy", b"same-origin")]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((name, value) for name, value in extra if name not in present)]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyTooLarge(HTTPException):
    """An HTTPException (FastAPI turns anything else raised while it reads a body into a 400) that
    carries its refusal, for api/errors.py to answer like any other."""

    def __init__(self, limit: int) -> None:
        self.refusal = Refusal(Code.BODY_TOO_LARGE, max_mb=f"{limit / MB:g}")
        super().__init__(413, say(self.refusal.code, self.refusal.params))


class BodySizeLimit:
    """413 for a body over the limit: at once from Content-Length, without reading a byte of it,
    else while it streams in (chunked), counting the bytes as the route reads them."""

    def __init__(self, app: ASGIApp, upload_bytes: int, other_bytes: int) -> None:
        self.app, self.upload_bytes, self.other_bytes = app, upload_bytes, other_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.upload_bytes if is_upload(scope["path"]) else self.other_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(send, BodyTooLarge(limit))
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)  # the app's handler answers it (FastAPI re-raises HTTPException)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge as error:  # read outside the app's error handling (e.g. by a middleware)
            if started:
                raise
            await _too_large(send, error)


async def _too_large(send: Send, error: BodyTooLarge) -> None:
    body = json.dumps(refusal_body(error.refusal.code, error.refusal.params), ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


# --- the web pages' session cookie and CSRF ------------------------------------------------------

def cookie_options(request: Request) -> dict[str, Any]:
    """Not readable by scripts, not sent on cross-site posts, and Secure over HTTPS (or always,
    with NQ57_SECURE_COOKIES behind a TLS-terminating proxy)."""
    secure = request.app.state.settings.secure_cookies or request.url.scheme == "https"
    return {"httponly": True, "samesite": "lax", "secure": secure, "path": "/"}


def _browser_secret(request: Request) -> str:
    """This browser's CSRF cookie, or the one about to be given to it (see `give_csrf_cookie`)."""
    known = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not known:
        known = request.state.new_csrf = secrets.token_urlsafe(32)
    return known


def csrf_token(request: Request) -> str:
    """The hidden field of every form: tied to this browser and to its login session, so it changes
    when the person logs in or out and cannot be made by another site."""
    secret = request.app.state.settings.token_secret.encode()
    material = f"{_browser_secret(request)}|{request.cookies.get(SESSION_COOKIE, '')}".encode()
    return hmac.new(secret, b"csrf:" + material, hashlib.sha256).hexdigest()


def give_csrf_cookie(request: Request, response: Any) -> None:
    """Sets the browser's CSRF cookie on a page that made one for it."""
    new = getattr(request.state, "new_csrf", None)
    if new and not request.cookies.get(CSRF_COOKIE):
        response.set_cookie(CSRF_COOKIE, new, **cookie_options(request))


class CsrfRejected(Exception):
    pass


def _same_host(url: str, request: Request) -> bool:
    return bool(url) and urlsplit(url).netloc.lower() == request.headers.get("host", "").lower()


async def csrf_protect(request: Request) -> None:
    """For every state-changing web form (a dependency of the pages' router; the JSON API uses
    Bearer tokens, which a browser never sends by itself). An Origin or Referer that is present
    must name this very host; the form's token must match the browser's cookie and session."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    origin = request.headers.get("origin")
    referer = request.headers.get("referer")
    if origin is not None and not _same_host(origin, request):
        raise CsrfRejected
    if origin is None and referer is not None and not _same_host(referer, request):
        raise CsrfRejected
    sent = (await request.form()).get(CSRF_FIELD)
    if not request.cookies.get(CSRF_COOKIE) or not isinstance(sent, str) \
            or not hmac.compare_digest(sent, csrf_token(request)):
        raise CsrfRejected
