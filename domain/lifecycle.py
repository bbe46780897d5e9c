"""The transition table and the rules beyond the role (design.md, the table of actions).

`apply` is pure: given a state, a request and the time, it returns the next state and the event to
record, or raises a TaskRuleError. The workflow calls it to validate and to act; the API calls
`check_stage` to answer 409 before it asks the policy."""

from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel

from domain import commands as c
from domain.actors import Actor
from domain.commands import Action
from domain.deadlines import parse_deadline
from domain.escalation import refresh
from domain.events import SYSTEM_ACTOR, Event, Happening
from domain.refusals import Code, Refusal
from domain.results import shortfalls, task_achievement, unknown_names
from domain.stages import CLOSED_STAGES, OPEN_STAGES, Stage
from domain.task import (
    CLOSABLE_KINDS,
    Accountability,
    Budget,
    BudgetAmendment,
    BudgetStatus,
    Decision,
    Evidence,
    ExtensionRequest,
    Outcome,
    ProgressReport,
    Reporting,
    Review,
    TaskKind,
    TaskSpec,
    TaskState,
    deadline_fault,
    reporting_fault,
    reporting_for,
)

ALL_STAGES = frozenset(Stage)

# The versions of the rules (TaskState.rules). 2, results measured: progress reports and evidence
# name only the task's KPIs, disbursement stays within the approved budget, and a cross-check whose
# confirmed results fall short (or whose product is not usable) completes the task only as not met.
# A task recorded under version 1 is not refused what version 1 accepted when its history replays.
RESULTS_RULES = 2
RULES = RESULTS_RULES  # what a task started (or continued) now is held to

# Where each action may be taken.
ACTION_STAGES: dict[Action, frozenset[Stage]] = {
    Action.ACCEPT: frozenset({Stage.ASSIGNED}),
    Action.BUDGET_SUBMIT: frozenset({Stage.BUDGET_REGISTRATION}),
    Action.BUDGET_APPROVE: frozenset({Stage.BUDGET_REVIEW, Stage.IN_PROGRESS}),  # in execution: an amendment
    Action.BUDGET_REJECT: frozenset({Stage.BUDGET_REVIEW, Stage.IN_PROGRESS}),
    Action.BUDGET_AMEND: frozenset({Stage.IN_PROGRESS}),
    Action.PROGRESS_REPORT: frozenset({Stage.IN_PROGRESS}),
    Action.EXTENSION_REQUEST: frozenset({Stage.BUDGET_REGISTRATION, Stage.IN_PROGRESS}),
    Action.EXTENSION_APPROVE: OPEN_STAGES,
    Action.EXTENSION_REJECT: OPEN_STAGES,
    Action.EVIDENCE_SUBMIT: frozenset({Stage.IN_PROGRESS}),
    Action.REVIEW_ASSIGN: frozenset({Stage.CROSS_CHECK}),
    Action.REVIEW_APPROVE: frozenset({Stage.CROSS_CHECK}),
    Action.REVIEW_REJECT: frozenset({Stage.CROSS_CHECK}),
    Action.REASSIGN: OPEN_STAGES,
    Action.CANCEL: OPEN_STAGES,
    Action.COMMENT: ALL_STAGES,
    Action.CORRECT: OPEN_STAGES,
    Action.SUBTASK_CREATE: frozenset({Stage.IN_PROGRESS}),
    Action.CLOSE: OPEN_STAGES,
}
ACTIONS = tuple(ACTION_STAGES)

# Actions that move a task forward: a task waiting for one of them is in someone's inbox.
FORWARD_ACTIONS = frozenset(ACTIONS) - {Action.COMMENT, Action.CANCEL, Action.REASSIGN, Action.EXTENSION_REQUEST,
                                        Action.PROGRESS_REPORT, Action.CORRECT, Action.SUBTASK_CREATE,
                                        Action.CLOSE, Action.BUDGET_AMEND}


