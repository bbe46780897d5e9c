"""What every request leaves behind: an id (the client's `X-Request-ID` when it is a sane one, else a
new one; said back in the answer, on every log line the request causes and carried into the
workflow's activities: services/logs.py), a log line, and its time in the Prometheus histogram. And
GET /metrics: the API's series (services/metrics.py), with the open tasks by stage counted when asked."""

import logging
import os
import re
import time
import uuid

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import ContextDep
from services import logs, reports
from services.metrics import OPEN_TASKS, http_seconds

log = logging.getLogger("nq57.http")
router = APIRouter(tags=["service"])
SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
QUIET = frozenset({"/metrics", "/healthz"})  # asked every few seconds by machines: timed, not logged
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})  # any other: `other`


class Observe:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if SANE_ID.fullmatch(given) else uuid.uuid4().hex
        logs.bind(request_id=request_id, actor="", task="")
        status = 500  # unless an answer starts
        started = time.perf_counter()

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "other")  # the template: no client-made label
            method = scope["method"] if scope["method"] in METHODS else "other"
            http_seconds.labels(method, route, str(status)).observe(seconds)
            if route not in QUIET:
                log.info("%s %s %d %.1f ms", scope["method"], route, status, seconds * 1000,
                         extra={"status": status, "duration_ms": round(seconds * 1000, 1)})


async def unexpected(_request: Request, _error: Exception) -> PlainTextResponse:
    """The 500 of an error nothing else answered (Starlette's outermost layer asks for it, outside
    `Observe`), still with the request's id; the error itself goes on to the server's log."""
    return PlainTextResponse("Internal Server Error", status_code=500,
                             headers={"X-Request-ID": logs.current().get("request_id", "")})


@router.get("/metrics", include_in_schema=False)
async def metrics(ctx: ContextDep) -> Response:
    """Prometheus's text: every API process's series (several share PROMETHEUS_MULTIPROC_DIR), and
    the open tasks by stage as the projection has them now."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    open_tasks = GaugeMetricFamily(OPEN_TASKS, "Nhiệm vụ đang mở, theo bước", labels=["stage"])
    for stage, count in (await reports.open_tasks_by_stage(ctx)).items():
        open_tasks.add_metric([stage.value], count)
    return Response(generate_latest(registry) + generate_latest(_Now(open_tasks)), media_type=CONTENT_TYPE_LATEST)


class _Now:
    """A family counted for this answer alone (a prometheus_client Collector)."""

    def __init__(self, family: GaugeMetricFamily) -> None:
        self.family = family

    def collect(self) -> list[GaugeMetricFamily]:
        return [self.family]
