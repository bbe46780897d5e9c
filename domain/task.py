"""What a task is: its specification (set at assignment) and its state (kept by the workflow,
projected into the database). Pure pydantic models shared by the workflow and the API."""

from datetime import date as date_
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from domain import limits as L
from domain.deadlines import DEFAULT_TIMEZONE, AssignedDeadlineText, TimezoneName, due_of, is_to_be_set
from domain.refusals import Code, invalid
from domain.stages import Stage


class Reporting(StrEnum):
    NONE = "none"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"


class TaskKind(StrEnum):
    """How a task falls due (what people read is the catalogs' `task_kind.<value>`)."""

    ONE_OFF = "one_off"  # one product by one deadline
    RECURRING = "recurring"  # "định kỳ hằng tháng / hằng quý báo cáo": a report due each period; maybe a deadline
    STANDING = "standing"  # "nhiệm vụ thường xuyên": never completed, assessed each period by its reports
    DEADLINE_PENDING = "deadline_pending"  # assigned without an instant ("khẩn trương"): the Office sets one


def kind_of(kind: TaskKind, deadline_text: str) -> TaskKind:
    """The kind a task takes: a one-off whose deadline is a phrase that leaves it to be set ("cùng
    thời điểm thi hành của Luật") is one whose deadline is pending."""
    return TaskKind.DEADLINE_PENDING if kind == TaskKind.ONE_OFF and is_to_be_set(deadline_text) else kind


def deadline_fault(kind: TaskKind, has_instant: bool) -> Code | None:
    """Why a task of this kind may not have (or lack) a deadline's instant; None when it fits. A
    one-off needs one; a standing task, and one whose deadline is pending, have none; a recurring
    task may have a final one (it binds as any deadline does)."""
    if kind == TaskKind.ONE_OFF and not has_instant:
        return Code.DEADLINE_REQUIRED
    if kind in (TaskKind.STANDING, TaskKind.DEADLINE_PENDING) and has_instant:
        return Code.KIND_TAKES_NO_DEADLINE
    return None


def reporting_for(kind: TaskKind, reporting: Reporting) -> Reporting:
    """The reporting cadence a task of this kind keeps: a standing task is assessed by its reports,
    each quarter unless another cadence is given."""
    return Reporting.QUARTERLY if kind == TaskKind.STANDING and reporting == Reporting.NONE else reporting


def reporting_fault(kind: TaskKind, reporting: Reporting) -> Code | None:
    """A recurring task is a report due each period: it needs a cadence (monthly or quarterly)."""
    return Code.RECURRING_NEEDS_REPORTING if kind == TaskKind.RECURRING and reporting == Reporting.NONE else None


# Kinds that end in `closed` (the Standing Office's `close`) rather than only in completion.
CLOSABLE_KINDS = frozenset({TaskKind.RECURRING, TaskKind.STANDING})


class Direction(StrEnum):
    """Which way a KPI improves: more trained engineers (higher), fewer days to process a file (lower)."""

    HIGHER = "higher"
    LOWER = "lower"


class Kpi(BaseModel):
    """A measurable result: from the baseline (where things stood) to the target, in its unit, in its
    direction. Achievement is domain/results.py's."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=L.NAME)
    target: float = Field(ge=-L.FIGURE, le=L.FIGURE)
    unit: str = Field(default="", max_length=L.SHORT)
    baseline: float | None = Field(default=None, ge=-L.FIGURE, le=L.FIGURE,
                                   description="where things stood at assignment (none: counted from zero)")
    direction: Direction = Field(default=Direction.HIGHER, description="higher (default) or lower is better")

    @model_serializer(mode="wrap")
    def _later_fields_left_out(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A KPI recorded before it had a baseline and a direction reads the same (its task's
        `created` event is hashed into the chain)."""
        data: dict[str, Any] = handler(self)
        for name, default in (("baseline", None), ("direction", Direction.HIGHER)):
            if name in data and data[name] == default:
                data.pop(name)
        return data


