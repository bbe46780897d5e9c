"""domain/status.py on its own: the class a task stands in at a moment (one rule per test), which
period counts a task, whose delay holds up an overdue task, and a set of tasks counted (the classes
add up to the total). Time is given: NOW, a Tuesday in March 2026."""

from datetime import UTC, datetime, timedelta

import pytest

from domain.escalation import Owner
from domain.periods import parse_period
from domain.stages import Stage
from domain.status import StatusClass, in_period, lapsed_owners, next_due, status_class, tally
from domain.task import (
    Accountability,
    Budget,
    BudgetAmendment,
    BudgetStatus,
    Evidence,
    ExtensionRequest,
    LifecycleSettings,
    Reporting,
    TaskKind,
    TaskSpec,
    TaskState,
)

NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
DAY = timedelta(days=1)
SOON = 7 * DAY  # NQ57_DUE_SOON's default
# The deadlines others hold bind only on a task started with their SLAs (a new task has them).
WITH_OWNERS = LifecycleSettings(budget_decision_sla=10 * DAY, review_assign_sla=5 * DAY,
                                extension_decision_sla=7 * DAY)
Q1 = parse_period("2026-Q1", "Asia/Ho_Chi_Minh")


def task(stage: Stage = Stage.IN_PROGRESS, *, deadline: datetime | None = NOW + 60 * DAY,
         kind: TaskKind = TaskKind.ONE_OFF, reporting: Reporting = Reporting.NONE, created: datetime = NOW - 3 * DAY,
         code: str = "NQ57-ST-1", **fields: object) -> TaskState:
    """A task assigned three days ago, accepted at once and in execution (unless told otherwise)."""
    text = deadline.isoformat() if deadline is not None and kind != TaskKind.DEADLINE_PENDING else ""
    if kind == TaskKind.DEADLINE_PENDING:
        text = "khẩn trương"
    spec = TaskSpec(code=code, title="Nền tảng số dùng chung", lead_agency="HNI", kind=kind, deadline=text,
                    reporting=reporting)
    values: dict[str, object] = {"accepted_at": created, "in_progress_since": created, "settings": WITH_OWNERS,
                                 **fields}
    return TaskState(spec=spec, lead_agency="HNI", coordinating_agencies=[], stage=stage, deadline=deadline,
                     deadline_text=text, original_deadline=deadline, created_at=created, updated_at=created, seq=3,
                     **values)


def evidence(at: datetime) -> Evidence:
    return Evidence(at=at, by="hni.head", summary="Đã xong", kpi_results={}, files=[])


def in_review(assigned: datetime, **fields: object) -> TaskState:
    return task(Stage.CROSS_CHECK, evidence=[evidence(assigned - DAY)], reviewer="reviewer", reviewer_agency="HCM",
                reviewer_assigned_at=assigned, **fields)


# --- the class a task stands in now: one rule each --------------------------------------------------

def test_a_cancelled_task_stands_in_no_class() -> None:
    assert status_class(task(Stage.CANCELLED, deadline=NOW - DAY), NOW, SOON) is None


def test_a_task_completed_by_its_deadline_is_completed_on_time() -> None:
    assert status_class(task(Stage.COMPLETED, late=False), NOW, SOON) == StatusClass.COMPLETED_ON_TIME


def test_a_task_completed_after_its_deadline_is_completed_late() -> None:
    assert status_class(task(Stage.COMPLETED, late=True), NOW, SOON) == StatusClass.COMPLETED_LATE


def test_a_closed_recurring_task_counts_as_completed() -> None:
    closed = task(Stage.CLOSED, kind=TaskKind.RECURRING, reporting=Reporting.MONTHLY, deadline=None)
    assert status_class(closed, NOW, SOON) == StatusClass.COMPLETED_ON_TIME


def test_a_completed_task_is_never_overdue_whatever_its_deadline() -> None:
    assert status_class(task(Stage.COMPLETED, deadline=NOW - 30 * DAY), NOW, SOON) == StatusClass.COMPLETED_ON_TIME