class TaskRuleError(Refusal):
    """An action refused by the lifecycle. `conflict` refusals concern the task's state, the others
    what was asked; the code names the rule (its sentence is in the catalogs, its status in
    api/errors.py), and the task's stage goes with the answer."""

    def __init__(self, code: Code, /, *, conflict: bool, at: Stage, field: str | None = None,
                 **params: Any) -> None:
        super().__init__(code, field=field, extra={"stage": at.value}, **params)
        self.conflict = conflict
        self.stage = at  # the stage the task was in

    def details(self) -> dict[str, Any]:
        """What the workflow's failure carries, for the API to answer with (services/workflows.py)."""
        found: dict[str, Any] = {"stage": self.stage.value, "code": self.code.value, "params": self.params}
        if self.field is not None:
            found["errors"] = [{"field": self.field}]
        return found


AWAITABLE: frozenset[Action] = FORWARD_ACTIONS | {Action.PROGRESS_REPORT}
"""Every action a task may wait for (`awaited_actions` picks those of one task now)."""


def awaited_actions(state: TaskState) -> frozenset[Action]:
    """The forward actions the task waits for now: once a reviewer is assigned it waits for the
    reviewer, no longer for an assignment; a task with a reporting cadence waits for its reports."""
    awaited = FORWARD_ACTIONS - {Action.REVIEW_ASSIGN} if state.reviewer else FORWARD_ACTIONS
    return awaited | {Action.PROGRESS_REPORT} if state.spec.reporting != Reporting.NONE else awaited


def awaiting(state: TaskState) -> list[Action]:
    """The actions the task waits for that its state allows now, whoever may take them: its work items."""
    awaited = awaited_actions(state)
    return [action for action in available_actions(state) if action in awaited]


def check_stage(stage: Stage, action: Action) -> None:
    if stage not in ACTION_STAGES[action]:
        raise TaskRuleError(Code.STAGE_CONFLICT, conflict=True, at=stage, action=str(action), stage=stage.value)


def available_actions(state: TaskState) -> list[Action]:
    """The actions the task's state allows now, whoever asks."""
    return [
        action for action in ACTIONS
        if state.stage in ACTION_STAGES[action] and _state_conflict(state, action) is None
    ]


def _state_conflict(state: TaskState, action: Action) -> tuple[Code, dict[str, Any]] | None:
    """Beyond the stage, what in the task's state forbids the action now: the rule and its words
    (None: nothing). Named, not built: `available_actions` asks it of every action of every task listed."""
    def conflict(code: Code, **params: Any) -> tuple[Code, dict[str, Any]]:
        return code, params

    if action in (Action.EXTENSION_APPROVE, Action.EXTENSION_REJECT) and state.extension_request is None:
        return conflict(Code.NO_EXTENSION_REQUEST)
    if action == Action.EXTENSION_REQUEST and state.extension_request is not None:
        return conflict(Code.EXTENSION_PENDING)
    if action == Action.EXTENSION_REQUEST and state.extensions_granted >= state.settings.max_extensions:
        return conflict(Code.EXTENSIONS_EXHAUSTED, max=state.settings.max_extensions)
    if action == Action.BUDGET_AMEND and (state.budget is None or state.budget.status != BudgetStatus.APPROVED):
        return conflict(Code.NO_APPROVED_BUDGET)
    if action == Action.BUDGET_AMEND and state.budget is not None and state.budget.pending_amendment is not None:
        return conflict(Code.AMENDMENT_PENDING)
    if (action in (Action.BUDGET_APPROVE, Action.BUDGET_REJECT) and state.stage == Stage.IN_PROGRESS
            and (state.budget is None or state.budget.pending_amendment is None)):
        return conflict(Code.NO_AMENDMENT_PENDING)
    if action in (Action.REVIEW_APPROVE, Action.REVIEW_REJECT) and state.reviewer is None:
        return conflict(Code.NO_REVIEWER)
    if action == Action.EVIDENCE_SUBMIT and state.open_subtasks:  # the parent waits for its parts
        return conflict(Code.SUBTASKS_OPEN, subtasks=", ".join(state.open_subtasks))
    if action == Action.REASSIGN and state.open_subtasks:  # its parts stand under the present lead
        return conflict(Code.SUBTASKS_OPEN_REASSIGN, subtasks=", ".join(state.open_subtasks))
    if action == Action.EVIDENCE_SUBMIT and state.kind == TaskKind.STANDING:  # assessed by its reports
        return conflict(Code.STANDING_NEVER_COMPLETED)
    if action == Action.EXTENSION_REQUEST and state.deadline is None:  # the Office sets one: `correct`
        return conflict(Code.NO_DEADLINE_TO_EXTEND)
    if action == Action.CLOSE and state.kind not in CLOSABLE_KINDS:
        return conflict(Code.NOT_CLOSABLE, kind=state.kind.value)
    return None


