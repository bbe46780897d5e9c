"""TaskLifecycleWorkflow on Temporal's time-skipping test server, with the real recording activity
writing to a SQLite file (design.md, "Task lifecycle" and "Architecture").

What is checked: the legal path and its loops, that an illegal action is refused by the update's
validator before it enters history (and leaves no event row), rework after a rejected cross-check,
cancel and reassign, the hash-chained event rows, and overdue at creation. No test skips time:
workflow.now() follows the wall clock, so deadlines here are far in the past or far in the future."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from db import models
from db.session import create_schema, make_engine, make_sessions
from domain import commands as c
from domain import lifecycle as rules
from domain.actors import Actor
from domain.audit import GENESIS, event_hash
from domain.deadlines import due_of, parse_deadline
from domain.lifecycle import ACTION_STAGES, ACTIONS
from domain.stages import CLOSED_STAGES, OPEN_STAGES, Stage
from domain.task import BudgetLine, EvidenceFile, Kpi, Reporting, TaskKind, TaskSpec, TaskState
from settings import Settings
from tests.helpers import TEST_SECRET, close_open_workflows, code_of, send_act, unique_code
from worker import build_worker
from workflows.start import TaskStart
from workflows.task_lifecycle import TaskLifecycleWorkflow, workflow_id

FUTURE = "2099-Q2"
PAST = "2020-03"

OFFICE = Actor(username="office", agency="VPTW", roles=["steering_office"])
COMMITTEE = Actor(username="committee", agency="BCD", roles=["steering_committee"])
HEAD = Actor(username="hni.head", agency="HNI", roles=["agency_head"])
OFFICER = Actor(username="hni.officer", agency="HNI", roles=["agency_officer"])
FINANCE = Actor(username="finance", agency="BTC", roles=["finance_reviewer"])
REVIEWER = Actor(username="dng.reviewer", agency="DNG", roles=["cross_check_reviewer"])

FILE = EvidenceFile(sha256="b" * 64, filename="san-pham.pdf", size=2048, content_type="application/pdf")
KPIS = [Kpi(name="Xã có dịch vụ công", target=100, unit="%")]


@dataclass
class Lifecycle:
    client: Client
    task_queue: str
    sessions: async_sessionmaker[AsyncSession]

    async def start(self, *, deadline: str = FUTURE, budget_required: bool = True,
                    coordinating: list[str] | None = None, kind: TaskKind = TaskKind.ONE_OFF,
                    reporting: Reporting = Reporting.NONE) -> WorkflowHandle[Any, TaskState]:
        spec = TaskSpec(code=unique_code("WF"), title="Nhiệm vụ thử", lead_agency="HNI",
                        coordinating_agencies=["BKHCN"] if coordinating is None else coordinating,
                        kind=kind, deadline=deadline, kpis=KPIS, budget_required=budget_required,
                        reporting=reporting)
        handle = await self.client.start_workflow(
            TaskLifecycleWorkflow.run,
            TaskStart(spec=spec, deadline=due_of(spec.deadline), created_by=OFFICE.username),
            id=workflow_id(spec.code), task_queue=self.task_queue, execution_timeout=timedelta(days=400),
        )
        await handle.execute_update(TaskLifecycleWorkflow.snapshot)  # creation recorded
        return handle

    async def events(self, handle: WorkflowHandle[Any, Any]) -> list[models.Event]:
        async with self.sessions() as session:
            rows = await session.scalars(select(models.Event).where(models.Event.task_code == code_of(handle))
                                         .order_by(models.Event.seq))
            return list(rows)

    async def event_count(self, handle: WorkflowHandle[Any, Any]) -> int:
        async with self.sessions() as session:
            return await session.scalar(select(func.count()).select_from(models.Event)
                                        .where(models.Event.task_code == code_of(handle))) or 0

    async def task_row(self, handle: WorkflowHandle[Any, Any]) -> models.Task:
        async with self.sessions() as session:
            row = await session.get(models.Task, code_of(handle))
            assert row is not None
            return row


@pytest.fixture(scope="module")
async def lifecycle(time_skipping: WorkflowEnvironment,
                    tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Lifecycle]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('wf') / 'wf.db'}")
    await create_schema(engine)
    sessions = make_sessions(engine)
    task_queue = f"lifecycle-{uuid.uuid4().hex[:8]}"
    async with build_worker(time_skipping.client, Settings(task_queue=task_queue, secret_key=TEST_SECRET), sessions):
        yield Lifecycle(time_skipping.client, task_queue, sessions)
        await close_open_workflows(time_skipping)
    await engine.dispose()


async def act(handle: WorkflowHandle[Any, Any], actor: Actor, command: Any, *, update_id: str | None = None
              ) -> TaskState:
    return await send_act(handle, c.ActionRequest(actor=actor, command=command), update_id)


async def refused(handle: WorkflowHandle[Any, Any], actor: Actor, command: Any) -> tuple[ApplicationError, str]:
    """Send an action that must be refused; return the failure and the update id used."""
    update_id = f"refused-{uuid.uuid4().hex}"
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await act(handle, actor, command, update_id=update_id)
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError), cause
    return cause, update_id


def update_ids_in_history(events: list[HistoryEvent]) -> set[str]:
    """Every update id that appears in any update event of the history."""
    ids = set()
    for event in events:
        if event.HasField("workflow_execution_update_accepted_event_attributes"):
            attributes = event.workflow_execution_update_accepted_event_attributes
            ids.add(attributes.protocol_instance_id)
            ids.add(attributes.accepted_request.meta.update_id)
        if event.HasField("workflow_execution_update_rejected_event_attributes"):
            ids.add(event.workflow_execution_update_rejected_event_attributes.protocol_instance_id)
        if event.HasField("workflow_execution_update_admitted_event_attributes"):
            ids.add(event.workflow_execution_update_admitted_event_attributes.request.meta.update_id)
    return ids


async def accepted_updates(handle: WorkflowHandle[Any, Any]) -> int:
    """How many `act` updates the history holds as accepted."""
    history = await handle.fetch_history()
    return sum(1 for event in history.events
               if event.HasField("workflow_execution_update_accepted_event_attributes")
               and event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name == "act")


# Commands, one per action (valid in themselves: only the stage can refuse them).
def budget_submit(amount: int = 900_000_000) -> c.BudgetSubmit:
    return c.BudgetSubmit(amount_vnd=amount, source="Ngân sách trung ương",
                          lines=[BudgetLine(item="Phần mềm", amount_vnd=amount - 100),
                                 BudgetLine(item="Đào tạo", amount_vnd=100)])


def evidence_submit() -> c.EvidenceSubmit:
    return c.EvidenceSubmit(summary="Hệ thống đã vận hành", kpi_results={"Xã có dịch vụ công": 100}, files=[FILE])


SAMPLES: dict[str, tuple[Actor, Any]] = {
    "accept": (HEAD, c.Accept(officer="hni.officer")),
    "budget.submit": (HEAD, budget_submit()),
    "budget.approve": (FINANCE, c.BudgetApprove(reason="Hợp lý")),
    "budget.reject": (FINANCE, c.BudgetReject(reason="Thiếu thuyết minh")),
    "budget.amend": (HEAD, c.BudgetAmend(amount_vnd=200_000_000, reason="Mở rộng phạm vi",
                                         lines=[BudgetLine(item="Phần mềm", amount_vnd=200_000_000)])),
    "progress.report": (OFFICER, c.ProgressReportCommand(percent=60, kpi_actuals={"Xã có dịch vụ công": 60})),
    "extension.request": (HEAD, c.ExtensionRequestCommand(new_deadline="2099-Q4", reason="Chờ hạ tầng")),
    "extension.approve": (OFFICE, c.ExtensionApprove()),
    "extension.reject": (OFFICE, c.ExtensionReject()),
    "evidence.submit": (HEAD, evidence_submit()),
    "review.assign": (OFFICE, c.ReviewAssign(reviewer="dng.reviewer", reviewer_agency="DNG")),
    "review.approve": (REVIEWER, c.ReviewApprove(reason="Dùng được")),
    "review.reject": (REVIEWER, c.ReviewReject(reason="Chưa dùng được", findings=["Cổng lỗi đăng nhập"])),
    "reassign": (COMMITTEE, c.Reassign(lead_agency="HCM", reason="Chậm tiến độ")),
    "cancel": (OFFICE, c.Cancel(reason="Không còn cần thiết")),
    "comment": (OFFICER, c.Comment(text="Ghi chú")),
    "correct": (OFFICE, c.Correct(reason="Ghi nhầm tên", title="Tên đã sửa")),
    "subtask.create": (HEAD, c.SubtaskCreate(code="WF-PART-1", title="Phần việc của phường", lead_agency="HNI-HOANKIEM",
                                             deadline="2099-Q1", lead_ancestors=["HNI"])),
    "close": (OFFICE, c.Close(reason="Không còn cần thiết")),
}

# How to reach each stage from `assigned` (budget required).
PATH_TO: dict[Stage, list[str]] = {
    Stage.ASSIGNED: [],
    Stage.BUDGET_REGISTRATION: ["accept"],
    Stage.BUDGET_REVIEW: ["accept", "budget.submit"],
    Stage.IN_PROGRESS: ["accept", "budget.submit", "budget.approve"],
    Stage.CROSS_CHECK: ["accept", "budget.submit", "budget.approve", "evidence.submit"],
    Stage.COMPLETED: ["accept", "budget.submit", "budget.approve", "evidence.submit", "review.assign",
                      "review.approve"],
    Stage.CANCELLED: ["cancel"],
    Stage.CLOSED: ["close"],  # of a recurring task (`at_stage`): a one-off is never closed
}


def test_path_to_covers_every_stage() -> None:
    assert set(PATH_TO) == set(Stage)
    assert set(SAMPLES) == set(ACTIONS)


async def drive(handle: WorkflowHandle[Any, Any], stage: Stage) -> TaskState:
    state = await handle.query(TaskLifecycleWorkflow.current)
    for action in PATH_TO[stage]:
        actor, command = SAMPLES[action]
        state = await act(handle, actor, command)
    assert state.stage == stage
    return state


# --- the legal path -----------------------------------------------------------------------------

async def test_full_path_from_assigned_to_completed(lifecycle: Lifecycle) -> None:
    handle = await lifecycle.start()
    created = await handle.query(TaskLifecycleWorkflow.current)
    assert created.stage == Stage.ASSIGNED and created.seq == 1 and created.overdue is False

    steps = [
        ("accept", Stage.BUDGET_REGISTRATION),
        ("budget.submit", Stage.BUDGET_REVIEW),
        ("budget.approve", Stage.IN_PROGRESS),
        ("progress.report", Stage.IN_PROGRESS),
        ("evidence.submit", Stage.CROSS_CHECK),
        ("review.assign", Stage.CROSS_CHECK),
        ("review.approve", Stage.COMPLETED),
    ]
    for number, (action, expected) in enumerate(steps, start=2):
        actor, command = SAMPLES[action]
        state = await act(handle, actor, command)
        assert state.stage == expected, action
        assert state.seq == number, action
        assert (await lifecycle.task_row(handle)).stage == expected.value  # the answer already reflects the row

    final = await handle.query(TaskLifecycleWorkflow.current)
    assert final.stage == Stage.COMPLETED and final.late is False
    assert final.officer == "hni.officer"
    assert final.budget is not None and final.budget.status == "approved"
    assert final.reviewer == "dng.reviewer" and final.reviews[-1].decision == "approved"

    rows = await lifecycle.events(handle)
    assert [row.type for row in rows] == ["created", *(action for action, _ in steps)]
    assert [row.actor for row in rows] == ["office", "hni.head", "hni.head", "finance", "hni.officer",
                                           "hni.head", "office", "dng.reviewer"]
    assert await accepted_updates(handle) == len(steps)
    task = await lifecycle.task_row(handle)
    assert task.seq == len(rows) and task.state["stage"] == "completed" and task.late is False


async def test_accept_without_budget_required_goes_straight_to_in_progress(lifecycle: Lifecycle) -> None:
    handle = await lifecycle.start(budget_required=False)
    state = await act(handle, *SAMPLES["accept"])
    assert state.stage == Stage.IN_PROGRESS
    cause, _ = await refused(handle, *SAMPLES["budget.submit"])
    assert cause.type == "StageConflict"


async def test_budget_reject_loops_back_to_registration_and_resubmission_is_approved(lifecycle: Lifecycle) -> None:
    handle = await lifecycle.start()
    await drive(handle, Stage.BUDGET_REVIEW)
    rejected = await act(handle, *SAMPLES["budget.reject"])
    assert rejected.stage == Stage.BUDGET_REGISTRATION
    assert rejected.budget is not None and rejected.budget.status == "rejected"
    assert rejected.budget.reason == "Thiếu thuyết minh"

    resubmitted = await act(handle, HEAD, budget_submit(700_000_000))
    assert resubmitted.stage == Stage.BUDGET_REVIEW
    assert resubmitted.budget is not None and resubmitted.budget.amount_vnd == 700_000_000
    rejected_again = await act(handle, *SAMPLES["budget.reject"])
    assert rejected_again.stage == Stage.BUDGET_REGISTRATION
    await act(handle, *SAMPLES["budget.submit"])
    approved = await act(handle, *SAMPLES["budget.approve"])
    assert approved.stage == Stage.IN_PROGRESS and approved.budget is not None
    assert approved.budget.status == "approved"
    assert [row.type for row in await lifecycle.events(handle)] == [
        "created", "accept", "budget.submit", "budget.reject", "budget.submit", "budget.reject",
        "budget.submit", "budget.approve"]


async def test_late_completion_sets_late(lifecycle: Lifecycle) -> None:
    handle = await lifecycle.start(deadline=PAST)
    final = await drive(handle, Stage.COMPLETED)
    assert final.late is True
    assert (await lifecycle.task_row(handle)).late is True


# --- illegal actions: refused by the validator, never in history, no event row -------------------

ILLEGAL = [pytest.param(action, stage, id=f"{action}@{stage.value}")
           for action in ACTIONS for stage in sorted(set(Stage) - ACTION_STAGES[action])]


@pytest.fixture(scope="module")
async def at_stage(lifecycle: Lifecycle) -> dict[Stage, WorkflowHandle[Any, Any]]:
    """One workflow parked at each stage; refused actions leave them where they are."""
    handles = {}
    for stage in Stage:
        recurring = {"kind": TaskKind.RECURRING, "reporting": Reporting.MONTHLY} if stage == Stage.CLOSED else {}
        handles[stage] = await lifecycle.start(**recurring)
        await drive(handles[stage], stage)
    return handles


def test_illegal_matrix_is_not_empty_and_spares_comment() -> None:
    pairs = {(param.values[0], param.values[1]) for param in ILLEGAL}
    assert ("accept", Stage.IN_PROGRESS) in pairs and ("review.approve", Stage.ASSIGNED) in pairs
    assert not any(action == "comment" for action, _ in pairs)
    assert {("cancel", stage) for stage in CLOSED_STAGES} <= pairs


@pytest.mark.parametrize(("action", "stage"), ILLEGAL)
async def test_illegal_action_is_refused_by_the_validator_before_history(
        lifecycle: Lifecycle, at_stage: dict[Stage, WorkflowHandle[Any, Any]], action: str, stage: Stage) -> None:
    handle = at_stage[stage]
    rows_before = await lifecycle.event_count(handle)
    accepted_before = await accepted_updates(handle)

    cause, update_id = await refused(handle, *SAMPLES[action])

    assert cause.type == "StageConflict"
    assert cause.non_retryable
    assert action in cause.message and stage.value in cause.message
    assert cause.details and cause.details[0]["stage"] == stage.value
    assert cause.details[0]["code"] == "stage_conflict"
    history = await handle.fetch_history()
    assert update_id not in update_ids_in_history(list(history.events))
    assert await accepted_updates(handle) == accepted_before
    assert await lifecycle.event_count(handle) == rows_before
    assert (await handle.query(TaskLifecycleWorkflow.current)).stage == stage


FIELD_OF = {"evidence.submit": "kpi_results", "review.assign": "reviewer", "reassign": "lead_agency",
            "extension.request": "new_deadline"}


@pytest.mark.parametrize(("action", "command", "kind"), [
    ("extension.approve", c.ExtensionApprove(), "StageConflict"),  # no request pending
    ("review.approve", c.ReviewApprove(), "StageConflict"),  # no reviewer assigned yet
    ("evidence.submit", c.EvidenceSubmit(summary="x", kpi_results={}, files=[FILE]), "RuleViolation"),
    ("review.assign", c.ReviewAssign(reviewer="bkhcn.officer", reviewer_agency="BKHCN"), "RuleViolation"),
    ("review.assign", c.ReviewAssign(reviewer="hni.officer", reviewer_agency="HNI"), "RuleViolation"),
    ("reassign", c.Reassign(lead_agency="HNI", reason="r"), "RuleViolation"),
    ("extension.request", c.ExtensionRequestCommand(new_deadline="2099-04", reason="r"), "RuleViolation"),
], ids=["extension.approve-without-request", "review.approve-without-reviewer", "evidence-missing-kpi",
        "reviewer-from-coordinating-agency", "reviewer-from-lead-agency", "reassign-to-same-agency",
        "extension-earlier-than-deadline"])
async def test_rule_beyond_the_stage_is_refused_by_the_validator_before_history(
        lifecycle: Lifecycle, at_stage: dict[Stage, WorkflowHandle[Any, Any]], action: str, command: Any,
        kind: str) -> None:
    stage = Stage.IN_PROGRESS if action in ("evidence.submit", "extension.request", "extension.approve",
                                            "reassign") else Stage.CROSS_CHECK
    assert stage in ACTION_STAGES[action]
    handle = at_stage[stage]
    rows_before = await lifecycle.event_count(handle)
    cause, update_id = await refused(handle, SAMPLES[action][0], command)
    assert cause.type == kind
    assert cause.details and cause.details[0]["stage"] == stage.value
    if kind == "RuleViolation":  # a 422 names the field it concerns
        assert [error["field"] for error in cause.details[0]["errors"]] == [FIELD_OF[action]]
    history = await handle.fetch_history()
    assert update_id not in update_ids_in_history(list(history.events))
    assert await lifecycle.event_count(handle) == rows_before


async def test_only_one_open_extension_request(lifecycle: Lifecycle) -> None:
    handle = await lifecycle.start()
    await drive(handle, Stage.IN_PROGRESS)
    pending = await act(handle, *SAMPLES["extension.request"])
    assert pending.extension_request is not None
    cause, update_id = await refused(handle, HEAD, c.ExtensionRequestCommand(new_deadline="2100-Q1", reason="r"))
    assert cause.type == "StageConflict"
    assert update_id not in update_ids_in_history(list((await handle.fetch_history()).events))
    approved = await act(handle, *SAMPLES["extension.approve"])
    assert approved.deadline == parse_deadline("2099-Q4") and approved.extensions_granted == 1
    assert approved.original_deadline == parse_deadline(FUTURE)
    assert (await lifecycle.task_row(handle)).deadline == parse_deadline("2099-Q4")


async def test_concurrent_conflicting_actions_record_only_one(lifecycle: Lifecycle) -> None:
    """Both may pass the validator against the same state; the handler re-checks under the lock."""
    handle = await lifecycle.start()
    outcomes = await asyncio.gather(act(handle, *SAMPLES["accept"]), act(handle, *SAMPLES["accept"]),
                                    return_exceptions=True)
    successes = [o for o in outcomes if isinstance(o, TaskState)]
    failures = [o for o in outcomes if isinstance(o, WorkflowUpdateFailedError)]
    assert len(successes) == 1 and len(failures) == 1, outcomes
    assert isinstance(failures[0].cause, ApplicationError) and failures[0].cause.type == "StageConflict"
    assert [row.type for row in await lifecycle.events(handle)] == ["created", "accept"]


async def test_an_action_checked_and_taken_in_one_turn_is_decided_once(
        lifecycle: Lifecycle, monkeypatch: pytest.MonkeyPatch) -> None:
    """The handler takes the validator's decision when nothing came between them (the test above: when
    something did, it decides again)."""
    decided: list[str] = []

    def counted(state: TaskState, request: c.ActionRequest, now: datetime) -> tuple[TaskState, Any]:
        decided.append(type(request.command).__name__)
        return real(state, request, now)

    real = rules.apply
    monkeypatch.setattr(rules, "apply", counted)  # before the workflow's module is loaded for the task
    handle = await lifecycle.start()
    accepted = await act(handle, *SAMPLES["accept"])
    assert decided == ["Accept"]
    assert accepted.stage == Stage.BUDGET_REGISTRATION
    assert [row.type for row in await lifecycle.events(handle)] == ["created", "accept"]


# --- rework after a rejected cross-check --------------------------------------------------------

async def test_rejected_cross_check_returns_to_in_progress_with_rework_deadline_and_can_be_resubmitted(
        lifecycle: Lifecycle) -> None:
    handle = await lifecycle.start()
    await drive(handle, Stage.CROSS_CHECK)
    await act(handle, *SAMPLES["review.assign"])
    rejected = await act(handle, *SAMPLES["review.reject"])
    assert rejected.stage == Stage.IN_PROGRESS
    assert rejected.rework_deadline is not None
    assert rejected.rework_deadline == rejected.reviews[-1].at + timedelta(days=14)
    assert rejected.reviews[-1].findings == ["Cổng lỗi đăng nhập"]
    rows = await lifecycle.events(handle)
    assert rows[-1].type == "review.reject"
    assert rows[-1].data["rework_deadline"] == rejected.rework_deadline.isoformat()

    await act(handle, OFFICER, c.ProgressReportCommand(percent=95, note="Đã sửa lỗi đăng nhập"))
    resubmitted = await act(handle, *SAMPLES["evidence.submit"])
    assert resubmitted.stage == Stage.CROSS_CHECK and len(resubmitted.evidence) == 2
    approved = await act(handle, *SAMPLES["review.approve"])
    assert approved.stage == Stage.COMPLETED
    assert [review.decision for review in approved.reviews] == ["rejected", "approved"]


# --- cancel and reassign ------------------------------------------------------------------------

@pytest.mark.parametrize("stage", sorted(OPEN_STAGES))
async def test_cancel_from_an_open_stage_closes_the_task(lifecycle: Lifecycle, stage: Stage) -> None:
    handle = await lifecycle.start()
    await drive(handle, stage)
    cancelled = await act(handle, *SAMPLES["cancel"])
    assert cancelled.stage == Stage.CANCELLED and cancelled.cancel_reason == "Không còn cần thiết"
    row = await lifecycle.task_row(handle)
    assert row.stage == "cancelled"
    cause, _ = await refused(handle, *SAMPLES["cancel"])  # a closed task cannot be cancelled again
    assert cause.type == "StageConflict"
    commented = await act(handle, *SAMPLES["comment"])  # but still takes comments
    assert commented.stage == Stage.CANCELLED
    assert [r.type for r in await lifecycle.events(handle)][-2:] == ["cancel", "comment"]


async def test_reassign_changes_the_lead_agency(lifecycle: Lifecycle) -> None:
    handle = await lifecycle.start(coordinating=["BKHCN", "HCM"])
    await drive(handle, Stage.IN_PROGRESS)
    reassigned = await act(handle, *SAMPLES["reassign"])
    assert reassigned.lead_agency == "HCM"
    assert reassigned.coordinating_agencies == ["BKHCN"]
    assert reassigned.officer is None and reassigned.stage == Stage.IN_PROGRESS
    row = await lifecycle.task_row(handle)
    assert row.lead_agency == "HCM"
    async with lifecycle.sessions() as session:
        relations = dict((await session.execute(
            select(models.TaskAgency.agency, models.TaskAgency.relation)
            .where(models.TaskAgency.task_code == code_of(handle)))).all())
    assert relations == {"HCM": "lead", "BKHCN": "coordinating"}
    last = (await lifecycle.events(handle))[-1]
    assert last.type == "reassign" and last.data["from"] == "HNI" and last.data["to"] == "HCM"


# --- the event rows -----------------------------------------------------------------------------

async def test_event_rows_are_numbered_without_gaps_and_hash_chained(lifecycle: Lifecycle) -> None:
    handle = await lifecycle.start()
    await drive(handle, Stage.IN_PROGRESS)
    await act(handle, *SAMPLES["comment"])
    await refused(handle, *SAMPLES["accept"])  # a refused action leaves no gap
    await act(handle, *SAMPLES["progress.report"])
    await act(handle, *SAMPLES["reassign"])
    rows = await lifecycle.events(handle)
    assert [row.seq for row in rows] == list(range(1, len(rows) + 1)) and len(rows) == 7
    assert rows[0].prev_hash == GENESIS
    for previous, row in zip(rows, rows[1:], strict=False):
        assert row.prev_hash == previous.hash
    for row in rows:
        assert row.hash == event_hash(row.prev_hash, row.task_code, row.seq, row.type, row.actor, row.at, row.data)
    assert len({row.hash for row in rows}) == len(rows)
    assert (await lifecycle.task_row(handle)).seq == len(rows)


async def test_accepted_updates_carry_their_update_id_into_the_event_row(lifecycle: Lifecycle) -> None:
    handle = await lifecycle.start()
    await act(handle, *SAMPLES["accept"], update_id="client-key-123")
    rows = await lifecycle.events(handle)
    assert rows[0].request_id is None  # creation is no update
    assert rows[1].type == "accept" and rows[1].request_id == "client-key-123"
    assert "client-key-123" in update_ids_in_history(list((await handle.fetch_history()).events))


# --- overdue at creation ------------------------------------------------------------------------

async def test_task_created_with_a_past_deadline_is_overdue_at_once(lifecycle: Lifecycle) -> None:
    handle = await lifecycle.start(deadline=PAST)
    state = await handle.query(TaskLifecycleWorkflow.current)
    assert state.overdue is True
    assert state.deadline == parse_deadline(PAST)
    row = await lifecycle.task_row(handle)
    assert row.overdue is True and row.stage == "assigned"
    created = (await lifecycle.events(handle))[0]
    assert created.type == "created" and created.data["deadline"] == PAST


async def test_task_created_with_a_future_deadline_is_not_overdue(lifecycle: Lifecycle) -> None:
    handle = await lifecycle.start(deadline=FUTURE)
    assert (await handle.query(TaskLifecycleWorkflow.current)).overdue is False
    assert (await lifecycle.task_row(handle)).overdue is False


# --- the API's proof: a raw Temporal update cannot go around the policy ---------------------------

NOBODY = Actor(username="nobody", agency="HNI", roles=[])


async def _unproven(handle: WorkflowHandle[Any, Any], request: c.ActionRequest, update_id: str) -> None:
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(TaskLifecycleWorkflow.act, request, id=update_id)
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "Unproven", cause
    history = await handle.fetch_history()
    assert update_id not in update_ids_in_history(list(history.events))


async def test_an_update_without_the_apis_proof_is_refused_before_history(lifecycle: Lifecycle) -> None:
    handle = await lifecycle.start()
    await _unproven(handle, c.ActionRequest(actor=NOBODY, command=c.Accept()), "raw-accept")
    assert (await handle.query(TaskLifecycleWorkflow.current)).stage == Stage.ASSIGNED
    assert await lifecycle.event_count(handle) == 1


async def test_a_proof_does_not_carry_over_to_another_actor_command_task_or_update(lifecycle: Lifecycle) -> None:
    from tests.helpers import proven

    handle, other = await lifecycle.start(), await lifecycle.start()
    signed = proven(c.ActionRequest(actor=HEAD, command=c.Accept()), code_of(handle), "accept-1")
    await _unproven(handle, signed.model_copy(update={"actor": NOBODY}), "accept-1")
    await _unproven(handle, signed.model_copy(update={"command": c.Accept(officer="hni.officer")}), "accept-1")
    await _unproven(handle, signed, "accept-2")
    await _unproven(other, signed, "accept-1")
    accepted = await handle.execute_update(TaskLifecycleWorkflow.act, signed, id="accept-1")
    assert accepted.stage == Stage.BUDGET_REGISTRATION  # the proof holds for exactly what it was made for