def test_an_open_task_past_its_deadline_is_overdue() -> None:
    assert status_class(task(deadline=NOW - DAY), NOW, SOON) == StatusClass.OVERDUE


def test_a_deadline_that_falls_due_this_very_moment_has_lapsed() -> None:
    assert status_class(task(deadline=NOW), NOW, SOON) == StatusClass.OVERDUE


def test_an_open_task_due_within_the_window_is_due_soon() -> None:
    assert status_class(task(deadline=NOW + 3 * DAY), NOW, SOON) == StatusClass.DUE_SOON


def test_the_window_includes_its_last_moment() -> None:
    assert status_class(task(deadline=NOW + SOON), NOW, SOON) == StatusClass.DUE_SOON


def test_the_window_is_the_setting() -> None:
    assert status_class(task(deadline=NOW + 3 * DAY), NOW, 2 * DAY) == StatusClass.IN_PROGRESS


def test_an_open_task_due_beyond_the_window_is_in_progress() -> None:
    assert status_class(task(deadline=NOW + SOON + DAY), NOW, SOON) == StatusClass.IN_PROGRESS


def test_a_task_not_yet_accepted_is_in_progress_while_its_acceptance_is_near() -> None:
    """Acceptance is a step on the way: a task is "due soon" by its product's deadline, not by it."""
    fresh = task(Stage.ASSIGNED, created=NOW - 5 * DAY, accepted_at=None, in_progress_since=None)
    assert status_class(fresh, NOW, SOON) == StatusClass.IN_PROGRESS


def test_a_task_not_accepted_in_time_is_overdue() -> None:
    late = task(Stage.ASSIGNED, created=NOW - 8 * DAY, accepted_at=None, in_progress_since=None)
    assert status_class(late, NOW, SOON) == StatusClass.OVERDUE


def test_a_task_whose_deadline_is_pending_is_deadline_pending() -> None:
    pending = task(kind=TaskKind.DEADLINE_PENDING, deadline=None)
    assert status_class(pending, NOW, SOON) == StatusClass.DEADLINE_PENDING


def test_the_offices_lapsed_reminder_to_set_a_deadline_makes_no_task_overdue() -> None:
    pending = task(kind=TaskKind.DEADLINE_PENDING, deadline=None, created=NOW - 90 * DAY)
    assert status_class(pending, NOW, SOON) == StatusClass.DEADLINE_PENDING


def test_a_pending_task_not_accepted_in_time_is_overdue() -> None:
    pending = task(Stage.ASSIGNED, kind=TaskKind.DEADLINE_PENDING, deadline=None, created=NOW - 8 * DAY,
                   accepted_at=None, in_progress_since=None)
    assert status_class(pending, NOW, SOON) == StatusClass.OVERDUE


def test_a_task_in_cross_check_past_its_deadline_waits_on_its_reviewer_in_progress() -> None:
    """The lead delivered; the review runs within its own deadline: neither overdue nor due soon."""
    assert status_class(in_review(NOW - 2 * DAY, deadline=NOW - DAY), NOW, SOON) == StatusClass.IN_PROGRESS


def test_a_review_past_its_deadline_makes_the_task_overdue() -> None:
    assert status_class(in_review(NOW - 11 * DAY), NOW, SOON) == StatusClass.OVERDUE


def test_a_periodic_task_whose_next_report_is_near_is_due_soon() -> None:
    monthly = task(kind=TaskKind.RECURRING, reporting=Reporting.MONTHLY, deadline=None,
                   created=datetime(2026, 2, 1, tzinfo=UTC), last_report_at=datetime(2026, 2, 10, tzinfo=UTC))
    assert next_due(monthly) == datetime(2026, 3, 31, 16, 59, 59, tzinfo=UTC)  # end of March, Hà Nội
    assert status_class(monthly, datetime(2026, 3, 28, tzinfo=UTC), SOON) == StatusClass.DUE_SOON


