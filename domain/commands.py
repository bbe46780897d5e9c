"""One model per action a person can take on a task (api.md, "Actions"). The API parses request
bodies into these; the workflow receives them inside an ActionRequest."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic.json_schema import SkipJsonSchema

from domain.actors import Actor
from domain.deadlines import parse_deadline
from domain.proof import holds, sign
from domain.task import BudgetLine, EvidenceFile


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Accept(_Command):
    action: Literal["accept"] = "accept"
    officer: str | None = Field(default=None, description="Tên đăng nhập cán bộ đầu mối")


class BudgetSubmit(_Command):
    action: Literal["budget.submit"] = "budget.submit"
    amount_vnd: int = Field(ge=0)
    source: str = Field(min_length=1)
    lines: list[BudgetLine] = Field(min_length=1)

    @field_validator("lines")
    @classmethod
    def _lines_add_up(cls, lines: list[BudgetLine], info: ValidationInfo) -> list[BudgetLine]:
        total, amount = sum(line.amount_vnd for line in lines), info.data.get("amount_vnd")
        if amount is not None and total != amount:
            raise ValueError(f"tổng các dòng ({total:,} đồng) khác tổng kinh phí amount_vnd ({amount:,} đồng)")
        return lines


class BudgetApprove(_Command):
    action: Literal["budget.approve"] = "budget.approve"
    reason: str | None = None


class BudgetReject(_Command):
    action: Literal["budget.reject"] = "budget.reject"
    reason: str = Field(min_length=1)


class ProgressReportCommand(_Command):
    action: Literal["progress.report"] = "progress.report"
    percent: int = Field(ge=0, le=100)
    kpi_actuals: dict[str, float] = {}
    note: str = ""
    disbursed_vnd: int | None = Field(default=None, ge=0)


class ExtensionRequestCommand(_Command):
    action: Literal["extension.request"] = "extension.request"
    new_deadline: str
    reason: str = Field(min_length=1)

    @field_validator("new_deadline")
    @classmethod
    def _deadline_parses(cls, value: str) -> str:
        parse_deadline(value)
        return value


class ExtensionApprove(_Command):
    action: Literal["extension.approve"] = "extension.approve"
    reason: str | None = None


class ExtensionReject(_Command):
    action: Literal["extension.reject"] = "extension.reject"
    reason: str | None = None


class EvidenceSubmit(_Command):
    action: Literal["evidence.submit"] = "evidence.submit"
    summary: str = ""
    kpi_results: dict[str, float | str] = {}
    files: list[EvidenceFile] = Field(min_length=1)


class ReviewAssign(_Command):
    action: Literal["review.assign"] = "review.assign"
    reviewer: str = Field(min_length=1)
    # Filled by the server from the reviewer's account, never taken from the client.
    reviewer_agency: SkipJsonSchema[str | None] = None


class ReviewApprove(_Command):
    action: Literal["review.approve"] = "review.approve"
    reason: str | None = None


class ReviewReject(_Command):
    action: Literal["review.reject"] = "review.reject"
    reason: str = Field(min_length=1)
    findings: list[str] = Field(min_length=1)


class Reassign(_Command):
    action: Literal["reassign"] = "reassign"
    lead_agency: str = Field(min_length=1)
    reason: str = Field(min_length=1)


class Cancel(_Command):
    action: Literal["cancel"] = "cancel"
    reason: str = Field(min_length=1)


class Comment(_Command):
    action: Literal["comment"] = "comment"
    text: str = Field(min_length=1)


Command = Annotated[
    Accept | BudgetSubmit | BudgetApprove | BudgetReject | ProgressReportCommand
    | ExtensionRequestCommand | ExtensionApprove | ExtensionReject | EvidenceSubmit
    | ReviewAssign | ReviewApprove | ReviewReject | Reassign | Cancel | Comment,
    Field(discriminator="action"),
]

COMMAND_MODELS: dict[str, type[_Command]] = {
    model.model_fields["action"].default: model
    for model in (
        Accept, BudgetSubmit, BudgetApprove, BudgetReject, ProgressReportCommand,
        ExtensionRequestCommand, ExtensionApprove, ExtensionReject, EvidenceSubmit,
        ReviewAssign, ReviewApprove, ReviewReject, Reassign, Cancel, Comment,
    )
}


class ActionRequest(BaseModel):
    """The message of the workflow's `act` update: who acts, what they ask, and the API's proof that
    it authorized exactly this (domain/proof.py)."""

    actor: Actor
    command: Command
    proof: str = ""

    def signed(self, key: bytes, code: str, update_id: str) -> "ActionRequest":
        return self.model_copy(update={"proof": sign(key, code, update_id, self.actor, self.command_data())})

    def proven(self, key: bytes | None, code: str, update_id: str) -> bool:
        return holds(key, self.proof, code, update_id, self.actor, self.command_data())

    def command_data(self) -> dict:
        return self.command.model_dump(mode="json")
