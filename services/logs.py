"""Structured logs: every line says which request caused it, whose it was and on which task
(NQ57_LOG_FORMAT=json writes one JSON object a line), and the request's id travels with the
workflow's calls into its activities, so an action can be followed from the API to what the worker
recorded and told.

The API sets the three in its middleware and its application layer (`bind`); a Temporal interceptor
(`CarryLogContext`, on the API's client and on the worker) carries them in a header of every start,
update and signal, hands them on from the workflow's handler to the activities it starts, and sets
them again around each activity. The workflow sandbox shares this module with the process
(worker.py passes it through), so the context variables are the same ones everywhere. What the
workflow's own loop does (recording its creation, escalations, reminders) belongs to no one request:
its lines carry the task alone."""

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

import temporalio.activity
import temporalio.api.common.v1
import temporalio.client
import temporalio.converter
import temporalio.worker
import temporalio.workflow

if TYPE_CHECKING:  # the workflow sandbox shares this module: it imports no more than it needs
    from settings import Settings

FIELDS = ("request_id", "actor", "task")
_context: dict[str, ContextVar[str]] = {name: ContextVar(name, default="") for name in FIELDS}
HEADER = "nq57-log-context"
WORKFLOW_PREFIX = "task-"  # a task's workflow id is its code behind this (workflows/task_lifecycle.py workflow_id)


def bind(**values: str) -> None:
    """Name what the lines logged from here on (in this request, this activity) are about."""
    for name, value in values.items():
        _context[name].set(value)


def current() -> dict[str, str]:
    return {name: value for name, var in _context.items() if (value := var.get())}


@contextmanager
def bound(values: Mapping[str, str]) -> Iterator[None]:
    tokens = [(_context[name], _context[name].set(value)) for name, value in values.items() if name in _context]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class WithContext(logging.Filter):
    """Puts the request id, actor and task on every record (empty where none is known); for the text
    format, also the known ones together (`context`)."""

    def __init__(self, text: bool = False) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _context.items():
            if not getattr(record, name, ""):
                setattr(record, name, var.get())
        if self.text:
            known = [str(getattr(record, name)) for name in FIELDS if getattr(record, name)]
            record.context = f" [{' '.join(known)}]" if known else ""
        return True


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s%(context)s"


def configure_logging(settings: "Settings") -> None:
    """The process's logging, once at start (server.py, worker.py): NQ57_LOG_FORMAT and NQ57_LOG_LEVEL."""
    handler = logging.StreamHandler()
    handler.addFilter(WithContext(text=settings.log_format == "text"))
    if settings.log_format == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(actor)s %(task)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"}, json_ensure_ascii=False))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    logging.getLogger("casbin").setLevel(logging.WARNING)


# --- carried through Temporal ------------------------------------------------------------------

class _WithHeaders(Protocol):
    headers: Mapping[str, temporalio.api.common.v1.Payload]


def _send(call: _WithHeaders, converter: temporalio.converter.PayloadConverter) -> None:
    if values := current():
        call.headers = {**call.headers, HEADER: converter.to_payload(values)}


def _received(call: _WithHeaders, converter: temporalio.converter.PayloadConverter) -> dict[str, str]:
    payload = call.headers.get(HEADER)
    return converter.from_payload(payload, dict[str, str]) if payload is not None else {}


class CarryLogContext(temporalio.client.Interceptor, temporalio.worker.Interceptor):
    """The log context in a header: from the API's calls into the workflow, from the workflow's
    handler into the activities it starts, and around each activity."""

    def intercept_client(self, next: temporalio.client.OutboundInterceptor) -> temporalio.client.OutboundInterceptor:
        return _ClientOut(next)

    def intercept_activity(
            self, next: temporalio.worker.ActivityInboundInterceptor) -> temporalio.worker.ActivityInboundInterceptor:
        return _ActivityIn(next)

    def workflow_interceptor_class(
            self, input: temporalio.worker.WorkflowInterceptorClassInput,
    ) -> type[temporalio.worker.WorkflowInboundInterceptor]:
        return _WorkflowIn


class _ClientOut(temporalio.client.OutboundInterceptor):
    async def start_workflow(self, input: temporalio.client.StartWorkflowInput) -> Any:
        _send(input, temporalio.converter.default().payload_converter)
        return await self.next.start_workflow(input)

    async def signal_workflow(self, input: temporalio.client.SignalWorkflowInput) -> None:
        _send(input, temporalio.converter.default().payload_converter)
        await self.next.signal_workflow(input)

    async def start_workflow_update(self, input: temporalio.client.StartWorkflowUpdateInput) -> Any:
        _send(input, temporalio.converter.default().payload_converter)
        return await self.next.start_workflow_update(input)

    async def start_update_with_start_workflow(
            self, input: temporalio.client.StartWorkflowUpdateWithStartInput) -> Any:
        """How a task is created: its start and its first update both carry the context."""
        _send(input.start_workflow_input, temporalio.converter.default().payload_converter)
        _send(input.update_workflow_input, temporalio.converter.default().payload_converter)
        return await self.next.start_update_with_start_workflow(input)


class _ActivityIn(temporalio.worker.ActivityInboundInterceptor):
    async def execute_activity(self, input: temporalio.worker.ExecuteActivityInput) -> Any:
        values = _received(input, temporalio.converter.default().payload_converter)
        values.setdefault("task", (temporalio.activity.info().workflow_id or "").removeprefix(WORKFLOW_PREFIX))
        with bound(values):
            return await self.next.execute_activity(input)


class _WorkflowIn(temporalio.worker.WorkflowInboundInterceptor):
    """A handler's context is its own asyncio task's: what it starts carries its request's id. The
    workflow's main loop (escalations, reminders) carries the task alone."""

    def init(self, outbound: temporalio.worker.WorkflowOutboundInterceptor) -> None:
        self.next.init(_WorkflowOut(outbound))

    async def execute_workflow(self, input: temporalio.worker.ExecuteWorkflowInput) -> Any:
        task = _received(input, temporalio.workflow.payload_converter()).get("task", "")
        with bound({"task": task} if task else {}):
            return await self.next.execute_workflow(input)

    async def handle_signal(self, input: temporalio.worker.HandleSignalInput) -> None:
        with bound(_received(input, temporalio.workflow.payload_converter())):
            await self.next.handle_signal(input)

    async def handle_update_handler(self, input: temporalio.worker.HandleUpdateInput) -> Any:
        with bound(_received(input, temporalio.workflow.payload_converter())):
            return await self.next.handle_update_handler(input)


class _WorkflowOut(temporalio.worker.WorkflowOutboundInterceptor):
    def start_activity(self, input: temporalio.worker.StartActivityInput) -> temporalio.workflow.ActivityHandle[Any]:
        _send(input, temporalio.workflow.payload_converter())
        return self.next.start_activity(input)

    def start_local_activity(
            self, input: temporalio.worker.StartLocalActivityInput) -> temporalio.workflow.ActivityHandle[Any]:
        _send(input, temporalio.workflow.payload_converter())
        return self.next.start_local_activity(input)
