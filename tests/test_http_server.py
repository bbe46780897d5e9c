"""The API's HTTP as uvicorn serves it (api/http_server.py): parsed in C (httptools), with a bound on
a request's head as h11 had — a head past it refused and its connection closed; a body never counted
as head. Each test serves a small app on a loopback port with the API's own uvicorn settings and
speaks raw HTTP to it."""

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from api import http_server
from api.http_server import HEAD_LIMIT, BoundedHttpTools
from tests.helpers import free_port


async def _echo_length(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers how many body bytes it read."""
    if scope["type"] != "http":
        return
    size, more = 0, True
    while more:
        message = await receive()
        size, more = size + len(message.get("body", b"")), message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": str(size).encode()})


@asynccontextmanager
async def _served() -> AsyncIterator[int]:
    port = free_port()
    listening = socket.socket()
    listening.bind(("127.0.0.1", port))
    server = uvicorn.Server(http_server.config(_echo_length))
    serving = asyncio.create_task(server.serve(sockets=[listening]))
    try:
        for _ in range(100):
            if server.started:
                break
            await asyncio.sleep(0.05)
        assert server.started
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 10)


class _Received(asyncio.Protocol):
    """What the server sends on one connection, until it closes it."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.data += data

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def _exchange(port: int, parts: list[bytes]) -> bytes:
    """Sends the parts, one write each, and answers what the server sent before it closed (within 5 s).
    Read as it arrives: an answer sent before the server reset the connection is kept."""
    transport, received = await asyncio.get_running_loop().create_connection(_Received, "127.0.0.1", port)
    try:
        for part in parts:
            if transport.is_closing():
                break
            transport.write(part)
            await asyncio.sleep(0)
        await asyncio.wait_for(received.closed, 5)
        return bytes(received.data)
    finally:
        transport.close()


def test_the_api_is_served_by_the_bounded_c_parser() -> None:
    assert http_server.config(_echo_length).http is BoundedHttpTools


async def test_a_request_head_past_the_bound_is_refused_and_its_connection_closed() -> None:
    padding = [b"X-Pad: " + b"a" * 1000 + b"\r\n"] * (HEAD_LIMIT // 1000 * 4)
    async with _served() as port:
        answer = await _exchange(port, [b"GET / HTTP/1.1\r\nHost: x\r\n", *padding, b"\r\n"])
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:100]
    assert b"connection: close" in answer.lower()


async def test_a_head_within_the_bound_is_answered() -> None:
    padding = [b"X-Pad: " + b"a" * 1000 + b"\r\n"] * (HEAD_LIMIT // 1000 // 2)
    async with _served() as port:
        answer = await _exchange(port, [b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n", *padding, b"\r\n"])
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:100]


async def test_a_body_is_never_counted_as_head() -> None:
    body = b"b" * (HEAD_LIMIT * 20)
    head = f"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    async with _served() as port:
        answer = await _exchange(port, [head + body])  # one write: head and body arrive together
    assert answer.startswith(b"HTTP/1.1 200 ") and b"\r\n" + str(len(body)).encode() + b"\r\n" in answer, answer


async def test_each_request_of_a_kept_connection_has_its_own_bound() -> None:
    """Requests one after another on one connection, each head within the bound, together past it."""
    one = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * (HEAD_LIMIT // 2) + b"\r\n\r\n"
    last = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    async with _served() as port:
        answer = await _exchange(port, [one, one, one, last])
    assert answer.count(b"HTTP/1.1 200 ") == 4, answer[:300]
