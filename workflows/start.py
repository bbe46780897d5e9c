"""What starts a task's workflow (and each run it continues as): its own module, imported by the
workflow through the sandbox's passthrough, so these models are built once per process, not once per
workflow instance the sandbox loads."""

from datetime import datetime

from pydantic import BaseModel

from activities.notifications import Mail, Notice
from domain.events import RecordedEvent
from domain.task import LifecycleSettings, TaskSpec, TaskState


class Delivery(BaseModel):
    """A mail or a webhook not yet delivered: what continue-as-new hands to the next run."""

    mail: Mail | None = None
    notice: Notice | None = None


class TaskStart(BaseModel):
    spec: TaskSpec
    deadline: datetime | None  # the spec's deadline as an instant; None while it has none (domain.deadlines.due_of)
    created_by: str
    settings: LifecycleSettings = LifecycleSettings()
    state: TaskState | None = None  # set when the workflow continues as new
    deliveries: list[Delivery] = []  # undelivered mail and webhooks of the previous run
    log: list[RecordedEvent] = []  # the events recorded by the previous runs, summarized
    generation: int = 0  # how many runs came before this one
    request_id: str | None = None  # the Idempotency-Key the task was created with
    parent: str | None = None  # set for a sub-task: the task it was split from
    overseers: list[str] = []  # the agencies leading the tasks above a sub-task, nearest first