def test_a_periodic_task_due_by_its_report_before_its_final_deadline_is_due_soon() -> None:
    monthly = task(kind=TaskKind.RECURRING, reporting=Reporting.MONTHLY, deadline=datetime(2026, 12, 31, tzinfo=UTC),
                   created=datetime(2026, 2, 1, tzinfo=UTC), last_report_at=datetime(2026, 2, 10, tzinfo=UTC))
    assert status_class(monthly, datetime(2026, 3, 28, tzinfo=UTC), SOON) == StatusClass.DUE_SOON


def test_a_rework_deadline_near_makes_the_task_due_soon() -> None:
    rework = task(rework_deadline=NOW + 2 * DAY)
    assert status_class(rework, NOW, SOON) == StatusClass.DUE_SOON


# --- whose delay ------------------------------------------------------------------------------------

def test_nobody_is_late_before_any_deadline() -> None:
    assert lapsed_owners(task(), NOW) == []


def test_the_lead_answers_for_its_own_deadline() -> None:
    assert lapsed_owners(task(deadline=NOW - DAY), NOW) == [Owner.LEAD]


def test_the_reviewer_answers_for_a_late_review() -> None:
    assert lapsed_owners(in_review(NOW - 11 * DAY, deadline=NOW - 20 * DAY), NOW) == [Owner.REVIEWER]


def test_the_office_answers_for_a_reviewer_not_assigned_in_time() -> None:
    waiting = task(Stage.CROSS_CHECK, evidence=[evidence(NOW - 6 * DAY)])
    assert lapsed_owners(waiting, NOW) == [Owner.OFFICE]


def test_each_owner_holding_a_task_up_is_named_once_in_the_order_of_the_deadlines() -> None:
    """The lead's deadline lapsed, and the finance reviewer sat on an amendment past its time."""
    amendment = BudgetAmendment(at=NOW - 11 * DAY, by="hni.head", amount_vnd=2, lines=[], reason="Tăng")
    budget = Budget(amount_vnd=1, source="NSNN", lines=[], status=BudgetStatus.APPROVED, amendments=[amendment])
    both = task(deadline=NOW - DAY, budget=budget,
                extension_request=ExtensionRequest(at=NOW - 8 * DAY, by="hni.head", new_deadline=NOW + 30 * DAY,
                                                   new_deadline_text="2026-04-09", reason="Chờ"))
    assert lapsed_owners(both, NOW) == [Owner.LEAD, Owner.FINANCE, Owner.OFFICE]


def test_the_offices_reminder_to_set_a_deadline_is_nobodys_delay() -> None:
    pending = task(kind=TaskKind.DEADLINE_PENDING, deadline=None, created=NOW - 90 * DAY)
    assert lapsed_owners(pending, NOW) == []


# --- which period counts a task ---------------------------------------------------------------------

@pytest.mark.parametrize(("deadline", "counted"), [
    (datetime(2026, 1, 1, tzinfo=UTC), True),
    (datetime(2026, 3, 31, 16, 59, 59, tzinfo=UTC), True),  # 23:59:59 on 31/3 in Hà Nội
    (datetime(2026, 3, 31, 17, 0, tzinfo=UTC), False),  # 00:00 on 1/4 in Hà Nội: Q2
    (datetime(2025, 12, 31, 16, 59, 59, tzinfo=UTC), False),
])
def test_a_task_with_a_deadline_counts_in_the_period_of_that_deadline(deadline: datetime, counted: bool) -> None:
    assert in_period(task(deadline=deadline), Q1) is counted


def test_an_extension_does_not_move_a_task_out_of_its_period() -> None:
    extended = task(deadline=datetime(2026, 9, 30, tzinfo=UTC)).model_copy(
        update={"original_deadline": datetime(2026, 3, 15, tzinfo=UTC)})
    assert in_period(extended, Q1)


