"""What a task's page compares (domain/comparison.py): each KPI's target, its reported figures in order
and its result; the approved budget against the disbursed; a completed task's delivery against its
deadline, in days. Pure: one rule per test."""

from datetime import UTC, datetime, timedelta

from domain.comparison import compare_kpis, days_early, days_late, kpi_readings, spending, timeliness
from domain.stages import Stage
from domain.task import Budget, BudgetAmendment, BudgetLine, Evidence, Kpi, ProgressReport
from tests.test_domain_lifecycle import CREATED, DEADLINE, FILE, spec, state

TRAINED = Kpi(name="Kỹ sư được đào tạo", target=5000, unit="người")
DAYS = Kpi(name="Thời gian xử lý hồ sơ", target=5, unit="ngày", baseline=20, direction="lower")
DUE = datetime(2027, 3, 31, 16, 59, 59, tzinfo=UTC)  # 31/03/2027, end of the day in Hà Nội


def report(day: int, actuals: dict[str, float], *, disbursed: int | None = None,
           contribution: bool = False) -> ProgressReport:
    return ProgressReport(at=CREATED + timedelta(days=day), by="hni.officer", agency="HNI", percent=day,
                          kpi_actuals=actuals, note="", disbursed_vnd=disbursed, contribution=contribution)


def evidence(at: datetime, results: dict[str, float | str]) -> Evidence:
    return Evidence(at=at, by="hni.head", summary="Xong", kpi_results=results, files=[FILE])


def test_a_kpi_reads_the_lead_reports_in_order_then_what_its_evidence_stated() -> None:
    task = state(Stage.CROSS_CHECK, task_spec=spec(kpis=[TRAINED]),
                 progress=[report(10, {TRAINED.name: 100}), report(20, {TRAINED.name: 900}, contribution=True),
                           report(30, {}), report(40, {TRAINED.name: 2000})],
                 evidence=[evidence(CREATED + timedelta(days=50), {TRAINED.name: 4800})])
    readings = kpi_readings(task, TRAINED.name)
    assert [(r.value, r.source) for r in readings] == [(100, "report"), (2000, "report"), (4800, "evidence")]


def test_a_figure_the_evidence_gave_in_words_is_no_reading() -> None:
    task = state(Stage.CROSS_CHECK, task_spec=spec(kpis=[TRAINED]),
                 evidence=[evidence(CREATED, {TRAINED.name: "đạt"})])
    assert kpi_readings(task, TRAINED.name) == []


def test_a_completed_kpi_is_judged_by_its_confirmed_result_not_its_last_report() -> None:
    task = state(Stage.COMPLETED, task_spec=spec(kpis=[TRAINED, DAYS]),
                 progress=[report(10, {TRAINED.name: 5000, DAYS.name: 8})],
                 confirmed_results={TRAINED.name: 12, DAYS.name: 8})
    trained, days = compare_kpis(task)
    assert (trained.result, trained.achievement) == (12, 0.0024)
    assert (days.result, days.achievement) == (8, 0.8)


def test_an_open_kpi_stands_at_its_latest_reading_and_a_kpi_without_one_at_nothing() -> None:
    task = state(Stage.IN_PROGRESS, task_spec=spec(kpis=[TRAINED, DAYS]),
                 progress=[report(10, {TRAINED.name: 1000}), report(20, {TRAINED.name: 2500})])
    trained, days = compare_kpis(task)
    assert (trained.result, trained.achievement) == (None, 0.5)
    assert (days.readings, days.achievement) == ([], None)


def test_the_approved_budget_is_set_against_the_disbursed_and_its_running_totals() -> None:
    budget = Budget(amount_vnd=5_000_000_000, source="NSNN", status="approved", disbursed_vnd=2_000_000_000,
                    lines=[BudgetLine(item="Đào tạo", amount_vnd=5_000_000_000)])
    task = state(Stage.IN_PROGRESS, budget=budget,
                 progress=[report(10, {}, disbursed=500_000_000), report(12, {}, disbursed=900, contribution=True),
                           report(20, {}, disbursed=2_000_000_000)])
    spent = spending(task)
    assert spent is not None
    assert (spent.approved_vnd, spent.disbursed_vnd, spent.remaining_vnd, spent.share) == \
        (5_000_000_000, 2_000_000_000, 3_000_000_000, 0.4)
    assert [d.total_vnd for d in spent.disbursements] == [500_000_000, 2_000_000_000]
    assert spent.pending_vnd is None


def test_an_amendment_waiting_for_finance_is_shown_beside_the_ceiling_it_does_not_yet_raise() -> None:
    asked = BudgetAmendment(at=CREATED, by="hni.head", amount_vnd=7_000, reason="Thêm thiết bị",
                            lines=[BudgetLine(item="x", amount_vnd=7_000)])
    budget = Budget(amount_vnd=5_000, source="NSNN", status="approved", lines=[], amendments=[asked])
    spent = spending(state(Stage.IN_PROGRESS, budget=budget))
    assert spent is not None and (spent.approved_vnd, spent.pending_vnd) == (5_000, 7_000)


def test_a_budget_not_yet_approved_is_no_ceiling_to_compare_with() -> None:
    assert spending(state(Stage.BUDGET_REVIEW)) is None
    assert spending(state(Stage.ASSIGNED)) is None


def test_a_part_of_a_day_late_counts_as_a_day_and_only_whole_days_early_count() -> None:
    assert days_late(DUE + timedelta(days=1, hours=17), DUE) == 2  # 02/04 at 10:00 in Hà Nội
    assert days_late(DUE + timedelta(seconds=1), DUE) == 1
    assert days_late(DUE, DUE) == 0 and days_late(DUE - timedelta(days=3), DUE) == 0
    assert days_early(DUE - timedelta(days=2, hours=7), DUE) == 2  # 29/03 at 10:00
    assert days_early(DUE - timedelta(hours=7), DUE) == 0 and days_early(DUE + timedelta(days=1), DUE) == 0


def test_a_completed_task_delivered_after_its_deadline_is_late_by_whole_days() -> None:
    task = state(Stage.COMPLETED, evidence=[evidence(DEADLINE + timedelta(days=4, hours=2), {})], late=True)
    found = timeliness(task)
    assert found is not None
    assert (found.late, found.days_late, found.days_early, found.original_deadline) == (True, 5, 0, None)


def test_an_extended_deadline_is_compared_and_so_is_the_one_first_assigned() -> None:
    extended = DEADLINE + timedelta(days=30)
    task = state(Stage.COMPLETED, deadline=extended, extensions_granted=1,
                 evidence=[evidence(DEADLINE + timedelta(days=10), {})])
    found = timeliness(task)
    assert found is not None
    assert (found.late, found.days_early, found.original_deadline, found.days_late_original) == \
        (False, 20, DEADLINE, 10)


def test_only_a_completed_task_with_a_deadline_has_a_delivery_to_compare() -> None:
    assert timeliness(state(Stage.CROSS_CHECK)) is None
    assert timeliness(state(Stage.COMPLETED, deadline=None, original_deadline=None)) is None
    on_time = timeliness(state(Stage.COMPLETED))
    assert on_time is not None and not on_time.late and on_time.days_late == 0
