"""What the application layer answers, and the few inputs that are not the domain's command and
spec models: the read models the JSON API and the pages both show."""

from datetime import datetime
from typing import Annotated, Any, Literal, Self, cast

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from db.states import ByState
from domain import limits
from domain.actors import Role
from domain.agency_index import AgencyRow
from domain.comparison import KpiComparison, Spending, Timeliness, compare_kpis, spending, timeliness
from domain.deadlines import is_a_day
from domain.escalation import open_deadlines, owner_of
from domain.stages import CLOSED_STAGES, Stage
from domain.status import StatusClass, StatusTally
from domain.task import (
    Accountability,
    Budget,
    Direction,
    Evidence,
    ExtensionRequest,
    Outcome,
    ProgressReport,
    Review,
    Source,
    TaskKind,
    TaskSpec,
    TaskState,
)
from services.blobs import ALLOWED_TYPES

# unit: a department of a ministry or a province (its `parent`); commune: a province's ward or commune
AGENCY_KINDS = ("ministry", "central", "province", "unit", "commune", "party", "other")


# A new password as typed: never trimmed (login does not trim either). Its rules, the length among
# them, are services/security.py's `require_strong_password`, with their own sentences; the
# document shows the length.
Password = Annotated[str, StringConstraints(strip_whitespace=False, max_length=limits.PASSWORD_LONGEST),
                     Field(json_schema_extra={"minLength": limits.PASSWORD})]


class AgencyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    name: str = Field(min_length=1)
    name_en: str = ""
    kind: str = Field(pattern="^(" + "|".join(AGENCY_KINDS) + ")$")
    parent: str | None = Field(default=None, max_length=32, description="the agency this one is a unit of")

    @field_validator("parent", mode="before")
    @classmethod
    def _no_parent(cls, value: object) -> object:
        return None if value == "" else value  # a form's empty field: a top-level agency


class AgencyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: str
    name: str
    name_en: str
    kind: str
    parent: str | None = None


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    password: Password
    full_name: str = Field(min_length=1)
    agency: str | None = None
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    roles: list[Role] = Field(min_length=1)


class UserOut(BaseModel):
    username: str
    full_name: str
    agency: str | None
    email: str | None = None
    roles: list[str]


class UserDetail(UserOut):
    disabled: bool