def _invalid(state: TaskState, field: str, code: Code, **params: Any) -> TaskRuleError:
    return TaskRuleError(code, conflict=False, at=state.stage, field=field, **params)


def apply(state: TaskState, request: c.ActionRequest, now: datetime) -> tuple[TaskState, Event]:
    command = request.command
    action = Action(command.action)
    check_stage(state.stage, action)
    if (conflict := _state_conflict(state, action)) is not None:
        code, params = conflict
        raise TaskRuleError(code, conflict=True, at=state.stage, **params)
    new = state.model_copy(deep=True)
    data = _RULES[type(command)](new, command, request.actor, now)
    if new.stage == Stage.IN_PROGRESS and state.stage != Stage.IN_PROGRESS:
        new.in_progress_since = now
    refresh(new, now)
    new.seq += 1
    new.updated_at = now
    event = Event(seq=new.seq, type=action, actor=request.actor.username, at=now,
                  data=data if data is not None else command.model_dump(mode="json", exclude={"action"}))
    return new, event


def _accept(state: TaskState, cmd: c.Accept, actor: Actor, now: datetime) -> None:
    """The head accepting answers for the task, unless another head of the lead agency is named
    (the API names the agency of the account: services/tasks.py)."""
    if cmd.accountable is not None and cmd.accountable_agency != state.lead_agency:
        raise _invalid(state, "accountable", Code.NOT_AN_AGENCY_HEAD, username=cmd.accountable,
                       agency=state.lead_agency)
    state.officer = cmd.officer
    state.accepted_at = now
    state.accountable.append(Accountability(username=cmd.accountable or actor.username, agency=state.lead_agency,
                                            since=now, by=actor.username))
    state.stage = Stage.BUDGET_REGISTRATION if state.spec.budget_required else Stage.IN_PROGRESS


def _budget_submit(state: TaskState, cmd: c.BudgetSubmit, actor: Actor, now: datetime) -> None:
    state.budget = Budget(amount_vnd=cmd.amount_vnd, source=cmd.source, lines=cmd.lines, status=BudgetStatus.SUBMITTED)
    state.budget_submitted_at = now
    state.stage = Stage.BUDGET_REVIEW


def _budget_approve(state: TaskState, cmd: c.BudgetApprove, actor: Actor, now: datetime) -> dict[str, Any] | None:
    assert state.budget is not None  # budget_review is reached only by budget.submit
    if state.stage == Stage.IN_PROGRESS:
        return _amendment_decided(state, BudgetStatus.APPROVED, cmd.reason, actor)
    state.budget.status, state.budget.reason = BudgetStatus.APPROVED, cmd.reason
    state.stage = Stage.IN_PROGRESS
    return None


def _budget_reject(state: TaskState, cmd: c.BudgetReject, actor: Actor, now: datetime) -> dict[str, Any] | None:
    assert state.budget is not None
    if state.stage == Stage.IN_PROGRESS:
        return _amendment_decided(state, BudgetStatus.REJECTED, cmd.reason, actor)
    state.budget.status, state.budget.reason = BudgetStatus.REJECTED, cmd.reason
    state.budget_returned_at = now  # the lead registers again: its budget time starts again
    state.stage = Stage.BUDGET_REGISTRATION
    return None