class Source(BaseModel):
    """The directive a task comes from: the notice's number, its date, where in it, and its words."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    document: str = Field(min_length=1, max_length=L.NAME, description="e.g. 20-TB/CQTTBCĐ")
    date: date_ | None = None
    section: str = Field(default="", max_length=L.NAME, description="e.g. Phụ lục, mục 3.c")
    text: str = Field(default="", max_length=L.LONG, description="the directive's own sentence")


# A task's code: what its workflow id, its page and every reference to it are made of.
TaskCode = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


# Fields a task's spec gained after tasks were first recorded, each with the value it has when not
# given: left out of a spec's record while they have it, so a recorded `created` event (hashed into
# the task's chain) reads the same when replayed.
_LATER_FIELDS: dict[str, Any] = {"source": None, "directing_agency": None, "kind": TaskKind.ONE_OFF}


class TaskSpec(BaseModel):
    """A task as the Standing Office assigns it (POST /api/v1/tasks and each import row)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    code: TaskCode
    title: str = Field(min_length=1, max_length=L.SHORT)
    description: str = Field(default="", max_length=L.LONG)
    lead_agency: str = Field(min_length=1, max_length=L.AGENCY)
    coordinating_agencies: list[Annotated[str, Field(max_length=L.AGENCY)]] = Field(default=[], max_length=L.ITEMS)
    kind: TaskKind = Field(default=TaskKind.ONE_OFF, description="one_off (default), recurring, standing or "
                           "deadline_pending; a one_off whose deadline is a phrase that leaves it to be set "
                           "(\"khẩn trương\", \"cùng thời điểm thi hành của Luật\") is deadline_pending")
    deadline: AssignedDeadlineText = Field(default="", validate_default=True, max_length=L.NAME, description=(
        "the Committee's words or ISO; empty only for recurring, standing and deadline_pending"))
    product: str = Field(default="", max_length=L.TEXT)
    kpis: list[Kpi] = Field(default=[], max_length=L.ITEMS)
    budget_required: bool = False
    reporting: Reporting = Field(default=Reporting.NONE, validate_default=True,
                                 description="recurring needs monthly or quarterly; standing defaults to quarterly")
    source: Source | None = Field(default=None, description="the directive the task comes from")
    directing_agency: str | None = Field(default=None, min_length=1, max_length=L.AGENCY,
                                         description="the agency that directs the lead (optional)")

    @model_serializer(mode="wrap")
    def _unset_later_fields_left_out(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for name, default in _LATER_FIELDS.items():
            if name in data and data[name] == default:
                data.pop(name)
        return data

    @field_validator("deadline")
    @classmethod
    def _deadline_fits_kind(cls, text: str, info: ValidationInfo) -> str:
        if "kind" in info.data:  # else the kind itself was refused
            fault = deadline_fault(kind_of(info.data["kind"], text), due_of(text) is not None)
            if fault is not None:
                raise invalid(fault, kind=kind_of(info.data["kind"], text).value)
        return text

    @field_validator("reporting")
    @classmethod
    def _reporting_fits_kind(cls, reporting: Reporting, info: ValidationInfo) -> Reporting:
        if "kind" not in info.data:
            return reporting
        if (fault := reporting_fault(info.data["kind"], reporting)) is not None:
            raise invalid(fault)
        return reporting_for(info.data["kind"], reporting)

    @model_validator(mode="after")
    def _to_be_set_is_pending(self) -> "TaskSpec":
        self.kind = kind_of(self.kind, self.deadline)
        return self

    @field_validator("coordinating_agencies")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(code.strip() for code in value if code.strip()))


class BudgetLine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item: str = Field(min_length=1, max_length=L.NAME)
    amount_vnd: int = Field(ge=0, le=L.MONEY)


