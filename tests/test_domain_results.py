"""Results, not reports (domain/results.py and the lifecycle's rules on them): KPI achievement by hand,
the reviewer's figure replacing the lead's, a shortfall approved only as "not met", the budget as the
ceiling of disbursement and its amendment, the head accountable. Pure: one rule per test."""

from datetime import timedelta
from typing import Any

import pytest

from domain import commands as c
from domain.lifecycle import TaskRuleError, apply
from domain.program_file import spec_from_row
from domain.refusals import Code, Refusal
from domain.results import kpi_achievement, shortfalls, task_achievement
from domain.stages import Stage
from domain.task import Budget, BudgetLine, Kpi, Outcome, TaskState
from tests.test_domain_lifecycle import (
    COMMITTEE,
    FINANCE,
    HEAD,
    KPIS,
    NOW,
    OFFICER,
    REVIEWER,
    delivered,
    request,
    spec,
    state,
)

TRAINED = Kpi(name="Kỹ sư được đào tạo", target=5000, unit="người")
DAYS = Kpi(name="Thời gian xử lý hồ sơ", target=5, unit="ngày", baseline=20, direction="lower")


# --- achievement, by hand ------------------------------------------------------------------------

@pytest.mark.parametrize(("kpi", "result", "expected"), [
    (TRAINED, 12, 0.0024),  # 12 / 5,000: the Committee's example of a task "counted as done"
    (TRAINED, 5000, 1.0),
    (TRAINED, 7000, 1.0),  # capped: beyond the target earns no more
    (TRAINED, -3, 0.0),  # capped below
    (Kpi(name="Tỷ lệ", target=90, baseline=60), 75, 0.5),  # from the baseline: (75 − 60) / (90 − 60)
    (DAYS, 8, 0.8),  # lower is better: (20 − 8) / (20 − 5)
    (DAYS, 25, 0.0),  # worse than the baseline
    (DAYS, 4, 1.0),
    (Kpi(name="Sự cố", target=2, direction="lower"), 4, 0.5),  # no baseline: target / result
    (Kpi(name="Sự cố", target=2, direction="lower"), 1, 1.0),
    (Kpi(name="Duy trì", target=100, baseline=100), 100, 1.0),  # a target no further than the baseline:
    (Kpi(name="Duy trì", target=100, baseline=100), 99, 0.0),  # reached or not
])
def test_kpi_achievement(kpi: Kpi, result: float, expected: float) -> None:
    assert kpi_achievement(kpi, result) == expected


def test_task_achievement_is_the_mean_and_a_missing_result_counts_zero() -> None:
    assert task_achievement([TRAINED, DAYS], {"Kỹ sư được đào tạo": 2500, "Thời gian xử lý hồ sơ": 5}) == 0.75
    assert task_achievement([TRAINED, DAYS], {"Thời gian xử lý hồ sơ": 5}) == 0.5
    assert task_achievement([], {}) is None


def test_shortfalls_name_the_kpis_below_target() -> None:
    assert shortfalls([TRAINED, DAYS], {"Kỹ sư được đào tạo": 12, "Thời gian xử lý hồ sơ": 5}) == ["Kỹ sư được đào tạo"]


def test_a_kpi_recorded_before_baselines_reads_as_it_did() -> None:
    """The `created` event is hashed: a KPI without baseline and direction serializes as before."""
    assert TRAINED.model_dump(mode="json") == {"name": "Kỹ sư được đào tạo", "target": 5000.0, "unit": "người"}
    assert DAYS.model_dump(mode="json")["direction"] == "lower"


# --- the cross-check confirms the results --------------------------------------------------------

def in_review(evidence_results: dict[str, float | str], **fields: Any) -> TaskState:
    return state(Stage.CROSS_CHECK, reviewer="dng.reviewer", reviewer_agency="DNG",
                 evidence=[delivered(NOW - timedelta(days=1), evidence_results)], **fields)


MET = {"Xã có dịch vụ công": 100, "Hồ sơ số hóa": 5200}
SHORT = {"Xã có dịch vụ công": 100, "Hồ sơ số hóa": 12}


def approve(before: TaskState, **fields: Any) -> TaskState:
    after, _ = apply(before, request(REVIEWER, c.ReviewApprove(**fields)), NOW)
    return after


def refusal(before: TaskState, actor: Any, command: Any) -> TaskRuleError:
    with pytest.raises(TaskRuleError) as caught:
        apply(before, request(actor, command), NOW)
    return caught.value


