"""An event: one accepted action or one thing that happened to a task (created, escalated)."""

from datetime import datetime

from pydantic import BaseModel

SYSTEM_ACTOR = "system"  # who escalations are recorded as: the clock, not a person


class Event(BaseModel):
    seq: int
    type: str
    actor: str
    at: datetime
    data: dict
