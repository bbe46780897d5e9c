"""Answers of the API come gzip-compressed to the clients that accept it (api/compression.py); pages,
the token's answer, evidence files and small answers never are."""

import gzip
import json
import uuid

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from api.compression import COMPRESSED, SMALLEST, Compression, answer
from tests.helpers import Stack, act, assigned, ok

GZIP = {"Accept-Encoding": "gzip"}
IDENTITY = {"Accept-Encoding": "identity"}


async def test_a_list_of_tasks_comes_compressed_and_reads_as_the_plain_answer(stack: Stack) -> None:
    for _ in range(10):
        await assigned(stack, "GZ")
    office = await stack.login("office")
    compressed = await stack.http.get("/api/v1/tasks?limit=50", headers=office | GZIP)
    plain = await stack.http.get("/api/v1/tasks?limit=50", headers=office | IDENTITY)
    assert len(plain.content) >= SMALLEST and "content-encoding" not in plain.headers
    assert compressed.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in compressed.headers["vary"].lower()
    assert int(compressed.headers["content-length"]) < len(plain.content) / 3
    assert ok(compressed) == ok(plain)


async def test_an_inbox_comes_compressed_and_reads_as_the_plain_answer(stack: Stack) -> None:
    for _ in range(10):
        await assigned(stack, "GZ")  # Hà Nội's to accept
    head = await stack.login("hni.head")
    compressed = await stack.http.get("/api/v1/inbox", headers=head | GZIP)
    again = await stack.http.get("/api/v1/inbox", headers=head | GZIP)
    plain = await stack.http.get("/api/v1/inbox", headers=head | IDENTITY)
    assert len(plain.content) >= SMALLEST and "content-encoding" not in plain.headers
    assert compressed.headers["content-encoding"] == "gzip" and "accept-encoding" in compressed.headers["vary"].lower()
    assert int(compressed.headers["content-length"]) < len(plain.content) / 3
    assert ok(compressed) == ok(again) == ok(plain)


async def test_an_evidence_file_is_sent_as_it_was_stored(stack: Stack) -> None:
    code = await assigned(stack, "GZ-FILE", kpis=[{"name": "Văn bản", "target": 1, "unit": ""}])
    await act(stack, "hni.head", code, "accept", {})
    content = f"Biên bản {uuid.uuid4()}\n".encode() * 400  # 18 KB that compress well
    assert len(content) >= SMALLEST
    head = await stack.login("hni.head")
    task = ok(await stack.http.post(f"/api/v1/tasks/{code}/actions/evidence.submit", headers=head,
                                    files=[("files", ("bien-ban.txt", content, "text/plain"))],
                                    data={"summary": "Xong", "kpi_results": json.dumps({"Văn bản": 1})}))
    sha = task["evidence"][0]["files"][0]["sha256"]
    answer = await stack.http.get(f"/api/v1/tasks/{code}/evidence/{sha}", headers=head | GZIP)
    assert answer.status_code == 200 and "content-encoding" not in answer.headers
    assert answer.content == content and int(answer.headers["content-length"]) == len(content)


def _answering(size: int) -> Compression:
    """Compression in front of an app that answers every path with `size` bytes: JSON under /api/ and
    /public/v1/, a page elsewhere."""
    async def any_path(request: Request) -> Response:
        if request.url.path.startswith(("/api/", "/public/v1/")):
            return JSONResponse({"text": "x" * size})
        return HTMLResponse("<p>" + "x" * size + "</p>")
    return Compression(Starlette(routes=[Route("/{path:path}", any_path, methods=["GET", "POST"])]))


async def _answer(app: Compression, method: str, path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://nq57.test") as client:
        answer = await client.request(method, path, headers=GZIP)
    assert answer.status_code == 200
    return answer


async def _encoding(app: Compression, method: str, path: str) -> str | None:
    """How a large answer came (its length is past SMALLEST, so only the path decides)."""
    answer = await _answer(app, method, path)
    assert len(answer.content) >= SMALLEST
    return answer.headers.get("content-encoding")


async def test_pages_the_token_and_small_answers_are_never_compressed() -> None:
    large = _answering(2 * SMALLEST)
    assert await _encoding(large, "GET", "/tasks?q=tim") is None
    assert await _encoding(large, "GET", "/public/tasks") is None
    assert await _encoding(large, "POST", "/api/v1/auth/token") is None
    assert await _encoding(large, "GET", "/api/v1/inbox") == "gzip"
    assert await _encoding(large, "GET", "/public/v1/tasks") == "gzip"
    assert "content-encoding" not in (await _answer(_answering(SMALLEST // 2), "GET", "/api/v1/inbox")).headers


def test_the_token_s_answer_and_evidence_files_are_left_out_and_the_rest_of_the_api_is_in() -> None:
    assert not COMPRESSED.match("/api/v1/auth/token")
    assert not COMPRESSED.match("/api/v1/tasks/NQ57-1/evidence/" + "ab" * 32)
    assert not COMPRESSED.match("/tasks") and not COMPRESSED.match("/inbox")
    for path in ("/api/v1/inbox", "/api/v1/tasks", "/api/v1/tasks/NQ57-1", "/api/v1/tasks/NQ57-1/history",
                 "/api/v1/tasks/NQ57-1/actions/evidence.submit", "/public/v1/tasks"):
        assert COMPRESSED.match(path), path


def _request(accepted: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/api/v1/inbox",
                    "headers": [(b"accept-encoding", accepted.encode())]})


LARGE = json.dumps([{"code": f"NQ57-{number}", "title": "Nhiệm vụ chuyển đổi số"} for number in range(500)]).encode()


def test_an_answer_handed_out_again_is_compressed_once() -> None:
    """A service hands out the same bytes while its answer stays (services/reports.py `inbox_json`):
    compressed the first time, the same compressed bytes after; equal text in other bytes is
    compressed afresh (only the very same bytes are known to be the same answer)."""
    first = answer(_request("gzip, deflate"), LARGE)
    assert first.headers["content-encoding"] == "gzip" and first.headers["vary"] == "Accept-Encoding"
    assert gzip.decompress(first.body) == LARGE
    assert answer(_request("gzip"), LARGE).body is first.body
    copied = answer(_request("gzip"), bytes(bytearray(LARGE)))
    assert copied.body is not first.body and gzip.decompress(copied.body) == LARGE


def test_an_answer_is_plain_to_a_client_that_takes_no_gzip_and_when_small() -> None:
    for plain in (answer(_request("identity"), LARGE), answer(_request("gzip"), LARGE[:SMALLEST // 2])):
        assert "content-encoding" not in plain.headers and plain.media_type == "application/json"
    assert answer(_request("identity"), LARGE).body is LARGE


async def test_an_answer_compressed_already_passes_the_middleware_as_it_is() -> None:
    async def route(request: Request) -> Response:
        return answer(request, LARGE)
    app = Compression(Starlette(routes=[Route("/api/v1/inbox", route)]))
    found = await _answer(app, "GET", "/api/v1/inbox")  # decoded once by the client: compressed once
    assert found.headers["content-encoding"] == "gzip" and found.content == LARGE