def test_results_that_meet_every_target_complete_as_met() -> None:
    after = approve(in_review(MET))
    assert (after.stage, after.outcome, after.usable, after.achievement) == (Stage.COMPLETED, Outcome.MET, True, 1.0)
    assert after.confirmed_results == {"Xã có dịch vụ công": 100, "Hồ sơ số hóa": 5200}


def test_a_shortfall_cannot_be_approved_as_plain_completed() -> None:
    error = refusal(in_review(SHORT), REVIEWER, c.ReviewApprove())
    assert (error.code, error.conflict, error.field) == (Code.OUTCOME_NOT_MET_REQUIRED, False, "outcome")
    assert error.params["shortfalls"] == "Hồ sơ số hóa"


def test_a_shortfall_is_approved_as_not_met_with_a_reason() -> None:
    after = approve(in_review(SHORT), outcome="not_met", reason="Mới số hóa thử nghiệm")
    assert (after.stage, after.outcome) == (Stage.COMPLETED, Outcome.NOT_MET)
    assert after.achievement == round((1 + 12 / 5000) / 2, 4)
    assert after.reviews[-1].outcome == Outcome.NOT_MET


def test_not_met_needs_a_reason() -> None:
    error = refusal(in_review(SHORT), REVIEWER, c.ReviewApprove(outcome="not_met"))
    assert (error.code, error.field) == (Code.OUTCOME_REASON_REQUIRED, "reason")


def test_a_product_not_usable_is_not_met_whatever_its_figures() -> None:
    error = refusal(in_review(MET), REVIEWER, c.ReviewApprove(usable=False))
    assert error.code == Code.OUTCOME_NOT_MET_REQUIRED
    after = approve(in_review(MET), usable=False, outcome="not_met", reason="Cổng không đăng nhập được")
    assert (after.outcome, after.usable) == (Outcome.NOT_MET, False)


def test_the_reviewers_figure_replaces_the_leads() -> None:
    """The head reported 5,200 files digitized; the reviewer counted 12: the task falls short."""
    error = refusal(in_review(MET), REVIEWER, c.ReviewApprove(kpi_results={"Hồ sơ số hóa": 12}))
    assert error.code == Code.OUTCOME_NOT_MET_REQUIRED
    after = approve(in_review(MET), kpi_results={"Hồ sơ số hóa": 12}, outcome="not_met", reason="Đếm lại")
    assert after.confirmed_results["Hồ sơ số hóa"] == 12


def test_the_reviewer_corrects_up_a_figure_the_lead_understated() -> None:
    after = approve(in_review(SHORT), kpi_results={"Hồ sơ số hóa": 5000})
    assert (after.outcome, after.achievement) == (Outcome.MET, 1.0)


def test_a_result_in_words_needs_the_reviewers_figure() -> None:
    words = in_review({"Xã có dịch vụ công": "đạt", "Hồ sơ số hóa": 5200})
    error = refusal(words, REVIEWER, c.ReviewApprove())
    assert (error.code, error.params["names"]) == (Code.KPI_RESULT_NOT_A_FIGURE, "Xã có dịch vụ công")
    assert approve(words, kpi_results={"Xã có dịch vụ công": 100}).outcome == Outcome.MET


def test_the_reviewer_cannot_confirm_a_kpi_the_task_does_not_have() -> None:
    error = refusal(in_review(MET), REVIEWER, c.ReviewApprove(kpi_results={"Số người dùng": 3}))
    assert (error.code, error.field, error.params["names"]) == (Code.KPI_UNKNOWN, "kpi_results", "Số người dùng")


def test_a_task_without_kpis_is_met_when_usable() -> None:
    plain = state(Stage.CROSS_CHECK, task_spec=spec(kpis=[]), reviewer="dng.reviewer", reviewer_agency="DNG",
                  evidence=[delivered(NOW, {})])
    after = approve(plain)
    assert (after.outcome, after.achievement) == (Outcome.MET, None)


# --- reports and evidence name only the task's KPIs ---------------------------------------------------

def test_a_progress_report_naming_an_unknown_kpi_is_refused_naming_it() -> None:
    error = refusal(state(Stage.IN_PROGRESS), OFFICER, c.ProgressReportCommand(percent=10, kpi_actuals={"Kỹ sư": 3}))
    assert (error.code, error.field, error.params["names"]) == (Code.KPI_UNKNOWN, "kpi_actuals", "Kỹ sư")
    assert error.params["known"] == "; ".join(kpi.name for kpi in KPIS)