class BudgetStatus(StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"


class BudgetAmendment(BaseModel):
    """The lead's request to change an approved budget, and the finance reviewer's decision on it."""

    at: datetime
    by: str
    amount_vnd: int
    lines: list[BudgetLine]
    reason: str
    status: BudgetStatus = BudgetStatus.SUBMITTED
    decided_by: str | None = None
    decision_reason: str | None = None


class Budget(BaseModel):
    amount_vnd: int  # once approved, the ceiling of disbursement (raised only by an approved amendment)
    source: str
    lines: list[BudgetLine]
    status: BudgetStatus
    reason: str | None = None
    disbursed_vnd: int = 0
    amendments: list[BudgetAmendment] = []  # the last one SUBMITTED: waiting for a decision

    @property
    def pending_amendment(self) -> BudgetAmendment | None:
        last = self.amendments[-1] if self.amendments else None
        return last if last is not None and last.status == BudgetStatus.SUBMITTED else None


class ProgressReport(BaseModel):
    at: datetime
    by: str
    agency: str
    percent: int
    kpi_actuals: dict[str, float]
    note: str
    disbursed_vnd: int | None = None
    contribution: bool = False  # from a coordinating agency, not the lead's own figure


class EvidenceFile(BaseModel):
    sha256: str
    filename: str
    size: int
    content_type: str


class Evidence(BaseModel):
    at: datetime
    by: str
    summary: str
    kpi_results: dict[str, float | str]
    files: list[EvidenceFile]


class Decision(StrEnum):
    """What a cross-check decides."""

    APPROVED = "approved"
    REJECTED = "rejected"


class Outcome(StrEnum):
    """What a completed task achieved, as its cross-check confirmed: every target met and the product
    usable, or completed without meeting them ("hoàn thành, không đạt chỉ tiêu")."""

    MET = "met"
    NOT_MET = "not_met"


class Review(BaseModel):
    at: datetime
    by: str
    decision: Decision
    reason: str | None = None
    findings: list[str] = []
    kpi_results: dict[str, float] = {}  # the figures the reviewer confirmed (corrected or as the evidence said)
    usable: bool | None = None  # the reviewer's judgement of the product (approvals only)
    outcome: Outcome | None = None  # approvals only


class Accountability(BaseModel):
    """Who answered for the task from when: the head accountable, of which agency."""

    username: str
    agency: str
    since: datetime
    by: str  # who named them (the head accepting, or who reassigned)


class ExtensionRequest(BaseModel):
    at: datetime
    by: str
    new_deadline: datetime
    new_deadline_text: str
    reason: str


class LifecycleSettings(BaseModel):
    """Deployment settings a task's workflow needs; carried in its state so a restart keeps them."""

    timezone: TimezoneName = DEFAULT_TIMEZONE
    rework_period: timedelta = timedelta(days=14)
    accept_sla: timedelta = timedelta(days=7)
    budget_sla: timedelta = timedelta(days=14)
    review_sla: timedelta = timedelta(days=10)
    escalation_steps: tuple[timedelta, ...] = (timedelta(0), timedelta(days=7), timedelta(days=14))
    max_extensions: int = 2
    # A task whose deadline is pending: the Standing Office is reminded this long after its creation,
    # and again each such period, until it sets one (domain/escalation.py, `unset`).
    deadline_pending_reminder: timedelta = Field(default=timedelta(days=30), gt=timedelta(0))
    # Early warning: the owner of each deadline is reminded this long before it (NQ57_REMINDERS). A
    # task started before reminders existed has none, so its recorded history replays unchanged.
    reminders: tuple[timedelta, ...] = ()
    # The deadlines of those who hold the task besides the lead (domain/escalation.py, owners): the
    # finance reviewer's budget decision, the Standing Office's reviewer assignment and extension
    # decision. None on a task started before they were kept (its history replays unchanged).
    budget_decision_sla: timedelta | None = None
    review_assign_sla: timedelta | None = None
    extension_decision_sla: timedelta | None = None


class TaskState(BaseModel):
    """The whole state of one task. The workflow owns it; the database holds a copy of it."""

    spec: TaskSpec
    lead_agency: str
    coordinating_agencies: list[str]
    stage: Stage = Stage.ASSIGNED
    deadline: datetime | None  # None while the task has no instant (standing, pending, recurring without one)
    deadline_text: str  # as it was written: `2026-Q2`, `2026-05-01`, "khẩn trương", or empty
    original_deadline: datetime | None
    extensions_granted: int = 0
    overdue: bool = False
    late: bool = False
    escalation_level: int = 0
    officer: str | None = None
    budget: Budget | None = None
    progress: list[ProgressReport] = []
    evidence: list[Evidence] = []
    reviewer: str | None = None
    reviewer_agency: str | None = None
    reviews: list[Review] = []
    rework_deadline: datetime | None = None
    extension_request: ExtensionRequest | None = None
    cancel_reason: str | None = None
    close_reason: str | None = None  # why the Standing Office ended a recurring or standing task
    accountable: list[Accountability] = []  # the head answering for the task, the present one last
    outcome: Outcome | None = None  # once completed: whether the confirmed results met the targets
    usable: bool | None = None  # once completed: the reviewer's judgement of the product
    confirmed_results: dict[str, float] = {}  # once completed: the reviewer's figure for each KPI
    achievement: float | None = None  # once completed: domain/results.py's, 0..1 (None: no KPI)
    reminded: dict[str, int] = {}  # early warning: per deadline (its key), the smallest offset told, in seconds
    created_at: datetime
    updated_at: datetime
    accepted_at: datetime | None = None
    budget_returned_at: datetime | None = None  # the last budget rejection
    budget_submitted_at: datetime | None = None  # the last budget submission: the finance reviewer's time runs
    in_progress_since: datetime | None = None
    last_report_at: datetime | None = None  # the lead agency's latest progress report
    reviewer_assigned_at: datetime | None = None
    reviewer_assigned_by: str | None = None  # never the one who decides the cross-check
    ladders: dict[str, int] = {}  # escalation level reached, per deadline (domain/escalation.py)
    parent: str | None = None  # the task this one was split from (a sub-task), set by that task's workflow
    overseers: list[str] = []  # the agencies leading the tasks above this one, nearest first
    subtasks: list[str] = []  # the sub-tasks split from this one, in order
    closed_subtasks: dict[str, str] = {}  # of those, the ones closed, with the stage each closed in
    seq: int = 0  # number of events recorded so far
    # The version of the lifecycle's rules the task is held to (domain/lifecycle.py, RULES): a task whose
    # history was recorded under older rules replays under them; its workflow's next run moves it on.
    rules: int = 1
    settings: LifecycleSettings = LifecycleSettings()

    @property
    def code(self) -> str:
        return self.spec.code

    @property
    def kind(self) -> TaskKind:
        return self.spec.kind

    @property
    def latest_actuals(self) -> dict[str, float]:
        """The latest figure for each KPI: the lead's own reports, then its evidence's results."""
        found: dict[str, float] = {}
        for report in self.progress:
            if not report.contribution:
                found.update(report.kpi_actuals)
        for evidence in self.evidence:
            found.update({name: float(value) for name, value in evidence.kpi_results.items()
                          if isinstance(value, float | int)})
        return found

    @property
    def delivered_at(self) -> datetime | None:
        """When the lead delivered: the evidence the cross-check approved was submitted (the review's
        own time is the reviewer's, never held against the lead)."""
        return self.evidence[-1].at if self.stage == Stage.COMPLETED and self.evidence else None

    @property
    def accountable_person(self) -> str | None:
        return self.accountable[-1].username if self.accountable else None

    @property
    def open_subtasks(self) -> list[str]:
        return [code for code in self.subtasks if code not in self.closed_subtasks]

    @property
    def percent(self) -> int:
        if self.stage == Stage.COMPLETED:
            return 100
        own = [report.percent for report in self.progress if not report.contribution]
        return own[-1] if own else 0