class UserPatch(BaseModel):
    """Only the fields given change; `agency` and `email` may be set to null."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    full_name: str | None = Field(default=None, min_length=1)
    agency: str | None = None
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    roles: list[Role] | None = Field(default=None, min_length=1)
    disabled: bool | None = None


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: Password


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    task_code: str
    level: int
    subject: str
    body: str
    created_at: datetime
    read_at: datetime | None


class DeadlineView(BaseModel):
    kind: str
    due: datetime
    level: int
    owner: str = Field(default="lead", description="who holds the task while this deadline runs, and answers "
                       "for its lapse: lead, finance, office or reviewer")


class IndexRow(AgencyRow):
    agency_name: str


class RankingSnapshotOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    period: str
    published_at: datetime
    published_by: str
    rows: list[IndexRow]


class OverdueItem(BaseModel):
    code: str
    title: str
    lead_agency: str
    stage: Stage
    deadline: datetime | None
    days_late: int
    escalation_level: int
    lapsed: list[DeadlineView]


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"


class Progress(BaseModel):
    percent: int
    reports: list[ProgressReport]


class KpiOut(BaseModel):
    """A KPI as answered: every field, the defaults too (a KPI's record leaves them out: domain/task.py)."""

    model_config = ConfigDict(from_attributes=True)
    name: str
    target: float
    unit: str
    baseline: float | None
    direction: Direction


class SubtaskLine(BaseModel):
    """One task in a list of parts: a sub-task of a task, a child of a group directive."""

    code: str
    title: str
    lead_agency: str
    stage: Stage
    percent: int
    deadline_text: str
    overdue: bool

    @classmethod
    def of(cls, state: TaskState) -> "SubtaskLine":
        return cls(code=state.code, title=state.spec.title, lead_agency=state.lead_agency, stage=state.stage,
                   percent=state.percent, deadline_text=state.deadline_text, overdue=state.overdue)


class SubtaskRollup(BaseModel):
    """What a task's sub-tasks add up to, read from their projections (for showing, never as proof)."""

    percent: int = Field(description="the average of the sub-tasks still counted (a cancelled one is not)")
    kpi_actuals: dict[str, float] = Field(description="each sub-task's latest figure, added up per KPI name")
    open: list[str] = Field(description="the sub-tasks not yet closed, as the task's workflow knows them")
    parts: list[SubtaskLine]


class TaskView(BaseModel):
    code: str
    title: str
    description: str
    lead_agency: str
    coordinating_agencies: list[str]
    stage: Stage
    kind: TaskKind
    deadline: datetime | None = Field(description="the instant; null while the task has none (standing, "
                                      "deadline_pending, recurring without a final deadline)")
    deadline_text: str
    original_deadline: datetime | None
    extensions_granted: int
    extension_request: ExtensionRequest | None
    overdue: bool
    late: bool
    escalation_level: int
    product: str
    kpis: list[KpiOut]
    budget_required: bool
    reporting: str
    budget: Budget | None
    progress: Progress
    evidence: list[Evidence]
    reviewer: str | None
    reviews: list[Review]
    rework_deadline: datetime | None
    officer: str | None
    cancel_reason: str | None
    close_reason: str | None = None
    open_deadlines: list[DeadlineView]
    accountable: str | None = Field(default=None, description="the head accountable (a username); empty while "
                                    "a new lead agency has not named one")
    accountable_history: list[Accountability] = Field(default=[], description="who was accountable from when")
    outcome: Outcome | None = Field(default=None, description="once completed: met, or not_met "
                                    "(\"hoàn thành, không đạt chỉ tiêu\")")
    usable: bool | None = Field(default=None, description="once completed: the reviewer's judgement")
    confirmed_results: dict[str, float] = Field(default={}, description="once completed: the reviewer's figure "
                                                "for each KPI")
    achievement: float | None = Field(default=None, description="once completed: 0..1, domain/results.py")
    source: Source | None = Field(default=None, description="the directive the task comes from")
    directing_agency: str | None = None
    parent: str | None = Field(default=None, description="the task this sub-task was split from")
    subtasks: list[str] = Field(default=[], description="the sub-tasks split from this task")
    subtask_rollup: SubtaskRollup | None = Field(default=None, description="what the sub-tasks add up to "
                                                 "(on reading one task)")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, state: TaskState, rollup: SubtaskRollup | None = None, **more: Any) -> Self:
        """The task as answers show it; `more`: the fields a view built on this one adds (InboxItem),
        as valid as the fields they name (they are not checked again)."""
        view = _VIEWS(state)
        if cls is TaskView and rollup is None and not more:
            return cast(Self, view)
        given = {**view.__dict__, "subtask_rollup": rollup, **more}
        if len(given) != len(cls.__pydantic_fields__):  # some left to their default
            return cast(Self, cls.model_construct(**given))
        values = {name: given[name] for name in cls.__pydantic_fields__}  # in their order, as answers show them
        # Every field named: the instance `model_construct` makes, without its walk over each field's
        # aliases and default (12 µs of an inbox item's 20; an inbox holds 200).
        made = cls.__new__(cls)
        for name, value in (("__dict__", values), ("__pydantic_fields_set__", set(values)),
                            ("__pydantic_extra__", None), ("__pydantic_private__", None)):
            object.__setattr__(made, name, value)
        return made

    @staticmethod
    def _built(state: TaskState) -> "TaskView":
        spec = state.spec
        return TaskView(
            code=spec.code, title=spec.title, description=spec.description, lead_agency=state.lead_agency,
            coordinating_agencies=state.coordinating_agencies, stage=state.stage, kind=state.kind,
            deadline=state.deadline, deadline_text=state.deadline_text,
            original_deadline=state.original_deadline, extensions_granted=state.extensions_granted,
            extension_request=state.extension_request, overdue=state.overdue, late=state.late,
            escalation_level=state.escalation_level, product=spec.product,
            kpis=[KpiOut.model_validate(kpi) for kpi in spec.kpis],
            budget_required=spec.budget_required, reporting=spec.reporting.value, budget=state.budget,
            progress=Progress(percent=state.percent, reports=state.progress), evidence=state.evidence,
            reviewer=state.reviewer, reviews=state.reviews, rework_deadline=state.rework_deadline,
            officer=state.officer, cancel_reason=state.cancel_reason, close_reason=state.close_reason,
            open_deadlines=[DeadlineView(kind=d.kind, due=d.due, level=state.ladders.get(d.key, 0),
                                         owner=owner_of(d.kind)) for d in open_deadlines(state)],
            accountable=state.accountable_person, accountable_history=state.accountable, outcome=state.outcome,
            usable=state.usable, confirmed_results=state.confirmed_results, achievement=state.achievement,
            source=spec.source, directing_agency=spec.directing_agency,
            parent=state.parent, subtasks=state.subtasks,
            created_at=state.created_at, updated_at=state.updated_at,
        )