def test_a_periodic_task_counts_in_each_period_it_runs_through_whatever_its_final_deadline() -> None:
    yearly = task(kind=TaskKind.RECURRING, reporting=Reporting.MONTHLY, deadline=datetime(2026, 12, 31, tzinfo=UTC),
                  created=datetime(2025, 11, 1, tzinfo=UTC))
    assert in_period(yearly, Q1)


@pytest.mark.parametrize(("created", "stage", "updated", "counted"), [
    (datetime(2025, 6, 1, tzinfo=UTC), Stage.IN_PROGRESS, None, True),  # open since before the period
    (datetime(2026, 4, 2, tzinfo=UTC), Stage.IN_PROGRESS, None, False),  # assigned after it
    (datetime(2025, 6, 1, tzinfo=UTC), Stage.CLOSED, datetime(2025, 12, 1, tzinfo=UTC), False),  # closed before it
    (datetime(2025, 6, 1, tzinfo=UTC), Stage.CLOSED, datetime(2026, 2, 1, tzinfo=UTC), True),  # closed within it
])
def test_a_task_without_a_deadline_counts_in_the_periods_it_runs_through(
        created: datetime, stage: Stage, updated: datetime | None, counted: bool) -> None:
    standing = task(stage, kind=TaskKind.STANDING, deadline=None, created=created)
    standing = standing.model_copy(update={"updated_at": updated or created})
    assert in_period(standing, Q1) is counted


def test_a_pending_task_counts_in_the_periods_it_runs_through() -> None:
    assert in_period(task(kind=TaskKind.DEADLINE_PENDING, deadline=None, created=datetime(2025, 6, 1, tzinfo=UTC)), Q1)


# --- a set of tasks counted -------------------------------------------------------------------------

def program() -> list[TaskState]:
    return [
        task(Stage.COMPLETED, code="ON-TIME"),
        task(Stage.COMPLETED, late=True, code="LATE"),
        task(code="RUNNING"),
        task(deadline=NOW + 2 * DAY, code="SOON"),
        task(deadline=NOW - DAY, code="LEAD-LATE"),
        in_review(NOW - 11 * DAY, code="REVIEW-LATE"),
        task(kind=TaskKind.DEADLINE_PENDING, deadline=None, code="PENDING"),
        task(Stage.CANCELLED, deadline=NOW - DAY, code="GONE"),
    ]


def test_the_classes_add_up_to_the_total_and_a_cancelled_task_is_in_none() -> None:
    counted = tally(program(), NOW, SOON)
    classes = [getattr(counted, found.value) for found in StatusClass]
    assert classes == [1, 1, 1, 1, 2, 1]
    assert sum(classes) == counted.total == 7


def test_overdue_tasks_are_counted_against_whoever_holds_them_up() -> None:
    counted = tally(program(), NOW, SOON)
    assert counted.overdue_by_owner.model_dump() == {"lead": 1, "finance": 0, "office": 0, "reviewer": 1}


def test_the_details_list_each_class_s_tasks_with_whose_delay() -> None:
    lines = tally(program(), NOW, SOON, details=True).tasks
    assert lines is not None
    assert {found.value: [line.code for line in getattr(lines, found.value)] for found in StatusClass} == {
        "completed_on_time": ["ON-TIME"], "completed_late": ["LATE"], "in_progress": ["RUNNING"], "due_soon": ["SOON"],
        "overdue": ["LEAD-LATE", "REVIEW-LATE"], "deadline_pending": ["PENDING"]}
    assert [line.owners for line in lines.overdue] == [[Owner.LEAD], [Owner.REVIEWER]]


def test_a_line_names_the_head_accountable_now() -> None:
    heads = [Accountability(username="hni.head", agency="HNI", since=NOW - 3 * DAY, by="hni.head"),
             Accountability(username="hni.deputy", agency="HNI", since=NOW - DAY, by="committee")]
    lines = tally([task(accountable=heads)], NOW, SOON, details=True).tasks
    assert lines is not None and lines.in_progress[0].accountable == "hni.deputy"


def test_without_details_no_task_is_listed() -> None:
    assert tally(program(), NOW, SOON).tasks is None
