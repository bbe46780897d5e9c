"""The stages of a task's life (design.md, "Task lifecycle")."""

from enum import StrEnum


class Stage(StrEnum):
    ASSIGNED = "assigned"
    BUDGET_REGISTRATION = "budget_registration"
    BUDGET_REVIEW = "budget_review"
    IN_PROGRESS = "in_progress"
    CROSS_CHECK = "cross_check"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


CLOSED_STAGES = frozenset({Stage.COMPLETED, Stage.CANCELLED})
OPEN_STAGES = frozenset(Stage) - CLOSED_STAGES

# Vietnamese names for what people read.
STAGE_LABELS_VI: dict[Stage, str] = {
    Stage.ASSIGNED: "Đã giao",
    Stage.BUDGET_REGISTRATION: "Đăng ký kinh phí",
    Stage.BUDGET_REVIEW: "Thẩm định kinh phí",
    Stage.IN_PROGRESS: "Đang thực hiện",
    Stage.CROSS_CHECK: "Kiểm tra chéo",
    Stage.COMPLETED: "Hoàn thành",
    Stage.CANCELLED: "Đã hủy",
}
