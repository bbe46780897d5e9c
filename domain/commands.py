"""One model per action a person can take on a task (api.md, "Actions"). The API parses request
bodies into these; the workflow receives them inside an ActionRequest."""

import hashlib
import json
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
)
from pydantic.json_schema import SkipJsonSchema

from domain import limits as L
from domain.actors import Actor
from domain.deadlines import DeadlineText
from domain.proof import holds, sign
from domain.refusals import Code, invalid
from domain.task import BudgetLine, EvidenceFile, Kpi, Outcome, Reporting, TaskCode, TaskKind


class Action(StrEnum):
    """Every action a person can take on a task; the `action` of its command and the type of its event."""

    ACCEPT = "accept"
    BUDGET_SUBMIT = "budget.submit"
    BUDGET_APPROVE = "budget.approve"
    BUDGET_REJECT = "budget.reject"
    BUDGET_AMEND = "budget.amend"
    PROGRESS_REPORT = "progress.report"
    EXTENSION_REQUEST = "extension.request"
    EXTENSION_APPROVE = "extension.approve"
    EXTENSION_REJECT = "extension.reject"
    EVIDENCE_SUBMIT = "evidence.submit"
    REVIEW_ASSIGN = "review.assign"
    REVIEW_APPROVE = "review.approve"
    REVIEW_REJECT = "review.reject"
    REASSIGN = "reassign"
    CANCEL = "cancel"
    COMMENT = "comment"
    CORRECT = "correct"
    SUBTASK_CREATE = "subtask.create"
    CLOSE = "close"


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    # Fields a command gained after actions were first recorded, each with the value it has when not
    # given: left out of the command's record while they have it, so a recorded event (hashed into
    # the task's chain) reads the same when its history is replayed.
    LATER_FIELDS: ClassVar[dict[str, Any]] = {}

    @model_serializer(mode="wrap")
    def _later_fields_left_out(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for name, default in self.LATER_FIELDS.items():
            if name in data and data[name] == default:
                data.pop(name)
        return data


class Accept(_Command):
    """The lead's head takes the task on; the head accountable for it is the one accepting, unless
    another head of the lead agency is named."""

    LATER_FIELDS: ClassVar[dict[str, Any]] = {"accountable": None, "accountable_agency": None}
    action: Literal["accept"] = "accept"
    officer: str | None = Field(default=None, max_length=L.USERNAME, description="Tên đăng nhập cán bộ đầu mối")
    accountable: str | None = Field(default=None, max_length=L.USERNAME,
                                    description="the head accountable (a username; default: the one accepting)")
    # Filled by the server from the account named accountable, never taken from the client.
    accountable_agency: SkipJsonSchema[str | None] = None


class _BudgetFigures(_Command):
    amount_vnd: int = Field(ge=0, le=L.MONEY)
    lines: list[BudgetLine] = Field(min_length=1, max_length=L.ITEMS)

    @field_validator("lines")
    @classmethod
    def _lines_add_up(cls, lines: list[BudgetLine], info: ValidationInfo) -> list[BudgetLine]:
        total, amount = sum(line.amount_vnd for line in lines), info.data.get("amount_vnd")
        if amount is not None and total != amount:
            raise invalid(Code.LINES_TOTAL_MISMATCH, total=f"{total:,}", amount=f"{amount:,}")
        return lines


class BudgetAmend(_BudgetFigures):
    """The lead's head asks to change the approved budget (the ceiling of disbursement) during
    execution; a finance reviewer decides it with budget.approve or budget.reject."""

    action: Literal["budget.amend"] = "budget.amend"
    reason: str = Field(min_length=1, max_length=L.TEXT)


class BudgetSubmit(_BudgetFigures):
    action: Literal["budget.submit"] = "budget.submit"
    source: str = Field(min_length=1, max_length=L.SHORT)


class BudgetApprove(_Command):
    """A finance reviewer approves the budget submitted, or the amendment asked during execution."""

    action: Literal["budget.approve"] = "budget.approve"
    reason: str | None = Field(default=None, max_length=L.TEXT)


class BudgetReject(_Command):
    action: Literal["budget.reject"] = "budget.reject"
    reason: str = Field(min_length=1, max_length=L.TEXT)


class ProgressReportCommand(_Command):
    action: Literal["progress.report"] = "progress.report"
    percent: int = Field(ge=0, le=100)
    kpi_actuals: dict[Annotated[str, Field(max_length=L.NAME)], Annotated[float, Field(ge=-L.FIGURE, le=L.FIGURE)]] = \
        Field(default={}, max_length=L.ITEMS)
    note: str = Field(default="", max_length=L.TEXT)
    disbursed_vnd: int | None = Field(default=None, ge=0, le=L.MONEY)


class ExtensionRequestCommand(_Command):
    action: Literal["extension.request"] = "extension.request"
    new_deadline: DeadlineText = Field(max_length=L.NAME)
    reason: str = Field(min_length=1, max_length=L.TEXT)


class ExtensionApprove(_Command):
    action: Literal["extension.approve"] = "extension.approve"
    reason: str | None = Field(default=None, max_length=L.TEXT)


class ExtensionReject(_Command):
    action: Literal["extension.reject"] = "extension.reject"
    reason: str | None = Field(default=None, max_length=L.TEXT)


class EvidenceSubmit(_Command):
    action: Literal["evidence.submit"] = "evidence.submit"
    summary: str = Field(default="", max_length=L.TEXT)
    kpi_results: dict[Annotated[str, Field(max_length=L.NAME)],
                      Annotated[float, Field(ge=-L.FIGURE, le=L.FIGURE)] | Annotated[str, Field(max_length=L.NAME)]] = \
        Field(default={}, max_length=L.ITEMS)
    files: list[EvidenceFile] = Field(min_length=1, max_length=L.ITEMS)


class ReviewAssign(_Command):
    action: Literal["review.assign"] = "review.assign"
    reviewer: str = Field(min_length=1, max_length=L.USERNAME)
    # Filled by the server from the reviewer's account, never taken from the client.
    reviewer_agency: SkipJsonSchema[str | None] = None


class ReviewApprove(_Command):
    """The reviewer confirms each KPI's result (a figure given replaces the evidence's: the reviewer's
    counts), judges the product usable or not, and approves: as met, or — results short of a target,
    or a product not usable — only as not met, with a reason (domain/results.py)."""

    LATER_FIELDS: ClassVar[dict[str, Any]] = {"kpi_results": None, "usable": True, "outcome": None}
    action: Literal["review.approve"] = "review.approve"
    reason: str | None = Field(default=None, max_length=L.TEXT)
    kpi_results: dict[Annotated[str, Field(max_length=L.NAME)], Annotated[float, Field(ge=-L.FIGURE, le=L.FIGURE)]] \
        | None = Field(default=None, max_length=L.ITEMS, description="the reviewer's figure for KPIs it corrects")
    usable: bool = Field(default=True, description="whether the product is usable as delivered")
    outcome: Outcome | None = Field(default=None, description="met, or not_met (with a reason): required as "
                                    "not_met when a confirmed result falls short or the product is not usable")


class ReviewReject(_Command):
    action: Literal["review.reject"] = "review.reject"
    reason: str = Field(min_length=1, max_length=L.TEXT)
    findings: list[Annotated[str, Field(min_length=1, max_length=L.TEXT)]] = Field(min_length=1, max_length=L.ITEMS)


class Reassign(_Command):
    """Replace whoever delays: the lead agency, the head accountable, or both (a new lead agency's
    head becomes accountable when it accepts, unless one is named)."""

    LATER_FIELDS: ClassVar[dict[str, Any]] = {"accountable": None, "accountable_agency": None}
    action: Literal["reassign"] = "reassign"
    lead_agency: str | None = Field(default=None, min_length=1, max_length=L.AGENCY)
    reason: str = Field(min_length=1, max_length=L.TEXT)
    accountable: str | None = Field(default=None, max_length=L.USERNAME,
                                    description="a head of the (new) lead agency to answer for the task")
    # Filled by the server from the account named accountable, never taken from the client.
    accountable_agency: SkipJsonSchema[str | None] = None


class Cancel(_Command):
    action: Literal["cancel"] = "cancel"
    reason: str = Field(min_length=1, max_length=L.TEXT)


class Comment(_Command):
    action: Literal["comment"] = "comment"
    text: str = Field(min_length=1, max_length=L.LONG)


class Correct(_Command):
    """The Standing Office puts right what was assigned wrongly (a correction, not an extension):
    only the fields given change; the event keeps each one's old and new value."""

    action: Literal["correct"] = "correct"
    reason: str = Field(min_length=1, max_length=L.TEXT)
    title: str | None = Field(default=None, min_length=1, max_length=L.SHORT)
    description: str | None = Field(default=None, max_length=L.LONG)
    product: str | None = Field(default=None, max_length=L.TEXT)
    kpis: list[Kpi] | None = Field(default=None, max_length=L.ITEMS)
    coordinating_agencies: list[Annotated[str, Field(min_length=1, max_length=L.AGENCY)]] | None = \
        Field(default=None, max_length=L.ITEMS)
    kind: TaskKind | None = Field(default=None, description="a deadline set on a deadline_pending task makes it "
                                  "one_off unless another kind is given")
    reporting: Reporting | None = Field(default=None, description="none, monthly or quarterly (a recurring task "
                                        "needs one of the last two)")
    deadline: DeadlineText | None = Field(default=None, max_length=L.NAME)

    def corrected(self) -> dict[str, Any]:
        """The fields this correction sets, by name."""
        return {name: getattr(self, name) for name in CORRECTABLE if getattr(self, name) is not None}


class SubtaskCreate(_Command):
    """The lead's head hands part of the task down to a unit of its own ("theo ngành dọc đến cấp
    xã"): a task of its own, with its head, deadline (not later than this one's), KPIs and evidence."""

    action: Literal["subtask.create"] = "subtask.create"
    code: TaskCode
    title: str = Field(min_length=1, max_length=L.SHORT)
    description: str = Field(default="", max_length=L.LONG)
    lead_agency: str = Field(min_length=1, max_length=L.AGENCY, description="a unit under the lead agency")
    deadline: DeadlineText = Field(max_length=L.NAME)
    product: str = Field(default="", max_length=L.TEXT)
    kpis: list[Kpi] = Field(default=[], max_length=L.ITEMS)
    # Filled by the server from the reference data (the agencies above the unit), never by the client.
    lead_ancestors: SkipJsonSchema[list[str]] = []


class Close(_Command):
    """The Standing Office ends a recurring or standing task (a standing one is never "completed")."""

    action: Literal["close"] = "close"
    reason: str = Field(min_length=1, max_length=L.TEXT)


# What a correction may change, in the order the event lists it.
CORRECTABLE = ("title", "description", "product", "kpis", "coordinating_agencies", "kind", "reporting", "deadline")


Command = Annotated[
    Accept | BudgetSubmit | BudgetApprove | BudgetReject | BudgetAmend | ProgressReportCommand
    | ExtensionRequestCommand | ExtensionApprove | ExtensionReject | EvidenceSubmit
    | ReviewAssign | ReviewApprove | ReviewReject | Reassign | Cancel | Comment | Correct | SubtaskCreate | Close,
    Field(discriminator="action"),
]

COMMAND_MODELS: dict[Action, type[_Command]] = {
    Action(model.model_fields["action"].default): model
    for model in (
        Accept, BudgetSubmit, BudgetApprove, BudgetReject, BudgetAmend, ProgressReportCommand,
        ExtensionRequestCommand, ExtensionApprove, ExtensionReject, EvidenceSubmit,
        ReviewAssign, ReviewApprove, ReviewReject, Reassign, Cancel, Comment, Correct, SubtaskCreate, Close,
    )
}
assert set(COMMAND_MODELS) == set(Action), "one command model for each action"


class ActionRequest(BaseModel):
    """The message of the workflow's `act` update: who acts, what they ask, and the API's proof that
    it authorized exactly this (domain/proof.py)."""

    actor: Actor
    command: Command
    proof: str = ""
    fingerprint: str = ""  # of the body the client sent (fingerprint()): a reused key must match it
    # The state (its seq) the API decided on when it read the task's projection rather than asked the
    # workflow: the workflow takes the action only at that state, else refuses it as stale and the API
    # decides again on the state the workflow holds. None: decided on the workflow's own state.
    seq: int | None = None

    def signed(self, key: bytes, code: str, update_id: str) -> "ActionRequest":
        return self.model_copy(update={"proof": sign(key, code, update_id, self.actor, self.command_data())})

    def proven(self, key: bytes | None, code: str, update_id: str) -> bool:
        return holds(key, self.proof, code, update_id, self.actor, self.command_data())

    def command_data(self) -> dict[str, Any]:
        return self.command.model_dump(mode="json")


def fingerprint(command: BaseModel) -> str:
    """What a client asked, as one value: an Idempotency-Key sent again must come with the same."""
    content = json.dumps(command.model_dump(mode="json"), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(content.encode()).hexdigest()
