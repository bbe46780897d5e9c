"""The agency index (domain/agency_index.py) and reporting periods (domain/periods.py), pure, on a
small program whose every figure is worked out by hand below, against the formula of the module's
docstring:

    score = 100 × (0.30 × confirmed achievement rate
                 + 0.25 × on-time rate vs the ORIGINAL deadline + 0.15 × on-time rate vs the revised one
                 + 0.10 × first-pass cross-check rate + 0.10 × disbursement rate
                 + 0.10 × (1 − overdue open / due))
            − 5 × (1·L1 + 2·L2 + 3·L3 of the lead's own deadlines) / due,   clamped to 0..100, one decimal.

A task completed before outcomes were recorded earns full achievement (`credit`): the fixture program's
completed tasks are such, so its achievement rates are completed-and-due over due."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.agency_index import AgencyRow, IndexTask, agency_index, agency_row, counts, rank, score
from domain.deadlines import parse_deadline
from domain.escalation import DeadlineKind
from domain.periods import parse_period
from domain.stages import Stage
from domain.task import Budget, BudgetLine, Evidence, Review, TaskSpec, TaskState

TZ = "Asia/Ho_Chi_Minh"
NOW = datetime(2026, 4, 15, 3, 0, tzinfo=UTC)  # after the first quarter of 2026
CREATED = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
MILLION = 1_000_000


def at(text: str) -> datetime:
    """A local date-time in Hanoi time, e.g. '2026-03-20 10:00'."""
    return datetime.fromisoformat(text).replace(tzinfo=parse_deadline("2026-01-01").tzinfo)


def approved(when: datetime) -> Review:
    return Review(at=when, by="reviewer", decision="approved")


def rejected(when: datetime) -> Review:
    return Review(at=when, by="reviewer", decision="rejected", reason="Chưa dùng được", findings=["Lỗi đăng nhập"])


def budget(amount_million: int, disbursed_million: int, status: str = "approved") -> Budget:
    return Budget(amount_vnd=amount_million * MILLION, source="NSNN", status=status,
                  lines=[BudgetLine(item="Toàn bộ", amount_vnd=amount_million * MILLION)],
                  disbursed_vnd=disbursed_million * MILLION)


def task(code: str, lead: str, stage: Stage, original: str, *, revised: str | None = None,
         escalations: dict[int, int] | None = None, spec_lead: str | None = None, **fields: Any) -> IndexTask:
    """A task led by `lead`, first due `original`; `revised` is the deadline after extensions."""
    spec = TaskSpec(code=code, title=f"Nhiệm vụ {code}", lead_agency=spec_lead or lead, deadline=original)
    deadline_text = revised or original
    state = TaskState(spec=spec, lead_agency=lead, coordinating_agencies=[], stage=stage,
                      deadline=parse_deadline(deadline_text), deadline_text=deadline_text,
                      original_deadline=parse_deadline(original), created_at=CREATED, updated_at=CREATED,
                      seq=5, **fields)
    return IndexTask(state=state, escalations=escalations or {})


# --- the fixture program ------------------------------------------------------------------------
# HNI (Hà Nội): three tasks.
#   H1 completed on time, first pass, due 2026-03-31, approved 2026-03-20; budget 1,000 M, 800 M paid.
#   H2 first due 2026-02-28, extended once to 2026-05-31, rejected once (2026-02-20) and approved
#      2026-04-10: on time against the revised deadline (late = False), late against the original one;
#      budget 500 M, all 500 M paid.
#   H3 cancelled (with a budget and escalations that must not count).
H1 = task("H1", "HNI", Stage.COMPLETED, "2026-03-31", reviews=[approved(at("2026-03-20 10:00"))],
          budget=budget(1000, 800))
H2 = task("H2", "HNI", Stage.COMPLETED, "2026-02-28", revised="2026-05-31", extensions_granted=1,
          reviews=[rejected(at("2026-02-20 10:00")), approved(at("2026-04-10 10:00"))], budget=budget(500, 500))
H3 = task("H3", "HNI", Stage.CANCELLED, "2026-01-31", cancel_reason="Không còn cần thiết",
          budget=budget(2000, 0), escalations={1: 1, 2: 1})
# BTC (Bộ Tài chính): three tasks.
#   B1 open, in progress, due 2026-03-15 and lapsed: overdue, escalated to level 2 (one L1, one L2);
#      budget 400 M, 100 M paid.
#   B2 first due 2026-01-31, extended to 2026-02-28, still approved only on 2026-03-10: late against both;
#      first pass; one L1 escalation on the way.
#   B3 in progress, due 2026-06-30: not due yet, so it counts as assigned only.
B1 = task("B1", "BTC", Stage.IN_PROGRESS, "2026-03-15", overdue=True, escalation_level=2,
          escalations={1: 1, 2: 1}, budget=budget(400, 100))
B2 = task("B2", "BTC", Stage.COMPLETED, "2026-01-31", revised="2026-02-28", extensions_granted=1, late=True,
          reviews=[approved(at("2026-03-10 09:00"))], escalations={1: 1})
B3 = task("B3", "BTC", Stage.IN_PROGRESS, "2026-06-30")
# BCA, BKHCN and DNG deliver everything on time at the first pass (score 100): the ties.
#   BKHCN has two on-time completions, BCA and DNG one each; BKHCN paid 150 M of 100 M approved
#   (the rate is capped at 1 in the score); DNG's only budget was rejected (does not count).
C1 = task("C1", "BCA", Stage.COMPLETED, "2026-03", reviews=[approved(at("2026-03-02 08:00"))])
K1 = task("K1", "BKHCN", Stage.COMPLETED, "2026-02", reviews=[approved(at("2026-02-27 08:00"))],
          budget=budget(100, 150))
K2 = task("K2", "BKHCN", Stage.COMPLETED, "2026-Q1", reviews=[approved(at("2026-03-30 08:00"))])
D1 = task("D1", "DNG", Stage.COMPLETED, "2026-03-31", reviews=[approved(at("2026-03-31 23:00"))],
          budget=budget(300, 0, status="rejected"))
# AGG (An Giang): one task, not due yet: no score, no rank, listed after every agency that delivered,
# although its code sorts first.
A1 = task("A1", "AGG", Stage.IN_PROGRESS, "2026-09-30")

PROGRAM = [H1, H2, H3, B1, B2, B3, C1, K1, K2, D1, A1]


def rows_by_agency() -> dict[str, AgencyRow]:
    return {row.agency: row for row in agency_index(PROGRAM, NOW)}


def test_hni_every_figure_by_hand() -> None:
    row = rows_by_agency()["HNI"]
    # assigned: H1, H2, H3 = 3; H3 is cancelled, so due: H1, H2 = 2.
    assert (row.assigned, row.due) == (3, 2)
    # Both completed with late = False (H2 against its revised deadline): 2 on time, 0 late, none open.
    assert (row.completed_on_time, row.completed_late, row.overdue_open) == (2, 0, 0)
    # Against the ORIGINAL deadline only H1 (H2 approved 2026-04-10 > 2026-02-28): 1 / 2 = 0.5.
    assert row.on_time_rate_original == 0.5
    # Against the revised deadline: 2 / 2 = 1.0.
    assert row.on_time_rate_revised == 1.0
    # First pass: H1 yes, H2 no (one rejection) -> 1 / 2 completed = 0.5; one rejection round.
    assert row.first_pass_rate == 0.5 and row.rejection_rounds == 1
    # Disbursement over approved budgets of non-cancelled tasks: (800 + 500) / (1000 + 500) = 0.866666… -> 0.8667.
    assert row.disbursement_rate == 0.8667
    # One extension (H2); H3's escalations do not count, it is cancelled.
    assert row.extensions_granted == 1
    assert row.escalations == {1: 0, 2: 0, 3: 0}
    # Achievement: both completed, each earning 1 -> 2 / 2 = 1.0.
    assert row.achievement_rate == 1.0 and row.completed_not_met == 0
    # score = 100 × (0.3 × 1.0 + 0.25 × 0.5 + 0.15 × 1.0 + 0.1 × 0.5 + 0.1 × 0.8667 + 0.1 × (1 − 0/2)) − 0
    #       = 100 × (0.3 + 0.125 + 0.15 + 0.05 + 0.08667 + 0.1) = 81.167 -> 81.2
    assert row.score == 81.2


def test_btc_every_figure_by_hand() -> None:
    row = rows_by_agency()["BTC"]
    # assigned 3; due: B1 (deadline 2026-03-15 < NOW) and B2 (completed); B3 not yet -> 2.
    assert (row.assigned, row.due) == (3, 2)
    # B2 completed late; B1 open and overdue.
    assert (row.completed_on_time, row.completed_late, row.overdue_open) == (0, 1, 1)
    # On time: none, against either deadline: 0 / 2.
    assert row.on_time_rate_original == 0.0 and row.on_time_rate_revised == 0.0
    # First pass: B2 approved at once -> 1 / 1 completed = 1.0; no rejection.
    assert row.first_pass_rate == 1.0 and row.rejection_rounds == 0
    # Disbursement: 100 / 400 = 0.25 (B2 and B3 have no budget).
    assert row.disbursement_rate == 0.25
    assert row.extensions_granted == 1
    # Escalations: B1 one L1 and one L2, B2 one L1 -> L1 = 2, L2 = 1, L3 = 0.
    assert row.escalations == {1: 2, 2: 1, 3: 0}
    # Achievement: B2 earns 1, B1 (due, open) nothing -> 1 / 2 = 0.5.
    assert row.achievement_rate == 0.5
    # score = 100 × (0.3 × 0.5 + 0.25 × 0 + 0.15 × 0 + 0.1 × 1.0 + 0.1 × 0.25 + 0.1 × (1 − 1/2))
    #         − 5 × (1·2 + 2·1 + 3·0) / 2
    #       = 100 × (0.15 + 0.1 + 0.025 + 0.05) − 5 × 4 / 2 = 32.5 − 10 = 22.5
    assert row.score == 22.5


def test_full_marks_with_no_budget_a_rejected_budget_or_overpayment() -> None:
    rows = rows_by_agency()
    # BCA: 1 due, on time both ways, first pass, no budget (disbursement counts as 1), none open:
    # 100 × (0.3 + 0.25 + 0.15 + 0.1 + 0.1 × 1 + 0.1 × 1) = 100.0
    bca = rows["BCA"]
    assert (bca.assigned, bca.due, bca.completed_on_time, bca.first_pass_rate) == (1, 1, 1, 1.0)
    assert bca.disbursement_rate is None and bca.score == 100.0
    # BKHCN: 150 M paid of 100 M approved: the rate says 1.5, the score takes at most 1 -> 100.0.
    bkhcn = rows["BKHCN"]
    assert (bkhcn.due, bkhcn.completed_on_time, bkhcn.disbursement_rate, bkhcn.score) == (2, 2, 1.5, 100.0)
    # DNG: its only budget was rejected, so there is no approved budget (rate None, counts as 1) -> 100.0;
    # approved at 23:00 on the day of a deadline that ends 23:59:59 is on time.
    dng = rows["DNG"]
    assert (dng.due, dng.completed_on_time, dng.on_time_rate_original, dng.disbursement_rate, dng.score) == (
        1, 1, 1.0, None, 100.0)


def test_equal_scores_share_a_rank_and_the_agencies_with_nothing_due_are_not_ranked() -> None:
    ranking = agency_index(PROGRAM, NOW)
    # BCA, BKHCN, DNG all score 100.0: all three rank 1, listed by code; HNI next ranks 4 (three stand
    # above it), then BTC 5; AGG has nothing due: not ranked, last although "AGG" sorts first.
    assert [(row.agency, row.score, row.rank) for row in ranking] == [
        ("BCA", 100.0, 1), ("BKHCN", 100.0, 1), ("DNG", 100.0, 1), ("HNI", 81.2, 4), ("BTC", 22.5, 5),
        ("AGG", None, None)]
    agg = ranking[-1]
    assert (agg.assigned, agg.due, agg.on_time_rate_original, agg.first_pass_rate) == (1, 0, None, None)


def test_the_ranking_does_not_depend_on_the_order_of_the_input() -> None:
    expected = [row.model_dump() for row in agency_index(PROGRAM, NOW)]
    assert [row.model_dump() for row in agency_index(list(reversed(PROGRAM)), NOW)] == expected
    shuffled = PROGRAM[5:] + PROGRAM[:5]
    assert [row.model_dump() for row in agency_index(shuffled, NOW)] == expected


def test_rank_alone_gives_equal_scores_one_rank_and_lists_them_by_code() -> None:
    rows = [AgencyRow(agency=code, due=2, completed_on_time=on_time, score=value)
            for code, on_time, value in (("ZZZ", 1, 50.0), ("AAA", 1, 50.0), ("MMM", 2, 50.0), ("BBB", 0, 90.0),
                                         ("QQQ", 0, 40.0), ("CCC", 0, None), ("AAB", 0, None))]
    ranked = rank(rows)
    assert [(row.agency, row.rank) for row in ranked] == [
        ("BBB", 1), ("AAA", 2), ("MMM", 2), ("ZZZ", 2), ("QQQ", 5), ("AAB", None), ("CCC", None)]


def test_heavy_escalation_clamps_the_score_at_zero() -> None:
    # One overdue open task escalated to level 3, no budget:
    # 100 × (0 + 0 + 0 + 0 + 0.1 × 1 + 0.1 × (1 − 1/1)) − 5 × (1 + 2 + 3) / 1 = 10 − 30 = −20 -> 0.0
    lapsed = task("X1", "QNH", Stage.IN_PROGRESS, "2026-02-28", overdue=True, escalation_level=3,
                  escalations={1: 1, 2: 1, 3: 1})
    row = agency_row("QNH", [lapsed], NOW)
    assert (row.due, row.overdue_open, row.first_pass_rate, row.escalations) == (1, 1, None, {1: 1, 2: 1, 3: 1})
    assert row.score == 0.0
    # and without the escalations the same task scores 100 × 0.1 = 10.0
    calm = task("X2", "QNH", Stage.IN_PROGRESS, "2026-02-28", overdue=True)
    assert agency_row("QNH", [calm], NOW).score == 10.0


def test_a_task_counts_for_its_current_lead_agency() -> None:
    # Assigned to HNI, reassigned to HPG "from whoever delays": HPG answers for it, HNI does not.
    moved = task("R1", "HPG", Stage.COMPLETED, "2026-03-31", spec_lead="HNI",
                 reviews=[approved(at("2026-03-01 08:00"))])
    rows = {row.agency: row for row in agency_index([moved, H1], NOW)}
    assert rows["HPG"].assigned == 1 and rows["HPG"].completed_on_time == 1
    assert rows["HNI"].assigned == 1  # H1 only


def test_an_open_task_extended_past_now_is_not_due_yet() -> None:
    # First due 2026-03-31 (past), extended to 2026-06-30 (future), still open: not due, not overdue.
    extended = task("E1", "HUE", Stage.IN_PROGRESS, "2026-03-31", revised="2026-06-30", extensions_granted=1)
    row = agency_row("HUE", [extended], NOW)
    assert (row.assigned, row.due, row.overdue_open, row.extensions_granted, row.score) == (1, 0, 0, 1, None)


def test_score_of_a_row_with_nothing_due_is_none() -> None:
    assert score(AgencyRow(agency="X", assigned=4, due=0)) is None


# --- periods ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "label", "start_utc", "end_utc"), [
    ("2026", "2026", datetime(2025, 12, 31, 17, tzinfo=UTC), datetime(2026, 12, 31, 17, tzinfo=UTC)),
    ("2026-Q1", "2026-Q1", datetime(2025, 12, 31, 17, tzinfo=UTC), datetime(2026, 3, 31, 17, tzinfo=UTC)),
    ("2026-q1", "2026-Q1", datetime(2025, 12, 31, 17, tzinfo=UTC), datetime(2026, 3, 31, 17, tzinfo=UTC)),
    ("2026-Q4", "2026-Q4", datetime(2026, 9, 30, 17, tzinfo=UTC), datetime(2026, 12, 31, 17, tzinfo=UTC)),
    ("2026-03", "2026-03", datetime(2026, 2, 28, 17, tzinfo=UTC), datetime(2026, 3, 31, 17, tzinfo=UTC)),
    ("2026-12", "2026-12", datetime(2026, 11, 30, 17, tzinfo=UTC), datetime(2026, 12, 31, 17, tzinfo=UTC)),
    ("2028-02", "2028-02", datetime(2028, 1, 31, 17, tzinfo=UTC), datetime(2028, 2, 29, 17, tzinfo=UTC)),
    (" 2026-03 ", "2026-03", datetime(2026, 2, 28, 17, tzinfo=UTC), datetime(2026, 3, 31, 17, tzinfo=UTC)),
])
def test_period_boundaries_are_local_midnights_in_hanoi(text: str, label: str, start_utc: datetime,
                                                        end_utc: datetime) -> None:
    period = parse_period(text, TZ)
    assert period.label == label
    assert period.start == start_utc and period.end == end_utc
    assert period.start.utcoffset() == timedelta(hours=7)
    assert period.contains(period.start)  # start inclusive
    assert not period.contains(period.end)  # end exclusive
    assert period.contains(period.end - timedelta(seconds=1))
    assert not period.contains(period.start - timedelta(seconds=1))


def test_deadlines_fall_in_the_periods_they_name() -> None:
    end_of_march = parse_deadline("2026-03")  # 2026-03-31 23:59:59 in Hanoi = 16:59:59 UTC
    assert end_of_march == datetime(2026, 3, 31, 16, 59, 59, tzinfo=UTC)
    for text in ("2026", "2026-Q1", "2026-03"):
        assert parse_period(text, TZ).contains(end_of_march), text
    for text in ("2026-Q2", "2026-04", "2027", "2026-02"):
        assert not parse_period(text, TZ).contains(end_of_march), text
    # 2026-03-31 18:00 UTC is already 1 April in Hanoi: the second quarter, not the first.
    after = datetime(2026, 3, 31, 18, 0, tzinfo=UTC)
    assert parse_period("2026-Q2", TZ).contains(after) and not parse_period("2026-Q1", TZ).contains(after)
    # 2025-12-31 17:30 UTC is 00:30 on 1 January 2026 in Hanoi.
    new_year = datetime(2025, 12, 31, 17, 30, tzinfo=UTC)
    assert parse_period("2026", TZ).contains(new_year) and not parse_period("2025", TZ).contains(new_year)
    assert parse_period("2026-01", TZ).contains(new_year)


def test_other_timezones_move_the_boundaries() -> None:
    assert parse_period("2026-Q1", "UTC").start == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_period("2026-Q1", "UTC").end == datetime(2026, 4, 1, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["", "26", "2026-Q0", "2026-Q5", "2026-13", "2026-00", "2026-3", "Q1-2026",
                                 "2026-Q1-01", "2026/03", "2026-03-01", "năm", "20260", "2026-H1",
                                 "9999", "9999-Q4", "9999-12", "0001-Q1", "0999"])  # years whose end overflows
def test_bad_periods_raise_value_error(bad: str) -> None:
    with pytest.raises(ValueError, match="not a period"):
        parse_period(bad, TZ)


# --- results, not reports -------------------------------------------------------------------------

def test_a_shortfall_completed_on_time_earns_only_its_achievement() -> None:
    """12 engineers trained of 5,000: completed on time, first pass, yet it earns 0.0024 of the 30 points
    of achievement: 100 × (0.3 × 0.0024 + 0.25 + 0.15 + 0.1 + 0.1 + 0.1) = 70.07 -> 70.1, never 100."""
    short = task("S1", "QNM", Stage.COMPLETED, "2026-03-31", reviews=[approved(at("2026-03-20 10:00"))],
                 outcome="not_met", usable=True, achievement=0.0024)
    row = agency_row("QNM", [short], NOW)
    assert (row.completed_on_time, row.completed_not_met, row.achievement_rate) == (1, 1, 0.0024)
    assert row.score == 70.1


def test_a_product_not_usable_earns_no_achievement_whatever_its_figures() -> None:
    unusable = task("U1", "QNM", Stage.COMPLETED, "2026-03-31", reviews=[approved(at("2026-03-20 10:00"))],
                    outcome="not_met", usable=False, achievement=1.0)
    row = agency_row("QNM", [unusable], NOW)
    assert (row.completed_not_met, row.achievement_rate, row.score) == (1, 0.0, 70.0)


def test_timeliness_is_judged_by_when_the_evidence_came_in_not_by_the_review() -> None:
    """Evidence on 2026-03-30, the review only on 2026-04-10: on time against 2026-03-31."""
    delivered = Evidence(at=at("2026-03-30 10:00"), by="head", summary="", kpi_results={}, files=[])
    slow_review = task("T1", "QNM", Stage.COMPLETED, "2026-03-31", reviews=[approved(at("2026-04-10 10:00"))],
                       evidence=[delivered])
    row = agency_row("QNM", [slow_review], NOW)
    assert (row.on_time_rate_original, row.score) == (1.0, 100.0)


@pytest.mark.parametrize(("kind", "counted"), [
    ("deadline", True), ("accept", True), ("rework", True), ("report", True), ("budget", True),
    ("review", False), ("unset", False)])
def test_only_the_leads_own_lapses_count_against_it(kind: str, counted: bool) -> None:
    one_off = task("O1", "QNM", Stage.IN_PROGRESS, "2026-03-31").state
    assert counts(one_off, DeadlineKind(kind), at("2026-03-31 23:59"), parse_period("2026-Q1", TZ)) is counted
