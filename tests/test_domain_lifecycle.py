"""The lifecycle rules, pure (domain/lifecycle.py against design.md, "Task lifecycle" table):
each rule of the table, conflict (409) versus invalid (422) refusals, and available_actions."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from domain import commands as c
from domain.actors import Actor
from domain.deadlines import parse_deadline
from domain.lifecycle import (
    ACTION_STAGES,
    ACTIONS,
    FORWARD_ACTIONS,
    RULES,
    TaskRuleError,
    apply,
    available_actions,
    check_stage,
    subtask_closed,
)
from domain.refusals import Code
from domain.stages import CLOSED_STAGES, OPEN_STAGES, Stage
from domain.task import (
    Budget,
    BudgetAmendment,
    BudgetLine,
    Evidence,
    EvidenceFile,
    ExtensionRequest,
    Kpi,
    TaskSpec,
    TaskState,
)
from messages import say

CREATED = datetime(2026, 1, 31, 2, 0, tzinfo=UTC)  # a day before NOW: no SLA has lapsed
NOW = datetime(2026, 2, 1, 3, 0, tzinfo=UTC)
DEADLINE_TEXT = "2026-Q2"
DEADLINE = parse_deadline(DEADLINE_TEXT)

HEAD = Actor(username="hni.head", agency="HNI", roles=["agency_head"])
OFFICER = Actor(username="hni.officer", agency="HNI", roles=["agency_officer"])
COORD_OFFICER = Actor(username="bkhcn.officer", agency="BKHCN", roles=["agency_officer"])
FINANCE = Actor(username="finance", agency="BTC", roles=["finance_reviewer"])
OFFICE = Actor(username="office", agency="VPTW", roles=["steering_office"])
COMMITTEE = Actor(username="committee", agency="BCD", roles=["steering_committee"])
REVIEWER = Actor(username="dng.reviewer", agency="DNG", roles=["cross_check_reviewer"])

FILE = EvidenceFile(sha256="a" * 64, filename="bao-cao.pdf", size=1024, content_type="application/pdf")
KPIS = [Kpi(name="Xã có dịch vụ công", target=100, unit="%"), Kpi(name="Hồ sơ số hóa", target=5000)]


def spec(**overrides: Any) -> TaskSpec:
    fields: dict[str, Any] = dict(
        code="NV-001", title="Nhiệm vụ thử", lead_agency="HNI", coordinating_agencies=["BKHCN"],
        deadline=DEADLINE_TEXT, kpis=KPIS, budget_required=True,
    )
    fields.update(overrides)
    return TaskSpec(**fields)


def state(stage: Stage = Stage.ASSIGNED, *, task_spec: TaskSpec | None = None, **overrides: Any) -> TaskState:
    task_spec = task_spec or spec()
    fields: dict[str, Any] = dict(
        spec=task_spec, lead_agency=task_spec.lead_agency, coordinating_agencies=task_spec.coordinating_agencies,
        stage=stage, deadline=DEADLINE, deadline_text=DEADLINE_TEXT, original_deadline=DEADLINE,
        created_at=CREATED, updated_at=CREATED, seq=1, rules=RULES,
    )
    if stage in (Stage.BUDGET_REVIEW, Stage.IN_PROGRESS, Stage.CROSS_CHECK, Stage.COMPLETED):
        fields["budget"] = Budget(amount_vnd=100, source="NSNN", lines=[BudgetLine(item="x", amount_vnd=100)],
                                  status="submitted" if stage == Stage.BUDGET_REVIEW else "approved")
    if stage in (Stage.CROSS_CHECK, Stage.COMPLETED):  # the evidence that brought it there, on time
        fields["evidence"] = [delivered(CREATED)]
    fields.update(overrides)
    return TaskState(**fields)


def request(actor: Actor, command: Any) -> c.ActionRequest:
    return c.ActionRequest(actor=actor, command=command)


def budget_submit(amount: int = 300_000_000) -> c.BudgetSubmit:
    return c.BudgetSubmit(amount_vnd=amount, source="Ngân sách trung ương", lines=[
        BudgetLine(item="Phần mềm", amount_vnd=amount - amount // 3),
        BudgetLine(item="Đào tạo", amount_vnd=amount // 3),
    ])


def delivered(at: datetime, kpi_results: dict[str, float | str] | None = None) -> Evidence:
    """Evidence as the task records it, submitted at `at`, meeting every target unless told otherwise."""
    return Evidence(at=at, by="hni.head", summary="Đã vận hành", files=[FILE],
                    kpi_results={"Xã có dịch vụ công": 100, "Hồ sơ số hóa": 5200} if kpi_results is None
                    else kpi_results)


def evidence(kpi_results: dict[str, float | str] | None = None) -> c.EvidenceSubmit:
    results = {"Xã có dịch vụ công": 100, "Hồ sơ số hóa": 5200} if kpi_results is None else kpi_results
    return c.EvidenceSubmit(summary="Đã vận hành", kpi_results=results, files=[FILE])


# One valid command for every action, with who would send it.
SAMPLES: dict[str, tuple[Actor, Any]] = {
    "accept": (HEAD, c.Accept(officer="hni.officer")),
    "budget.submit": (HEAD, budget_submit()),
    "budget.approve": (FINANCE, c.BudgetApprove()),
    "budget.reject": (FINANCE, c.BudgetReject(reason="Thiếu thuyết minh")),
    "budget.amend": (HEAD, c.BudgetAmend(amount_vnd=150, reason="Mở rộng phạm vi",
                                         lines=[BudgetLine(item="x", amount_vnd=150)])),
    "progress.report": (OFFICER, c.ProgressReportCommand(percent=40, kpi_actuals={"Hồ sơ số hóa": 2000})),
    "extension.request": (HEAD, c.ExtensionRequestCommand(new_deadline="2026-Q3", reason="Chờ hạ tầng")),
    "extension.approve": (OFFICE, c.ExtensionApprove()),
    "extension.reject": (OFFICE, c.ExtensionReject()),
    "evidence.submit": (HEAD, evidence()),
    "review.assign": (OFFICE, c.ReviewAssign(reviewer="dng.reviewer", reviewer_agency="DNG")),
    "review.approve": (REVIEWER, c.ReviewApprove()),
    "review.reject": (REVIEWER, c.ReviewReject(reason="Chưa dùng được", findings=["Cổng lỗi đăng nhập"])),
    "reassign": (COMMITTEE, c.Reassign(lead_agency="HCM", reason="Chậm tiến độ")),
    "cancel": (OFFICE, c.Cancel(reason="Không còn cần thiết")),
    "comment": (OFFICER, c.Comment(text="Đang làm")),
    "correct": (OFFICE, c.Correct(reason="Văn bản ghi nhầm tên", title="Tên nhiệm vụ đã sửa")),
    "subtask.create": (HEAD, c.SubtaskCreate(code="T-1-HOANKIEM", title="Phần việc của phường",
                                             lead_agency="HNI-HOANKIEM", deadline="2026-05", lead_ancestors=["HNI"])),
    "close": (OFFICE, c.Close(reason="Không còn cần thiết")),
}


def test_samples_cover_every_action() -> None:
    assert set(SAMPLES) == set(ACTIONS) == set(c.COMMAND_MODELS)


def ready_state(action: str, stage: Stage) -> TaskState:
    """A state at `stage` where nothing but the stage could forbid `action`."""
    extra: dict[str, Any] = {}
    if action in ("extension.approve", "extension.reject"):
        extra["extension_request"] = ExtensionRequest(at=CREATED, by="hni.head", new_deadline=parse_deadline("2026-Q3"),
                                                      new_deadline_text="2026-Q3", reason="r")
    if action in ("review.approve", "review.reject"):
        extra["reviewer"], extra["reviewer_agency"] = "dng.reviewer", "DNG"
    if action in ("budget.approve", "budget.reject") and stage == Stage.IN_PROGRESS:  # deciding an amendment
        amendment = BudgetAmendment(at=CREATED, by="hni.head", amount_vnd=150, reason="r",
                                    lines=[BudgetLine(item="x", amount_vnd=150)])
        extra["budget"] = Budget(amount_vnd=100, source="NSNN", lines=[BudgetLine(item="x", amount_vnd=100)],
                                 status="approved", amendments=[amendment])
    if action == "close":  # only a recurring or standing task is closed
        extra |= {"task_spec": spec(kind="standing", deadline=""), "deadline": None, "original_deadline": None,
                  "deadline_text": ""}
    return state(stage, **extra)


# --- the stage table ----------------------------------------------------------------------------

LEGAL = [(action, stage) for action in ACTIONS for stage in sorted(ACTION_STAGES[action])]
ILLEGAL = [(action, stage) for action in ACTIONS for stage in sorted(set(Stage) - ACTION_STAGES[action])]


@pytest.mark.parametrize(("action", "stage"), LEGAL)
def test_action_is_accepted_at_every_stage_the_table_allows(action: str, stage: Stage) -> None:
    actor, command = SAMPLES[action]
    before = ready_state(action, stage)
    after, event = apply(before, request(actor, command), NOW)
    assert event.type == action
    assert event.seq == before.seq + 1 == after.seq
    assert event.actor == actor.username
    assert event.at == NOW == after.updated_at


@pytest.mark.parametrize(("action", "stage"), ILLEGAL)
def test_action_at_a_stage_the_table_forbids_is_a_conflict(action: str, stage: Stage) -> None:
    actor, command = SAMPLES[action]
    before = ready_state(action, stage)
    snapshot = before.model_dump()
    with pytest.raises(TaskRuleError) as caught:
        apply(before, request(actor, command), NOW)
    assert caught.value.conflict is True
    assert caught.value.stage == stage
    assert action in str(caught.value) and stage.value in str(caught.value)
    assert before.model_dump() == snapshot  # apply never mutates its input


def test_design_table_stages() -> None:
    """The stage column of design.md's table, written out once more by hand."""
    assert ACTION_STAGES["accept"] == {Stage.ASSIGNED}
    assert ACTION_STAGES["budget.submit"] == {Stage.BUDGET_REGISTRATION}
    assert ACTION_STAGES["budget.approve"] == ACTION_STAGES["budget.reject"] == {Stage.BUDGET_REVIEW,
                                                                                 Stage.IN_PROGRESS}
    assert ACTION_STAGES["budget.amend"] == {Stage.IN_PROGRESS}
    assert ACTION_STAGES["progress.report"] == {Stage.IN_PROGRESS}
    assert ACTION_STAGES["extension.request"] == {Stage.BUDGET_REGISTRATION, Stage.IN_PROGRESS}
    assert ACTION_STAGES["evidence.submit"] == {Stage.IN_PROGRESS}
    for action in ("review.assign", "review.approve", "review.reject"):
        assert ACTION_STAGES[action] == {Stage.CROSS_CHECK}
    assert ACTION_STAGES["reassign"] == ACTION_STAGES["cancel"] == OPEN_STAGES
    assert ACTION_STAGES["comment"] == set(Stage)
    assert ACTION_STAGES["close"] == OPEN_STAGES
    assert CLOSED_STAGES == {Stage.COMPLETED, Stage.CANCELLED, Stage.CLOSED}