def test_evidence_naming_an_unknown_kpi_is_refused() -> None:
    results: dict[str, float | str] = {**MET, "Kỹ sư": 3}
    command = c.EvidenceSubmit(kpi_results=results, files=[delivered(NOW).files[0]])
    assert refusal(state(Stage.IN_PROGRESS), HEAD, command).code == Code.KPI_UNKNOWN


# --- money: the approved budget is the ceiling --------------------------------------------------------

def executing(amount: int = 5_000, disbursed: int = 0) -> TaskState:
    return state(Stage.IN_PROGRESS, budget=Budget(amount_vnd=amount, source="NSNN", status="approved",
                                                  lines=[BudgetLine(item="x", amount_vnd=amount)],
                                                  disbursed_vnd=disbursed))


def report(disbursed: int) -> c.ProgressReportCommand:
    return c.ProgressReportCommand(percent=50, disbursed_vnd=disbursed)


def amend(amount: int) -> c.BudgetAmend:
    return c.BudgetAmend(amount_vnd=amount, reason="Mở rộng", lines=[BudgetLine(item="x", amount_vnd=amount)])


def test_disbursing_beyond_the_approved_budget_is_refused() -> None:
    error = refusal(executing(5_000), HEAD, report(9_000))
    assert (error.code, error.field, error.conflict) == (Code.DISBURSEMENT_OVER_BUDGET, "disbursed_vnd", False)
    assert (error.params["disbursed"], error.params["ceiling"]) == ("9,000", "5,000")


def test_disbursing_up_to_the_budget_is_recorded() -> None:
    after, _ = apply(executing(5_000), request(HEAD, report(5_000)), NOW)
    assert after.budget is not None and after.budget.disbursed_vnd == 5_000


def test_without_an_approved_budget_nothing_may_be_disbursed() -> None:
    assert refusal(state(Stage.IN_PROGRESS, budget=None), HEAD, report(1)).params["ceiling"] == "0"


def test_an_approved_amendment_raises_the_ceiling() -> None:
    asked, _ = apply(executing(5_000), request(HEAD, amend(9_000)), NOW)
    assert asked.stage == Stage.IN_PROGRESS and asked.budget is not None and asked.budget.pending_amendment
    assert refusal(asked, HEAD, report(9_000)).code == Code.DISBURSEMENT_OVER_BUDGET  # not until decided
    decided, event = apply(asked, request(FINANCE, c.BudgetApprove(reason="Hợp lý")), NOW)
    assert decided.budget is not None and decided.budget.amount_vnd == 9_000
    assert event.data == {"reason": "Hợp lý", "amendment": True, "old_amount_vnd": 5_000, "amount_vnd": 9_000}
    paid, _ = apply(decided, request(HEAD, report(9_000)), NOW)
    assert paid.budget is not None and paid.budget.disbursed_vnd == 9_000


def test_a_rejected_amendment_keeps_the_ceiling_and_the_stage() -> None:
    asked, _ = apply(executing(5_000), request(HEAD, amend(9_000)), NOW)
    decided, _ = apply(asked, request(FINANCE, c.BudgetReject(reason="Không đủ căn cứ")), NOW)
    assert decided.stage == Stage.IN_PROGRESS and decided.budget is not None
    assert (decided.budget.amount_vnd, decided.budget.pending_amendment) == (5_000, None)


def test_one_amendment_at_a_time() -> None:
    asked, _ = apply(executing(), request(HEAD, amend(9_000)), NOW)
    assert refusal(asked, HEAD, amend(8_000)).code == Code.AMENDMENT_PENDING


def test_no_amendment_to_decide_is_a_conflict() -> None:
    error = refusal(executing(), FINANCE, c.BudgetApprove())
    assert (error.code, error.conflict) == (Code.NO_AMENDMENT_PENDING, True)


def test_an_amendment_needs_an_approved_budget() -> None:
    assert refusal(state(Stage.IN_PROGRESS, budget=None), HEAD, amend(1)).code == Code.NO_APPROVED_BUDGET


def test_an_amendment_below_what_is_already_disbursed_is_refused() -> None:
    assert refusal(executing(5_000, disbursed=4_000), HEAD, amend(3_000)).code == Code.AMENDMENT_BELOW_DISBURSED


# --- the head accountable -------------------------------------------------------------------------

def test_the_head_accepting_is_accountable_by_default() -> None:
    after, event = apply(state(), request(HEAD, c.Accept()), NOW)
    assert after.accountable_person == "hni.head" and after.accountable[-1].agency == "HNI"
    assert event.data == {"officer": None}  # the event reads as before accountability was kept