def _budget_amend(state: TaskState, cmd: c.BudgetAmend, actor: Actor, now: datetime) -> None:
    assert state.budget is not None  # an approved budget: _state_conflict
    if cmd.amount_vnd < state.budget.disbursed_vnd:
        raise _invalid(state, "amount_vnd", Code.AMENDMENT_BELOW_DISBURSED, amount=f"{cmd.amount_vnd:,}",
                       disbursed=f"{state.budget.disbursed_vnd:,}")
    state.budget.amendments.append(BudgetAmendment(at=now, by=actor.username, amount_vnd=cmd.amount_vnd,
                                                   lines=cmd.lines, reason=cmd.reason))


def _amendment_decided(state: TaskState, decision: BudgetStatus, reason: str | None, actor: Actor) -> dict[str, Any]:
    """A finance reviewer's decision on the amendment asked: approved, it is the new ceiling."""
    assert state.budget is not None and (amendment := state.budget.pending_amendment) is not None
    amendment.status, amendment.decided_by, amendment.decision_reason = decision, actor.username, reason
    old = state.budget.amount_vnd
    if decision == BudgetStatus.APPROVED:
        state.budget.amount_vnd, state.budget.lines = amendment.amount_vnd, amendment.lines
    return {"reason": reason, "amendment": True, "old_amount_vnd": old, "amount_vnd": state.budget.amount_vnd}


def _progress_report(state: TaskState, cmd: c.ProgressReportCommand, actor: Actor, now: datetime) -> None:
    """A dated report: percent, each KPI's actual (the task's KPIs only), and what the lead has
    disbursed so far, never beyond the approved budget (the ceiling an amendment may raise)."""
    if state.rules >= RESULTS_RULES and (unknown := unknown_names(state.spec.kpis, list(cmd.kpi_actuals))):
        raise _invalid(state, "kpi_actuals", Code.KPI_UNKNOWN, names="; ".join(unknown),
                       known="; ".join(kpi.name for kpi in state.spec.kpis) or "—")
    contribution = actor.agency != state.lead_agency
    if cmd.disbursed_vnd is not None and not contribution and state.rules >= RESULTS_RULES:
        approved = state.budget is not None and state.budget.status == BudgetStatus.APPROVED
        ceiling = state.budget.amount_vnd if state.budget is not None and approved else 0
        if cmd.disbursed_vnd > ceiling:
            raise _invalid(state, "disbursed_vnd", Code.DISBURSEMENT_OVER_BUDGET, disbursed=f"{cmd.disbursed_vnd:,}",
                           ceiling=f"{ceiling:,}")
    state.progress.append(ProgressReport(
        at=now, by=actor.username, agency=actor.agency or "", percent=cmd.percent,
        kpi_actuals=cmd.kpi_actuals, note=cmd.note, disbursed_vnd=cmd.disbursed_vnd, contribution=contribution,
    ))
    if not contribution:
        state.last_report_at = now
    if cmd.disbursed_vnd is not None and not contribution and state.budget is not None:
        state.budget.disbursed_vnd = cmd.disbursed_vnd


def _extension_request(state: TaskState, cmd: c.ExtensionRequestCommand, actor: Actor, now: datetime) -> None:
    new_deadline = parse_deadline(cmd.new_deadline, state.settings.timezone)
    if state.deadline is not None and new_deadline <= state.deadline:
        raise _invalid(state, "new_deadline", Code.DEADLINE_NOT_LATER)
    state.extension_request = ExtensionRequest(
        at=now, by=actor.username, new_deadline=new_deadline, new_deadline_text=cmd.new_deadline, reason=cmd.reason
    )


