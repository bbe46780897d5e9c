"""Answers of the API come gzip-compressed to the clients that accept it (api/compression.py); pages,
the token's answer and evidence files never are."""

import json
import uuid

from api.compression import COMPRESSED
from tests.helpers import Stack, act, assigned, ok

GZIP = {"Accept-Encoding": "gzip"}
IDENTITY = {"Accept-Encoding": "identity"}


async def test_a_list_of_tasks_comes_compressed_and_reads_as_the_plain_answer(stack: Stack) -> None:
    for _ in range(3):
        await assigned(stack, "GZ")
    office = await stack.login("office")
    compressed = await stack.http.get("/api/v1/tasks?limit=50", headers=office | GZIP)
    plain = await stack.http.get("/api/v1/tasks?limit=50", headers=office | IDENTITY)
    assert compressed.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in compressed.headers["vary"].lower()
    assert int(compressed.headers["content-length"]) < len(plain.content) / 3
    assert "content-encoding" not in plain.headers
    assert ok(compressed) == ok(plain)


async def test_an_evidence_file_is_sent_as_it_was_stored(stack: Stack) -> None:
    code = await assigned(stack, "GZ-FILE", kpis=[{"name": "Văn bản", "target": 1, "unit": ""}])
    await act(stack, "hni.head", code, "accept", {})
    content = f"Biên bản {uuid.uuid4()}\n".encode() * 200  # 16 KB that compress well
    head = await stack.login("hni.head")
    task = ok(await stack.http.post(f"/api/v1/tasks/{code}/actions/evidence.submit", headers=head,
                                    files=[("files", ("bien-ban.txt", content, "text/plain"))],
                                    data={"summary": "Xong", "kpi_results": json.dumps({"Văn bản": 1})}))
    sha = task["evidence"][0]["files"][0]["sha256"]
    answer = await stack.http.get(f"/api/v1/tasks/{code}/evidence/{sha}", headers=head | GZIP)
    assert answer.status_code == 200 and "content-encoding" not in answer.headers
    assert answer.content == content and int(answer.headers["content-length"]) == len(content)


async def test_a_page_is_never_compressed(stack: Stack) -> None:
    answer = await stack.http.get("/login", headers=GZIP)
    assert answer.status_code == 200 and len(answer.content) >= 1024, len(answer.content)
    assert "content-encoding" not in answer.headers


def test_the_token_s_answer_and_evidence_files_are_left_out_and_the_rest_of_the_api_is_in() -> None:
    assert not COMPRESSED.match("/api/v1/auth/token")
    assert not COMPRESSED.match("/api/v1/tasks/NQ57-1/evidence/" + "ab" * 32)
    assert not COMPRESSED.match("/tasks") and not COMPRESSED.match("/inbox")
    for path in ("/api/v1/inbox", "/api/v1/tasks", "/api/v1/tasks/NQ57-1", "/api/v1/tasks/NQ57-1/history",
                 "/api/v1/tasks/NQ57-1/actions/evidence.submit", "/public/v1/tasks"):
        assert COMPRESSED.match(path), path
