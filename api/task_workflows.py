"""Talking to the task workflows: start one, send it an action. Temporal's failures become the
API's errors here, in one place."""

from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.errors import ApiError
from domain.commands import ActionRequest
from domain.task import TaskState
from workflows.task_lifecycle import TaskLifecycleWorkflow, TaskStart, workflow_id


class TaskAlreadyExists(ApiError):
    def __init__(self, code: str):
        super().__init__(409, f"Mã nhiệm vụ '{code}' đã tồn tại")


async def start_task(client: Client, task_queue: str, start: TaskStart) -> TaskState:
    """Start the task's workflow and return its state once creation is recorded."""
    operation = WithStartWorkflowOperation(
        TaskLifecycleWorkflow.run, start, id=workflow_id(start.spec.code), task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    try:
        return await client.execute_update_with_start_workflow(
            TaskLifecycleWorkflow.snapshot, start_workflow_operation=operation
        )
    except WorkflowAlreadyStartedError:
        raise TaskAlreadyExists(start.spec.code) from None
    except WorkflowUpdateFailedError as error:
        raise _api_error(error) from None


async def send_action(client: Client, code: str, request: ActionRequest, update_id: str | None) -> TaskState:
    handle = client.get_workflow_handle_for(TaskLifecycleWorkflow.run, workflow_id(code))
    try:
        return await handle.execute_update(TaskLifecycleWorkflow.act, request, id=update_id)
    except WorkflowUpdateFailedError as error:
        raise _api_error(error) from None
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise ApiError(409, f"Nhiệm vụ '{code}' đã đóng hồ sơ, không nhận thêm thao tác",
                           code="task_closed", params={"task": code}) from None
        raise


async def replayed_action(client: Client, code: str, update_id: str) -> TaskState | None:
    """The answer an already-recorded update gave, or None if this run no longer knows it."""
    handle = client.get_workflow_handle_for(TaskLifecycleWorkflow.run, workflow_id(code))
    try:
        return await handle.get_update_handle_for(TaskLifecycleWorkflow.act, update_id).result()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


def _api_error(error: WorkflowUpdateFailedError) -> ApiError:
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type in ("StageConflict", "RuleViolation"):
        details = cause.details[0] if cause.details else {}
        status = 409 if cause.type == "StageConflict" else 422
        return ApiError(status, cause.message, **details)
    raise error