def _extension_approve(state: TaskState, cmd: c.ExtensionApprove, actor: Actor, now: datetime) -> dict[str, Any]:
    assert state.extension_request is not None
    old, new = state.deadline, state.extension_request.new_deadline
    state.deadline = new
    state.deadline_text = state.extension_request.new_deadline_text
    state.extensions_granted += 1
    state.extension_request = None
    return {"reason": cmd.reason, "old_deadline": old.isoformat() if old else None, "new_deadline": new.isoformat()}


def _extension_reject(state: TaskState, cmd: c.ExtensionReject, actor: Actor, now: datetime) -> None:
    state.extension_request = None


def _evidence_submit(state: TaskState, cmd: c.EvidenceSubmit, actor: Actor, now: datetime) -> None:
    missing = [kpi.name for kpi in state.spec.kpis if kpi.name not in cmd.kpi_results]
    if missing:
        raise _invalid(state, "kpi_results", Code.KPI_RESULTS_MISSING, missing="; ".join(missing))
    if state.rules >= RESULTS_RULES and (unknown := unknown_names(state.spec.kpis, list(cmd.kpi_results))):
        raise _invalid(state, "kpi_results", Code.KPI_UNKNOWN, names="; ".join(unknown),
                       known="; ".join(kpi.name for kpi in state.spec.kpis) or "—")
    state.evidence.append(Evidence(at=now, by=actor.username, summary=cmd.summary,
                                   kpi_results=cmd.kpi_results, files=cmd.files))
    state.stage = Stage.CROSS_CHECK
    state.rework_deadline = None
    if state.reviewer is not None:  # reworked evidence back with the same reviewer: their time starts again
        state.reviewer_assigned_at = now


def _review_assign(state: TaskState, cmd: c.ReviewAssign, actor: Actor, now: datetime) -> None:
    if cmd.reviewer == actor.username:  # separation of duties, whatever roles one person holds
        raise _invalid(state, "reviewer", Code.REVIEWER_IS_ASSIGNER)
    # The agencies above a sub-task answer for it as a whole: none of them judges it either.
    involved = [state.lead_agency, *state.coordinating_agencies, *state.overseers]
    if cmd.reviewer_agency is None or cmd.reviewer_agency in involved:
        raise _invalid(state, "reviewer", Code.REVIEWER_NOT_INDEPENDENT)
    state.reviewer, state.reviewer_agency = cmd.reviewer, cmd.reviewer_agency
    state.reviewer_assigned_at, state.reviewer_assigned_by = now, actor.username


def _decider_is_not_assigner(state: TaskState, actor: Actor) -> None:
    """Who assigned the cross-check never decides it, even holding the reviewer role too."""
    if state.reviewer_assigned_by is not None and actor.username == state.reviewer_assigned_by:
        raise TaskRuleError(Code.DECIDER_IS_ASSIGNER, conflict=False, at=state.stage)


