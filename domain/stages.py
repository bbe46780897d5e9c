"""The stages of a task's life (design.md, "Task lifecycle"). What people read for each is the message
catalogs' `stage.<value>` (messages/)."""

from enum import StrEnum


class Stage(StrEnum):
    ASSIGNED = "assigned"
    BUDGET_REGISTRATION = "budget_registration"
    BUDGET_REVIEW = "budget_review"
    IN_PROGRESS = "in_progress"
    CROSS_CHECK = "cross_check"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    CLOSED = "closed"  # a recurring or standing task the Standing Office ended (it is never "completed")


CLOSED_STAGES = frozenset({Stage.COMPLETED, Stage.CANCELLED, Stage.CLOSED})
OPEN_STAGES = frozenset(Stage) - CLOSED_STAGES