_VIEWS = ByState(TaskView._built)


def answer_text(model: BaseModel) -> bytes:
    """A model's JSON as FastAPI writes a response model's (by alias): an answer made of parts kept."""
    return model.model_dump_json(by_alias=True).encode()


# Each task's JSON as a list answers it, remembered with its state: a list read again writes only the
# tasks that moved.
_VIEW_TEXTS = ByState(lambda state: answer_text(TaskView.of(state)))


class TaskPage(BaseModel):
    items: list[TaskView]
    total: int = Field(description="how many tasks the filters select; with words to find (`q`), counted up "
                       "to SEARCH_COUNTED (services/tasks.py) and no further: then `total_exact` is false")
    total_exact: bool = Field(default=True, description="false when `total` is where counting stopped: "
                              "there are more")

    @staticmethod
    def json_of(states: list[TaskState], total: int, total_exact: bool) -> bytes:
        """The page of these tasks as the model's JSON, each task's text the one remembered with its
        state (`_VIEW_TEXTS`), not written again at every read (50 views: 0.4-0.6 ms of a list's answer).
        The rest of the page is the model's own, written with no items and the items put in their place."""
        empty = answer_text(TaskPage(items=[], total=total, total_exact=total_exact))
        opening = b'{"items":['
        assert empty.startswith(opening + b"]"), empty  # the model names `items` first
        return opening + b",".join(_VIEW_TEXTS(state) for state in states) + empty[len(opening):]