def _review_approve(state: TaskState, cmd: c.ReviewApprove, actor: Actor, now: datetime) -> None:
    """The reviewer's figures replace the evidence's; results short of a target, or a product not
    usable, complete the task only as not met, with a reason (domain/results.py). The lead is late
    only if its evidence came after the deadline: the review's own time is the reviewer's."""
    _decider_is_not_assigner(state, actor)
    kpis, given = state.spec.kpis, cmd.kpi_results or {}
    if unknown := unknown_names(kpis, list(given)):
        raise _invalid(state, "kpi_results", Code.KPI_UNKNOWN, names="; ".join(unknown),
                       known="; ".join(kpi.name for kpi in kpis) or "—")
    stated = state.evidence[-1].kpi_results if state.evidence else {}
    confirmed = {name: float(value) for name, value in stated.items()
                 if isinstance(value, float | int) and name in {kpi.name for kpi in kpis}} | given
    short = shortfalls(kpis, confirmed)
    if state.rules >= RESULTS_RULES:
        if not_figures := [kpi.name for kpi in kpis if kpi.name not in confirmed]:
            raise _invalid(state, "kpi_results", Code.KPI_RESULT_NOT_A_FIGURE, names="; ".join(not_figures))
        if cmd.outcome == Outcome.NOT_MET and not cmd.reason:
            raise _invalid(state, "reason", Code.OUTCOME_REASON_REQUIRED)
        if (short or not cmd.usable) and cmd.outcome != Outcome.NOT_MET:
            raise _invalid(state, "outcome", Code.OUTCOME_NOT_MET_REQUIRED,
                           shortfalls="; ".join(short) if short else "sản phẩm không sử dụng được")
    # Under older rules a plain approval stood whatever the figures: the outcome says what they were.
    outcome = cmd.outcome or (Outcome.NOT_MET if short or not cmd.usable else Outcome.MET)
    state.reviews.append(Review(at=now, by=actor.username, decision=Decision.APPROVED, reason=cmd.reason,
                                kpi_results=confirmed, usable=cmd.usable, outcome=outcome))
    state.stage = Stage.COMPLETED
    state.outcome, state.usable, state.confirmed_results = outcome, cmd.usable, confirmed
    state.achievement = task_achievement(kpis, confirmed)
    delivered = state.delivered_at or now
    state.late = state.deadline is not None and delivered > state.deadline


def _review_reject(state: TaskState, cmd: c.ReviewReject, actor: Actor, now: datetime) -> dict[str, Any]:
    _decider_is_not_assigner(state, actor)
    state.reviews.append(Review(at=now, by=actor.username, decision=Decision.REJECTED,
                                reason=cmd.reason, findings=cmd.findings))
    state.stage = Stage.IN_PROGRESS
    state.rework_deadline = now + state.settings.rework_period
    return {"reason": cmd.reason, "findings": cmd.findings, "rework_deadline": state.rework_deadline.isoformat()}


def _reassign(state: TaskState, cmd: c.Reassign, actor: Actor, now: datetime) -> dict[str, Any]:
    """Replace whoever delays: the lead agency (its officer goes with it), the head accountable, or
    both. A new lead agency without a head named answers as an agency until its head is named (or,
    not yet accepted, until it accepts)."""
    if cmd.lead_agency is None and cmd.accountable is None:
        raise _invalid(state, "lead_agency", Code.REASSIGN_NOTHING)
    if cmd.lead_agency == state.lead_agency:
        raise _invalid(state, "lead_agency", Code.SAME_LEAD_AGENCY)
    lead = cmd.lead_agency or state.lead_agency
    if cmd.accountable is not None and cmd.accountable_agency != lead:
        raise _invalid(state, "accountable", Code.NOT_AN_AGENCY_HEAD, username=cmd.accountable, agency=lead)
    previous = state.lead_agency
    if lead != previous:
        if lead == state.reviewer_agency:  # the reviewer would judge their own agency's work
            state.reviewer = state.reviewer_agency = None
        state.lead_agency = lead
        state.coordinating_agencies = [code for code in state.coordinating_agencies if code != lead]
        state.officer = None
    if cmd.accountable is not None or (lead != previous and state.accountable):
        state.accountable.append(Accountability(username=cmd.accountable or "", agency=lead, since=now,
                                                by=actor.username))
    data: dict[str, Any] = {"from": previous, "to": lead, "reason": cmd.reason}
    return data | ({"accountable": cmd.accountable} if cmd.accountable is not None else {})


def _cancel(state: TaskState, cmd: c.Cancel, actor: Actor, now: datetime) -> None:
    state.stage = Stage.CANCELLED
    state.cancel_reason = cmd.reason
    state.extension_request = None


def _close(state: TaskState, cmd: c.Close, actor: Actor, now: datetime) -> None:
    state.stage = Stage.CLOSED
    state.close_reason = cmd.reason
    state.extension_request = None


def _comment(state: TaskState, cmd: c.Comment, actor: Actor, now: datetime) -> None:
    return None