def test_check_stage_names_the_stage_in_vietnamese() -> None:
    with pytest.raises(TaskRuleError) as caught:
        check_stage(Stage.COMPLETED, "cancel")
    assert caught.value.code == Code.STAGE_CONFLICT
    assert "Hoàn thành" in say(caught.value.code, caught.value.params)
    assert caught.value.conflict
    check_stage(Stage.IN_PROGRESS, "cancel")  # no error


# --- accept -------------------------------------------------------------------------------------

def test_accept_with_budget_required_goes_to_budget_registration_and_names_the_officer() -> None:
    after, event = apply(state(), request(HEAD, c.Accept(officer="hni.officer")), NOW)
    assert after.stage == Stage.BUDGET_REGISTRATION
    assert after.officer == "hni.officer"
    assert event.data == {"officer": "hni.officer"}


def test_accept_without_budget_required_goes_straight_to_in_progress() -> None:
    before = state(task_spec=spec(budget_required=False))
    after, _ = apply(before, request(HEAD, c.Accept()), NOW)
    assert after.stage == Stage.IN_PROGRESS
    assert after.budget is None
    assert "budget.submit" not in available_actions(after)


# --- budget -------------------------------------------------------------------------------------

def test_budget_lines_must_add_up_to_the_amount() -> None:
    with pytest.raises(ValidationError, match=Code.LINES_TOTAL_MISMATCH):
        c.BudgetSubmit(amount_vnd=100, source="NSNN", lines=[BudgetLine(item="a", amount_vnd=60),
                                                             BudgetLine(item="b", amount_vnd=30)])