class HistoryEntry(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    seq: int
    type: str
    actor: str
    at: datetime
    data: dict[str, Any]
    hash: str


class Returned(BaseModel):
    """Why work came back to this person: the decision that returned it, its reason and findings."""

    action: str = Field(description="review.reject or budget.reject")
    at: datetime
    by: str
    reason: str | None
    findings: list[str] = []


class InboxItem(TaskView):
    actions: list[str]
    to_do: list[str] = Field(description="the actions the task waits for from this person (a subset of `actions`)")
    notifications: list["NotificationOut"] = []  # unread alerts about this task, newest first
    running: DeadlineView | None = Field(default=None, description="the deadline running for this person now "
                                         "(their own: the review, the rework, the budget decision, acceptance…)")
    returned: Returned | None = Field(default=None, description="when the work came back to this person: why")

    @staticmethod
    def returned_of(state: TaskState) -> Returned | None:
        """The rejection the task is being reworked after, or the budget returned for registering again."""
        if state.stage == Stage.IN_PROGRESS and state.rework_deadline is not None and state.reviews:
            last = state.reviews[-1]
            return Returned(action="review.reject", at=last.at, by=last.by, reason=last.reason, findings=last.findings)
        if state.stage == Stage.BUDGET_REGISTRATION and state.budget is not None and state.budget_returned_at:
            return Returned(action="budget.reject", at=state.budget_returned_at, by="", reason=state.budget.reason)
        return None


class ImportError_(BaseModel):
    row: int
    detail: str


class ImportResult(BaseModel):
    created: list[str]
    skipped: list[str] = Field(description="codes already assigned: a re-import creates no duplicates")
    errors: list[ImportError_]


class Readiness(BaseModel):
    """GET /readyz: each check `ok` or what failed (`lỗi: ...`)."""

    detail: str
    database: str
    temporal: str
    worker: str


class Directive(TaskSpec):
    """A task as the Standing Office assigns it (POST /api/v1/tasks, an import row), whose lead may
    also address several agencies: a group's code (GET /api/v1/agency-groups) or agencies' codes
    separated by `;` ("BTC;BCA;BYT"), one task per member then. Only such a list may be longer than
    one agency's code: a single lead is held to TaskSpec's bounds when its task starts
    (services/tasks.py)."""

    lead_agency: str = Field(min_length=1, max_length=limits.ITEMS * (limits.AGENCY + 1),
                             description="an agency's code, a group's code, or agencies' codes separated by `;`")


AgencyRelation = Literal["any", "lead", "coordinating"]
SORTS = ("code", "title", "lead_agency", "stage", "deadline", "updated")
TaskSort = Literal["code", "title", "lead_agency", "stage", "deadline", "updated",
                   "-code", "-title", "-lead_agency", "-stage", "-deadline", "-updated"]


class TaskFilter(BaseModel):
    """Which tasks a list shows: any of these left empty does not filter."""

    stage: Stage | None = None
    agency: str | None = None
    relation: AgencyRelation = Field(default="any", description="how `agency` stands to the task: `lead`, "
                                     "`coordinating`, or `any` of the two")
    overdue: bool | None = None
    q: str | None = Field(default=None, max_length=200, description="words found in the code, title, product "
                          "or an agency's name, whatever their case or accents")
    document: str | None = Field(default=None, max_length=200, description="the source directive's number")
    sort: TaskSort = Field(default="deadline", description="the column to sort by; `-` before it: descending")
    codes: list[str] = Field(default=[], max_length=limits.ITEMS, description="only these tasks (a selection)")


# The steps a task's page shows, in order; budget review is part of the budget step.
STEPS = (Stage.ASSIGNED, Stage.BUDGET_REGISTRATION, Stage.IN_PROGRESS, Stage.CROSS_CHECK, Stage.COMPLETED)
# A standing task never completes: its steps end in `closed`, as a closed recurring task's do.
CLOSING_STEPS = (Stage.ASSIGNED, Stage.BUDGET_REGISTRATION, Stage.IN_PROGRESS, Stage.CLOSED)
_STEP_OF = {Stage.BUDGET_REVIEW: Stage.BUDGET_REGISTRATION}


class Step(BaseModel):
    stage: Stage
    state: Literal["done", "current", ""]


def stepper(stage: Stage, kind: TaskKind = TaskKind.ONE_OFF) -> list[Step]:
    """Where the task stands on the steps (a cancelled task stands on none)."""
    steps = CLOSING_STEPS if stage == Stage.CLOSED or kind == TaskKind.STANDING else STEPS
    at = _STEP_OF.get(stage, stage)
    reached = steps.index(at) if at in steps else -1
    return [Step(stage=step, state="done" if index < reached else "current" if index == reached else "")
            for index, step in enumerate(steps)]


# A KPI chart's viewBox (api/web/templates/_macros.html, `kpi_chart`): drawn at 100% of its box's width,
# so it fits a 360 px phone as a wide screen; the margin keeps the dots and their strokes inside.
CHART_WIDTH, CHART_HEIGHT, CHART_MARGIN = 320, 120, 12


class ChartDot(BaseModel):
    x: float
    y: float
    value: float


class KpiChart(BaseModel):
    """A KPI's reported figures as a small line chart, with its target (and baseline) as lines across:
    the geometry is worked out here, in a viewBox of `width` × `height`, so the template only draws
    it. The chart's text alternative is the table of the same figures beside it."""

    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    target_y: float
    baseline_y: float | None
    line: str  # the readings as an SVG polyline's points, "x,y x,y …"
    dots: list[ChartDot]  # the readings, in order
    result: ChartDot | None  # the confirmed result, after the readings

    @classmethod
    def of(cls, compared: KpiComparison) -> "KpiChart":
        kpi, values = compared.kpi, [reading.value for reading in compared.readings]
        ends = [*values, *([compared.result] if compared.result is not None else [])]
        scale = [*ends, kpi.target, *([kpi.baseline] if kpi.baseline is not None else [])]
        low, high = min(scale), max(scale)
        if high == low:
            low, high = low - 1, high + 1
        inner_w, inner_h = CHART_WIDTH - 2 * CHART_MARGIN, CHART_HEIGHT - 2 * CHART_MARGIN

        def y(value: float) -> float:
            return round(CHART_MARGIN + (high - value) / (high - low) * inner_h, 1)

        def x(index: int) -> float:
            step = inner_w / (len(ends) - 1) if len(ends) > 1 else 0
            return round(CHART_MARGIN + index * step if len(ends) > 1 else CHART_WIDTH / 2, 1)

        dots = [ChartDot(x=x(i), y=y(value), value=value) for i, value in enumerate(ends)]
        readings = dots[:len(values)]
        return cls(target_y=y(kpi.target), baseline_y=y(kpi.baseline) if kpi.baseline is not None else None,
                   line=" ".join(f"{dot.x},{dot.y}" for dot in readings), dots=readings,
                   result=dots[-1] if compared.result is not None else None)


class KpiCompared(KpiComparison):
    """A KPI side by side with its figures (domain/comparison.py), and their chart (None: no figure yet)."""

    chart: KpiChart | None


class UploadRules(BaseModel):
    """What an evidence upload takes, said next to the file input before anyone picks a file: the
    types services/blobs.py stores (a phone's HEIC photos among them) and the size of one file."""

    extensions: list[str]
    accept: str  # the file input's `accept`: the extensions and their media types
    max_mb: int | None  # None: not told (the page then says only the types)

    @classmethod
    def of(cls, max_mb: int | None) -> "UploadRules":
        return cls(extensions=sorted(ALLOWED_TYPES), max_mb=max_mb,
                   accept=",".join([*sorted(ALLOWED_TYPES), *sorted(set(ALLOWED_TYPES.values()))]))


class TaskDetail(BaseModel):
    """A task's page: the task, its history, and what the reader may do now; and what it compares —
    each KPI's target with its figures over time and its result, the budget with its disbursement, a
    completed task's delivery with its deadline (domain/comparison.py)."""

    task: TaskView
    history: list[HistoryEntry]
    actions: list[str]
    reviewers: list[str]
    stepper: list[Step]
    open: bool
    deadline_as_written: str | None  # the deadline as assigned ("2026-Q2"), when it is not a plain date
    units: list[AgencyOut] = []  # where the reader may hand parts down to, when they may
    compared: list[KpiCompared] = []
    spending: Spending | None = None  # once a budget is approved
    timeliness: Timeliness | None = None  # once completed, with a deadline
    upload: UploadRules = UploadRules.of(None)

    @classmethod
    def of(cls, state: TaskState, history: list[HistoryEntry], actions: list[str], reviewers: list[str],
           rollup: SubtaskRollup | None = None, units: list[AgencyOut] | None = None,
           max_upload_mb: int | None = None) -> "TaskDetail":
        compared = [KpiCompared(**dict(c), chart=KpiChart.of(c) if c.readings or c.result is not None else None)
                    for c in compare_kpis(state)]
        return cls(task=TaskView.of(state, rollup), history=history, units=units or [], actions=actions,
                   reviewers=reviewers,
                   stepper=stepper(state.stage, state.kind), open=state.stage not in CLOSED_STAGES,
                   deadline_as_written=None if is_a_day(state.deadline_text) else state.deadline_text,
                   compared=compared, spending=spending(state), timeliness=timeliness(state),
                   upload=UploadRules.of(max_upload_mb))


class PublicTask(BaseModel):
    """What the public sees of a task ("ba công khai"): progress, responsibility and results. Only
    these fields leave the building: no files, comments, budget lines, findings, user names or reviewers."""

    code: str
    title: str
    lead_agency: str
    coordinating_agencies: list[str]
    stage: Stage
    kind: TaskKind = TaskKind.ONE_OFF
    deadline: datetime | None = Field(description="null while the task has none")
    overdue: bool
    completed: bool
    late: bool
    percent: int
    outcome: Outcome | None = Field(default=None, description="once completed: met, or not_met (completed "
                                    "without meeting its targets)")
    usable: bool | None = Field(default=None, description="once completed: whether the cross-check found the "
                                "product usable")
    achievement: float | None = Field(default=None, description="once completed: 0..1")

    @classmethod
    def of(cls, state: TaskState) -> "PublicTask":
        return cls(code=state.code, title=state.spec.title, lead_agency=state.lead_agency,
                   coordinating_agencies=state.coordinating_agencies, stage=state.stage, kind=state.kind,
                   deadline=state.deadline, overdue=state.overdue, completed=state.stage == Stage.COMPLETED,
                   late=state.late, percent=state.percent, outcome=state.outcome, usable=state.usable,
                   achievement=state.achievement)


class PublicTaskPage(BaseModel):
    items: list[PublicTask]
    total: int


class PublishedPeriod(BaseModel):
    period: str
    published_at: datetime


class PublicRanking(BaseModel):
    period: str
    published_at: datetime
    rows: list[IndexRow]


class Dashboard(BaseModel):
    """The Committee's and the Office's overview: tasks per stage, overdue tasks per lead agency and
    escalation level, the agency index of a period, and the period's status classes (with the tasks
    of the class `status_shown`, the drill-down of its count)."""

    by_stage: dict[Stage, int]
    by_status: StatusTally
    status_shown: StatusClass | None
    stage_top: int  # the most tasks any one stage has (the scale of the bars)
    overdue: dict[str, dict[int, int]]
    overdue_top: int  # the most overdue tasks any one agency has (the scale of the bars)
    index: list[IndexRow]
    period: str
    can_publish: bool  # the person may publish, and the period has something due to publish
    headline: "Headline"


class Headline(BaseModel):
    """The figures a dashboard opens with, for its period."""

    tasks: int = Field(description="tasks counted in the period (not cancelled)")
    on_time: int = Field(description="completed on time")
    overdue: int
    approved_vnd: int = Field(description="budgets approved for the period's tasks")
    disbursed_vnd: int


class AgencyGroupOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: str
    name: str
    members: list[str]


class GroupView(BaseModel):
    """A directive assigned to a group of agencies, or to agencies listed by code: one task per
    member (`children`), and what they add up to — the members' average progress, how many stand at
    each stage, how many are overdue."""

    code: str
    title: str
    lead_agency: str = Field(description="the group's code, or the listed agencies' codes separated by `;`")
    group_name: str = Field(description="the group's name, or the listed agencies' names separated by commas")
    deadline_text: str
    source: Source | None = None
    children: list[str]
    progress: int = Field(description="the children's average percent")
    stages: dict[Stage, int]
    overdue: int = Field(description="how many children are overdue")
    completed: bool = Field(description="every child is closed (completed or cancelled)")


class GroupDetail(BaseModel):
    """A group directive's page: its item, and one line per child (each a task with its own page)."""

    group: GroupView
    children: list[SubtaskLine]


class GroupedTaskPage(TaskPage):
    """GET /api/v1/tasks?groups=1: the children of group directives folded into their group's item."""

    groups: list[GroupView] = Field(description="the group directives any of whose children the filters "
                                     "select (those children are not in `items`); empty for a reader who does "
                                     "not read every task. Listed before `items`: `limit` and `offset` page "
                                     "over both, and `total` counts both")