def _correct(state: TaskState, cmd: c.Correct, actor: Actor, now: datetime) -> dict[str, Any]:
    """Each field given and different takes its new value; the event keeps old and new. A deadline
    is corrected only while no extension is pending or granted (that is the extensions' business),
    the KPIs only while no evidence is being judged against them, and the coordinating agencies
    never to include the lead or the assigned reviewer's agency. A deadline set on a task whose
    deadline is pending makes it a one-off unless another kind is given; the kind must fit the
    deadline and the reporting as at assignment (domain/task.py)."""
    spec = state.spec
    given = cmd.corrected()
    if "coordinating_agencies" in given:
        given["coordinating_agencies"] = list(dict.fromkeys(given["coordinating_agencies"]))
    old = {"title": spec.title, "description": spec.description, "product": spec.product, "kpis": spec.kpis,
           "coordinating_agencies": state.coordinating_agencies, "kind": spec.kind, "reporting": spec.reporting,
           "deadline": state.deadline_text}
    changes = {name: {"old": _plain(old[name]), "new": _plain(value)} for name, value in given.items()
               if _plain(value) != _plain(old[name])}
    if not changes:
        raise TaskRuleError(Code.NOTHING_TO_CORRECT, conflict=False, at=state.stage)
    coordinating = given.get("coordinating_agencies", [])
    if state.lead_agency in coordinating:
        raise _invalid(state, "coordinating_agencies", Code.LEAD_ALSO_COORDINATES, agency=state.lead_agency)
    if state.reviewer_agency is not None and state.reviewer_agency in coordinating:
        raise _invalid(state, "coordinating_agencies", Code.REVIEWER_NOT_INDEPENDENT)
    if "deadline" in changes and state.extension_request is not None:
        raise TaskRuleError(Code.EXTENSION_PENDING, conflict=True, at=state.stage)
    if "deadline" in changes and state.extensions_granted:
        raise TaskRuleError(Code.DEADLINE_ALREADY_EXTENDED, conflict=True, at=state.stage,
                            times=state.extensions_granted)
    if "kpis" in changes and state.stage == Stage.CROSS_CHECK:
        raise TaskRuleError(Code.KPIS_UNDER_REVIEW, conflict=True, at=state.stage)
    kind = given.get("kind", spec.kind)
    if "deadline" in changes and "kind" not in given and kind == TaskKind.DEADLINE_PENDING:
        kind = TaskKind.ONE_OFF  # its deadline is set: a one-off from now on
    if (fault := deadline_fault(kind, state.deadline is not None or "deadline" in changes)) is not None:
        raise _invalid(state, "kind" if "kind" in given else "deadline", fault, kind=kind.value)
    reporting = reporting_for(kind, given.get("reporting", spec.reporting))
    if (fault := reporting_fault(kind, reporting)) is not None:
        raise _invalid(state, "reporting" if "reporting" in given else "kind", fault)
    for name, before, after in (("kind", spec.kind, kind), ("reporting", spec.reporting, reporting)):
        if after != before:
            changes[name] = {"old": _plain(before), "new": _plain(after)}
    state.spec = spec.model_copy(update={name: value for name, value in given.items()
                                         if name in ("title", "description", "product", "kpis")}
                                 | ({"kind": kind} if kind != spec.kind else {})
                                 | ({"reporting": reporting} if reporting != spec.reporting else {})
                                 | ({"deadline": given["deadline"]} if "deadline" in changes else {}))
    if "coordinating_agencies" in given:
        state.coordinating_agencies = given["coordinating_agencies"]
    if "deadline" in changes:
        due = parse_deadline(given["deadline"], state.settings.timezone)
        changes["deadline"] |= {"old_due": state.deadline.isoformat() if state.deadline else None,
                                "new_due": due.isoformat()}
        state.deadline = state.original_deadline = due  # a correction of what was assigned, not an extension
        state.deadline_text = given["deadline"]
    return {"reason": cmd.reason, "changes": changes}


