"""Talking to the task workflows: start one, read its state, send it an action, ask what it answered
to an Idempotency-Key. Temporal decides what happened; its failures become coded refusals here,
in one place. Every wait is bounded: past it, 503 with Retry-After, safe to retry with the same key."""

import asyncio
import uuid
from collections.abc import Awaitable
from typing import Any, TypeVar

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.commands import ActionRequest
from domain.events import Recorded, RecordedEvent
from domain.refusals import Code, Refusal
from domain.task import TaskState
from workflows.start import TaskStart
from workflows.task_lifecycle import TaskLifecycleWorkflow, workflow_id

T = TypeVar("T")
RETRY_AFTER = 5  # seconds a client is asked to wait before it retries


class StaleDecision(Exception):
    """The workflow refused an action decided on its task's projection: its state had moved on since
    (services/tasks.py then decides again on the state the workflow holds). Nothing was recorded."""


def not_answered(idempotency_key: str | None) -> Refusal:
    """The workflow did not answer in time: nothing is known yet, so the client retries."""
    extra: dict[str, Any] = {"retry_after": RETRY_AFTER}
    if idempotency_key:
        extra["idempotency_key"] = idempotency_key
    return Refusal(Code.WORKFLOW_UNAVAILABLE, extra=extra)


async def _bounded(call: Awaitable[T], wait: float, idempotency_key: str | None) -> T:
    try:
        return await asyncio.wait_for(call, wait)
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        raise not_answered(idempotency_key) from None
    except RPCError as error:
        if error.status == RPCStatusCode.RESOURCE_EXHAUSTED:  # e.g. too many updates in flight on one task
            raise Refusal(Code.TOO_MANY_ACTIONS, extra={"retry_after": RETRY_AFTER}) from None
        if error.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            raise not_answered(idempotency_key) from None
        raise