def test_budget_amount_must_not_be_negative_and_source_named() -> None:
    with pytest.raises(ValidationError):
        c.BudgetSubmit(amount_vnd=-1, source="NSNN", lines=[BudgetLine(item="a", amount_vnd=0)])
    with pytest.raises(ValidationError):
        c.BudgetSubmit(amount_vnd=0, source="  ", lines=[BudgetLine(item="a", amount_vnd=0)])
    with pytest.raises(ValidationError):
        c.BudgetSubmit(amount_vnd=0, source="NSNN", lines=[])


def test_budget_that_adds_up_is_submitted_for_review() -> None:
    after, event = apply(state(Stage.BUDGET_REGISTRATION), request(HEAD, budget_submit(300)), NOW)
    assert after.stage == Stage.BUDGET_REVIEW
    assert after.budget is not None and after.budget.status == "submitted" and after.budget.amount_vnd == 300
    assert event.data["amount_vnd"] == 300


def test_budget_approve_moves_to_in_progress() -> None:
    after, _ = apply(state(Stage.BUDGET_REVIEW), request(FINANCE, c.BudgetApprove(reason="Hợp lý")), NOW)
    assert after.stage == Stage.IN_PROGRESS
    assert after.budget is not None and after.budget.status == "approved" and after.budget.reason == "Hợp lý"


def test_budget_reject_needs_a_reason_and_returns_to_registration() -> None:
    with pytest.raises(ValidationError):
        c.BudgetReject(reason="")
    after, _ = apply(state(Stage.BUDGET_REVIEW), request(FINANCE, c.BudgetReject(reason="Thiếu")), NOW)
    assert after.stage == Stage.BUDGET_REGISTRATION
    assert after.budget is not None and after.budget.status == "rejected" and after.budget.reason == "Thiếu"
    again, _ = apply(after, request(HEAD, budget_submit(500)), NOW)
    assert again.stage == Stage.BUDGET_REVIEW and again.budget is not None and again.budget.amount_vnd == 500


# --- progress -----------------------------------------------------------------------------------

def test_progress_percent_must_be_0_to_100() -> None:
    for bad in (-1, 101):
        with pytest.raises(ValidationError):
            c.ProgressReportCommand(percent=bad)
    c.ProgressReportCommand(percent=0)
    c.ProgressReportCommand(percent=100)