def _subtask_create(state: TaskState, cmd: c.SubtaskCreate, actor: Actor, now: datetime) -> dict[str, Any]:
    """A part handed down to a unit under the lead, due no later than the task: the workflow starts
    the sub-task's own workflow (workflows/task_lifecycle.py) with what this records."""
    if cmd.code == state.code or cmd.code in state.subtasks:
        raise TaskRuleError(Code.TASK_EXISTS, conflict=True, at=state.stage, task=cmd.code)
    if state.lead_agency not in cmd.lead_ancestors:
        raise _invalid(state, "lead_agency", Code.SUBTASK_NOT_UNDER_LEAD, agency=cmd.lead_agency,
                       lead=state.lead_agency)
    due = parse_deadline(cmd.deadline, state.settings.timezone)
    if state.deadline is not None and due > state.deadline:
        raise _invalid(state, "deadline", Code.SUBTASK_DEADLINE_AFTER_PARENT, deadline=cmd.deadline,
                       parent_deadline=state.deadline_text)
    state.subtasks.append(cmd.code)
    return {"code": cmd.code, "title": cmd.title, "lead_agency": cmd.lead_agency, "deadline": cmd.deadline,
            "due": due.isoformat()}


def part_spec(state: TaskState, cmd: c.SubtaskCreate) -> TaskSpec:
    """The task a part handed down is: its own spec, under the directive the task comes from."""
    return TaskSpec(code=cmd.code, title=cmd.title, description=cmd.description, lead_agency=cmd.lead_agency,
                    deadline=cmd.deadline, product=cmd.product, kpis=cmd.kpis, source=state.spec.source)


def subtask_closed(state: TaskState, code: str, stage: Stage, now: datetime) -> tuple[TaskState, Event]:
    """The state once a sub-task split from this task has closed, and the event that records it."""
    new = state.model_copy(deep=True)
    new.closed_subtasks[code] = stage.value
    new.seq += 1
    new.updated_at = now
    return new, Event(seq=new.seq, type=Happening.SUBTASK_CLOSED, actor=SYSTEM_ACTOR, at=now,
                      data={"code": code, "stage": stage.value, "open": new.open_subtasks})


def _plain(value: Any) -> Any:
    """A value as the event records it (KPIs as their fields, a kind as its name)."""
    if isinstance(value, Enum):
        return value.value
    return [item.model_dump(mode="json") if isinstance(item, BaseModel) else item for item in value] \
        if isinstance(value, list) else value


# What each action does to a task beyond its stage rule; a dict it returns is its event's data.
_RULES: dict[type[BaseModel], Callable[[TaskState, Any, Actor, datetime], dict[str, Any] | None]] = {
    c.Accept: _accept,
    c.BudgetSubmit: _budget_submit,
    c.BudgetApprove: _budget_approve,
    c.BudgetReject: _budget_reject,
    c.BudgetAmend: _budget_amend,
    c.ProgressReportCommand: _progress_report,
    c.ExtensionRequestCommand: _extension_request,
    c.ExtensionApprove: _extension_approve,
    c.ExtensionReject: _extension_reject,
    c.EvidenceSubmit: _evidence_submit,
    c.ReviewAssign: _review_assign,
    c.ReviewApprove: _review_approve,
    c.ReviewReject: _review_reject,
    c.Reassign: _reassign,
    c.Cancel: _cancel,
    c.Comment: _comment,
    c.Correct: _correct,
    c.SubtaskCreate: _subtask_create,
    c.Close: _close,
}
assert set(ACTION_STAGES) == set(c.COMMAND_MODELS), "every action has a stage rule and a command"
assert set(_RULES) == set(c.COMMAND_MODELS.values()), "every command has its rule"
assert CLOSED_STAGES.isdisjoint(ACTION_STAGES[Action.CANCEL] | ACTION_STAGES[Action.CLOSE])