async def start_task(client: Client, task_queue: str, start: TaskStart, wait: float) -> TaskState:
    """Start the task's workflow and return its state once creation is recorded. A start retried
    with the Idempotency-Key that created the task answers the task; any other start of an existing
    code is a duplicate."""
    operation = WithStartWorkflowOperation(
        TaskLifecycleWorkflow.run, start, id=workflow_id(start.spec.code), task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    try:
        return await _bounded(client.execute_update_with_start_workflow(
            TaskLifecycleWorkflow.snapshot, start_workflow_operation=operation), wait, start.request_id)
    except WorkflowAlreadyStartedError:
        pass
    except WorkflowUpdateFailedError as error:
        raise _refusal(error) from None
    if start.request_id:
        handle = client.get_workflow_handle_for(TaskLifecycleWorkflow.run, workflow_id(start.spec.code))
        # Once its creation is recorded (a crash may have undone the first recording), ask who created it.
        await _bounded(handle.execute_update(TaskLifecycleWorkflow.snapshot), wait, start.request_id)
        record = await _bounded(handle.query(TaskLifecycleWorkflow.recorded, True), wait, start.request_id)
        created = record.events[0] if record.events else None
        if created is not None and created.request_id == start.request_id:
            if created.actor != start.created_by or created.data != start.spec.model_dump(mode="json"):
                raise key_reused(start.request_id)
            return record.state
    raise Refusal(Code.TASK_EXISTS, task=start.spec.code)


async def created_state(client: Client, code: str, wait: float) -> TaskState:
    """The state of a task started elsewhere (a sub-task, by its parent's workflow) once its own
    creation is recorded."""
    handle = client.get_workflow_handle_for(TaskLifecycleWorkflow.run, workflow_id(code))
    return await _bounded(handle.execute_update(TaskLifecycleWorkflow.snapshot), wait, None)


def key_reused(idempotency_key: str) -> Refusal:
    return Refusal(Code.IDEMPOTENCY_KEY_REUSED, field="Idempotency-Key", key=idempotency_key)


async def workflow_state(client: Client, code: str, wait: float) -> TaskState:
    """The task's state as its workflow holds it now: 404 when there is no such task."""
    handle = client.get_workflow_handle_for(TaskLifecycleWorkflow.run, workflow_id(code))
    try:
        return await _bounded(handle.query(TaskLifecycleWorkflow.current), wait, None)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise Refusal(Code.TASK_NOT_FOUND, task=code) from None
        raise


async def send_action(client: Client, code: str, request: ActionRequest, update_id: str | None,
                      wait: float, key: bytes) -> TaskState:
    """Temporal answers a repeated update id with its first result, and runs it if it never took it.
    The request goes signed: the workflow refuses an action the API did not authorize."""
    chosen = update_id is not None
    update_id = update_id or f"auto-{uuid.uuid4()}"
    request = request.signed(key, code, update_id)
    handle = client.get_workflow_handle_for(TaskLifecycleWorkflow.run, workflow_id(code))
    try:
        state = await _bounded(handle.execute_update(TaskLifecycleWorkflow.act, request, id=update_id),
                               wait, update_id)
    except WorkflowUpdateFailedError as error:
        raise _refusal(error, update_id) from None
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise Refusal(Code.TASK_CLOSED, task=code) from None
        raise
    if chosen:  # two callers sent one key at once: Temporal ran it once, for whoever came first
        _, event = await _recorded_for(handle, update_id, wait)
        _claim(event, update_id, request.actor.username, request.command.action, request.fingerprint)
    return state


async def prior_answer(client: Client, code: str, update_id: str, username: str, action: str,
                       wait: float) -> tuple[TaskState, str] | None:
    """The answer the workflow gave this update id, if it took it: its result again (with the
    fingerprint of the body it was given, for the caller to compare), or its refusal again; None if
    the workflow never took it (then it is sent as new). The key belongs to whoever sent it first,
    for the action they sent."""
    handle = client.get_workflow_handle_for(TaskLifecycleWorkflow.run, workflow_id(code))
    try:
        state = await _bounded(handle.get_update_handle_for(TaskLifecycleWorkflow.act, update_id).result(),
                               wait, update_id)
    except WorkflowUpdateFailedError as error:
        raise _refusal(error) from None
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        state = None  # Temporal's registry does not know it (an earlier run, a restart): the log may
    try:
        record, event = await _recorded_for(handle, update_id, wait)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:  # no such task: the caller answers 404
            return None
        raise
    if event is None:
        return None if state is None else (state, "")
    _claim(event, update_id, username, action, None)
    return (state or record.state), event.fingerprint


async def _recorded_for(handle: WorkflowHandle[Any, Any], update_id: str,
                        wait: float) -> tuple[Recorded, RecordedEvent | None]:
    """The workflow's record, and the event it recorded for this update id (None if none)."""
    record = await _bounded(handle.query(TaskLifecycleWorkflow.recorded), wait, update_id)
    return record, next((event for event in record.events if event.request_id == update_id), None)


def _claim(event: RecordedEvent | None, update_id: str, username: str, action: str, fingerprint: str | None) -> None:
    """An Idempotency-Key belongs to whoever sent it first, for the action and body they sent."""
    if event is None:
        return
    other_body = fingerprint is not None and event.fingerprint and event.fingerprint != fingerprint
    if event.actor != username or event.type != action or other_body:
        raise key_reused(update_id)


def _refusal(error: WorkflowUpdateFailedError, update_id: str | None = None) -> Refusal:
    """The workflow's refusal of an update (its validator's coded failure), as the API's."""
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type == "UnprocessedUpdate":
        # Temporal dropped the update before the workflow took it (many at once on one task): nothing
        # was recorded, and the same key may be sent again.
        return not_answered(update_id)
    if isinstance(cause, ApplicationError) and cause.type == "Stale":
        raise StaleDecision() from None
    if isinstance(cause, ApplicationError) and cause.type == "Unproven":
        return Refusal(Code.UNPROVEN_ACTION)
    if isinstance(cause, ApplicationError) and cause.type in ("StageConflict", "RuleViolation"):
        details = cause.details[0] if cause.details else {}
        fields = details.get("errors") or [{}]
        code = details.get("code")
        if code not in set(Code):  # a worker of another version named a rule this API does not know
            raise error
        return Refusal(Code(code), field=fields[0].get("field"), extra={"stage": details["stage"]},
                       **details.get("params", {}))
    raise error