def test_progress_from_lead_sets_percent_and_disbursed_coordinating_only_contributes() -> None:
    before = state(Stage.IN_PROGRESS)
    after, _ = apply(before, request(OFFICER, c.ProgressReportCommand(percent=40, disbursed_vnd=50)), NOW)
    assert after.percent == 40
    assert after.budget is not None and after.budget.disbursed_vnd == 50
    after, _ = apply(after, request(COORD_OFFICER, c.ProgressReportCommand(percent=90, disbursed_vnd=99)), NOW)
    assert after.progress[-1].contribution is True
    assert after.percent == 40  # a contribution is not the lead's figure
    assert after.budget is not None and after.budget.disbursed_vnd == 50


# --- extension ----------------------------------------------------------------------------------

def test_extension_must_be_later_than_the_current_deadline() -> None:
    for earlier_or_same in ("2026-05-31", "2026-Q2", "2026-06-30"):
        with pytest.raises(TaskRuleError) as caught:
            apply(state(Stage.IN_PROGRESS),
                  request(HEAD, c.ExtensionRequestCommand(new_deadline=earlier_or_same, reason="r")), NOW)
        assert caught.value.code == Code.DEADLINE_NOT_LATER
        assert caught.value.conflict is False


def test_extension_request_with_unparseable_deadline_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match=Code.DEADLINE_INVALID):
        c.ExtensionRequestCommand(new_deadline="soon", reason="r")


def test_only_one_open_extension_request() -> None:
    first, _ = apply(state(Stage.IN_PROGRESS),
                     request(HEAD, c.ExtensionRequestCommand(new_deadline="2026-Q3", reason="r")), NOW)
    assert first.extension_request is not None
    assert first.extension_request.new_deadline == parse_deadline("2026-Q3")
    assert "extension.request" not in available_actions(first)
    with pytest.raises(TaskRuleError) as caught:
        apply(first, request(HEAD, c.ExtensionRequestCommand(new_deadline="2026-Q4", reason="r")), NOW)
    assert caught.value.code == Code.EXTENSION_PENDING
    assert caught.value.conflict is True


def test_extension_approve_moves_the_deadline_and_clears_overdue_and_escalation() -> None:
    pending, _ = apply(state(Stage.IN_PROGRESS, overdue=True, escalation_level=2),
                       request(HEAD, c.ExtensionRequestCommand(new_deadline="2026-Q3", reason="r")), NOW)
    after, event = apply(pending, request(OFFICE, c.ExtensionApprove()), NOW)
    assert after.deadline == parse_deadline("2026-Q3") and after.deadline_text == "2026-Q3"
    assert after.original_deadline == DEADLINE
    assert after.extension_request is None and after.extensions_granted == 1
    assert after.overdue is False and after.escalation_level == 0
    assert event.data["new_deadline"] == parse_deadline("2026-Q3").isoformat()


def test_extension_reject_keeps_the_deadline_and_allows_a_new_request() -> None:
    pending, _ = apply(state(Stage.IN_PROGRESS),
                       request(HEAD, c.ExtensionRequestCommand(new_deadline="2026-Q3", reason="r")), NOW)
    after, _ = apply(pending, request(OFFICE, c.ExtensionReject(reason="Không")), NOW)
    assert after.deadline == DEADLINE and after.extension_request is None and after.extensions_granted == 0
    assert "extension.request" in available_actions(after)


@pytest.mark.parametrize("action", ["extension.approve", "extension.reject"])
def test_extension_decision_without_a_request_is_a_conflict(action: str) -> None:
    actor, command = SAMPLES[action]
    with pytest.raises(TaskRuleError) as caught:
        apply(state(Stage.IN_PROGRESS), request(actor, command), NOW)
    assert caught.value.code == Code.NO_EXTENSION_REQUEST
    assert caught.value.conflict is True


# --- evidence -----------------------------------------------------------------------------------

def test_evidence_needs_a_result_for_every_kpi() -> None:
    with pytest.raises(TaskRuleError) as caught:
        apply(state(Stage.IN_PROGRESS), request(HEAD, evidence({"Xã có dịch vụ công": 100})), NOW)
    assert caught.value.code == Code.KPI_RESULTS_MISSING
    assert caught.value.conflict is False
    assert "Xã có dịch vụ công" not in str(caught.value)


def test_evidence_needs_at_least_one_document() -> None:
    with pytest.raises(ValidationError):
        c.EvidenceSubmit(summary="x", kpi_results={}, files=[])


def test_evidence_with_every_kpi_goes_to_cross_check() -> None:
    after, _ = apply(state(Stage.IN_PROGRESS), request(HEAD, evidence()), NOW)
    assert after.stage == Stage.CROSS_CHECK
    assert len(after.evidence) == 1 and after.evidence[0].files == [FILE]


def test_evidence_for_a_task_without_kpis_needs_no_results() -> None:
    before = state(Stage.IN_PROGRESS, task_spec=spec(kpis=[]))
    after, _ = apply(before, request(HEAD, evidence({})), NOW)
    assert after.stage == Stage.CROSS_CHECK


