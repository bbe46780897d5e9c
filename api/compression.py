"""The API's answers gzip-compressed for the clients that accept it: an inbox of 200 tasks is about
250 KB of JSON, for officers on phones, and JSON of tasks shrinks about sevenfold (the demo's list of
34 tasks: 49,996 bytes, 7,153 compressed). Starlette's GZipMiddleware at level 1 (0.4 ms for those
250 KB; level 6 made them a fifth smaller again for three times the CPU), on answers of 8 KiB and
more (a smaller one reaches a phone in the first round trip anyway: TCP's first window is ten
packets, about 14 KB), in the event loop up to 1 MiB (handing 250 KB to a thread cost the inbox
about 2 ms more, measured), under the API's paths alone:
- not the pages (HTML): each carries a CSRF token beside what the request put in it (a search), which
  compression lets an onlooker guess byte by byte from the answers' lengths (BREACH);
- not the token's answer (the same, with the name the request gave);
- not evidence files: they are sent as they were stored (their SHA-256, their length, ranges).
An answer that a service hands out again unchanged, the very same bytes (the inbox), is compressed
once and answered compressed already (`answer`), which the middleware then leaves as it is."""

import re
import zlib

from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.exports import XLSX_TYPE
from db.states import ByIdentity

LEVEL = 1
SMALLEST = 8 * 1024  # bytes: below it, no round trip is saved
IN_A_THREAD = 1024 * 1024  # bytes: a larger answer (an export) is compressed off the event loop
ANSWERS_KEPT = 64  # compressed answers kept, the oldest forgotten first (as many as services keep)
COMPRESSED = re.compile(r"^/(api|public)/v1/(?!auth/|tasks/[^/]+/evidence/)")


class Compression:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=SMALLEST, compresslevel=LEVEL, thread_minimum_size=IN_A_THREAD,
                                   exclude_content_types=(*DEFAULT_EXCLUDED_CONTENT_TYPES, XLSX_TYPE))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and COMPRESSED.match(scope["path"]):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _gzip(text: bytes) -> bytes:
    squeezer = zlib.compressobj(LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip, as the middleware's
    return squeezer.compress(text) + squeezer.flush()


_compressed = ByIdentity(_gzip, ANSWERS_KEPT)  # by the bytes' identity: only the very same are the same answer


def answer(request: Request, text: bytes) -> Response:
    """A JSON answer that a service hands out again, the very same bytes, while it stays unchanged
    (services/reports.py `inbox_json`), compressed once for the clients that accept it rather than at
    every read (a head's inbox of 200: about 250 KB, 0.5-0.8 ms at level 1, of 3-4 ms). Answered as the
    middleware would answer it, with which it agrees: the middleware leaves an answer that says its
    encoding as it is."""
    if len(text) < SMALLEST or len(text) > IN_A_THREAD or "gzip" not in request.headers.get("accept-encoding", ""):
        return Response(text, media_type="application/json")
    return Response(_compressed(text), media_type="application/json",
                    headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