def test_the_head_accepting_may_name_another_head_of_the_lead() -> None:
    after, _ = apply(state(), request(HEAD, c.Accept(accountable="hni.deputy", accountable_agency="HNI")), NOW)
    assert (after.accountable_person, after.accountable[-1].by) == ("hni.deputy", "hni.head")


def test_an_accountable_head_of_another_agency_is_refused() -> None:
    error = refusal(state(), HEAD, c.Accept(accountable="hcm.head", accountable_agency="HCM"))
    assert (error.code, error.field) == (Code.NOT_AN_AGENCY_HEAD, "accountable")


def test_reassigning_the_person_keeps_the_agency_and_the_history() -> None:
    accepted, _ = apply(state(), request(HEAD, c.Accept()), NOW)
    moved, event = apply(accepted, request(COMMITTEE, c.Reassign(reason="Chậm", accountable="hni.deputy",
                                                                 accountable_agency="HNI")), NOW)
    assert moved.lead_agency == "HNI"
    assert [(a.username, a.agency) for a in moved.accountable] == [("hni.head", "HNI"), ("hni.deputy", "HNI")]
    assert event.data["accountable"] == "hni.deputy"


def test_reassigning_the_agency_leaves_it_to_answer_until_a_head_is_named() -> None:
    accepted, _ = apply(state(), request(HEAD, c.Accept()), NOW)
    moved, event = apply(accepted, request(COMMITTEE, c.Reassign(lead_agency="HCM", reason="Chậm")), NOW)
    assert (moved.lead_agency, moved.accountable[-1].agency, moved.accountable_person) == ("HCM", "HCM", "")
    assert event.data == {"from": "HNI", "to": "HCM", "reason": "Chậm"}


def test_reassigning_nothing_is_refused() -> None:
    assert refusal(state(), COMMITTEE, c.Reassign(reason="?")).code == Code.REASSIGN_NOTHING


# --- a program file writes a KPI's baseline and direction -------------------------------------------

def kpis_of(written: str) -> list[Kpi]:
    return spec_from_row({"code": "K-1", "title": "Nhiệm vụ", "lead_agency": "HNI", "deadline": "2027-Q4",
                          "kpis": written}).kpis


@pytest.mark.parametrize(("written", "expected"), [
    ("Kỹ sư|5000|người", Kpi(name="Kỹ sư", target=5000, unit="người")),
    ("Kỹ sư|5000|người|120", Kpi(name="Kỹ sư", target=5000, unit="người", baseline=120)),
    ("Ngày xử lý|5|ngày|20|giảm", Kpi(name="Ngày xử lý", target=5, unit="ngày", baseline=20, direction="lower")),
    ("Ngày xử lý|5|ngày||lower", Kpi(name="Ngày xử lý", target=5, unit="ngày", direction="lower")),
    ("Tỷ lệ|90|%|60|Tăng", Kpi(name="Tỷ lệ", target=90, unit="%", baseline=60)),
])
def test_a_program_file_writes_baseline_and_direction_after_the_unit(written: str, expected: Kpi) -> None:
    assert kpis_of(written) == [expected]


@pytest.mark.parametrize(("written", "code"), [
    ("Kỹ sư|5000", Code.KPI_FORMAT), ("Kỹ sư|5000|người|0|ngang", Code.KPI_FORMAT),
    ("Kỹ sư|5000|người|0|tăng|thêm", Code.KPI_FORMAT), ("Kỹ sư|5000|người|không", Code.KPI_TARGET_NOT_NUMBER)])
def test_a_kpi_written_wrongly_is_refused(written: str, code: Code) -> None:
    with pytest.raises(Refusal) as caught:
        kpis_of(written)
    assert caught.value.code == code


# --- a task recorded under the rules before results were measured ----------------------------------

def test_a_history_recorded_before_replays_what_it_recorded() -> None:
    """Version 1 of the rules accepted these; a task whose history holds them must replay it (its
    workflow's next run is held to the present rules)."""
    old = in_review(SHORT, rules=1)
    after = approve(old)  # a plain approval of a shortfall, as recorded then
    assert (after.stage, after.outcome) == (Stage.COMPLETED, Outcome.NOT_MET)  # the figures still tell
    report = c.ProgressReportCommand(percent=10, kpi_actuals={"Kỹ sư": 3}, disbursed_vnd=9_000)
    assert apply(executing(5_000).model_copy(update={"rules": 1}), request(HEAD, report), NOW)[0].percent == 10