# --- cross-check --------------------------------------------------------------------------------

@pytest.mark.parametrize("agency", ["HNI", "BKHCN", None])
def test_review_assign_reviewer_agency_must_be_neither_lead_nor_coordinating(agency: str | None) -> None:
    with pytest.raises(TaskRuleError) as caught:
        apply(state(Stage.CROSS_CHECK),
              request(OFFICE, c.ReviewAssign(reviewer="someone", reviewer_agency=agency)), NOW)
    assert caught.value.code == Code.REVIEWER_NOT_INDEPENDENT
    assert caught.value.conflict is False


def test_review_assign_independent_reviewer_is_recorded() -> None:
    after, _ = apply(state(Stage.CROSS_CHECK),
                     request(OFFICE, c.ReviewAssign(reviewer="dng.reviewer", reviewer_agency="DNG")), NOW)
    assert (after.reviewer, after.reviewer_agency) == ("dng.reviewer", "DNG")
    assert after.stage == Stage.CROSS_CHECK
    assert {"review.approve", "review.reject"} <= set(available_actions(after))


# Separation of duties holds in the rules themselves, whatever roles one person holds.
OFFICE_AND_REVIEWER = Actor(username="two.hats", agency="DNG", roles=["steering_office", "cross_check_reviewer"])


def test_nobody_assigns_the_cross_check_to_themselves() -> None:
    with pytest.raises(TaskRuleError) as caught:
        apply(state(Stage.CROSS_CHECK),
              request(OFFICE_AND_REVIEWER, c.ReviewAssign(reviewer="two.hats", reviewer_agency="DNG")), NOW)
    assert (caught.value.code, caught.value.field, caught.value.conflict) == ("reviewer_is_assigner", "reviewer", False)


@pytest.mark.parametrize("action", ["review.approve", "review.reject"])
def test_whoever_assigned_the_cross_check_does_not_decide_it(action: str) -> None:
    assigned, _ = apply(state(Stage.CROSS_CHECK),
                        request(OFFICE_AND_REVIEWER, c.ReviewAssign(reviewer="dng.reviewer", reviewer_agency="DNG")),
                        NOW)
    assert assigned.reviewer_assigned_by == "two.hats"
    as_reviewer = assigned.model_copy(update={"reviewer": "two.hats"})  # say the reviewer is later swapped to them
    with pytest.raises(TaskRuleError) as caught:
        apply(as_reviewer, request(OFFICE_AND_REVIEWER, SAMPLES[action][1]), NOW)
    assert caught.value.code == "decider_is_assigner"


@pytest.mark.parametrize("action", ["review.approve", "review.reject"])
def test_review_decision_before_a_reviewer_is_assigned_is_a_conflict(action: str) -> None:
    actor, command = SAMPLES[action]
    with pytest.raises(TaskRuleError) as caught:
        apply(state(Stage.CROSS_CHECK), request(actor, command), NOW)
    assert caught.value.code == Code.NO_REVIEWER
    assert caught.value.conflict is True


def test_review_reject_needs_findings() -> None:
    with pytest.raises(ValidationError):
        c.ReviewReject(reason="Chưa đạt", findings=[])
    with pytest.raises(ValidationError):
        c.ReviewReject(reason="", findings=["x"])


def test_review_reject_returns_to_in_progress_with_a_rework_deadline() -> None:
    before = state(Stage.CROSS_CHECK, reviewer="dng.reviewer", reviewer_agency="DNG")
    after, event = apply(before, request(REVIEWER, SAMPLES["review.reject"][1]), NOW)
    assert after.stage == Stage.IN_PROGRESS
    assert after.rework_deadline == NOW + after.settings.rework_period == NOW + timedelta(days=14)
    assert after.reviews[-1].decision == "rejected" and after.reviews[-1].findings == ["Cổng lỗi đăng nhập"]
    assert event.data["rework_deadline"] == after.rework_deadline.isoformat()
    resubmitted, _ = apply(after, request(HEAD, evidence()), NOW)
    assert resubmitted.stage == Stage.CROSS_CHECK and len(resubmitted.evidence) == len(before.evidence) + 1


def test_review_approve_completes_on_time() -> None:
    before = state(Stage.CROSS_CHECK, reviewer="dng.reviewer", reviewer_agency="DNG")
    after, _ = apply(before, request(REVIEWER, c.ReviewApprove()), NOW)
    assert after.stage == Stage.COMPLETED
    assert after.late is False
    assert after.percent == 100


def test_evidence_delivered_after_the_deadline_is_late() -> None:
    before = state(Stage.CROSS_CHECK, reviewer="dng.reviewer", reviewer_agency="DNG",
                   evidence=[delivered(DEADLINE + timedelta(seconds=1))])
    after, _ = apply(before, request(REVIEWER, c.ReviewApprove()), DEADLINE + timedelta(days=2))
    assert after.stage == Stage.COMPLETED
    assert after.late is True


