"""How uvicorn serves the API (server.py, in every API process): its HTTP parsed by httptools, in C,
with the bound on a request's head that uvicorn's Python parser (h11) has and httptools has not.

h11 spends about 0.4 ms of CPU on each request's parsing and answer, httptools about 0.2 (a small
app's answer, measured here; a task's GET costs the API about 2 ms in all). But httptools holds
whatever head a client sends: 50 MB of headers were taken whole and answered (the API's memory grew
by 58 MB), where h11 refuses a head past 16 KiB. BoundedHttpTools refuses it too."""

from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# h11's own bound (uvicorn's h11_max_incomplete_event_size): a request line and headers, together.
HEAD_LIMIT = 16 * 1024


class BoundedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing (400, the connection closed, as with h11) a request
    whose head is still not complete after HEAD_LIMIT bytes. Counted by what is received, a read at a
    time, while a head is incomplete (the read in which a request begins after another is not): what
    is held is bounded by HEAD_LIMIT and two reads (asyncio's are at most 256 KiB each), and a body is
    never counted."""

    _head = 0  # bytes received while a request's head is incomplete; -1: it is complete

    def data_received(self, data: bytes) -> None:
        if self._head >= 0:
            self._head += len(data)
        super().data_received(data)
        if self._head > HEAD_LIMIT and not self.transport.is_closing():
            self.logger.warning("A request head longer than %d bytes was refused.", HEAD_LIMIT)
            self.send_400_response("Request head too large.")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head = 0

    def on_headers_complete(self) -> None:
        self._head = -1
        super().on_headers_complete()


def config(app: Any) -> uvicorn.Config:
    """uvicorn's settings for the API; the app logs its own requests (api/observe.py)."""
    return uvicorn.Config(app, http=BoundedHttpTools, log_level="warning", log_config=None)
