"""An event: one accepted action or one thing that happened to a task (created, escalated)."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from domain.actors import Actor
from domain.commands import Action
from domain.proof import holds, sign
from domain.task import TaskState

SYSTEM_ACTOR = "system"  # who escalations are recorded as: the clock, not a person


class Happening(StrEnum):
    """What happens to a task without anyone acting on it."""

    CREATED = "created"
    ESCALATED = "escalated"
    REMINDED = "reminded"  # a deadline's owner warned before it falls due (domain/escalation.py, early warning)
    SUBTASK_CLOSED = "subtask.closed"  # a sub-task split from this task closed (completed or cancelled)


# The type of an event: an action someone took (its name), or a happening.
EventType = Action | Happening


class Event(BaseModel):
    seq: int
    type: EventType
    actor: str
    at: datetime
    data: dict[str, Any]


class RecordedEvent(Event):
    """An event as the workflow recorded it: chained to the one before by its hash, and naming the
    update (the client's Idempotency-Key) that caused it. The workflow keeps the list of these, so
    the chain is anchored outside the database: rows rewritten and re-hashed no longer match it."""

    data: dict[str, Any] | None  # type: ignore[assignment]  # None once summarized: the hash still anchors the row
    request_id: str | None = None
    prev_hash: str
    hash: str
    fingerprint: str = ""  # of the request behind it (domain.commands.fingerprint), for a retried key

    def summary(self) -> "RecordedEvent":
        """The event without its content: what a task carries over continue-as-new (its history
        must shrink) and what audit compares (the hash covers the content)."""
        return self.model_copy(update={"data": None})


class SubtaskClosure(BaseModel):
    """A sub-task's word to the task it was split from that it has closed, signed with the key the
    API signs actions with (domain/proof.py): nobody else reaching Temporal can close a part."""

    parent: str
    code: str
    stage: str
    proof: str = ""

    def _content(self) -> tuple[str, str, Actor, dict[str, Any]]:
        return self.parent, f"closed:{self.code}", Actor(username=SYSTEM_ACTOR), {"stage": self.stage}

    def signed(self, key: bytes | None) -> "SubtaskClosure":
        return self.model_copy(update={"proof": sign(key, *self._content()) if key is not None else ""})

    def proven(self, key: bytes | None) -> bool:
        return holds(key, self.proof, *self._content())


class Recorded(BaseModel):
    """What a task's workflow says it recorded: its state and every event, oldest first."""

    state: TaskState
    events: list[RecordedEvent]


class ChainHead(BaseModel):
    """Where a task's record stands: enough to tell whether its projection is in step."""

    seq: int
    stage: str
    hash: str