def test_evidence_delivered_exactly_at_the_deadline_is_not_late() -> None:
    before = state(Stage.CROSS_CHECK, reviewer="dng.reviewer", reviewer_agency="DNG", evidence=[delivered(DEADLINE)])
    after, _ = apply(before, request(REVIEWER, c.ReviewApprove()), DEADLINE + timedelta(days=1))
    assert after.late is False


def test_a_slow_review_never_makes_evidence_on_time_late() -> None:
    """The review's time is the reviewer's: evidence in before the deadline, decided a month after it."""
    before = state(Stage.CROSS_CHECK, reviewer="dng.reviewer", reviewer_agency="DNG",
                   evidence=[delivered(DEADLINE - timedelta(days=1))])
    after, _ = apply(before, request(REVIEWER, c.ReviewApprove()), DEADLINE + timedelta(days=30))
    assert after.late is False


def test_completed_task_reports_100_percent_even_after_a_partial_report() -> None:
    current = state(Stage.IN_PROGRESS)
    current, _ = apply(current, request(OFFICER, c.ProgressReportCommand(percent=60)), NOW)
    assert current.percent == 60
    current, _ = apply(current, request(HEAD, evidence()), NOW)
    current, _ = apply(current, request(*SAMPLES["review.assign"]), NOW)
    current, _ = apply(current, request(REVIEWER, c.ReviewApprove()), NOW)
    assert current.stage == Stage.COMPLETED
    assert current.percent == 100


# --- reassign, cancel, comment ------------------------------------------------------------------

def test_reassign_to_the_same_agency_is_refused() -> None:
    with pytest.raises(TaskRuleError) as caught:
        apply(state(Stage.IN_PROGRESS), request(COMMITTEE, c.Reassign(lead_agency="HNI", reason="r")), NOW)
    assert caught.value.code == Code.SAME_LEAD_AGENCY
    assert caught.value.conflict is False


def test_reassign_changes_lead_clears_officer_and_records_from_to() -> None:
    before = state(Stage.IN_PROGRESS, officer="hni.officer")
    after, event = apply(before, request(COMMITTEE, c.Reassign(lead_agency="BKHCN", reason="Chậm")), NOW)
    assert after.lead_agency == "BKHCN"
    assert "BKHCN" not in after.coordinating_agencies  # the new lead no longer coordinates
    assert after.officer is None
    assert after.stage == Stage.IN_PROGRESS
    assert event.data == {"from": "HNI", "to": "BKHCN", "reason": "Chậm"}


def test_reassign_never_makes_the_assigned_reviewer_judge_their_own_agency() -> None:
    before = state(Stage.CROSS_CHECK, reviewer="dng.reviewer", reviewer_agency="DNG")
    try:
        after, _ = apply(before, request(COMMITTEE, c.Reassign(lead_agency="DNG", reason="r")), NOW)
    except TaskRuleError as error:
        assert error.conflict is False
        return
    assert after.reviewer_agency not in [after.lead_agency, *after.coordinating_agencies]


@pytest.mark.parametrize("stage", sorted(OPEN_STAGES))
def test_cancel_from_any_open_stage_needs_a_reason(stage: Stage) -> None:
    with pytest.raises(ValidationError):
        c.Cancel(reason=" ")
    after, _ = apply(ready_state("cancel", stage), request(OFFICE, c.Cancel(reason="Hết nhu cầu")), NOW)
    assert after.stage == Stage.CANCELLED and after.cancel_reason == "Hết nhu cầu"
    assert available_actions(after) == ["comment"]


@pytest.mark.parametrize("stage", sorted(Stage))
def test_comment_is_allowed_at_every_stage_and_changes_nothing_but_seq(stage: Stage) -> None:
    before = state(stage)
    after, event = apply(before, request(OFFICER, c.Comment(text="Ghi chú")), NOW)
    assert after.stage == stage
    assert event.data == {"text": "Ghi chú"}
    assert after.model_dump(exclude={"seq", "updated_at"}) == before.model_dump(exclude={"seq", "updated_at"})


def test_apply_does_not_mutate_the_given_state() -> None:
    before = state(Stage.BUDGET_REGISTRATION)
    snapshot = before.model_dump()
    apply(before, request(HEAD, budget_submit()), NOW)
    assert before.model_dump() == snapshot


def test_commands_refuse_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        c.Accept(officer="x", hacked=True)  # type: ignore[call-arg]


# --- available_actions --------------------------------------------------------------------------

def test_available_actions_at_each_stage() -> None:
    assert available_actions(state(Stage.ASSIGNED)) == ["accept", "reassign", "cancel", "comment", "correct"]
    assert available_actions(state(Stage.BUDGET_REGISTRATION)) == [
        "budget.submit", "extension.request", "reassign", "cancel", "comment", "correct"]
    assert available_actions(state(Stage.BUDGET_REVIEW)) == [
        "budget.approve", "budget.reject", "reassign", "cancel", "comment", "correct"]
    assert available_actions(state(Stage.IN_PROGRESS)) == [
        "budget.amend", "progress.report", "extension.request", "evidence.submit", "reassign", "cancel", "comment",
        "correct", "subtask.create"]
    assert available_actions(state(Stage.CROSS_CHECK)) == ["review.assign", "reassign", "cancel", "comment", "correct"]
    assert available_actions(state(Stage.COMPLETED)) == ["comment"]
    assert available_actions(state(Stage.CANCELLED)) == ["comment"]


def test_available_actions_with_a_pending_extension_and_a_reviewer() -> None:
    pending = ExtensionRequest(at=CREATED, by="hni.head", new_deadline=parse_deadline("2026-Q3"),
                               new_deadline_text="2026-Q3", reason="r")
    actions = available_actions(state(Stage.CROSS_CHECK, extension_request=pending, reviewer="dng.reviewer",
                                      reviewer_agency="DNG"))
    assert actions == ["extension.approve", "extension.reject", "review.assign", "review.approve",
                       "review.reject", "reassign", "cancel", "comment", "correct"]


@pytest.mark.parametrize("stage", sorted(Stage))
def test_available_actions_are_exactly_those_apply_accepts(stage: Stage) -> None:
    """Every listed action applies; every unlisted one is refused as a conflict or is not at this stage."""
    current = state(stage)
    listed = set(available_actions(current))
    for action in ACTIONS:
        actor, command = SAMPLES[action]
        if action in listed:
            apply(current, request(actor, command), NOW)
        else:
            with pytest.raises(TaskRuleError) as caught:
                apply(current, request(actor, command), NOW)
            assert caught.value.conflict is True, action


def test_forward_actions_exclude_the_side_actions() -> None:
    assert {"comment", "cancel", "reassign", "extension.request", "progress.report"}.isdisjoint(FORWARD_ACTIONS)
    assert {"accept", "budget.submit", "budget.approve", "evidence.submit", "review.assign",
            "review.approve"} <= FORWARD_ACTIONS


def test_full_path_event_numbers_follow_one_another() -> None:
    current = state(Stage.ASSIGNED)
    steps = ["accept", "budget.submit", "budget.approve", "progress.report", "evidence.submit",
             "review.assign", "review.approve"]
    seqs = []
    for action in steps:
        actor, command = SAMPLES[action]
        current, event = apply(current, request(actor, command), NOW)
        seqs.append(event.seq)
    assert current.stage == Stage.COMPLETED
    assert seqs == list(range(2, 2 + len(steps)))



# --- correct --------------------------------------------------------------------------------------

def test_a_correction_changes_only_what_it_names_and_records_old_and_new() -> None:
    before = state(Stage.IN_PROGRESS)
    after, event = apply(before, request(OFFICE, c.Correct(
        reason="Phụ lục ghi nhầm", title="Tên đúng", deadline="trong quý IV/2027",
        kpis=[Kpi(name="Hồ sơ số hóa", target=6000, unit="hồ sơ")])), NOW)
    assert after.spec.title == "Tên đúng" and after.spec.product == before.spec.product
    assert after.deadline_text == "trong quý IV/2027"
    assert after.deadline == after.original_deadline == parse_deadline("trong quý IV/2027")
    assert after.stage == before.stage
    assert event.type == "correct" and event.data["reason"] == "Phụ lục ghi nhầm"
    assert event.data["changes"]["title"] == {"old": before.spec.title, "new": "Tên đúng"}
    assert event.data["changes"]["deadline"]["old"] == before.deadline_text
    assert event.data["changes"]["deadline"]["new"] == "trong quý IV/2027"
    assert event.data["changes"]["kpis"]["new"] == [{"name": "Hồ sơ số hóa", "target": 6000.0, "unit": "hồ sơ"}]
    assert set(event.data["changes"]) == {"title", "deadline", "kpis"}


def test_a_correction_that_changes_nothing_is_refused() -> None:
    current = state(Stage.IN_PROGRESS)
    with pytest.raises(TaskRuleError) as caught:
        apply(current, request(OFFICE, c.Correct(reason="r", title=current.spec.title)), NOW)
    assert caught.value.code == Code.NOTHING_TO_CORRECT


def test_a_correction_cannot_make_the_lead_a_coordinator() -> None:
    current = state(Stage.IN_PROGRESS)
    with pytest.raises(TaskRuleError) as caught:
        apply(current, request(OFFICE, c.Correct(reason="r", coordinating_agencies=[current.lead_agency])), NOW)
    assert caught.value.code == Code.LEAD_ALSO_COORDINATES and caught.value.field == "coordinating_agencies"


def test_a_deadline_is_not_corrected_while_an_extension_is_pending_or_after_one_was_granted() -> None:
    pending = ExtensionRequest(at=CREATED, by="hni.head", new_deadline=parse_deadline("2026-Q3"),
                               new_deadline_text="2026-Q3", reason="r")
    with pytest.raises(TaskRuleError) as caught:
        apply(state(Stage.IN_PROGRESS, extension_request=pending),
              request(OFFICE, c.Correct(reason="r", deadline="trong năm 2027")), NOW)
    assert caught.value.code == Code.EXTENSION_PENDING
    with pytest.raises(TaskRuleError) as caught:
        apply(state(Stage.IN_PROGRESS, extensions_granted=1),
              request(OFFICE, c.Correct(reason="r", deadline="trong năm 2027")), NOW)
    assert caught.value.code == Code.DEADLINE_ALREADY_EXTENDED


def test_kpis_are_not_corrected_while_evidence_is_judged_against_them() -> None:
    with pytest.raises(TaskRuleError) as caught:
        apply(state(Stage.CROSS_CHECK), request(OFFICE, c.Correct(
            reason="r", kpis=[Kpi(name="Chỉ tiêu khác", target=1, unit="")])), NOW)
    assert caught.value.code == Code.KPIS_UNDER_REVIEW


def test_a_correction_cannot_make_the_reviewers_agency_a_coordinator() -> None:
    reviewed = state(Stage.CROSS_CHECK, reviewer="dng.reviewer", reviewer_agency="DNG")
    with pytest.raises(TaskRuleError) as caught:
        apply(reviewed, request(OFFICE, c.Correct(reason="r", coordinating_agencies=["DNG"])), NOW)
    assert caught.value.code == Code.REVIEWER_NOT_INDEPENDENT


def test_a_corrected_deadline_records_both_instants() -> None:
    before = state(Stage.IN_PROGRESS)
    _, event = apply(before, request(OFFICE, c.Correct(reason="r", deadline="trong quý I/2028")), NOW)
    change = event.data["changes"]["deadline"]
    assert change["old_due"] == before.deadline.isoformat()
    assert change["new_due"] == parse_deadline("trong quý I/2028").isoformat()


# --- sub-tasks (cascading down the chain) -------------------------------------------------------

def test_a_part_goes_to_a_unit_under_the_lead_and_is_listed() -> None:
    after, event = apply(state(Stage.IN_PROGRESS), request(*SAMPLES["subtask.create"]), NOW)
    assert after.subtasks == ["T-1-HOANKIEM"] and after.open_subtasks == ["T-1-HOANKIEM"]
    assert event.data["lead_agency"] == "HNI-HOANKIEM" and event.data["deadline"] == "2026-05"


def test_a_part_for_a_unit_not_under_the_lead_is_invalid() -> None:
    command = SAMPLES["subtask.create"][1].model_copy(update={"lead_ancestors": ["BKHCN"]})
    with pytest.raises(TaskRuleError) as caught:
        apply(state(Stage.IN_PROGRESS), request(HEAD, command), NOW)
    assert caught.value.code == Code.SUBTASK_NOT_UNDER_LEAD and caught.value.conflict is False


def test_a_part_due_after_the_task_is_invalid() -> None:
    command = SAMPLES["subtask.create"][1].model_copy(update={"deadline": "2099-12-31"})
    with pytest.raises(TaskRuleError) as caught:
        apply(state(Stage.IN_PROGRESS), request(HEAD, command), NOW)
    assert caught.value.code == Code.SUBTASK_DEADLINE_AFTER_PARENT and caught.value.field == "deadline"


def test_a_code_already_split_off_is_a_conflict() -> None:
    with pytest.raises(TaskRuleError) as caught:
        apply(split_once(), request(*SAMPLES["subtask.create"]), NOW)
    assert caught.value.code == Code.TASK_EXISTS and caught.value.conflict is True


def split_once() -> TaskState:
    """A task in execution with one part handed down, still open."""
    return apply(state(Stage.IN_PROGRESS), request(*SAMPLES["subtask.create"]), NOW)[0]


@pytest.mark.parametrize(("action", "code"), [
    ("evidence.submit", Code.SUBTASKS_OPEN),  # the parent waits for its parts
    ("reassign", Code.SUBTASKS_OPEN_REASSIGN),  # its parts stand under the present lead
])
def test_while_a_part_is_open(action: str, code: Code) -> None:
    split = split_once()
    assert action not in available_actions(split)
    with pytest.raises(TaskRuleError) as caught:
        apply(split, request(*SAMPLES[action]), NOW)
    assert caught.value.code == code and caught.value.conflict is True


def test_evidence_is_taken_once_every_part_has_closed() -> None:
    split = split_once()
    heard, event = subtask_closed(split, "T-1-HOANKIEM", Stage.CANCELLED, NOW)
    assert event.type == "subtask.closed" and event.data == {"code": "T-1-HOANKIEM", "stage": "cancelled", "open": []}
    assert heard.seq == split.seq + 1 and "evidence.submit" in available_actions(heard)
    assert apply(heard, request(*SAMPLES["evidence.submit"]), NOW)[0].stage == Stage.CROSS_CHECK


def test_an_agency_above_a_part_does_not_cross_check_it() -> None:
    part = state(Stage.CROSS_CHECK, parent="T-0", overseers=["BKHCN"])
    with pytest.raises(TaskRuleError) as caught:
        apply(part, request(OFFICE, c.ReviewAssign(reviewer="bkhcn.reviewer", reviewer_agency="BKHCN")), NOW)
    assert caught.value.code == Code.REVIEWER_NOT_INDEPENDENT
